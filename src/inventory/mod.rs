//! The inventory: which clusters and nodes exist, how to reach them, and their vars.
//!
//! Loading is two passes: serde-saphyr turns the YAML into the loose structs of [`raw`] (so
//! syntax, unknown keys, wrong types and duplicate keys come back with serde-saphyr's own
//! messages and positions), then [`build()`] checks tandem's rules and produces the model below.
//! Every error is one line starting with `PATH:LINE:COL: `.

mod build;
mod error;
mod pattern;
mod raw;
pub(crate) mod settings;
mod spanned_vars;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name rule, also for the clusters `inventory import` writes.
pub(crate) use build::valid_name;
pub use error::InventoryError;
pub(crate) use error::{InventoryErrorKind, PatternError};
pub(crate) use settings::{ClusterSettings, ProbeKind, ProbeSettings};

use build::build;
use raw::RawInventory;

use crate::ovh::{Endpoint, OvhSettings};
use crate::source_file::{self, position as pos};

/// Vars at any level: free-form YAML, kept in file order.
pub(crate) type Vars = indexmap::IndexMap<String, serde_json::Value>;

/// The line each var of one level is written on, for errors about a var (a template in it
/// that fails, vars that read each other in a loop).
pub(crate) type VarLines = indexmap::IndexMap<String, usize>;

/// Inventories are small; anything this big is the wrong file, and refusing it before parsing
/// keeps a stray multi-gigabyte file from eating the memory.
pub(crate) const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

/// A loaded, validated inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The file it was loaded from (as given by the user).
    pub path: PathBuf,
    pub ssh: SshDefaults,
    /// The `ovh:` section: API endpoint and ovh.conf path (both optional).
    pub ovh: OvhSettings,
    pub vars: Vars,
    pub var_lines: VarLines,
    /// In file order; never empty.
    pub clusters: Vec<Cluster>,
}

/// Connection defaults from the `ssh:` section; a node's own keys override them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshDefaults {
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Absolute (resolved against the inventory's directory, `~` expanded).
    pub identity: Option<PathBuf>,
    /// Absolute; `None` lets the ssh layer use its default (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    /// Seconds of silence before a keepalive; a node is declared lost after 4 such intervals
    /// without an answer (3 keepalives unanswered, the ssh layer's rule).
    pub keepalive_interval: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// 1-based line of the cluster's name in the inventory, for later errors about it.
    pub line: usize,
    /// The OVH failover IP moved between the nodes.
    pub vip: Option<Ipv4Addr>,
    pub vars: Vars,
    pub var_lines: VarLines,
    /// What tandem's own commands read from the vars (global < cluster), checked at load:
    /// commands read this, never the vars.
    pub settings: ClusterSettings,
    /// In file order; never empty.
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Unique across the inventory.
    pub name: String,
    /// Name of the cluster it belongs to.
    pub cluster: String,
    /// IP address or DNS name.
    pub address: String,
    /// Own value only; fall back to [`SshDefaults::port`].
    pub port: Option<u16>,
    /// Own value only; fall back to [`SshDefaults::user`].
    pub user: Option<String>,
    /// Own value only (absolute); fall back to [`SshDefaults::identity`].
    pub identity: Option<PathBuf>,
    /// The server's name in OVH's API (e.g. `ns3001234.ip-51-68-1.eu`).
    pub service_name: Option<String>,
    pub vars: Vars,
    pub var_lines: VarLines,
    /// 1-based line of the node's name in the inventory, for later errors about this node.
    pub line: usize,
}

impl Inventory {
    /// Reads, parses and validates the inventory at `path`.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let bytes = source_file::read_limited(path, MAX_INVENTORY_BYTES)
            .map_err(|err| InventoryError::from_read(path, err))?;
        Inventory::from_bytes(&bytes, path)
    }

    /// Parses and validates the bytes of an inventory file, as [`Inventory::load`] does once
    /// it has read them (the entry the fuzz target drives): non-UTF-8 is an error with its
    /// position, never a panic.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Inventory, InventoryError> {
        let text = source_file::utf8(bytes).map_err(|err| InventoryError::not_utf8(path, err))?;
        Inventory::parse(text, path)
    }

    /// Parses and validates inventory text; `path` is only used in messages and to resolve
    /// relative paths.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let raw: RawInventory =
            source_file::parse(text).map_err(|err| InventoryError::from_yaml(path, &err))?;
        build(raw, path)
    }

    /// Every node, in inventory order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.clusters
            .iter()
            .flat_map(|cluster| cluster.nodes.iter())
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes().find(|node| node.name == name)
    }

    pub(crate) fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|cluster| cluster.name == name)
    }

    /// The nodes a `--limit` pattern selects (`None`: all), in inventory order, each once.
    /// See [`pattern`] for the syntax.
    pub fn select(&self, pattern: Option<&str>) -> Result<Vec<&Node>, PatternError> {
        match pattern {
            None => Ok(self.nodes().collect()),
            Some(pattern) => pattern::select(self, pattern),
        }
    }

    /// The vars a node sees: global, then its cluster's, then its own; a later level replaces
    /// a whole top-level key (no deep merge, as Ansible's default), which keeps it predictable.
    pub fn node_vars(&self, node: &Node) -> Vars {
        let mut vars = self.vars.clone();
        if let Some(cluster) = self.cluster(&node.cluster) {
            merge(&mut vars, &cluster.vars);
        }
        merge(&mut vars, &node.vars);
        vars
    }

    /// The line each of [`Inventory::node_vars`] is written on (the level that wins).
    pub(crate) fn node_var_lines(&self, node: &Node) -> VarLines {
        let mut lines = self.var_lines.clone();
        if let Some(cluster) = self.cluster(&node.cluster) {
            lines.extend(cluster.var_lines.iter().map(|(k, v)| (k.clone(), *v)));
        }
        lines.extend(node.var_lines.iter().map(|(k, v)| (k.clone(), *v)));
        lines
    }
}

fn merge(into: &mut Vars, from: &Vars) {
    for (key, value) in from {
        into.insert(key.clone(), value.clone());
    }
}
