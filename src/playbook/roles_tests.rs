//! Roles (`role: NAME`, `include_role`) and templated include paths.

use serde_json::json;

use super::tests::{error_at, scratch_dir, write};
use super::*;
use crate::inventory::Vars;

fn web_role(dir: &std::path::Path) {
    write(
        dir,
        "roles/web/steps.yml",
        "- name: page\n  template: {src: index.html.j2, dest: /srv/index.html}\n  notify: reload web\n- name: local\n  template: {src: local.j2, dest: /srv/local}\n",
    );
    write(
        dir,
        "roles/web/defaults.yml",
        "port: 8080\ngreeting: hello\n",
    );
    write(
        dir,
        "roles/web/templates/index.html.j2",
        "{{ greeting }} {{ port }}\n",
    );
    write(dir, "roles/web/local.j2", "beside steps.yml\n");
    write(
        dir,
        "roles/web/handlers.yml",
        "- name: reload web\n  command: {cmd: \"echo reload {{ port }}\"}\n",
    );
}

#[test]
fn a_role_brings_its_steps_defaults_templates_and_handlers() {
    let dir = scratch_dir();
    web_role(&dir);
    let site = write(
        &dir,
        "site.yml",
        "vars: {greeting: hi}\nsteps:\n  - role: web\n    tags: [web]\n    vars: {extra: 1}\n  - include_role: {name: web}\n  - include_role: web\n",
    );
    let playbook = load(&site).unwrap();
    assert_eq!(playbook.steps.len(), 6);
    let page = &playbook.steps[0];
    assert_eq!(page.defaults["port"], json!(8080));
    assert_eq!(page.vars["extra"], json!(1));
    assert_eq!(page.tags, ["web"]);
    // The role's templates/ first, else beside its steps.yml.
    let src = page.args["src"].as_str().unwrap();
    assert!(src.ends_with("roles/web/templates/index.html.j2"), "{src}");
    assert_eq!(playbook.steps[1].args["src"], "local.j2");
    assert!(
        playbook.steps[1]
            .location
            .file
            .ends_with("roles/web/steps.yml")
    );
    // Used three times, its handlers are read once.
    assert_eq!(playbook.handlers.len(), 1);
    assert_eq!(playbook.handlers[0].defaults["port"], json!(8080));
}

#[test]
fn a_missing_role_or_steps_file_and_bad_names_are_refused_with_the_place() {
    let dir = scratch_dir();
    let site = write(&dir, "site.yml", "steps:\n  - role: nope\n");
    let message = error_at(&site, &dir);
    assert!(
        message.starts_with("site.yml:2:11: role 'nope': no directory roles/nope: a role is"),
        "{message}"
    );
    write(&dir, "roles/empty/defaults.yml", "a: 1\n");
    let site = write(&dir, "site.yml", "steps:\n  - role: empty\n");
    let message = error_at(&site, &dir);
    assert!(
        message.starts_with(
            "site.yml:2:11: role 'empty': cannot read included file roles/empty/steps.yml:"
        ),
        "{message}"
    );
    let site = write(&dir, "site.yml", "steps:\n  - role: ../x\n");
    let message = error_at(&site, &dir);
    assert!(
        message.contains("a role is named by its directory"),
        "{message}"
    );
    let site = write(&dir, "site.yml", "steps:\n  - role: {nom: x}\n");
    let message = error_at(&site, &dir);
    assert!(
        message.contains("`role` takes the name of a role"),
        "{message}"
    );
    write(&dir, "roles/bad/steps.yml", "- command: a\n");
    write(&dir, "roles/bad/defaults.yml", "[1, 2]\n");
    let site = write(&dir, "site.yml", "steps:\n  - role: bad\n");
    let message = error_at(&site, &dir);
    assert!(
        message.starts_with("roles/bad/defaults.yml:1:1: "),
        "{message}"
    );
}

#[test]
fn a_templated_include_is_resolved_per_node_with_extra_vars_over_all() {
    let dir = scratch_dir();
    write(&dir, "sites/paris.yml", "- command: {cmd: paris}\n");
    write(&dir, "sites/lyon.yml", "- command: {cmd: lyon}\n");
    let site = write(
        &dir,
        "site.yml",
        "steps:\n  - include: \"sites/{{ site }}.yml\"\n    when: run\n",
    );
    let node = |name: &str, site: &str| NodeVars {
        node: name.into(),
        cluster: "pair1".into(),
        vars: [("site".to_string(), json!(site))].into_iter().collect(),
    };
    let known = IncludeVars {
        extra: Vars::new(),
        nodes: vec![node("n1", "paris"), node("n2", "lyon"), node("n3", "paris")],
    };
    let playbook = load_with(&site, &known).unwrap();
    assert_eq!(playbook.steps.len(), 2);
    assert_eq!(playbook.steps[0].args["cmd"], "paris");
    assert_eq!(playbook.steps[0].when, ["run", r#"node in ["n1", "n3"]"#]);
    assert_eq!(playbook.steps[1].when, ["run", r#"node in ["n2"]"#]);
    // The same path everywhere: one include, no extra condition.
    let known = IncludeVars {
        extra: [("site".to_string(), json!("lyon"))].into_iter().collect(),
        ..known
    };
    let playbook = load_with(&site, &known).unwrap();
    assert_eq!(playbook.steps.len(), 1);
    assert_eq!(playbook.steps[0].when, ["run"]);
    // A node whose file is missing: the include's place and the file.
    let known = IncludeVars {
        extra: Vars::new(),
        nodes: vec![node("n1", "paris"), node("n4", "rome")],
    };
    let message = load_with(&site, &known).unwrap_err().to_string();
    let message = message.replace(&format!("{}/", dir.display()), "");
    assert!(
        message.starts_with(
            "site.yml:2:14: include '{{ site }}' (sites/rome.yml on n4): cannot read included file sites/rome.yml"
        ) || message.starts_with(
            "site.yml:2:14: include 'sites/{{ site }}.yml' (sites/rome.yml on n4): cannot read included file sites/rome.yml"
        ),
        "{message}"
    );
}
