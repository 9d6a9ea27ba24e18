//! Tests of a host's vars: precedence, lazy rendering, loops between vars.

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
        built: None,
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
    let message = render("node1", json!({}), json!({"p": "{{ p + 1 }}"}), "{{ p }}").unwrap_err();
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
    let message = host.check_loops([&looping]).unwrap_err().to_string();
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
