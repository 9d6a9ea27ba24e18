//! `tandem keys`: trust inside each cluster. The nodes of a pair log into each other as root
//! (OpenSVC syncs a service's data with rsync over ssh) and into their containers, with every
//! host key pinned, so the first sync never stops at a prompt.
//!
//! Two passes over one connection per node: [`gather`] reads (and, unless `--check`, makes)
//! each node's root key pair and reads its host keys and its containers'; then [`plan`] turns
//! what the whole cluster said into the lines each node must hold, and the playbook engine
//! writes them (`tagged_lines` steps: atomic, idempotent, with --check and --diff), reported
//! like any deploy. A cluster where one node cannot be read is left as it is: trust must go
//! both ways, and an unreachable node's old entries must not be taken for stale ones.

pub mod gather;
pub(crate) mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream;
use tokio::sync::mpsc::UnboundedSender;

use crate::engine::{self, Event, HostStats, Interrupt, RunOptions, Shared};
use crate::fleet::{Fleet, Host};
use crate::inventory::Inventory;
use crate::ssh::{FrameMode, FrameStatus, Session, SshError};

use gather::NodeKeys;
use plan::{ContainerSpec, Member};

/// Runs `keys` on every node of the fleet (whole clusters); returns each host's stats in
/// inventory order. `events` feeds the same report as `deploy`.
pub(crate) async fn exchange(
    inventory: &Inventory,
    fleet: &Fleet,
    options: RunOptions,
    interrupt: Interrupt,
    events: UnboundedSender<Event>,
) -> Vec<(String, HostStats)> {
    let connected = fleet.connect_all().await;
    // A node whose peer cannot be reached is not even read: reading may make its key pair,
    // and nothing may change in a cluster that cannot be finished.
    let down: BTreeMap<String, String> = connected
        .iter()
        .filter_map(|(h, r)| r.as_ref().err().map(|e| (h.name.clone(), e.to_string())))
        .collect();
    let mut to_read = Vec::new();
    let mut not_run: Vec<(String, HostStats)> = Vec::new();
    for (host, session) in connected {
        let peers_down: Vec<&String> = inventory
            .cluster(&host.cluster)
            .map(|c| {
                c.nodes
                    .iter()
                    .filter_map(|n| down.get_key_value(&n.name).map(|(name, _)| name))
                    .collect()
            })
            .unwrap_or_default();
        match session {
            Ok(session) if !peers_down.is_empty() => {
                session.close().await;
                let why = format!(
                    "left unchanged: {} of cluster {} is unreachable, and trust must go both ways",
                    peers_down
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    host.cluster
                );
                not_run.push((host.name.clone(), stopped(&events, &host.name, &why)));
            }
            other => to_read.push((host, other)),
        }
    }
    let read = read_all(inventory, to_read, options.check, fleet.forks()).await;

    let mut keys: BTreeMap<String, NodeKeys> = BTreeMap::new();
    let mut problems: BTreeMap<String, String> = BTreeMap::new();
    for (host, outcome) in &read {
        match outcome {
            Read::Keys(_, k) => {
                keys.insert(host.name.clone(), k.clone());
            }
            Read::Failed(why) => {
                problems.insert(host.name.clone(), why.to_string());
            }
            Read::Unreachable(e) => {
                problems.insert(host.name.clone(), e.to_string());
            }
        }
    }

    let mut with_vars = inventory.clone();
    let mut container_names = BTreeSet::new();
    let mut blocked: BTreeMap<String, String> = BTreeMap::new();
    for cluster in &mut with_vars.clusters {
        let specs = plan::containers_of(&cluster.settings);
        let missing: Vec<String> = cluster
            .nodes
            .iter()
            .filter(|n| !keys.contains_key(&n.name))
            .filter(|n| fleet.hosts().iter().any(|h| h.name == n.name))
            .map(|n| n.name.clone())
            .collect();
        if !missing.is_empty() {
            for node in &cluster.nodes {
                if keys.contains_key(&node.name) {
                    blocked.insert(
                        node.name.clone(),
                        format!(
                            "left unchanged: {} of cluster {} could not be read ({}), and trust must go both ways",
                            missing.join(", "),
                            cluster.name,
                            missing
                                .iter()
                                .filter_map(|m| problems.get(m))
                                .cloned()
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    );
                }
            }
            continue;
        }
        let members: Vec<Member> = cluster
            .nodes
            .iter()
            .filter_map(|n| {
                keys.get(&n.name).map(|k| Member {
                    name: &n.name,
                    address: peer_address(inventory, n),
                    keys: k,
                })
            })
            .collect();
        let mut desired = BTreeMap::new();
        for member in &members {
            let value = plan::desired(&cluster.name, member, &members, &specs);
            if let Some(found) = value["containers"].as_object() {
                container_names.extend(found.keys().cloned());
            }
            desired.insert(member.name.to_string(), value);
        }
        for node in &mut cluster.nodes {
            if let Some(value) = desired.remove(&node.name) {
                // Data from the nodes, never rendered as a template (engine's DATA_VARS).
                node.vars.insert(crate::engine::DATA_VARS[0].into(), value);
            }
        }
    }

    let playbook = plan::playbook(&container_names);
    let mut shared = Shared::new(with_vars, playbook, options);
    // Ctrl-C during the reads still lets them end (they change nothing but a missing key pair);
    // the writes then start on no node.
    shared.interrupt = interrupt;
    let shared = Arc::new(shared);
    let mut sessions = Vec::new();
    for (host, outcome) in read {
        let name = host.name.clone();
        match outcome {
            Read::Keys(session, _) if !blocked.contains_key(&name) => {
                sessions.push((host, Ok(session)));
            }
            Read::Keys(session, _) => {
                session.close().await;
                not_run.push((name.clone(), stopped(&events, &name, &blocked[&name])));
            }
            Read::Unreachable(e) => sessions.push((host, Err(e))),
            Read::Failed(why) => {
                not_run.push((name.clone(), stopped(&events, &name, &why.to_string())))
            }
        }
    }
    let mut results = engine::deploy_connected(shared, sessions, fleet.forks(), events).await;
    results.extend(not_run);
    let order: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    results.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    results
}

/// A host that is reachable but was not changed, reported as failed with the reason.
fn stopped(events: &UnboundedSender<Event>, host: &str, why: &str) -> HostStats {
    let stats = HostStats {
        failed: 1,
        ..Default::default()
    };
    let _ = events.send(Event::HostStarted {
        host: host.to_string(),
        steps: 0,
    });
    let _ = events.send(Event::HostFinished {
        host: host.to_string(),
        stats,
        error: Some(why.to_string()),
    });
    stats
}

enum Read {
    Keys(Session, NodeKeys),
    /// Reached, but the script failed: the reason.
    Failed(ReadKeysError),
    Unreachable(SshError),
}

/// Why a reached node's keys could not be read (the node is reported failed with it).
#[derive(Debug, thiserror::Error)]
enum ReadKeysError {
    /// The remote shell broke (opening it, or while the script ran).
    #[error(transparent)]
    Shell(#[from] SshError),
    /// The gathering script ran and failed: its status and stderr.
    #[error("reading its keys failed ({status:?}): {}", .stderr.trim())]
    Script { status: FrameStatus, stderr: String },
}

async fn read_all(
    inventory: &Inventory,
    connected: Vec<(Host, Result<Session, SshError>)>,
    check: bool,
    forks: usize,
) -> Vec<(Host, Read)> {
    stream::iter(connected)
        .map(|(host, session)| {
            let names: Vec<String> = inventory
                .cluster(&host.cluster)
                .map(|c| plan::containers_of(&c.settings))
                .unwrap_or_default()
                .into_iter()
                .map(|c: ContainerSpec| c.name)
                .collect();
            async move {
                let read = match session {
                    Err(e) => Read::Unreachable(e),
                    Ok(session) => {
                        let sudo = host.target.user != "root";
                        match read_one(&session, sudo, &names, check).await {
                            Ok(keys) => Read::Keys(session, keys),
                            Err(why) => {
                                session.close().await;
                                Read::Failed(why)
                            }
                        }
                    }
                };
                (host, read)
            }
        })
        .buffered(forks.max(1))
        .collect()
        .await
}

async fn read_one(
    session: &Session,
    sudo: bool,
    containers: &[String],
    check: bool,
) -> Result<NodeKeys, ReadKeysError> {
    let shell = session.shell(sudo).await?;
    let answer = shell
        .run(&gather::script(containers, check), b"", FrameMode::Continue)
        .await;
    shell.close().await;
    let answer = answer?;
    match answer.status {
        FrameStatus::Exited(0) => Ok(gather::parse(&String::from_utf8_lossy(&answer.stdout))),
        status => Err(ReadKeysError::Script {
            status,
            stderr: String::from_utf8_lossy(&answer.stderr).into_owned(),
        }),
    }
}

/// How a peer reaches the node: its inventory address, bracketed with the port when not 22
/// (known_hosts' own syntax).
fn peer_address(inventory: &Inventory, node: &crate::inventory::Node) -> String {
    match node.port.or(inventory.ssh.port) {
        Some(port) if port != 22 => format!("[{}]:{port}", node.address),
        _ => node.address.clone(),
    }
}
