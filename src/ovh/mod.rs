//! OVH's REST API: credentials, request signing, retries, and moving a failover IP (the VIP of
//! a cluster) between the two servers of a pair.
//!
//! The public API, as `tandem vip` and the game day (`tandem failover-test`) use it:
//!
//! ```no_run
//! # async fn demo(inventory: &tandem::inventory::Inventory) -> Result<(), tandem::ovh::OvhError> {
//! use tandem::ovh::{Client, MoveOptions, MoveOutcome};
//! let client = Client::from_config(&inventory.ovh)?; // env + ovh.conf, as the official clients
//! let vip = "203.0.113.5".parse().unwrap();
//! let routed = client.vip_status(vip).await?; // Some("ns1.ip-1-2-3.eu")
//! let outcome = client
//!     .move_vip(vip, "ns2.ip-4-5-6.eu", &MoveOptions::default(), |event| {
//!         // Timestamped (`event.instant`, `event.time`); `event.kind` says what happened:
//!         // each request and answer, retries, the task id, each status change, done/failed.
//!         println!("{}", event.kind);
//!     })
//!     .await?;
//! if let MoveOutcome::Moved { task_duration, .. } = outcome { /* ... */ }
//! # Ok(()) }
//! ```
//!
//! - [`Client::move_vip`] skips a move to where the IP already is, waits for a move of that IP
//!   that is still pending, POSTs the move, then polls the task id the POST returned every
//!   `poll_interval` until `done` (success), `cancelled`/`customerError`/`ovhError` (an
//!   [`OvhError::TaskFailed`] naming the status and OVH's comment) or `timeout`
//!   ([`OvhError::TaskTimedOut`]). The callback gets every [`Event`], a failure's included, as
//!   it happens; pass a closure that sends into a channel to consume them elsewhere.
//! - Lower level: [`Client::ip_info`], [`Client::move_destinations`], [`Client::start_move`],
//!   [`Client::task`], [`Client::pending_moves`], and [`Client::call`] for any other route.
//! - Errors ([`OvhError`]): an API error shows the HTTP status, OVH's message and the
//!   `X-Ovh-Queryid`; 400/401/403/404 are final; 429, 5xx, timeouts and refused connections are
//!   retried with exponential backoff ([`RetryPolicy`], in [`ClientOptions`]). That includes a
//!   POST whose answer was lost: if OVH had in fact created the task, it refuses the second
//!   POST while the first is pending, and the move fails with OVH's message instead of moving
//!   twice (`vip status` then shows where the IP ended up).
//! - Secrets never show: [`Secret`]'s `Debug` prints `<redacted>`.

mod access;
mod account;
mod client;
mod config_error;
mod credentials;
mod endpoint;
mod error;
mod events;
mod ini;
mod ip;
mod mover;
mod preflight;
mod retry;
mod server;
mod signature;
#[cfg(test)]
mod tests;

pub use account::{FailoverIp, Server};
pub use client::{Client, ClientOptions};
pub use config_error::ConfigError;
pub use credentials::{Credentials, OvhSettings, Secret};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{ApiError, OvhError};
pub use events::{Event, EventKind};
pub use ip::{IpInfo, Task, TaskStatus};
pub use mover::{MoveOptions, MoveOutcome};
pub use retry::RetryPolicy;
pub use signature::sign;
