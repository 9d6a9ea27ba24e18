//! The variables a step sees on one host, lowest precedence first: playbook defaults, inventory
//! vars (global < cluster < node), registered results, step vars, `-e/--extra-vars`; then tandem's own names
//! (`node`, `cluster`, `address`, `vip`, `service_name`, `service_names`, `nodes`,
//! `node_addresses`, `primary`, `opensvc_cluster`, `facts`), which nothing overrides. Declared vars (defaults, inventory, step) that are
//! templates are rendered when read, in this same context (`template::LazyVars`).

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::CheckError;
use crate::inventory::{Inventory, Node};
use crate::playbook::{Playbook, Step};
use crate::template::{Declared, LazyVars, Templates, VarScope, holds_template};

/// Vars tandem itself fills with what the nodes said (`keys` puts every node's keys and the
/// containers' root file systems in `tandem_keys`): data, like a registered result, never
/// rendered as a template whatever text a node sent.
pub const DATA_VARS: &[&str] = &["tandem_keys"];

/// The names tandem itself sets for every step, which nothing overrides: one list for the
/// context that fills them, `-e` that refuses them and the check for undefined names (a name
/// added to the context and not here made every step reading it "undefined").
pub const TANDEM_NAMES: &[&str] = &[
    "node",
    "cluster",
    "address",
    "vip",
    "service_name",
    "service_names",
    "nodes",
    "node_addresses",
    "primary",
    "opensvc_cluster",
    "facts",
];

pub struct HostVars {
    templates: Templates,
    /// [`DATA_VARS`] this host has.
    data: Map<String, Value>,
    /// Defaults + inventory vars, merged once per host, each with where it is defined.
    base: Arc<IndexMap<String, Declared>>,
    /// tandem's names for this host.
    magic: Map<String, Value>,
    /// `-e/--extra-vars`: over the step's own vars.
    extra: IndexMap<String, Declared>,
}

