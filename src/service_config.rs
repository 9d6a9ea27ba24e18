//! The OpenSVC service config of each cluster: one file, the same bytes on both nodes.
//!
//! It is written by one step of the cookbook playbook: the `template` step tagged
//! [`CONFIG_TAG`]. `tandem config` renders that very step with the engine's own rendering (same
//! variables, same template, same destination), so `deploy` and `config push` can never
//! disagree; `push` runs every step tagged [`TAG`] (the config and what it needs, such as its
//! directory and triggers).

use std::path::Path;

use crate::sh::{Script, ShellWord};

use crate::engine::{self, Shared};
use crate::error::Error;
use crate::inventory::Cluster;
use crate::playbook::Playbook;

/// Marks the steps `tandem config push` runs.
pub const TAG: &str = "service-config";

/// Marks, among them, the step that writes the config itself (the others are its directory,
/// its triggers, credentials).
pub const CONFIG_TAG: &str = "service-config-file";

/// A cluster's service config, rendered.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub cluster: String,
    /// Where it goes on every node of the cluster.
    pub dest: String,
    pub content: Vec<u8>,
    pub nodes: Vec<String>,
}

/// The index of the step that writes the config: the only `template` step tagged
/// [`CONFIG_TAG`].
pub fn config_step(playbook: &Playbook) -> Result<usize, Error> {
    let found: Vec<usize> = playbook
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.module == "template" && s.tags.iter().any(|t| t == CONFIG_TAG))
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Usage(format!(
            "{}: no `template` step is tagged `{CONFIG_TAG}`: tag the step that writes the OpenSVC service config",
            playbook.path.display()
        ))),
        [first, second, ..] => Err(Error::Usage(format!(
            "{}: steps at {} and {} are both `template` steps tagged `{CONFIG_TAG}`: tag only the one that writes the service config",
            playbook.path.display(),
            playbook.steps[*first].location,
            playbook.steps[*second].location
        ))),
    }
}

/// Renders the config for every node of each cluster and insists that all nodes of a cluster
/// get the same bytes (a template that reads a node's own variables would make them drift).
pub fn render(
    shared: &Shared,
    clusters: &[&Cluster],
    index: usize,
) -> Result<Vec<Rendered>, Error> {
    let step = &shared.playbook.steps[index];
    let mut all = Vec::new();
    for cluster in clusters {
        let mut first: Option<(String, String, Vec<u8>)> = None;
        for node in &cluster.nodes {
            let (args, remote) = engine::plan_step_offline(shared, node, index).map_err(|e| {
                Error::Usage(format!("cluster {}, node {}: {e}", cluster.name, node.name))
            })?;
            // The template module refuses a step without a string `dest`; one missing here
            // would make every node's copy read as "missing", so it is a bug, said as one.
            let Some(dest) = args["dest"].as_str().map(str::to_string) else {
                return Err(Error::internal(format!(
                    "{}: the rendered service config step has no `dest` for node {}",
                    step.location, node.name
                )));
            };
            match &first {
                None => first = Some((node.name.clone(), dest, remote.payload)),
                Some((other, other_dest, other_content)) => {
                    if *other_dest != dest || *other_content != remote.payload {
                        return Err(Error::Usage(format!(
                            "{}: the service config of cluster {} differs between {other} and {} (it must be the same file on every node): the template or its destination reads a node's own variables",
                            step.location, cluster.name, node.name
                        )));
                    }
                }
            }
        }
        if let Some((_, dest, content)) = first {
            all.push(Rendered {
                cluster: cluster.name.clone(),
                dest,
                content,
                nodes: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            });
        }
    }
    Ok(all)
}

/// Only the steps tagged [`TAG`], for `config push`.
pub fn push_playbook(playbook: &Playbook) -> Playbook {
    let mut push = playbook.clone();
    push.steps.retain(|s| s.tags.iter().any(|t| t == TAG));
    push
}

/// `config render` output for several clusters: each file under a comment line naming it.
pub fn describe(rendered: &Rendered, many: bool, out: &mut Vec<u8>) {
    if many {
        out.extend_from_slice(
            format!(
                "# ---- cluster {}: {} on {}\n",
                rendered.cluster,
                rendered.dest,
                rendered.nodes.join(", ")
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(&rendered.content);
}

/// The shell command that prints a node's copy (exit 3 when it has none).
pub fn read_command(dest: &str, sudo: bool) -> Script {
    let read = Script::fill(
        "if [ -e {dest} ]; then cat -- {dest}; else exit 3; fi",
        &[("dest", &ShellWord::quote(dest))],
    );
    if sudo {
        Script::fill(
            "sudo -n sh -c {read}",
            &[("read", &ShellWord::quote(&read))],
        )
    } else {
        read
    }
}

/// Whether a path is the playbook's default and does not exist, for a friendlier error.
pub fn missing_default_playbook(path: &Path) -> bool {
    !path.exists() && path == Path::new("playbooks/ovh-lxc-cluster.yml")
}
