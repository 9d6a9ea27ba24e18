//! What `tandem config diff` shows: per cluster, each node's copy of the service config against
//! the rendered one and against its peers, with unified diffs.

use serde_json::{Value, json};

use super::diff::unified;
use crate::modules::FileDiff;
use crate::service_config::Rendered;

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
}

impl Drift {
    pub fn compare(cluster: &str, rendered: &Rendered, nodes: Vec<(String, NodeCopy)>) -> Drift {
        Drift {
            cluster: cluster.to_string(),
            dest: rendered.dest.clone(),
            wanted: rendered.content.clone(),
            nodes,
        }
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
                out.push_str(&unified(&FileDiff {
                    label: format!("{name}:{}", self.dest),
                    old: have.clone(),
                    new: self.wanted.clone(),
                }));
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
                    out.push_str(&unified(&FileDiff {
                        label: format!("{a} vs {b}:{}", self.dest),
                        old: (*first).clone(),
                        new: (*other).clone(),
                    }));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            cluster: "pair1".into(),
            dest: "/etc/opensvc/web.conf".into(),
            content: b"[DEFAULT]\nnodes = node1 node2\n".to_vec(),
            nodes: vec!["node1".into(), "node2".into()],
        }
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
