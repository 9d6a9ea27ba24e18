//! Handlers on lab nodes: notified by name or `listen` topic, run once each in handler order,
//! at a `meta: flush_handlers` step and again at the end when notified again, and with
//! `--force-handlers` after a failed step.

use std::path::Path;

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::support::{cat, write};

fn deploy_json(lab: &TempLab, playbook: &Path, extra: &[&str]) -> Run {
    let mut args = vec![playbook.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args)
}

fn exists(lab: &TempLab, node: &str, path: &str) -> bool {
    lab.exec(node, &format!("test -e {path}"))
        .unwrap()
        .status
        .success()
}

const ORDER: &str = r#"
steps:
  - name: conf a
    copy: {dest: /srv/a, content: "a\n"}
    notify: web changed
  - name: conf b
    copy: {dest: /srv/b, content: "b\n"}
    notify: [web changed, restart db]
  - meta: flush_handlers
  - name: what ran by the flush
    command: {cmd: "cat /srv/h.log > /srv/at-flush || true"}
  - name: conf c
    copy: {dest: /srv/c, content: "c\n"}
    notify: restart db
handlers:
  - name: restart db
    command: {cmd: "echo db >> /srv/h.log"}
  - name: reload web
    command: {cmd: "echo web >> /srv/h.log"}
    listen: web changed
  - name: also on web
    command: {cmd: "echo also >> /srv/h.log"}
    listen: [other topic, web changed]
  - name: never notified
    command: {cmd: "echo never >> /srv/h.log"}
    listen: other topic
"#;

#[test]
fn listen_topics_handler_order_and_a_flush_point() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "handlers.yml", ORDER);
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        // At the flush: each notified handler once (two notifies of `web changed`), in the
        // order of `handlers:`, not of the notifies.
        assert_eq!(
            cat(&lab, node, "/srv/at-flush"),
            "db\nweb\nalso\n",
            "{report}"
        );
        // `restart db`, notified again after the flush, runs again at the end.
        assert_eq!(
            cat(&lab, node, "/srv/h.log"),
            "db\nweb\nalso\ndb\n",
            "{report}"
        );
        let names: Vec<&str> = report["hosts"][node]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "conf a",
                "conf b",
                "restart db",
                "reload web",
                "also on web",
                "what ran by the flush",
                "conf c",
                "restart db"
            ],
            "{report}"
        );
        assert_eq!(report["hosts"][node]["not_run"], 0, "{report}");
    }
    // Converged: nothing changes, no handler runs.
    lab.exec("node1", "rm /srv/h.log").unwrap();
    deploy_json(&lab, &playbook, &[]).expect_code(0);
    assert!(!exists(&lab, "node1", "/srv/h.log"));
}

const FAILING: &str = r#"
steps:
  - name: conf
    copy: {dest: /srv/f, content: "f\n"}
    notify: conf changed
  - name: boom
    command: {cmd: "exit 3"}
  - name: never reached
    copy: {dest: /srv/never, content: "x\n"}
handlers:
  - name: mark
    command: {cmd: "echo ran > /srv/handler"}
    listen: conf changed
"#;

#[test]
fn force_handlers_runs_the_notified_handlers_of_a_node_whose_step_failed() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "failing.yml", FAILING);
    let run = deploy_json(&lab, &playbook, &["--limit", "node1"]);
    run.expect_code(1);
    let report = run.json();
    assert!(!exists(&lab, "node1", "/srv/handler"), "{report}");
    // The step not reached and the handler its change notified.
    assert_eq!(report["hosts"]["node1"]["not_run"], 2, "{report}");

    lab.exec("node1", "rm /srv/f").unwrap();
    let forced = deploy_json(&lab, &playbook, &["--limit", "node1", "--force-handlers"]);
    forced.expect_code(1);
    let report = forced.json();
    assert_eq!(cat(&lab, "node1", "/srv/handler"), "ran\n", "{report}");
    assert!(!exists(&lab, "node1", "/srv/never"), "{report}");
    let host = &report["hosts"]["node1"];
    assert_eq!(host["failed"], 1, "{report}");
    assert_eq!(host["not_run"], 1, "{report}");
    // The node's reason stays the step that failed.
    assert!(
        host["error"].as_str().unwrap_or_default().contains("boom"),
        "{report}"
    );
    let steps = host["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last["name"], "mark", "{report}");
    assert_eq!(last["handler"], true, "{report}");
    assert_eq!(last["status"], "changed", "{report}");
}
