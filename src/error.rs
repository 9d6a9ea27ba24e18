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
}

impl Error {
    /// Bad input exits with 2, like a usage error, so scripts can tell it from a failed node (1).
    pub fn exit_code(&self) -> u8 {
        2
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
            Error::Usage(message) => f.write_str(message),
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
