//! The errors that stop a whole command before any node is touched (bad input, bad options).
//! Per-node failures are not errors of the command: they are results, reported per node.
//!
//! One variant per thing that can be wrong, carrying what the message needs (as casey/just
//! does); each lower layer's own error comes in through `#[from]`. The messages are asserted
//! word for word by the bad-input corpus (integration/bad-inputs/).

use std::path::PathBuf;

use crate::commands::become_password::BecomePasswordError;
use crate::commands::extra_vars::ExtraVarsError;
use crate::fleet::FleetError;
use crate::inventory::{InventoryError, PatternError};
use crate::ovh::{EndpointError, OvhError};
use crate::playbook::PlaybookError;
use crate::rollout::RolloutError;
use crate::service_config::ServiceConfigError;
use crate::ssh::SshError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Playbook(#[from] PlaybookError),
    /// known_hosts or ~/.ssh/config unusable: nothing can be verified, so nothing is tried.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// OVH credentials or endpoint unusable (a failed API call is a result, not this).
    #[error(transparent)]
    Ovh(#[from] OvhError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    /// Boxed: its variants carry a step's location and four names.
    #[error(transparent)]
    ServiceConfig(#[from] Box<ServiceConfigError>),
    #[error(transparent)]
    ExtraVars(#[from] ExtraVarsError),
    #[error(transparent)]
    BecomePassword(#[from] BecomePasswordError),

    /// The engine's checks before a run (vars that read each other in a loop, names nothing
    /// defines), in the engine's words.
    #[error(transparent)]
    VarCheck(#[from] crate::engine::CheckError),

    #[error(
        "--resume {}: none of its hosts to redo ({}) is in this inventory and --limit: is it the \
         result of a run on another inventory?",
        .path.display(),
        .hosts.join(", ")
    )]
    ResumeOutsideSelection { path: PathBuf, hosts: Vec<String> },
    #[error("{}: no cluster has a `vip`: add the failover IP under each cluster (vip: 203.0.113.10)", .inventory.display())]
    NoVipAnywhere { inventory: PathBuf },
    #[error("{}: cluster {cluster} has no `vip`: add its failover IP (vip: 203.0.113.10)", .inventory.display())]
    NoVip { inventory: PathBuf, cluster: String },
    #[error("{flag} {name}: not a node of cluster {cluster} (its nodes: {})", .nodes.join(", "))]
    NotANodeOfCluster {
        flag: &'static str,
        name: String,
        cluster: String,
        nodes: Vec<String>,
    },
    /// `why` says what the missing name is needed for.
    #[error("{}:{line}: node {node} has no `service_name`: {why}", .inventory.display())]
    NoServiceName {
        inventory: PathBuf,
        line: usize,
        node: String,
        why: &'static str,
    },
    #[error("{}:{line}: cluster {cluster} has {nodes} nodes; a game day needs a pair", .inventory.display())]
    NotAPair {
        inventory: PathBuf,
        line: usize,
        cluster: String,
        nodes: usize,
    },
    #[error(
        "{}:{line}: cluster {cluster} has no `service` var (the OpenSVC service to switch): add \
         `service: NAME` to its vars",
        .inventory.display()
    )]
    NoServiceVar {
        inventory: PathBuf,
        line: usize,
        cluster: String,
    },
    #[error("no HOME nor XDG_STATE_HOME to keep game days under: pass --history DIR")]
    NoHistoryDir,
    /// The history's reader names what it could not read.
    #[error("--history: cannot read {0}")]
    HistoryUnreadable(crate::failover::history::HistoryError),
    #[error(
        "failover-test moves the cluster's VIP and switches its service: pass --yes to confirm \
         (stdin is not a terminal)"
    )]
    ConfirmationNeeded,
    #[error("failover-test: not confirmed, nothing was done")]
    NotConfirmed,
    #[error(
        "failover-test --scenario node-crash cuts the power of cluster {cluster}'s active server \
         (OVH's hard reboot): pass --yes-really to confirm"
    )]
    CrashNotConfirmed { cluster: String },
    #[error(
        "failover-test --scenario {scenario} plays what the OpenSVC agents do (orchestrate = ha): \
         drop --direct"
    )]
    ScenarioNeedsAgent { scenario: &'static str },
    #[error(
        "no cookbook playbook: none of {} exists; pass --playbook or set `playbook` in tandem.toml",
        .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoCookbook { tried: Vec<PathBuf> },
    #[error("-o {}: the file exists: pass --force to overwrite it", .path.display())]
    OutputExists { path: PathBuf },
    #[error("--endpoint: {0}")]
    EndpointFlag(EndpointError),
    #[error("--ovh-conf {}: {source}", .path.display())]
    OvhConfPath {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `inventory import`'s `--pair` values or the pairs they name, in the importer's words.
    #[error("{0}")]
    Import(#[from] crate::commands::inventory_import::ImportError),
    #[error("{flag} {}: cannot create it: {source}", .path.display())]
    CannotCreate {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {}: cannot write it: {source}", .path.display())]
    CannotWrite {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("cannot handle Ctrl-C: {0}")]
    CtrlC(std::io::Error),

    /// Something tandem itself got wrong (a result it cannot write out, a node it lost track
    /// of): never turned into a default that could pass for success.
    #[error("internal error: {0} (a bug in tandem: please report it with the command you ran)")]
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
            Error::ServiceConfig(e) if matches!(**e, ServiceConfigError::NoDest { .. }) => {
                INTERNAL_EXIT
            }
            _ => 2,
        }
    }

    /// An internal error: the message says so and asks for a report.
    pub fn internal(what: impl std::fmt::Display) -> Error {
        Error::Internal(what.to_string())
    }
}
