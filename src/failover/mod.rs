//! The game day (`tandem failover-test`): its measuring instruments and its model. The command
//! drives them; the instruments know neither SSH nor the OVH API (events carry plain strings and
//! numbers), so they can be tested on loopback and reused by anything that moves a VIP; the
//! scenarios ([`game_day`], [`node_crash`]) drive them over a pair's sessions and OVH's client.
//!
//! - [`clock`]: one time base for probes and events.
//! - [`probe`]: probes of the service through the VIP, streamed as they complete.
//! - [`timeline`]: what happened, in order (events and probe results).
//! - [`measurement`]: the figures and the verdict, computed from a timeline.
//! - [`agent`], [`agent_wait`], [`agent_switch`]: the OpenSVC agent: its status and log read
//!   (pure), the bounded waits for a switch's real end, and the game day's switch, phases and
//!   restore through it (`deploy --rolling` drains with the first two).
//! - [`scenario`], [`node_crash`]: what a game day plays: the planned switch ([`game_day`]),
//!   or the active node's crash (OVH's hard reboot) and its peer's takeover.
//! - [`node_exec`]: scripts run as root on a node (the game day's commands, the agent's calls);
//!   `restore`: the pair put right after a flip, crash or split that did not end well.
//!
//! How a command drives them (the report layer, above, renders what they measured: the live
//! lines, the summary and the HTML page):
//!
//! ```no_run
//! # async fn game_day(vip: std::net::SocketAddr) -> std::io::Result<()> {
//! use std::time::Duration;
//! use tandem::failover::{clock::Clock, measurement::GameDayReport, probe::*, timeline::*};
//!
//! let clock = Clock::start(); // one time base for probes and events
//! let config = ProbeConfig::http(vip); // GET / every 100 ms, node = last word of the body
//! let mut timeline = Timeline::new("web", &vip.ip().to_string(), &clock);
//! timeline.probe = Some(ProbeSettings::from_config(&config));
//! let mut prober = Prober::spawn(config, clock);
//! let (from, to) = ("node1".to_string(), "node2".to_string());
//! timeline.record_now(&clock, EventKind::FlipStarted { label: "switch".into(), from, to });
//! // ... move the VIP; record ApiRequest/ApiResponse/TaskStatus/CommandStarted/... with
//! // record_now as they happen, and meanwhile, in a select! loop, each probe as it comes:
//! if let Some(result) = prober.next().await {
//!     timeline.add_probe(result);
//! }
//! let (rest, _end) = prober.finish().await; // stop, wait for the probes in flight
//! rest.into_iter().for_each(|r| timeline.add_probe(r));
//! let report = GameDayReport::measure(timeline, Duration::from_secs(120));
//! // Then the report layer renders `report` (its summary, its HTML page), or, for --json:
//! println!("{}", serde_json::to_string(&report)?);
//! # Ok(())
//! # }
//! ```

pub(crate) mod agent;
pub(crate) mod agent_switch;
pub(crate) mod agent_wait;
pub mod clock;
mod errors;
pub mod figures;
pub(crate) mod game_day;
pub mod history;
mod live_order;
pub mod measurement;
mod millis;
pub(crate) mod network_split;
pub(crate) mod node_crash;
pub(crate) mod node_exec;
pub(crate) mod node_ops;
pub mod phases;
mod preflight;
pub mod probe;
pub(crate) mod probe_vars;
pub(crate) mod recorder;
mod restore;
pub mod rpo;
pub mod run_info;
pub(crate) mod scenario;
pub mod timeline;
