//! The inventory: which clusters and nodes exist, how to reach them, and their vars.
//!
//! Loading is two passes: serde-saphyr turns the YAML into the loose structs of [`raw`] (so
//! syntax, unknown keys, wrong types and duplicate keys come back with serde-saphyr's own
//! messages and positions), then [`build`] checks tandem's rules and produces the model below.
//! Every error is one line starting with `PATH:LINE:COL: `.

mod error;
pub mod import;
mod pattern;
mod raw;
pub mod settings;
mod spanned_vars;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

pub use error::{InventoryError, InventoryErrorKind, PatternError, plain_yaml_message};
pub use settings::{ClusterSettings, ProbeKind, ProbeSettings, SwitchCommand};

use error::one_line;
use raw::{RawCluster, RawInventory, RawNode, RawOvh};
use spanned_vars::SpannedVars;

use crate::ovh::{Endpoint, OvhSettings};

/// Vars at any level: free-form YAML, kept in file order.
pub type Vars = indexmap::IndexMap<String, serde_json::Value>;

/// The line each var of one level is written on, for errors about a var (a template in it
/// that fails, vars that read each other in a loop).
pub type VarLines = indexmap::IndexMap<String, usize>;

/// Inventories are small; anything this big is the wrong file, and refusing it before parsing
/// keeps a stray multi-gigabyte file from eating the memory.
pub const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

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
        let bytes = read_limited(path)?;
        Inventory::from_bytes(&bytes, path)
    }

    /// Parses and validates the bytes of an inventory file, as [`Inventory::load`] does once
    /// it has read them (the entry the fuzz target drives): non-UTF-8 is an error with its
    /// position, never a panic.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::str::from_utf8(bytes).map_err(|err| {
            let byte = err.valid_up_to();
            InventoryError::new(
                path,
                Some(position_of(&bytes[..byte])),
                InventoryErrorKind::NotUtf8 { byte },
            )
        })?;
        Inventory::parse(text, path)
    }

    /// Parses and validates inventory text; `path` is only used in messages and to resolve
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let raw: RawInventory = serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|err| InventoryError::from_yaml(path, &err))?;
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

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
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
    pub fn node_var_lines(&self, node: &Node) -> VarLines {
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

/// Limits for serde-saphyr. The defaults already stop pre-parse bombs; the alias replay limits
/// are tightened because vars are deserialized into `serde_json::Value`, so every replayed
/// event costs memory: a billion-laughs file must fail fast, and a real inventory reuses an
/// anchor a handful of times.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 64,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Reads at most [`MAX_INVENTORY_BYTES`]: the size is checked before reading (the usual case)
/// and again while reading (a pipe or a growing file has no reliable size).
fn read_limited(path: &Path) -> Result<Vec<u8>, InventoryError> {
    let read_error =
        |err: std::io::Error| InventoryError::new(path, None, InventoryErrorKind::Read(err));
    let too_large =
        |len: u64| InventoryError::new(path, None, InventoryErrorKind::TooLarge { len });
    let file = std::fs::File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if metadata.is_file() && metadata.len() > MAX_INVENTORY_BYTES {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_INVENTORY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_INVENTORY_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Line and column (1-based, in characters) just after `prefix`.
fn position_of(prefix: &[u8]) -> (usize, usize) {
    // `prefix` is the valid UTF-8 part, so this never loses anything.
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

fn pos(location: &Location) -> (usize, usize) {
    (location.line() as usize, location.column() as usize)
}

/// `[A-Za-z0-9][A-Za-z0-9._-]*`: safe in shell commands, file names and `--limit` patterns.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Validates a cluster or node name; `all` is taken by `--limit`.
fn check_name(path: &Path, what: &str, name: &Spanned<String>) -> Result<(), InventoryError> {
    let value = &name.value;
    if !valid_name(value) {
        return Err(InventoryError::invalid(
            path,
            pos(&name.referenced),
            format!(
                "invalid {what} name '{}': use letters, digits, '.', '_' and '-', starting with a \
                 letter or digit",
                one_line(value)
            ),
        ));
    }
    if value == "all" {
        return Err(InventoryError::invalid(
            path,
            pos(&name.referenced),
            format!(
                "invalid {what} name 'all': it is reserved (--limit all means every node), pick another"
            ),
        ));
    }
    Ok(())
}

fn check_port(path: &Path, port: &Spanned<i64>) -> Result<u16, InventoryError> {
    match u16::try_from(port.value) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(InventoryError::invalid(
            path,
            pos(&port.referenced),
            format!("port {} is out of range: use 1 to 65535", port.value),
        )),
    }
}

/// Makes a path from the inventory absolute: `~` is the user's home, a relative path is
/// relative to the inventory's directory (so the inventory works from any working directory).
fn resolve_path(path: &Path, key: &str, raw: &Spanned<String>) -> Result<PathBuf, InventoryError> {
    let value = raw.value.as_str();
    let fail = |message: String| InventoryError::invalid(path, pos(&raw.referenced), message);
    if value.is_empty() {
        return Err(fail(format!(
            "`{key}` is empty: give a file path or remove the key"
        )));
    }
    if value == "~" || value.starts_with("~/") {
        let home = std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .ok_or_else(|| {
                fail(format!(
                    "`{key}` starts with ~ but HOME is not set: use an absolute path"
                ))
            })?;
        let rest = value[1..].trim_start_matches('/');
        let home = PathBuf::from(home);
        return Ok(if rest.is_empty() {
            home
        } else {
            home.join(rest)
        });
    }
    let candidate = Path::new(value);
    if candidate.is_absolute() {
        return Ok(candidate.to_path_buf());
    }
    let inventory = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = inventory.parent().unwrap_or(Path::new(""));
    Ok(dir.join(candidate))
}

/// The longest `connect_timeout` and `keepalive_interval` (as the `--connect-timeout` flag):
/// beyond it a dead node would hang the run for good, and the ssh layer multiplies the
/// keepalive interval (a huge one would overflow).
pub const MAX_SSH_SECONDS: u64 = 3600;

/// A duration in whole seconds, from 1 to [`MAX_SSH_SECONDS`]; `example` goes into the
/// error's hint.
fn positive_seconds(
    path: &Path,
    key: &str,
    value: &Spanned<i64>,
    example: u64,
) -> Result<Duration, InventoryError> {
    let fail = |message: String| InventoryError::invalid(path, pos(&value.referenced), message);
    match u64::try_from(value.value) {
        Ok(seconds) if seconds > MAX_SSH_SECONDS => Err(fail(format!(
            "{key} {} is too long: use 1 to {MAX_SSH_SECONDS} seconds (e.g. {example})",
            value.value
        ))),
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(fail(format!(
            "{key} {} is not a positive number of seconds: use e.g. {example}",
            value.value
        ))),
    }
}

fn build(raw: RawInventory, path: &Path) -> Result<Inventory, InventoryError> {
    let ssh = match raw.ssh {
        None => SshDefaults::default(),
        Some(ssh) => SshDefaults {
            user: ssh.user,
            port: ssh
                .port
                .as_ref()
                .map(|port| check_port(path, port))
                .transpose()?,
            identity: ssh
                .identity
                .as_ref()
                .map(|raw| resolve_path(path, "identity", raw))
                .transpose()?,
            known_hosts: ssh
                .known_hosts
                .as_ref()
                .map(|raw| resolve_path(path, "known_hosts", raw))
                .transpose()?,
            connect_timeout: ssh
                .connect_timeout
                .as_ref()
                .map(|timeout| positive_seconds(path, "connect_timeout", timeout, 5))
                .transpose()?,
            keepalive_interval: ssh
                .keepalive_interval
                .as_ref()
                .map(|interval| positive_seconds(path, "keepalive_interval", interval, 15))
                .transpose()?,
        },
    };

    let ovh = raw
        .ovh
        .map(|ovh| build_ovh(path, ovh))
        .transpose()?
        .unwrap_or_default();

    let clusters = match raw.clusters {
        Some(clusters) if !clusters.value.is_empty() => clusters,
        Some(clusters) => {
            return Err(InventoryError::invalid(
                path,
                pos(&clusters.referenced),
                "`clusters` is empty: define at least one cluster with its nodes".to_string(),
            ));
        }
        None => {
            return Err(InventoryError::new(
                path,
                None,
                InventoryErrorKind::Invalid(
                    "no clusters: add a `clusters:` section with at least one cluster and its nodes"
                        .to_string(),
                ),
            ));
        }
    };

    let global_vars = raw.vars.unwrap_or_default();
    // Checked alone first: a broken global setting is broken even where clusters override it.
    settings::cluster_settings(path, &[&global_vars], true)?;

    // name -> (position, cluster) of the first definition, to report both places of a clash.
    let mut cluster_lines: HashMap<String, (usize, usize)> = HashMap::new();
    let mut node_lines: HashMap<String, ((usize, usize), String)> = HashMap::new();
    let mut model = Vec::with_capacity(clusters.value.len());
    for (name, cluster) in clusters.value {
        check_name(path, "cluster", &name)?;
        cluster_lines.insert(name.value.clone(), pos(&name.referenced));
        let built = build_cluster(
            path,
            &name,
            cluster.value.unwrap_or_default(),
            &global_vars,
            &mut node_lines,
        )?;
        model.push(built);
    }

    // A name used for both would make `--limit NAME` ambiguous.
    for cluster in &model {
        for node in &cluster.nodes {
            if let Some(&(cluster_line, _)) = cluster_lines.get(&node.name) {
                let (node_pos, _) = &node_lines[&node.name];
                return Err(InventoryError::invalid(
                    path,
                    *node_pos,
                    format!(
                        "'{}' is both a cluster (line {cluster_line}) and a node (in cluster '{}'): \
                         rename one of them",
                        node.name, node.cluster
                    ),
                ));
            }
        }
    }

    Ok(Inventory {
        path: path.to_path_buf(),
        ssh,
        ovh,
        vars: spanned_vars::to_vars(&global_vars, path)?,
        var_lines: spanned_vars::lines(&global_vars),
        clusters: model,
    })
}

/// The endpoint is checked here (an unknown name points at its line); the config path is
/// resolved like every other path of the inventory.
fn build_ovh(path: &Path, raw: RawOvh) -> Result<OvhSettings, InventoryError> {
    let endpoint = raw
        .endpoint
        .as_ref()
        .map(|endpoint| {
            Endpoint::parse(&endpoint.value).map_err(|message| {
                InventoryError::invalid(path, pos(&endpoint.referenced), format!("ovh: {message}"))
            })
        })
        .transpose()?;
    let config = raw
        .config
        .as_ref()
        .map(|raw| resolve_path(path, "config", raw))
        .transpose()?;
    Ok(OvhSettings { endpoint, config })
}

fn build_cluster(
    path: &Path,
    name: &Spanned<String>,
    raw: RawCluster,
    global_vars: &SpannedVars,
    node_lines: &mut HashMap<String, ((usize, usize), String)>,
) -> Result<Cluster, InventoryError> {
    let vip = raw
        .vip
        .as_ref()
        .map(|vip| {
            vip.value.trim().parse::<Ipv4Addr>().map_err(|_| {
                InventoryError::invalid(
                    path,
                    pos(&vip.referenced),
                    format!(
                        "vip '{}' of cluster '{}' is not an IPv4 address: give the failover IP, \
                         e.g. 203.0.113.10",
                        one_line(&vip.value),
                        name.value
                    ),
                )
            })
        })
        .transpose()?;

    let raw_nodes = raw.nodes.unwrap_or_default();
    if raw_nodes.is_empty() {
        return Err(InventoryError::invalid(
            path,
            pos(&name.referenced),
            format!(
                "cluster '{}' has no nodes: add a `nodes:` mapping with at least one node",
                name.value
            ),
        ));
    }

    let mut nodes = Vec::with_capacity(raw_nodes.len());
    for (node_name, node) in raw_nodes {
        check_name(path, "node", &node_name)?;
        let here = pos(&node_name.referenced);
        if let Some((first, first_cluster)) = node_lines.get(&node_name.value) {
            return Err(InventoryError::invalid(
                path,
                here,
                format!(
                    "node '{}' is defined twice: in cluster '{first_cluster}' (line {}) and in \
                     cluster '{}' (line {}): node names must be unique across the inventory",
                    node_name.value, first.0, name.value, here.0
                ),
            ));
        }
        node_lines.insert(node_name.value.clone(), (here, name.value.clone()));
        nodes.push(build_node(
            path,
            &name.value,
            &node_name,
            node.value.unwrap_or_default(),
        )?);
    }

    let cluster_vars = raw.vars.unwrap_or_default();
    let settings = settings::cluster_settings(path, &[global_vars, &cluster_vars], vip.is_some())?;
    Ok(Cluster {
        name: name.value.clone(),
        line: pos(&name.referenced).0,
        vip,
        vars: spanned_vars::to_vars(&cluster_vars, path)?,
        var_lines: spanned_vars::lines(&cluster_vars),
        settings,
        nodes,
    })
}

fn build_node(
    path: &Path,
    cluster: &str,
    name: &Spanned<String>,
    raw: RawNode,
) -> Result<Node, InventoryError> {
    let here = pos(&name.referenced);
    let address = match raw.address {
        Some(address) if !address.value.trim().is_empty() => {
            if address.value.trim().contains(char::is_whitespace) {
                return Err(InventoryError::invalid(
                    path,
                    pos(&address.referenced),
                    format!(
                        "address '{}' of node '{}' contains spaces: give one IP address or DNS name",
                        one_line(&address.value),
                        name.value
                    ),
                ));
            }
            address.value.trim().to_string()
        }
        Some(address) => {
            return Err(InventoryError::invalid(
                path,
                pos(&address.referenced),
                format!(
                    "node '{}' has an empty `address`: give its IP address or DNS name",
                    name.value
                ),
            ));
        }
        None => {
            return Err(InventoryError::invalid(
                path,
                here,
                format!(
                    "node '{}' has no `address`: add `address: IP-or-DNS-name` under it",
                    name.value
                ),
            ));
        }
    };
    let vars = raw.vars.unwrap_or_default();
    settings::check_node_vars(path, &name.value, cluster, &vars)?;
    Ok(Node {
        name: name.value.clone(),
        cluster: cluster.to_string(),
        address,
        port: raw
            .port
            .as_ref()
            .map(|port| check_port(path, port))
            .transpose()?,
        user: raw.user,
        identity: raw
            .identity
            .as_ref()
            .map(|raw| resolve_path(path, "identity", raw))
            .transpose()?,
        service_name: raw.service_name,
        vars: spanned_vars::to_vars(&vars, path)?,
        var_lines: spanned_vars::lines(&vars),
        line: here.0,
    })
}
