//! The game day (`tandem failover-test`): its measuring instruments and its model. The command
//! drives them; nothing here knows SSH or the OVH API (events carry plain strings and numbers),
//! so the instruments can be tested on loopback and reused by anything that moves a VIP.
//!
//! - [`clock`]: one time base for probes and events.
//! - [`probe`]: probes of the service through the VIP, streamed as they complete.
//! - [`timeline`]: what happened, in order (events and probe results).
//! - [`measurement`]: the figures and the verdict, computed from a timeline.

pub mod clock;
pub mod measurement;
mod millis;
pub mod probe;
pub mod timeline;
