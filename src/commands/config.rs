//! `tandem config render|diff|push`: the OpenSVC config files of each cluster, the service's
//! and (where the agent runs) the cluster's (see `service_config`). `render` contacts no node;
//! `diff` reads each node's copies and exits 1 on any drift; `push` writes them like a deploy of
//! the steps tagged `service-config`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;

use crate::cli::{ClusterArgs, ConfigAction, ConfigArgs, ConfigSourceArgs, ConfigTargetArgs};
use crate::commands::plumbing::{View, reported_interruptible};
use crate::engine::{self, RunOptions, Shared};
use crate::error::Error;
use crate::fleet::{Fleet, FleetError, Selection};
use crate::inventory::{Cluster, Inventory};
use crate::playbook::Playbook;
use crate::report::config::{Drift, NodeCopy};
use crate::service_config::{self, Rendered};

pub async fn config(args: ConfigArgs) -> Result<ExitCode, Error> {
    match args.action {
        ConfigAction::Render(a) => {
            let inventory = Inventory::load(&a.inventory)?;
            let (_, rendered) = render(inventory, &a.select, &a.source)?;
            let mut out = Vec::new();
            for r in &rendered {
                service_config::describe(r, rendered.len() > 1, &mut out);
            }
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&out)
                .and_then(|()| stdout.flush())
                .map_err(Error::Stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Diff(a) => diff(a).await,
        ConfigAction::Push(a) => {
            let (inventory, fleet) = Fleet::prepare(
                &super::connect_options(&a.connect),
                Selection::Cluster(a.select.cluster.as_deref()),
            )?;
            let (playbook, _) = render(inventory.clone(), &a.select, &a.source)?;
            let become_password = super::become_password::read(&a.become_password)?;
            let options = RunOptions {
                check: a.change.check,
                diff: a.change.diff,
                filter: Default::default(),
                step_timeout: None,
                become_password,
                force_handlers: false,
            };
            let push = service_config::push_playbook(&playbook);
            let shared = Arc::new(Shared::new(inventory, push, options));
            let view = View {
                json: a.change.json,
                diff: a.change.diff,
                check: a.change.check,
                verbose: 0,
                steps: Some(shared.planned_steps()),
            };
            let interrupt = Some(shared.interrupt.clone());
            reported_interruptible(view, &fleet, interrupt, |events| {
                engine::deploy(shared, &fleet, events)
            })
            .await
        }
    }
}

/// Loads the playbook and renders the config of the selected clusters.
fn render(
    inventory: Inventory,
    select: &ClusterArgs,
    source: &ConfigSourceArgs,
) -> Result<(Playbook, Vec<Rendered>), Error> {
    let path = super::cookbook_path::find(source.playbook.as_deref(), &inventory.path)?;
    let playbook = crate::playbook::load(&path)?;
    let indexes = service_config::config_steps(&playbook)?;
    let clusters: Vec<Cluster> = match &select.cluster {
        None => inventory.clusters.clone(),
        Some(name) => match inventory.cluster(name) {
            Some(c) => vec![c.clone()],
            None => return Err(FleetError::unknown_cluster(&inventory, name).into()),
        },
    };
    let shared = Shared::new(inventory, playbook.clone(), RunOptions::default());
    let refs: Vec<&Cluster> = clusters.iter().collect();
    let rendered = service_config::render(&shared, &refs, &indexes)?;
    Ok((playbook, rendered))
}

async fn diff(a: ConfigTargetArgs) -> Result<ExitCode, Error> {
    let (inventory, fleet) = Fleet::prepare(
        &super::connect_options(&a.connect),
        Selection::Cluster(a.select.cluster.as_deref()),
    )?;
    let (_, rendered) = render(inventory, &a.select, &a.source)?;
    // Each node's paths, known before any connection: a node whose cluster has no rendered
    // config would otherwise be asked for nothing and read as "in sync".
    let mut dests: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for host in fleet.hosts() {
        let paths: Vec<String> = rendered
            .iter()
            .filter(|r| r.cluster == host.cluster)
            .map(|r| r.dest.clone())
            .collect();
        if paths.is_empty() {
            return Err(Error::internal(format!(
                "no service config was rendered for cluster {} of node {}",
                host.cluster, host.name
            )));
        }
        dests.insert(host.name.clone(), paths);
    }
    let dests = Arc::new(dests);
    let copies: BTreeMap<(String, String), NodeCopy> = fleet
        .run(move |host, session| {
            let dests = dests.clone();
            Box::pin(async move {
                let sudo = host.target.user != "root";
                let mut read = Vec::new();
                // Every host was given its paths above.
                for dest in dests.get(&host.name).into_iter().flatten() {
                    let out = session
                        .exec(&service_config::read_command(dest, sudo), b"")
                        .await?;
                    read.push((dest.clone(), out));
                }
                Ok(read)
            })
        })
        .map(|outcome| {
            let name = outcome.host.name.clone();
            match outcome.result {
                Ok(read) => read
                    .into_iter()
                    .map(|(dest, out)| {
                        let copy = if out.status.success() {
                            NodeCopy::Content(out.stdout)
                        } else if out.status == crate::ssh::ExitStatus::Code(3) {
                            NodeCopy::Missing
                        } else {
                            NodeCopy::Unreadable(
                                String::from_utf8_lossy(&out.stderr).trim().to_string(),
                            )
                        };
                        ((name.clone(), dest), copy)
                    })
                    .collect::<Vec<_>>(),
                // Unreachable: every file of the node says so (compare_all asks for each).
                Err(e) => vec![((name, String::new()), NodeCopy::Unreachable(e.to_string()))],
            }
        })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();

    let drifts = compare_all(&rendered, &copies)?;
    let any = drifts.iter().any(Drift::drifted);
    if a.json {
        let mut clusters = serde_json::Map::new();
        for d in &drifts {
            let entry = clusters
                .entry(d.cluster.clone())
                .or_insert_with(|| json!({"drift": false, "files": {}}));
            if d.drifted() {
                entry["drift"] = true.into();
            }
            entry["files"][d.dest()] = d.json();
        }
        let doc = json!({"drift": any, "clusters": clusters});
        println!("{doc}");
    } else {
        for d in &drifts {
            print!("{}", d.text());
        }
    }
    Ok(if any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Each file's comparison, per cluster; a node of a rendered config with no answer at all is
/// an internal error (leaving it out would compare the others only and could report "in
/// sync"). An unreachable node is recorded once, under an empty path: it stands for every file.
fn compare_all(
    rendered: &[Rendered],
    copies: &BTreeMap<(String, String), NodeCopy>,
) -> Result<Vec<Drift>, Error> {
    let mut drifts = Vec::new();
    for r in rendered {
        let mut nodes = Vec::with_capacity(r.nodes.len());
        for node in &r.nodes {
            let copy = copies
                .get(&(node.clone(), r.dest.clone()))
                .or_else(|| copies.get(&(node.clone(), String::new())));
            let Some(copy) = copy else {
                return Err(Error::internal(format!(
                    "no answer was recorded for node {node} of cluster {} ({})",
                    r.cluster, r.dest
                )));
            };
            nodes.push((node.clone(), copy.clone()));
        }
        drifts.push(Drift::compare(&r.cluster, r, nodes));
    }
    Ok(drifts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_without_an_answer_is_an_internal_error_not_in_sync() {
        let dest = "/etc/opensvc/web.conf".to_string();
        let rendered = vec![Rendered {
            cluster: "pair1".into(),
            dest: dest.clone(),
            content: b"[DEFAULT]\n".to_vec(),
            nodes: vec!["node1".into(), "node2".into()],
            secret: false,
        }];
        let mut copies: BTreeMap<(String, String), NodeCopy> = [(
            ("node1".to_string(), dest.clone()),
            NodeCopy::Content(b"[DEFAULT]\n".to_vec()),
        )]
        .into();
        let err = compare_all(&rendered, &copies)
            .err()
            .expect("node2 has no answer");
        assert_eq!(err.exit_code(), crate::error::INTERNAL_EXIT);
        assert!(
            err.to_string().starts_with(
                "internal error: no answer was recorded for node node2 of cluster pair1"
            ),
            "{err}"
        );
        copies.insert(
            ("node2".into(), dest.clone()),
            NodeCopy::Content(b"[DEFAULT]\n".to_vec()),
        );
        let drifts = compare_all(&rendered, &copies).unwrap();
        assert!(!drifts[0].drifted());
        // An unreachable node stands for all its files.
        copies.remove(&("node2".to_string(), dest));
        copies.insert(
            ("node2".into(), String::new()),
            NodeCopy::Unreachable("timeout".into()),
        );
        assert!(compare_all(&rendered, &copies).unwrap()[0].drifted());
    }
}
