//! The OpenSVC config files of each cluster: the service config and, where the agent runs, the
//! cluster config; each one the same bytes on both nodes.
//!
//! They are written by steps of the cookbook playbook: the `template` steps tagged
//! [`CONFIG_TAG`]. `tandem config` renders those very steps with the engine's own rendering
//! (same variables, same template, same destination, same `when`), so `deploy` and
//! `config push` can never disagree; `push` runs every step tagged [`TAG`] (the configs and what
//! they need, such as their directory, the triggers, the daemon's restart). A file rendered
//! with secrets (the cluster's) is never shown: its `secret` lines are masked in `render` and
//! `diff` output.

use crate::sh::{Script, ShellWord};

use std::path::PathBuf;

use crate::engine::{self, Shared};
use crate::inventory::Cluster;
use crate::playbook::{Location, Playbook};

/// Why the service config cannot be rendered: the playbook and inventory do not make one file
/// per cluster (bad input), or a rendered step lost its destination (a bug).
#[derive(Debug, thiserror::Error)]
pub enum ServiceConfigError {
    #[error(
        "{}: no `template` step is tagged `{CONFIG_TAG}`: tag the step that writes the OpenSVC service config",
        .playbook.display()
    )]
    NoConfigStep { playbook: PathBuf },
    /// The engine's words for a step it cannot plan on a node.
    #[error("cluster {cluster}, node {node}: {why}")]
    NotRendered {
        cluster: String,
        node: String,
        why: engine::StepPlanError,
    },
    /// A bug: the template module refuses a step without a string `dest`.
    #[error(
        "internal error: {location}: the rendered service config step has no `dest` for node {node} \
         (a bug in tandem: please report it with the command you ran)"
    )]
    NoDest { location: Location, node: String },
    #[error(
        "{location}: the service config of cluster {cluster} differs between {first} and {node} (it \
         must be the same file on every node): the template or its destination reads a node's own \
         variables"
    )]
    DiffersBetweenNodes {
        location: Location,
        cluster: String,
        first: String,
        node: String,
    },
    #[error(
        "{location}: the config {dest} of cluster {cluster} is written on {written_on} but skipped \
         (`when`) on {skipped_on}: it must be on every node of the cluster or on none"
    )]
    SkippedOnSomeNodes {
        location: Location,
        dest: String,
        cluster: String,
        written_on: String,
        skipped_on: String,
    },
}

/// Marks the steps `tandem config push` runs.
pub const TAG: &str = "service-config";

/// Marks, among them, the steps that write the config files themselves (the others are their
/// directory, the triggers, credentials, the daemon).
pub const CONFIG_TAG: &str = "service-config-file";

/// What a masked secret line shows instead of its value.
pub const MASKED: &str = "<secret: not shown>";

/// One config file of a cluster, rendered.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub cluster: String,
    /// Where it goes on every node of the cluster.
    pub dest: String,
    pub content: Vec<u8>,
    pub nodes: Vec<String>,
    /// Rendered with secrets (`template`'s `secrets`): shown only through [`mask_secrets`].
    pub secret: bool,
}

/// The indexes of the steps that write the config files: the `template` steps tagged
/// [`CONFIG_TAG`], in playbook order.
pub fn config_steps(playbook: &Playbook) -> Result<Vec<usize>, Box<ServiceConfigError>> {
    let found: Vec<usize> = playbook
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.module == "template" && s.tags.iter().any(|t| t == CONFIG_TAG))
        .map(|(i, _)| i)
        .collect();
    if found.is_empty() {
        return Err(Box::new(ServiceConfigError::NoConfigStep {
            playbook: playbook.path.clone(),
        }));
    }
    Ok(found)
}

/// Renders each config file for every node of each cluster (a file whose `when` skips it on
/// every node of a cluster is not that cluster's) and insists that all nodes of a cluster get
/// the same bytes (a template that reads a node's own variables would make them drift).
pub fn render(
    shared: &Shared,
    clusters: &[&Cluster],
    indexes: &[usize],
) -> Result<Vec<Rendered>, Box<ServiceConfigError>> {
    let mut all = Vec::new();
    for cluster in clusters {
        for &index in indexes {
            if let Some(rendered) = render_one(shared, cluster, index)? {
                all.push(rendered);
            }
        }
    }
    Ok(all)
}

fn render_one(
    shared: &Shared,
    cluster: &Cluster,
    index: usize,
) -> Result<Option<Rendered>, Box<ServiceConfigError>> {
    let step = &shared.playbook.steps[index];
    let mut first: Option<(String, String, Vec<u8>)> = None;
    let mut skipped_on: Option<String> = None;
    let mut secret = false;
    for node in &cluster.nodes {
        let planned = engine::plan_step_offline(shared, node, index).map_err(|why| {
            Box::new(ServiceConfigError::NotRendered {
                cluster: cluster.name.clone(),
                node: node.name.clone(),
                why,
            })
        })?;
        let Some((args, remote)) = planned else {
            skipped_on = Some(node.name.clone());
            continue;
        };
        secret |= args["secrets"].as_object().is_some_and(|s| !s.is_empty());
        // The template module refuses a step without a string `dest`; one missing here
        // would make every node's copy read as "missing", so it is a bug, said as one.
        let Some(dest) = args["dest"].as_str().map(str::to_string) else {
            return Err(Box::new(ServiceConfigError::NoDest {
                location: step.location.clone(),
                node: node.name.clone(),
            }));
        };
        match &first {
            None => first = Some((node.name.clone(), dest, remote.payload)),
            Some((other, other_dest, other_content)) => {
                if *other_dest != dest || *other_content != remote.payload {
                    return Err(Box::new(ServiceConfigError::DiffersBetweenNodes {
                        location: step.location.clone(),
                        cluster: cluster.name.clone(),
                        first: other.clone(),
                        node: node.name.clone(),
                    }));
                }
            }
        }
    }
    let Some((writer, dest, content)) = first else {
        return Ok(None);
    };
    if let Some(skipped) = skipped_on {
        return Err(Box::new(ServiceConfigError::SkippedOnSomeNodes {
            location: step.location.clone(),
            dest,
            cluster: cluster.name.clone(),
            written_on: writer,
            skipped_on: skipped,
        }));
    }
    Ok(Some(Rendered {
        cluster: cluster.name.clone(),
        dest,
        content,
        nodes: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
        secret,
    }))
}

/// The file as it may be shown: for a file rendered with secrets, every `secret = VALUE` line
/// (OpenSVC's INI form) shows [`MASKED`] instead of its value.
pub fn mask_secrets(content: &[u8], secret: bool) -> Vec<u8> {
    if !secret {
        return content.to_vec();
    }
    let text = String::from_utf8_lossy(content);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or("").trim();
        if line.contains('=') && key == "secret" {
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("secret = {MASKED}{newline}"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
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
    out.extend_from_slice(&mask_secrets(&rendered.content, rendered.secret));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_lines_of_a_secret_file_are_masked() {
        let conf = b"[cluster]\nname = pair1\nsecret = abc123\n  secret=def\nsecrets = x\n";
        let shown = String::from_utf8(mask_secrets(conf, true)).unwrap();
        assert_eq!(
            shown,
            format!("[cluster]\nname = pair1\nsecret = {MASKED}\nsecret = {MASKED}\nsecrets = x\n")
        );
        assert_eq!(mask_secrets(conf, false), conf.to_vec());
    }
}