impl HostVars {
    pub fn new(
        templates: &Templates,
        inventory: &Inventory,
        node: &Node,
        playbook: &Playbook,
    ) -> HostVars {
        let defaults: Arc<str> = match playbook.vars_line {
            Some(line) => format!("{}:{line} (playbook vars)", playbook.path.display()),
            None => format!("{} (playbook vars)", playbook.path.display()),
        }
        .into();
        let mut base: IndexMap<String, Declared> = Declared::all(&playbook.vars, &defaults);
        let lines = inventory.node_var_lines(node);
        let shown = inventory.path.display().to_string();
        let mut data = Map::new();
        for (k, v) in inventory.node_vars(node) {
            if DATA_VARS.contains(&k.as_str()) {
                base.shift_remove(&k);
                data.insert(k, v);
                continue;
            }
            let origin = match lines.get(&k) {
                Some(line) => format!("{shown}:{line}"),
                None => shown.clone(),
            };
            base.insert(
                k,
                Declared {
                    value: v,
                    origin: origin.into(),
                },
            );
        }
        let cluster = inventory.cluster(&node.cluster);
        let nodes: Vec<Value> = cluster
            .map(|c| {
                c.nodes
                    .iter()
                    .map(|n| Value::from(n.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut magic = Map::new();
        magic.insert("node".into(), node.name.clone().into());
        magic.insert("cluster".into(), node.cluster.clone().into());
        magic.insert("address".into(), node.address.clone().into());
        magic.insert(
            "vip".into(),
            cluster
                .and_then(|c| c.vip)
                .map(|ip| Value::from(ip.to_string()))
                .unwrap_or(Value::Null),
        );
        magic.insert(
            "service_name".into(),
            node.service_name
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        magic.insert(
            "primary".into(),
            nodes.first().cloned().unwrap_or(Value::Null),
        );
        magic.insert("nodes".into(), Value::Array(nodes));
        // Each node's OVH server name, for what runs on either node and must know both (the
        // failover trigger maps its own hostname to its service name).
        let service_names: Map<String, Value> = cluster
            .map(|c| {
                c.nodes
                    .iter()
                    .map(|n| {
                        let name = n
                            .service_name
                            .clone()
                            .map(Value::from)
                            .unwrap_or(Value::Null);
                        (n.name.clone(), name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        magic.insert("service_names".into(), Value::Object(service_names));
        // Each node's address (as the inventory reaches it), for what every node must know of
        // its peers: the OpenSVC heartbeat, /etc/hosts.
        let node_addresses: Map<String, Value> = cluster
            .map(|c| {
                c.nodes
                    .iter()
                    .map(|n| (n.name.clone(), Value::from(n.address.clone())))
                    .collect()
            })
            .unwrap_or_default();
        magic.insert("node_addresses".into(), Value::Object(node_addresses));
        // The OpenSVC cluster's name, id, its service's id and the local file keeping its
        // secret (the secret
        // itself is only read by the step that writes cluster.conf: `template`'s `secrets`).
        if let Some(c) = cluster {
            let secret_file = c.settings.opensvc_secret_path(&inventory.path, &c.name);
            magic.insert(
                "opensvc_cluster".into(),
                serde_json::json!({
                    "name": c.name,
                    "id": c.settings.opensvc_cluster_id(&c.name),
                    "service_id": c.settings.opensvc_service_id(&c.name),
                    "secret_file": secret_file.to_string_lossy(),
                }),
            );
        }
        let extra_origin: Arc<str> = "--extra-vars".into();
        let extra = Declared::all(&playbook.extra_vars, &extra_origin);
        HostVars {
            templates: templates.clone(),
            data,
            base: Arc::new(base),
            magic,
            extra,
        }
    }

    /// The minijinja context for one step: its vars rendered when read.
    pub fn context(
        &self,
        step: &Step,
        facts: &Map<String, Value>,
        registered: &Map<String, Value>,
    ) -> minijinja::Value {
        self.context_with(step, facts, registered, &Map::new())
    }

    /// [`HostVars::context`] with names set for this one evaluation (`item` of a `loop`),
    /// which nothing overrides, as tandem's own names.
    pub fn context_with(
        &self,
        step: &Step,
        facts: &Map<String, Value>,
        registered: &Map<String, Value>,
        extra: &Map<String, Value>,
    ) -> minijinja::Value {
        let origin: Arc<str> = format!("{} (vars of step '{}')", step.location, step.name).into();
        let mut step_vars: IndexMap<String, Declared> = Declared::all(&step.vars, &origin);
        step_vars.extend(self.extra.iter().map(|(k, d)| (k.clone(), d.clone())));
        let mut fixed = self.magic.clone();
        fixed.insert("facts".into(), Value::Object(facts.clone()));
        fixed.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut data = self.data.clone();
        data.extend(registered.iter().map(|(k, v)| (k.clone(), v.clone())));
        // A role's defaults are below every other var: under the playbook's and the inventory's.
        let base = if step.defaults.is_empty() {
            self.base.clone()
        } else {
            let origin: Arc<str> = format!("{} (role defaults)", step.location).into();
            let mut merged: IndexMap<String, Declared> = Declared::all(&step.defaults, &origin);
            for (k, d) in self.base.iter() {
                merged.insert(k.clone(), d.clone());
            }
            Arc::new(merged)
        };
        let scope = VarScope {
            base,
            registered: data,
            step: step_vars,
            fixed,
        };
        LazyVars::new(&self.templates, scope).into_context()
    }

    /// Vars of this host that read each other in a loop, found before anything connects (at
    /// run time they fail the step that reads them, [`LazyVars`]): the defaults and inventory
    /// vars, with the vars of each of `steps` over them.
    pub fn check_loops<'s>(
        &self,
        steps: impl IntoIterator<Item = &'s Step>,
    ) -> Result<(), CheckError> {
        let refs = |value: &Value| -> Vec<String> {
            self.templates
                .references_in_args(value)
                .into_iter()
                .filter(|name| !self.magic.contains_key(name) && name != "facts")
                .collect()
        };
        let base: IndexMap<&str, (Vec<String>, String)> = self
            .base
            .iter()
            .chain(self.extra.iter())
            .filter(|(_, d)| holds_template(&d.value))
            .map(|(name, d)| (name.as_str(), (refs(&d.value), d.origin.to_string())))
            .collect();
        find_loop(&base)?;
        for step in steps {
            if !step.vars.values().any(holds_template) {
                continue;
            }
            let mut graph = base.clone();
            let origin = format!("{} (vars of step '{}')", step.location, step.name);
            for (name, value) in &step.vars {
                if !self.extra.contains_key(name) {
                    graph.insert(name.as_str(), (refs(value), origin.clone()));
                }
            }
            find_loop(&graph)?;
        }
        Ok(())
    }

    /// Same, with `result` set: for `changed_when`.
    pub fn with_result(
        &self,
        step: &Step,
        facts: &Map<String, Value>,
        registered: &Map<String, Value>,
        result: &Value,
    ) -> minijinja::Value {
        let mut registered = registered.clone();
        registered.insert("result".into(), result.clone());
        self.context(step, facts, &registered)
    }
}

/// A loop in `graph` (name -> the names its value reads, where it is defined), worded.
fn find_loop(graph: &IndexMap<&str, (Vec<String>, String)>) -> Result<(), CheckError> {
    /// 0: not seen, 1: on the current path, 2: done.
    fn visit<'g>(
        name: &'g str,
        graph: &'g IndexMap<&str, (Vec<String>, String)>,
        state: &mut std::collections::HashMap<&'g str, u8>,
        path: &mut Vec<&'g str>,
    ) -> Result<(), CheckError> {
        match state.get(name) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = path.iter().position(|n| *n == name).unwrap_or(0);
                let cycle: Vec<(String, String)> = path[start..]
                    .iter()
                    .map(|n| (n.to_string(), graph[*n].1.clone()))
                    .collect();
                return Err(CheckError::VarLoop { cycle });
            }
            _ => {}
        }
        let Some((reads, _)) = graph.get(name) else {
            return Ok(());
        };
        state.insert(name, 1);
        path.push(name);
        for next in reads {
            if let Some((key, _)) = graph.get_key_value(next.as_str()) {
                visit(key, graph, state, path)?;
            }
        }
        path.pop();
        state.insert(name, 2);
        Ok(())
    }
    let mut state = std::collections::HashMap::new();
    for name in graph.keys() {
        visit(name, graph, &mut state, &mut Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
