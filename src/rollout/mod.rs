//! What `deploy --serial/--rolling/--max-fail-percent/--resume` needs around the engine's
//! rollout (`engine::rollout` cuts and runs the batches, pure; this module brings the world in:
//! the earlier run's file, OVH's answer, the agent's drain in `agent`). Before the engine runs:
//! the hosts an earlier run left to do, which node holds each VIP, the clusters' health checks.

pub mod agent;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::engine::{HealthCheck, ProbeOnce, Rollout, rollout};
use crate::failover::probe::ProbeOutcome;
use crate::fleet::Fleet;
use crate::inventory::Inventory;
use crate::ovh::{Client, ClientOptions, Credentials, OvhError};

/// A cluster's health probe that did not get its answer (`refused`, `bad status 503`, ...).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.describe())]
pub struct Unhealthy(ProbeOutcome);

/// Why a rollout cannot be planned: bad input, found before any node is touched.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// OVH's credentials or endpoint are unusable.
    #[error(transparent)]
    Ovh(#[from] OvhError),
    /// `reason` is the I/O error's text without its `(os error N)`.
    #[error(
        "--resume {}: cannot read it: {reason}: give the file an earlier `tandem deploy --json` wrote",
        .path.display()
    )]
    ResumeUnreadable { path: PathBuf, reason: String },
    #[error(
        "--resume {}: not the JSON of `tandem deploy --json` (line {}, column {}: {source})",
        .path.display(),
        .source.line(),
        .source.column()
    )]
    ResumeNotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "--resume {}: it has no \"hosts\" object: use the output of `tandem deploy --json`",
        .path.display()
    )]
    ResumeWithoutHosts { path: PathBuf },
    #[error("--resume {}: every host in it succeeded: nothing to resume", .path.display())]
    NothingToResume { path: PathBuf },
    #[error("--rolling asks OVH which node of {cluster} holds {vip}: {source}")]
    VipHolder {
        cluster: String,
        vip: std::net::Ipv4Addr,
        source: OvhError,
    },
}

/// The hosts of an earlier `deploy --json` result that did not succeed: failed, unreachable, or
/// never touched by a stopped rollout.
pub fn resume_hosts(path: &Path) -> Result<Vec<String>, RolloutError> {
    let path_buf = || path.to_path_buf();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let e = e.to_string();
        RolloutError::ResumeUnreadable {
            path: path_buf(),
            reason: e
                .split(" (os error ")
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|source| RolloutError::ResumeNotJson {
        path: path_buf(),
        source,
    })?;
    let Some(hosts) = doc["hosts"].as_object() else {
        return Err(RolloutError::ResumeWithoutHosts { path: path_buf() });
    };
    let mut names: Vec<String> = hosts
        .iter()
        .filter(|(_, h)| {
            h["failed"].as_u64().unwrap_or(0) > 0
                || h["unreachable"].as_bool().unwrap_or(false)
                // Stopped by Ctrl-C with steps not run.
                || h["interrupted"].as_bool().unwrap_or(false)
        })
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(untouched) = doc["untouched"].as_array() {
        names.extend(
            untouched
                .iter()
                .filter_map(|v| v.as_str().map(String::from)),
        );
    }
    if names.is_empty() {
        return Err(RolloutError::NothingToResume { path: path_buf() });
    }
    Ok(names)
}

/// Which node holds each selected cluster's VIP, asked from OVH (clusters without a VIP are
/// left out: their nodes go in inventory order).
pub async fn vip_holders(
    inventory: &Inventory,
    fleet: &Fleet,
) -> Result<BTreeMap<String, String>, RolloutError> {
    let mut clusters: Vec<&str> = fleet.hosts().iter().map(|h| h.cluster.as_str()).collect();
    clusters.dedup();
    let with_vip: Vec<_> = clusters
        .iter()
        .filter_map(|c| inventory.cluster(c))
        .filter_map(|c| c.vip.map(|vip| (c, vip)))
        .collect();
    let mut holders = BTreeMap::new();
    if with_vip.is_empty() {
        return Ok(holders);
    }
    let credentials = Credentials::load(&inventory.ovh)?;
    let client = Client::new(credentials, ClientOptions::default())?;
    for (cluster, vip) in with_vip {
        let routed = client
            .vip_status(vip)
            .await
            .map_err(|source| RolloutError::VipHolder {
                cluster: cluster.name.clone(),
                vip,
                source,
            })?;
        if let Some(node) = routed.and_then(|service| {
            cluster
                .nodes
                .iter()
                .find(|n| n.service_name.as_deref() == Some(service.as_str()))
        }) {
            holders.insert(cluster.name.clone(), node.name.clone());
        }
    }
    Ok(holders)
}

/// Clusters with a `health_check` setting (checked when the inventory loaded, a VIP included):
/// their service is probed (`probe_*` settings) after each batch that touched one of their
/// nodes.
pub fn health_checks(inventory: &Inventory) -> BTreeMap<String, HealthCheck> {
    inventory
        .clusters
        .iter()
        .filter_map(|cluster| {
            let within = cluster.settings.health_check?;
            let vip = cluster.vip?;
            let probe = crate::failover::probe_vars::probe_config(&cluster.settings.probe, vip);
            let target = probe.target.to_string();
            let probe = Arc::new(probe);
            let probe: ProbeOnce = Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move {
                    let outcome = crate::failover::probe::check_once(&probe).await;
                    if outcome.is_ok() {
                        Ok(())
                    } else {
                        Err(Unhealthy(outcome).into())
                    }
                })
            });
            let check = HealthCheck {
                target,
                probe,
                within,
            };
            Some((cluster.name.clone(), check))
        })
        .collect()
}

/// The batches and their rules.
pub fn plan(
    fleet: &Fleet,
    serial: rollout::Serial,
    holders: Option<&BTreeMap<String, String>>,
    max_fail_percent: Option<u8>,
    health: BTreeMap<String, HealthCheck>,
) -> Rollout {
    let members: Vec<rollout::Member> = fleet
        .hosts()
        .iter()
        .map(|h| rollout::Member {
            name: h.name.clone(),
            cluster: h.cluster.clone(),
        })
        .collect();
    Rollout {
        batches: rollout::batches(&members, serial, holders),
        max_fail_percent,
        health,
        hooks: None,
    }
}
