//! What was run, as the report names it: the tandem version, the command line as typed (secret
//! values left out), the inventory and how the service was switched. A report read months later
//! must say which tandem measured what with which flags, or nobody can trust or redo it.

use serde::{Deserialize, Serialize};

/// The run's identity card (`run` in the JSON; absent from reports written before it existed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `0.4.0`: the tandem that measured.
    pub tandem_version: String,
    /// The command line as typed, shell-quoted, with the value of any secret-bearing flag
    /// replaced by `<redacted>`.
    pub command_line: String,
    /// The inventory's path as given.
    pub inventory: String,
    /// Who moved the service: the OpenSVC agent, or tandem itself (`--direct`).
    pub switched_by: SwitchedBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchedBy {
    Agent,
    Direct,
}

impl SwitchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchedBy::Agent => "the OpenSVC agent",
            SwitchedBy::Direct => "tandem directly (--direct)",
        }
    }
}
