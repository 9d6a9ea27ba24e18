//! The SSH layer: connections, host keys, authentication, and running bytes on a node.
//!
//! It knows nothing of inventories or playbooks: callers hand it a [`Target`] and get a
//! [`Session`]. Bytes go over the wire in two places only: [`session`] (one command per channel) and
//! [`shell`] (a long-lived shell running framed steps).

mod auth;
mod connect;
mod demux;
mod error;
mod jumps;
mod known_hosts;
mod proxy_command;
mod session;
mod shell;
#[cfg(test)]
mod shell_timeout_tests;
mod startups;
mod stream;
mod sudo;
mod target;

pub use connect::{Connector, HostKeyPolicy, LearnedHostKey, OnHostKeyLearned, UnknownKex};
pub use demux::demux_replay;
pub use error::SshError;
pub use known_hosts::{KnownHosts, Verdict, fingerprint};
pub use session::{ExecOutput, ExitStatus, Session};
pub use shell::{Answer, FrameMode, FrameStatus, PendingAnswer, RemoteShell};
#[cfg(test)]
pub(crate) use shell::{HALT, LOOP};
pub use sudo::{BecomePassword, Sudo};
pub use target::{SshConfigFile, Target, Wanted};
