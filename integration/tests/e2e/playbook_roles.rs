//! Roles and templated include paths on lab nodes: a role's steps, defaults (below every other
//! var), templates and handlers; an include path rendered per node before connecting.

use std::path::Path;

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::support::cat;

fn deploy_json(lab: &TempLab, playbook: &Path, extra: &[&str]) -> Run {
    let mut args = vec![playbook.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args)
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
}

#[test]
fn a_role_and_a_templated_include_on_two_nodes() {
    let lab = TempLab::new(2);
    let dir = lab.dir();
    write(
        dir,
        "roles/web/steps.yml",
        "- name: page\n  template: {src: page.j2, dest: /srv/page}\n  notify: reload web\n",
    );
    write(
        dir,
        "roles/web/defaults.yml",
        "port: 8080\ngreeting: hello\n",
    );
    write(
        dir,
        "roles/web/templates/page.j2",
        "{{ greeting }} from {{ node }} on {{ port }}\n",
    );
    write(
        dir,
        "roles/web/handlers.yml",
        "- name: reload web\n  command: {cmd: \"echo reloaded {{ port }} >> /srv/reloads\"}\n",
    );
    write(
        dir,
        "per-node/node1.yml",
        "- copy: {dest: /srv/which, content: \"one {{ site }}\\n\"}\n",
    );
    write(
        dir,
        "per-node/node2.yml",
        "- copy: {dest: /srv/which, content: \"two {{ site }}\\n\"}\n",
    );
    write(
        dir,
        "site.yml",
        "vars: {greeting: hi, site: paris}\nsteps:\n  - role: web\n  - include: \"per-node/{{ node }}.yml\"\n",
    );
    let playbook = dir.join("site.yml");
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(0);
    let report = run.json();
    for (node, which) in [("node1", "one"), ("node2", "two")] {
        // The playbook's `greeting` over the role's default; the role's `port` where nothing
        // else sets it; the template from the role's templates/.
        assert_eq!(
            cat(&lab, node, "/srv/page"),
            format!("hi from {node} on 8080\n"),
            "{report}"
        );
        assert_eq!(
            cat(&lab, node, "/srv/reloads"),
            "reloaded 8080\n",
            "{report}"
        );
        // Each node ran its own file only.
        assert_eq!(cat(&lab, node, "/srv/which"), format!("{which} paris\n"));
        assert_eq!(report["hosts"][node]["skipped"], 1, "{report}");
    }
    // -e over everything, in the include path too: both nodes read the same file now.
    write(
        dir,
        "per-node/rome.yml",
        "- copy: {dest: /srv/which, content: \"rome\\n\"}\n",
    );
    write(
        dir,
        "site2.yml",
        "vars: {greeting: hi}\nsteps:\n  - role: web\n  - include: \"per-node/{{ site }}.yml\"\n",
    );
    let run = deploy_json(
        &lab,
        &dir.join("site2.yml"),
        &["-e", "port=9090", "-e", "site=rome"],
    );
    run.expect_code(0);
    for node in ["node1", "node2"] {
        assert_eq!(
            cat(&lab, node, "/srv/page"),
            format!("hi from {node} on 9090\n")
        );
        assert_eq!(
            cat(&lab, node, "/srv/reloads"),
            "reloaded 8080\nreloaded 9090\n"
        );
        assert_eq!(cat(&lab, node, "/srv/which"), "rome\n");
    }
    // A path no file answers: refused before connecting, with the include's place.
    let missing = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[dir.join("site2.yml").to_str().unwrap(), "-e", "site=lyon"],
    );
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("site2.yml:4:14: include 'per-node/{{ site }}.yml' (per-node/lyon.yml on node1, node2): cannot read included file"),
        "{}",
        missing.stderr
    );
}
