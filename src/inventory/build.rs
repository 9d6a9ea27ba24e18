//! The second pass of loading: the raw structs serde-saphyr filled become the model, with
//! tandem's rules checked on the way (names, ports, paths, durations, addresses, the VIP, the
//! cluster settings), each refusal placed at its `PATH:LINE:COL`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::raw::{RawCluster, RawInventory, RawNode, RawOvh};
use super::spanned_vars::{self, SpannedVars};
use super::{
    Cluster, Endpoint, Inventory, InventoryError, InventoryErrorKind, Node, OvhSettings,
    SshDefaults, pos, settings,
};
use crate::source_file::one_line;

/// `[A-Za-z0-9][A-Za-z0-9._-]*`: safe in shell commands, file names and `--limit` patterns.
pub(crate) fn valid_name(name: &str) -> bool {
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

pub(super) fn build(raw: RawInventory, path: &Path) -> Result<Inventory, InventoryError> {
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
