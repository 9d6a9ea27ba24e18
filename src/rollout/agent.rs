//! `deploy --rolling` with the OpenSVC agent: before a batch changes a node that runs its
//! cluster's service, the service is switched to the node's peer through the agent (the
//! cluster's `switch_command`) and waited for until the agent reports it up there, idle
//! (bounded by `rto_seconds`); only then is the node changed. With `--giveback`, the service is
//! switched back to each drained node its batch changed successfully. A node whose service
//! cannot be drained is not changed: the rollout stops before its batch, so a pair always keeps
//! a node running its service. Nodes without the agent, or that do not run the service, are
//! changed as they are.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

use crate::engine::{BatchHooks, CallbackError, Event};
use crate::failover::agent;
use crate::failover::agent_wait::{self, SwitchEndError};
use crate::failover::node_exec::{ExecError, exec_as_root};
use crate::failover::node_ops::switch_command;
use crate::fleet::Fleet;
use crate::inventory::Inventory;
use crate::sh::{QuotedPlaceholder, Script};
use crate::ssh::Session;

/// Why a node's service could not be drained or given back; the rollout stops with it.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("{host} is not in the inventory")]
    NotInInventory { host: String },
    #[error("{host} is unreachable: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("switch_command: {0}")]
    SwitchCommand(#[from] QuotedPlaceholder),
    /// The switch command failed on the node (`command`: the script as run).
    #[error("{command}: {source}")]
    Command { command: String, source: ExecError },
    #[error(transparent)]
    SwitchEnd(#[from] SwitchEndError),
    #[error("cannot read the OpenSVC agent's status on {host}: {source}")]
    Status { host: String, source: ExecError },
    #[error("on {host}: {source}")]
    Instances {
        host: String,
        source: agent::StatusError,
    },
    #[error("{host} was not changed: its service could not be drained: {source}")]
    NotDrained {
        host: String,
        source: Box<DrainError>,
    },
    #[error("giving {service} back to {host}: {source} (it still runs on {peer})")]
    NotGivenBack {
        service: String,
        host: String,
        peer: String,
        source: Box<DrainError>,
    },
}

/// A cluster's service, as a drain needs it.
struct ClusterService {
    service: String,
    nodes: Vec<String>,
    switch_template: String,
    /// How long the agent gets to finish a switch.
    within: Duration,
}

pub struct AgentDrain {
    fleet: Fleet,
    clusters: BTreeMap<String, ClusterService>,
    giveback: bool,
}

/// Beyond `rto_seconds`, how long the agent gets to end a switch (as the game day gives it).
const GRACE: Duration = Duration::from_secs(10);

impl AgentDrain {
    /// The clusters of pairs with a `service` setting; `None` when there is none (nothing to
    /// drain).
    pub fn new(inventory: &Inventory, fleet: &Fleet, giveback: bool) -> Option<AgentDrain> {
        let clusters: BTreeMap<String, ClusterService> = inventory
            .clusters
            .iter()
            .filter(|c| c.nodes.len() == 2)
            .filter_map(|c| {
                let service = c.settings.service.clone()?;
                Some((
                    c.name.clone(),
                    ClusterService {
                        service,
                        nodes: c.nodes.iter().map(|n| n.name.clone()).collect(),
                        switch_template: c.settings.switch_command.as_str().to_string(),
                        within: c.settings.rto + GRACE,
                    },
                ))
            })
            .collect();
        if clusters.is_empty() {
            return None;
        }
        let names: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
        Some(AgentDrain {
            fleet: fleet.subset(&names),
            clusters,
            giveback,
        })
    }

    fn cluster_of(&self, host: &str) -> Option<(&str, &ClusterService)> {
        let h = self.fleet.hosts().iter().find(|h| h.name == host)?;
        self.clusters
            .get(&h.cluster)
            .map(|c| (h.cluster.as_str(), c))
    }

    /// Connects to `host` (as root through sudo when not root).
    async fn connect(&self, host: &str) -> Result<(Session, bool), DrainError> {
        let one = self.fleet.subset(&[host.to_string()]);
        let Some((h, session)) = one.connect_all().await.into_iter().next() else {
            return Err(DrainError::NotInInventory {
                host: host.to_string(),
            });
        };
        let sudo = h.target.user != "root";
        session
            .map(|s| (s, sudo))
            .map_err(|e| DrainError::Unreachable {
                host: host.to_string(),
                detail: e.to_string(),
            })
    }

    /// Moves `cluster`'s service from `from` to `to` through the agent, from `from`'s
    /// session, and waits for the end; reports it as a `ServiceMoved` event.
    #[allow(clippy::too_many_arguments)]
    async fn switch(
        &self,
        session: &Session,
        sudo: bool,
        (cluster, svc): (&str, &ClusterService),
        from: &str,
        to: &str,
        reason: &str,
        events: &UnboundedSender<Event>,
    ) -> Result<(), DrainError> {
        let started = Instant::now();
        let result = async {
            let cmd = switch_command(&svc.switch_template, &svc.service, to)?;
            exec_as_root(session, sudo, &cmd)
                .await
                .map_err(|source| DrainError::Command {
                    command: cmd.to_string(),
                    source,
                })?;
            let run = |script: Script| async move { exec_as_root(session, sudo, &script).await };
            agent_wait::switch_end(run, &svc.service, to, svc.within, |_| {})
                .await
                .into_result(&svc.service, to, svc.within)?;
            Ok::<(), DrainError>(())
        }
        .await;
        let _ = events.send(Event::ServiceMoved {
            cluster: cluster.to_string(),
            service: svc.service.clone(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
            ok: result.is_ok(),
            detail: match &result {
                Ok(()) => format!("the agent reports {} up on {to}", svc.service),
                Err(e) => e.to_string(),
            },
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        result
    }

    /// Drains `host` if it runs its cluster's service; true when it did.
    async fn drain(&self, host: &str, events: &UnboundedSender<Event>) -> Result<bool, DrainError> {
        let Some((cluster, svc)) = self.cluster_of(host) else {
            return Ok(false);
        };
        // Unreachable: nothing to drain, and its batch will not change it either (the deploy
        // reports it unreachable, as without the agent).
        let Ok((session, sudo)) = self.connect(host).await else {
            return Ok(false);
        };
        let result = async {
            let status = match exec_as_root(&session, sudo, &agent::status_script()).await {
                Ok(text) => text,
                // No agent on the node (`om` not found): nothing it manages to drain.
                Err(ExecError {
                    code: Some(127), ..
                }) => return Ok(false),
                Err(source) => {
                    return Err(DrainError::Status {
                        host: host.to_string(),
                        source,
                    });
                }
            };
            let seen = agent::instances(&status, &svc.service).map_err(|source| {
                DrainError::Instances {
                    host: host.to_string(),
                    source,
                }
            })?;
            let here = seen.iter().find(|i| i.node == host);
            if here.is_none_or(|i| i.avail != "up") {
                return Ok(false);
            }
            let Some(peer) = svc.nodes.iter().find(|n| *n != host) else {
                return Ok(false);
            };
            self.switch(&session, sudo, (cluster, svc), host, peer, "drain", events)
                .await
                .map_err(|e| DrainError::NotDrained {
                    host: host.to_string(),
                    source: Box::new(e),
                })?;
            Ok(true)
        }
        .await;
        session.close().await;
        result
    }

    /// Hands the service back to `host` from its peer.
    async fn give_back(
        &self,
        host: &str,
        events: &UnboundedSender<Event>,
    ) -> Result<(), DrainError> {
        let Some((cluster, svc)) = self.cluster_of(host) else {
            return Ok(());
        };
        let Some(peer) = svc.nodes.iter().find(|n| *n != host) else {
            return Ok(());
        };
        let (session, sudo) = self.connect(host).await?;
        let result = self
            .switch(
                &session,
                sudo,
                (cluster, svc),
                peer,
                host,
                "giveback",
                events,
            )
            .await
            .map_err(|e| DrainError::NotGivenBack {
                service: svc.service.clone(),
                host: host.to_string(),
                peer: peer.clone(),
                source: Box::new(e),
            });
        session.close().await;
        result
    }
}

impl BatchHooks for AgentDrain {
    fn before_batch<'a>(
        &'a self,
        batch: &'a [String],
        events: &'a UnboundedSender<Event>,
    ) -> BoxFuture<'a, Result<Vec<String>, CallbackError>> {
        Box::pin(async move {
            let mut drained = Vec::new();
            // One at a time: a batch holds at most one node per pair, and the agent's
            // switches are the slow part; a failure stops before the next one.
            for host in batch {
                if self.drain(host, events).await? {
                    drained.push(host.clone());
                }
            }
            Ok(drained)
        })
    }

    fn after_batch<'a>(
        &'a self,
        drained: &'a [String],
        succeeded: &'a [String],
        events: &'a UnboundedSender<Event>,
    ) -> BoxFuture<'a, Result<(), CallbackError>> {
        Box::pin(async move {
            if !self.giveback {
                return Ok(());
            }
            let mut first_error = None;
            // A node whose change failed keeps its service away: the peer runs it.
            for host in drained.iter().filter(|h| succeeded.contains(h)) {
                if let Err(e) = self.give_back(host, events).await {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), |e| Err(e.into()))
        })
    }
}
