//! The variables a step sees on one host, lowest precedence first: playbook defaults, inventory
//! vars (global < cluster < node), registered results, step vars; then tandem's own names
//! (`node`, `cluster`, `address`, `vip`, `service_name`, `service_names`, `nodes`, `primary`,
//! `facts`), which nothing overrides.

use serde_json::{Map, Value};

use crate::inventory::{Inventory, Node, Vars};
use crate::playbook::Playbook;

pub struct HostVars {
    /// Defaults + inventory vars, merged once per host.
    base: Map<String, Value>,
    /// tandem's names for this host.
    magic: Map<String, Value>,
}

impl HostVars {
    pub fn new(inventory: &Inventory, node: &Node, playbook: &Playbook) -> HostVars {
        let mut base: Map<String, Value> = playbook
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in inventory.node_vars(node) {
            base.insert(k, v);
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
        HostVars { base, magic }
    }

    /// The minijinja context for one step.
    pub fn context(
        &self,
        step_vars: &Vars,
        facts: &Map<String, Value>,
        registered: &Map<String, Value>,
    ) -> minijinja::Value {
        let mut all = self.base.clone();
        for (k, v) in registered {
            all.insert(k.clone(), v.clone());
        }
        for (k, v) in step_vars {
            all.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.magic {
            all.insert(k.clone(), v.clone());
        }
        all.insert("facts".into(), Value::Object(facts.clone()));
        minijinja::Value::from(minijinja::value::Serde(&all))
    }

    /// Same, with `result` set: for `changed_when`.
    pub fn with_result(
        &self,
        step_vars: &Vars,
        facts: &Map<String, Value>,
        registered: &Map<String, Value>,
        result: &Value,
    ) -> minijinja::Value {
        let mut registered = registered.clone();
        registered.insert("result".into(), result.clone());
        self.context(step_vars, facts, &registered)
    }
}
