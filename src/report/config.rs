//! What `tandem config diff` shows: per cluster and config file, each node's copy against the
//! rendered one and against its peers, with unified diffs. A file rendered with secrets (the
//! cluster config) is compared whole but shown masked: its diff never holds a secret, and a
//! changed secret is said in words.

use serde_json::{Value, json};

use super::diff::unified;
use crate::modules::FileDiff;
use crate::service_config::{Rendered, mask_secrets};

/// What a node holds at the config's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeCopy {
    Content(Vec<u8>),
    Missing,
    /// The node answered but the file could not be read: why.
    Unreadable(String),
    Unreachable(String),
}

/// One cluster's comparison.
pub struct Drift {
    pub cluster: String,
    dest: String,
    wanted: Vec<u8>,
    nodes: Vec<(String, NodeCopy)>,
    /// Shown only masked (see `service_config::mask_secrets`).
    secret: bool,
}

impl Drift {
    pub fn compare(cluster: &str, rendered: &Rendered, nodes: Vec<(String, NodeCopy)>) -> Drift {
        Drift {
            cluster: cluster.to_string(),
            dest: rendered.dest.clone(),
            wanted: rendered.content.clone(),
            nodes,
            secret: rendered.secret,
        }
    }

    /// The file's path on the nodes.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    /// A unified diff of two versions as it may be shown, and a word when the only change is
    /// a masked secret.
    fn shown_diff(&self, label: String, old: &[u8], new: &[u8]) -> String {
        let (old_shown, new_shown) = (
            mask_secrets(old, self.secret),
            mask_secrets(new, self.secret),
        );
        let mut out = String::new();
        if old_shown != new_shown {
            out.push_str(&unified(&FileDiff {
                label: label.clone(),
                old: old_shown.clone(),
                new: new_shown.clone(),
            }));
        }
        if self.secret && old != new && secret_lines(old) != secret_lines(new) {
            out.push_str(&format!("  {label}: the secret differs (not shown)\n"));
        }
        out
    }

