//! Templated `include` paths (`include: "sites/{{ site }}.yml"`), rendered at load, before
//! anything connects: with what is known then on each selected node (the playbook's vars, the
//! inventory's at every level, the include's own vars, `-e`, `node` and `cluster`), never
//! facts or registered results. Nodes whose path renders the same share one include; when it
//! differs between nodes, each file is pulled in for the nodes that named it (a `when` on
//! `node`), so `--list-tasks` shows every file a run may read.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::inventory::Vars;
use crate::template::{Declared, LazyVars, Templates, VarScope};

/// The place minijinja's messages start with (cut: the caller gives the include's).
const PLACE: &str = "include path";

/// What an include path may read, per node: given by the command, which has the inventory.
#[derive(Debug, Clone, Default)]
pub struct IncludeVars {
    /// `-e/--extra-vars`: over every other var.
    pub extra: Vars,
    /// Each node the run selected, in inventory order.
    pub nodes: Vec<NodeVars>,
}

/// One node's name, cluster and inventory vars (global < cluster < node, merged).
#[derive(Debug, Clone)]
pub struct NodeVars {
    pub node: String,
    pub cluster: String,
    pub vars: Vars,
}

/// A templated include path that cannot be rendered before connecting; worded without a place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncludePathError {
    /// `on` is " on NODE", or empty without an inventory.
    #[error(
        "the include path{on} cannot be rendered before connecting: {reason}; it may read the \
         playbook's vars, the inventory's, the include's own `vars`, -e, `node` and `cluster` \
         (not facts or registered results)"
    )]
    NotRendered { on: String, reason: String },
    #[error("the include path renders empty: give the path of a steps file")]
    Empty,
}

/// The path `target` renders to, with the nodes that get it (empty when no node is known:
/// the playbook loaded without an inventory). An error is worded without a place.
pub(super) fn render(
    templates: &Templates,
    target: &str,
    playbook_vars: &Vars,
    include_vars: &Vars,
    known: &IncludeVars,
) -> Result<Vec<(String, Vec<String>)>, IncludePathError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let nodes: Vec<Option<&NodeVars>> = if known.nodes.is_empty() {
        vec![None]
    } else {
        known.nodes.iter().map(Some).collect()
    };
    for node in nodes {
        let ctx = context(templates, playbook_vars, include_vars, &known.extra, node);
        let path = templates.render_str(target, &ctx, PLACE).map_err(|e| {
            let on = node.map(|n| format!(" on {}", n.node)).unwrap_or_default();
            let e = e.to_string();
            let reason = e.strip_prefix(PLACE).unwrap_or(&e).trim_start_matches(": ");
            IncludePathError::NotRendered {
                on,
                reason: reason.to_string(),
            }
        })?;
        let path = path.trim().to_string();
        if path.is_empty() {
            return Err(IncludePathError::Empty);
        }
        let name = node.map(|n| n.node.clone());
        match out.iter_mut().find(|(p, _)| *p == path) {
            Some((_, names)) => names.extend(name),
            None => out.push((path, name.into_iter().collect())),
        }
    }
    Ok(out)
}

/// Playbook vars < inventory vars < the include's vars < `-e`, lazily rendered as a step's are;
/// `node` and `cluster` fixed.
fn context(
    templates: &Templates,
    playbook_vars: &Vars,
    include_vars: &Vars,
    extra: &Vars,
    node: Option<&NodeVars>,
) -> minijinja::Value {
    let declared = |vars: &Vars, origin: &str| -> IndexMap<String, Declared> {
        Declared::all(vars, &Arc::from(origin))
    };
    let mut base = declared(playbook_vars, "playbook vars");
    let mut fixed = Map::new();
    if let Some(node) = node {
        base.extend(declared(&node.vars, "inventory"));
        fixed.insert("node".into(), Value::from(node.node.clone()));
        fixed.insert("cluster".into(), Value::from(node.cluster.clone()));
    }
    let mut step = declared(include_vars, "include vars");
    step.extend(declared(extra, "--extra-vars"));
    let scope = VarScope {
        base: Arc::new(base),
        registered: Map::new(),
        step,
        fixed,
    };
    LazyVars::new(templates, scope).into_context()
}

/// The `when` that keeps a file pulled in for some nodes to those nodes.
pub(super) fn only_on(nodes: &[String]) -> String {
    let list: Vec<String> = nodes
        .iter()
        .map(|n| serde_json::Value::from(n.clone()).to_string())
        .collect();
    format!("node in [{}]", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect()
    }

    fn node(name: &str, site: &str) -> NodeVars {
        NodeVars {
            node: name.into(),
            cluster: "pair1".into(),
            vars: vars(&[("site", site)]),
        }
    }

    #[test]
    fn nodes_that_render_the_same_path_share_it_and_extra_vars_win() {
        let templates = Templates::new();
        let known = IncludeVars {
            extra: Vars::new(),
            nodes: vec![node("a", "paris"), node("b", "lyon"), node("c", "paris")],
        };
        let out = render(
            &templates,
            "sites/{{ site }}-{{ cluster }}.yml",
            &Vars::new(),
            &Vars::new(),
            &known,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                (
                    "sites/paris-pair1.yml".to_string(),
                    vec!["a".to_string(), "c".to_string()]
                ),
                ("sites/lyon-pair1.yml".to_string(), vec!["b".to_string()]),
            ]
        );
        let forced = IncludeVars {
            extra: vars(&[("site", "rome")]),
            ..known
        };
        let out = render(
            &templates,
            "{{ site }}.yml",
            &Vars::new(),
            &Vars::new(),
            &forced,
        );
        assert_eq!(out.unwrap().len(), 1);
        assert_eq!(only_on(&["a".into(), "c".into()]), r#"node in ["a", "c"]"#);
    }

    #[test]
    fn a_templated_var_is_rendered_and_an_unknown_name_is_an_error() {
        let templates = Templates::new();
        let playbook = vars(&[("file", "{{ role_name }}.yml"), ("role_name", "web")]);
        let out = render(
            &templates,
            "{{ file }}",
            &playbook,
            &Vars::new(),
            &IncludeVars::default(),
        )
        .unwrap();
        assert_eq!(out, vec![("web.yml".to_string(), Vec::new())]);
        let err = render(
            &templates,
            "{{ stie }}.yml",
            &Vars::new(),
            &Vars::new(),
            &IncludeVars::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("stie"), "{err}");
        assert!(err.contains("not facts or registered results"), "{err}");
    }
}
