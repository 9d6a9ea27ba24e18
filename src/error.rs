//! The errors that stop a whole command before any node is touched (bad input, bad options).
//! Per-node failures are not errors of the command: they are results, reported per node.

use std::fmt;

use crate::inventory::{InventoryError, PatternError};
use crate::ovh::OvhError;
use crate::playbook::PlaybookError;
use crate::ssh::SshError;

#[derive(Debug)]
pub enum Error {
    Inventory(InventoryError),
    Pattern(PatternError),
    Playbook(PlaybookError),
    /// known_hosts or ~/.ssh/config unusable: nothing can be verified, so nothing is tried.
    Ssh(SshError),
    /// OVH credentials or endpoint unusable (a failed API call is a result, not this).
    Ovh(OvhError),
    /// A command-line value that makes no sense; the message names the flag and the fix.
    Usage(String),
    /// Something tandem itself got wrong (a result it cannot write out, a node it lost track
    /// of): never turned into a default that could pass for success.
    Internal(String),
}

/// The exit status of an internal error: sysexits' EX_SOFTWARE, distinct from bad input (2),
/// a failed node (1) and Ctrl-C (130).
pub const INTERNAL_EXIT: u8 = 70;

impl Error {
    /// Bad input exits with 2, like a usage error, so scripts can tell it from a failed node (1);
    /// an internal error with [`INTERNAL_EXIT`].
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Internal(_) => INTERNAL_EXIT,
            _ => 2,
        }
    }

    /// An internal error: the message says so and asks for a report.
    pub fn internal(what: impl fmt::Display) -> Error {
        Error::Internal(format!(
            "internal error: {what} (a bug in tandem: please report it with the command you ran)"
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inventory(e) => e.fmt(f),
            Error::Pattern(e) => e.fmt(f),
            Error::Playbook(e) => e.fmt(f),
            Error::Ssh(e) => e.fmt(f),
            Error::Ovh(e) => e.fmt(f),
            Error::Usage(message) | Error::Internal(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<InventoryError> for Error {
    fn from(e: InventoryError) -> Self {
        Error::Inventory(e)
    }
}

impl From<PatternError> for Error {
    fn from(e: PatternError) -> Self {
        Error::Pattern(e)
    }
}

impl From<PlaybookError> for Error {
    fn from(e: PlaybookError) -> Self {
        Error::Playbook(e)
    }
}

impl From<SshError> for Error {
    fn from(e: SshError) -> Self {
        Error::Ssh(e)
    }
}

impl From<OvhError> for Error {
    fn from(e: OvhError) -> Self {
        Error::Ovh(e)
    }
}
