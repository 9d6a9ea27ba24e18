//! The variables a step sees on one host, lowest precedence first: playbook defaults, inventory
//! vars (global < cluster < node), registered results, step vars, `-e/--extra-vars`; then tandem's own names
//! (`node`, `cluster`, `address`, `vip`, `service_name`, `service_names`, `nodes`,
//! `node_addresses`, `primary`, `opensvc_cluster`, `facts`), which nothing overrides. Declared vars (defaults, inventory, step) that are
//! templates are rendered when read, in this same context (`template::LazyVars`).

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::inventory::{Inventory, Node};
use crate::playbook::{Playbook, Step};
use crate::template::{Declared, LazyVars, Templates, VarScope, holds_template, loop_message};

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
    pub fn check_loops<'s>(&self, steps: impl IntoIterator<Item = &'s Step>) -> Result<(), String> {
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
fn find_loop(graph: &IndexMap<&str, (Vec<String>, String)>) -> Result<(), String> {
    /// 0: not seen, 1: on the current path, 2: done.
    fn visit<'g>(
        name: &'g str,
        graph: &'g IndexMap<&str, (Vec<String>, String)>,
        state: &mut std::collections::HashMap<&'g str, u8>,
        path: &mut Vec<&'g str>,
    ) -> Result<(), String> {
        match state.get(name) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = path.iter().position(|n| *n == name).unwrap_or(0);
                let cycle: Vec<(String, String)> = path[start..]
                    .iter()
                    .map(|n| (n.to_string(), graph[*n].1.clone()))
                    .collect();
                return Err(loop_message(&cycle));
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
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Map, Value, json};

    use super::*;
    use crate::inventory::Vars;
    use crate::playbook::Location;

    const INVENTORY: &str = "\
vars:
  greeting: \"hello {{ node }}\"
  web_port: 8080
clusters:
  pair1:
    vars:
      upstream: \"{{ primary }}:{{ web_port }}\"
    nodes:
      node1: {address: 198.18.3.11}
      node2: {address: 198.18.3.12}
";

    fn playbook(vars: Value) -> Playbook {
        Playbook {
            path: PathBuf::from("/srv/site.yml"),
            vars: serde_json::from_value(vars).unwrap(),
            vars_line: Some(2),
            extra_vars: Vars::new(),
            steps: Vec::new(),
            handlers: Vec::new(),
            timeout: None,
        }
    }

    fn step(vars: Value) -> Step {
        let vars: Vars = serde_json::from_value(vars).unwrap();
        Step {
            name: "show".into(),
            module: "command".into(),
            args: json!({"cmd": "true"}),
            when: Vec::new(),
            tags: Vec::new(),
            notify: Vec::new(),
            listen: Vec::new(),
            register: None,
            changed_when: None,
            become_root: false,
            become_user: None,
            timeout: None,
            vars,
            defaults: Vars::new(),
            name_is_template: false,
            control: Default::default(),
            location: Location {
                file: PathBuf::from("/srv/site.yml"),
                line: 7,
            },
        }
    }

    fn render(node: &str, defaults: Value, vars: Value, text: &str) -> Result<String, String> {
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let templates = Templates::new();
        let host = HostVars::new(
            &templates,
            &inventory,
            inventory.node(node).unwrap(),
            &playbook(defaults),
        );
        let ctx = host.context(&step(vars), &Map::new(), &Map::new());
        templates
            .render_str(text, &ctx, "/srv/site.yml:7")
            .map_err(|e| e.to_string())
    }

    /// Every name the context fills is in TANDEM_NAMES (what -e refuses and the undefined-name
    /// check accepts), and every name there is filled.
    #[test]
    fn tandem_names_lists_exactly_what_the_context_sets() {
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let templates = Templates::new();
        let host = HostVars::new(
            &templates,
            &inventory,
            inventory.node("node1").unwrap(),
            &playbook(json!({})),
        );
        let mut set: Vec<&str> = host.magic.keys().map(String::as_str).collect();
        set.push("facts");
        set.sort_unstable();
        let mut listed = TANDEM_NAMES.to_vec();
        listed.sort_unstable();
        assert_eq!(set, listed);
    }

    /// The README's own example: a var that is one expression gives its value, typed (a bool
    /// that `when` can test), rendered in the host's context.
    #[test]
    fn templated_vars_are_rendered_in_the_hosts_context_and_keep_their_type() {
        let vars = json!({"started": "{{ node == primary }}"});
        assert_eq!(
            render("node1", json!({}), vars.clone(), "started={{ started }}").unwrap(),
            "started=True"
        );
        assert_eq!(
            render("node2", json!({}), vars.clone(), "started={{ started }}").unwrap(),
            "started=False"
        );
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let templates = Templates::new();
        for (node, expected) in [("node1", true), ("node2", false)] {
            let host = HostVars::new(
                &templates,
                &inventory,
                inventory.node(node).unwrap(),
                &playbook(json!({})),
            );
            let ctx = host.context(&step(vars.clone()), &Map::new(), &Map::new());
            assert_eq!(templates.eval_bool("started", &ctx, "x").unwrap(), expected);
            assert!(
                templates
                    .eval_bool(
                        "started is sameas true or started is sameas false",
                        &ctx,
                        "x"
                    )
                    .unwrap(),
                "a bool, not the text 'true'"
            );
        }
        // Inventory vars, through other vars, at any level.
        assert_eq!(
            render(
                "node2",
                json!({}),
                json!({}),
                "{{ greeting }} -> {{ upstream }}"
            )
            .unwrap(),
            "hello node2 -> node1:8080"
        );
    }

    fn context_with(
        templates: &Templates,
        node: &str,
        defaults: Value,
        vars: Value,
        facts: Value,
        registered: Value,
    ) -> minijinja::Value {
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let host = HostVars::new(
            templates,
            &inventory,
            inventory.node(node).unwrap(),
            &playbook(defaults),
        );
        let facts: Map<String, Value> = serde_json::from_value(facts).unwrap();
        let registered: Map<String, Value> = serde_json::from_value(registered).unwrap();
        host.context(&step(vars), &facts, &registered)
    }

    #[test]
    fn vars_that_read_each_other_in_a_loop_are_an_error_naming_the_loop_and_the_places() {
        let message = render(
            "node1",
            json!({"a": "{{ b }}-x"}),
            json!({"b": "{{ c }}", "c": "{{ a | upper }}"}),
            "{{ a }}",
        )
        .unwrap_err();
        assert_eq!(
            message,
            "/srv/site.yml:2 (playbook vars): vars read each other in a loop: a -> b -> c -> a \
             (`a` at /srv/site.yml:2 (playbook vars), `b` at /srv/site.yml:7 (vars of step 'show'), \
             `c` at /srv/site.yml:7 (vars of step 'show')): one of them must not read the others"
        );
        // A var reading itself (Ansible's "recursive loop detected").
        let message =
            render("node1", json!({}), json!({"p": "{{ p + 1 }}"}), "{{ p }}").unwrap_err();
        assert!(
            message.contains("vars read each other in a loop: p -> p ("),
            "{message}"
        );
    }

    #[test]
    fn lists_and_maps_are_rendered_item_by_item_and_single_expressions_keep_their_type() {
        let templates = Templates::new();
        let ctx = context_with(
            &templates,
            "node2",
            json!({}),
            json!({
                "peers": ["{{ primary }}", "{{ node }}", 3],
                "disk": {"size": "{{ 2 * 256 }}", "name": "d-{{ node }}"},
            }),
            json!({}),
            json!({}),
        );
        let out = templates
            .render_args(&json!("{{ peers }}|{{ disk }}"), &ctx, "x")
            .unwrap();
        // As Jinja and Ansible print them.
        assert_eq!(
            out,
            json!("['node1', 'node2', 3]|{'name': 'd-node2', 'size': 512}")
        );
        let typed = templates
            .render_args(
                &json!({"n": "{{ disk.size }}", "l": "{{ peers }}"}),
                &ctx,
                "x",
            )
            .unwrap();
        assert_eq!(typed, json!({"n": 512, "l": ["node1", "node2", 3]}));
    }

    #[test]
    fn vars_see_facts_and_registered_results_but_those_are_never_rendered() {
        let templates = Templates::new();
        let ctx = context_with(
            &templates,
            "node1",
            json!({"summary": "{{ facts.os_id }}: {{ probe.stdout }}"}),
            json!({}),
            json!({"os_id": "debian"}),
            json!({"probe": {"stdout": "literally {{ node }}"}}),
        );
        assert_eq!(
            templates.render_str("{{ summary }}", &ctx, "x").unwrap(),
            "debian: literally {{ node }}"
        );
    }

    #[test]
    fn a_broken_var_fails_only_the_steps_that_read_it_and_names_it() {
        let templates = Templates::new();
        let defaults = json!({"later": "{{ not_registered_yet.stdout }}", "fine": "ok"});
        let ctx = context_with(
            &templates,
            "node1",
            defaults.clone(),
            json!({}),
            json!({}),
            json!({}),
        );
        // Lazy: a step that does not read `later` is not bothered by it.
        assert_eq!(templates.render_str("{{ fine }}", &ctx, "x").unwrap(), "ok");
        let ctx = context_with(
            &templates,
            "node1",
            defaults,
            json!({}),
            json!({}),
            json!({}),
        );
        let message = templates
            .render_str("[{{ later }}]", &ctx, "/srv/site.yml:9")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("/srv/site.yml:2 (playbook vars) (var `later`): "),
            "{message}"
        );
        assert!(message.contains("not_registered_yet"), "{message}");
        // `when` reports the same cause.
        let ctx = context_with(
            &templates,
            "node1",
            json!({"later": "{{ missing }}"}),
            json!({}),
            json!({}),
            json!({}),
        );
        let message = templates
            .eval_bool("later", &ctx, "x")
            .unwrap_err()
            .to_string();
        assert!(message.contains("(var `later`)"), "{message}");
    }

    #[test]
    fn loops_are_found_before_anything_connects_and_only_real_ones() {
        let templates = Templates::new();
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let node = inventory.node("node1").unwrap();
        // greeting -> node (tandem's name, not a var), upstream -> web_port: no loop.
        let host = HostVars::new(
            &templates,
            &inventory,
            node,
            &playbook(json!({"d": "{{ greeting }}"})),
        );
        host.check_loops([&step(json!({"x": "{{ d }}{{ upstream }}"}))])
            .unwrap();
        let looping = step(json!({"web_port": "{{ upstream | length }}"}));
        let message = host.check_loops([&looping]).unwrap_err();
        assert_eq!(
            message,
            "/srv/inventory.yml:7: vars read each other in a loop: upstream -> web_port -> \
             upstream (`upstream` at /srv/inventory.yml:7, `web_port` at /srv/site.yml:7 (vars \
             of step 'show')): one of them must not read the others"
        );
    }

    #[test]
    fn what_tandem_read_from_the_nodes_is_data_never_a_template() {
        let templates = Templates::new();
        let mut inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let from_node = json!({"rootfs": "/var/lib/lxc/{{ node }}/rootfs"});
        inventory.clusters[0].nodes[0]
            .vars
            .insert(DATA_VARS[0].into(), from_node);
        let node = inventory.node("node1").unwrap().clone();
        let host = HostVars::new(&templates, &inventory, &node, &playbook(json!({})));
        let ctx = host.context(&step(json!({})), &Map::new(), &Map::new());
        assert_eq!(
            templates
                .render_str("{{ tandem_keys.rootfs }}", &ctx, "x")
                .unwrap(),
            "/var/lib/lxc/{{ node }}/rootfs"
        );
    }

    #[test]
    fn an_error_elsewhere_is_not_blamed_on_an_unread_broken_var() {
        let templates = Templates::new();
        let ctx = context_with(
            &templates,
            "node1",
            json!({"later": "{{ not_yet.stdout }}", "fine": "{{ node }}"}),
            json!({}),
            json!({}),
            json!({}),
        );
        let message = templates
            .render_str("{{ fine }} {{ typo }}", &ctx, "/srv/site.yml:9")
            .unwrap_err()
            .to_string();
        assert!(message.contains("typo"), "{message}");
        assert!(!message.contains("later"), "{message}");
    }
}