    fn state(&self, copy: &NodeCopy) -> &'static str {
        match copy {
            NodeCopy::Content(c) if *c == self.wanted => "same",
            NodeCopy::Content(_) => "differs",
            NodeCopy::Missing => "missing",
            NodeCopy::Unreadable(_) => "unreadable",
            NodeCopy::Unreachable(_) => "unreachable",
        }
    }

    /// Whether the nodes hold the same bytes as each other (all readable).
    pub fn peers_agree(&self) -> bool {
        let contents: Vec<&Vec<u8>> = self
            .nodes
            .iter()
            .filter_map(|(_, c)| match c {
                NodeCopy::Content(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        contents.len() == self.nodes.len() && contents.windows(2).all(|w| w[0] == w[1])
    }

    /// Any node not holding exactly the rendered config (or not telling).
    pub fn drifted(&self) -> bool {
        self.nodes.iter().any(|(_, c)| self.state(c) != "same")
    }

    pub fn json(&self) -> Value {
        let nodes: serde_json::Map<String, Value> = self
            .nodes
            .iter()
            .map(|(name, copy)| {
                let mut v = json!({"state": self.state(copy)});
                if let NodeCopy::Unreadable(e) | NodeCopy::Unreachable(e) = copy {
                    v["error"] = Value::from(e.clone());
                }
                (name.clone(), v)
            })
            .collect();
        json!({
            "path": self.dest,
            "drift": self.drifted(),
            "peers_agree": self.peers_agree(),
            "nodes": nodes,
        })
    }

    pub fn text(&self) -> String {
        let mut out = format!("{}: {}\n", self.cluster, self.dest);
        for (name, copy) in &self.nodes {
            let line = match copy {
                NodeCopy::Content(_) if self.state(copy) == "same" => "same as rendered".into(),
                NodeCopy::Content(_) => "DIFFERS from the rendered config".into(),
                NodeCopy::Missing => "MISSING (tandem config push writes it)".into(),
                NodeCopy::Unreadable(e) => format!("UNREADABLE: {e}"),
                NodeCopy::Unreachable(e) => format!("UNREACHABLE: {e}"),
            };
            out.push_str(&format!("  {name}: {line}\n"));
        }
        for (name, copy) in &self.nodes {
            if let NodeCopy::Content(have) = copy
                && *have != self.wanted
            {
                out.push_str(&self.shown_diff(format!("{name}:{}", self.dest), have, &self.wanted));
            }
        }
        // Peers against each other, when both drifted differently: what a switch-over would
        // change.
        let readable: Vec<(&String, &Vec<u8>)> = self
            .nodes
            .iter()
            .filter_map(|(n, c)| match c {
                NodeCopy::Content(b) => Some((n, b)),
                _ => None,
            })
            .collect();
        if let [(a, first), rest @ ..] = readable.as_slice() {
            for (b, other) in rest {
                if first != other && **first != self.wanted && **other != self.wanted {
                    out.push_str(&self.shown_diff(
                        format!("{a} vs {b}:{}", self.dest),
                        first,
                        other,
                    ));
                }
            }
        }
        out.push_str(&format!(
            "  {}\n",
            match (self.drifted(), self.peers_agree()) {
                (false, _) => "in sync: every node holds the rendered config".to_string(),
                _ if self.nodes.iter().all(|(_, c)| *c == NodeCopy::Missing) => {
                    "drift: no node has it yet".to_string()
                }
                (true, true) =>
                    "drift: the nodes agree with each other but not with the rendered config"
                        .to_string(),
                (true, false) => "drift: the nodes do not hold the same config".to_string(),
            }
        ));
        out
    }
}

/// The `secret = ...` lines of a file, to tell a changed secret from other changes.
fn secret_lines(content: &[u8]) -> Vec<&[u8]> {
    content
        .split(|&b| b == b'\n')
        .filter(|line| {
            let text = String::from_utf8_lossy(line);
            text.contains('=') && text.split('=').next().is_some_and(|k| k.trim() == "secret")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            cluster: "pair1".into(),
            dest: "/etc/opensvc/web.conf".into(),
            content: b"[DEFAULT]\nnodes = node1 node2\n".to_vec(),
            nodes: vec!["node1".into(), "node2".into()],
            secret: false,
        }
    }

    #[test]
    fn a_cluster_config_drift_never_shows_the_secret() {
        let r = Rendered {
            cluster: "pair1".into(),
            dest: "/etc/opensvc/cluster.conf".into(),
            content: b"[cluster]\nname = pair1\nsecret = 0123456789abcdef0123456789abcdef\n"
                .to_vec(),
            nodes: vec!["node1".into(), "node2".into()],
            secret: true,
        };
        let d = Drift::compare(
            "pair1",
            &r,
            vec![
                (
                    "node1".into(),
                    NodeCopy::Content(
                        b"[cluster]\nname = old\nsecret = fedcba9876543210fedcba9876543210\n"
                            .to_vec(),
                    ),
                ),
                ("node2".into(), NodeCopy::Content(r.content.clone())),
            ],
        );
        let text = d.text();
        assert!(d.drifted());
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(!text.contains("fedcba9876543210"), "{text}");
        assert!(text.contains("-name = old\n+name = pair1"), "{text}");
        assert!(
            text.contains("node1:/etc/opensvc/cluster.conf: the secret differs (not shown)"),
            "{text}"
        );
        assert!(!d.json().to_string().contains("0123456789abcdef"));
    }

    #[test]
    fn same_everywhere_is_no_drift() {
        let r = rendered();
        let d = Drift::compare(
            "pair1",
            &r,
            vec![
                ("node1".into(), NodeCopy::Content(r.content.clone())),
                ("node2".into(), NodeCopy::Content(r.content.clone())),
            ],
        );
        assert!(!d.drifted());
        assert!(d.peers_agree());
        assert!(d.text().contains("in sync"));
    }

    #[test]
    fn a_hand_edit_on_one_node_is_drift_with_its_diff() {
        let r = rendered();
        let d = Drift::compare(
            "pair1",
            &r,
            vec![
                ("node1".into(), NodeCopy::Content(r.content.clone())),
                (
                    "node2".into(),
                    NodeCopy::Content(b"[DEFAULT]\nnodes = node2\n".to_vec()),
                ),
            ],
        );
        assert!(d.drifted());
        assert!(!d.peers_agree());
        let text = d.text();
        assert!(text.contains("node2: DIFFERS"), "{text}");
        assert!(
            text.contains("-nodes = node2\n+nodes = node1 node2"),
            "{text}"
        );
        assert_eq!(d.json()["nodes"]["node2"]["state"], "differs");
        let missing = Drift::compare("pair1", &r, vec![("node1".into(), NodeCopy::Missing)]);
        assert!(missing.drifted());
    }
}
