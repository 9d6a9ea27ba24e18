//! `loop`, `until`/`retries`/`delay`, `failed_when`, `ignore_errors` and templated step names
//! on lab nodes, through `tandem deploy --json`: what ran on the node, what the report says,
//! what `register` stored.

use std::path::Path;
use std::time::Duration;

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::support::{cat, write};

fn deploy_json(lab: &TempLab, playbook: &Path) -> Run {
    Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"])
}

const LOOP: &str = r#"
vars:
  users: [{name: alice, uid: 2001}, {name: bob, uid: 2002}]
steps:
  - name: "files for {{ node }}"
    copy: {dest: "/srv/loop-{{ item.name }}", content: "{{ item.uid }} on {{ node }}\n"}
    loop: "{{ users }}"
    loop_control: {label: "{{ item.name }}"}
    register: written
  - name: literal list, skipped per item
    copy: {dest: "/srv/only-{{ item }}", content: "x\n"}
    loop: [one, two, three]
    when: item != 'two'
  - name: what register stored
    copy:
      dest: /srv/summary
      content: "{{ written.results | length }} {{ written.changed }} {{ written.results[1].item.name }} {{ written.results[0].changed }}\n"
"#;

#[test]
fn a_loop_runs_the_module_per_item_and_registers_a_list_of_results() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "loop.yml", LOOP);
    let run = deploy_json(&lab, &playbook);
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        assert_eq!(
            cat(&lab, node, "/srv/loop-alice"),
            format!("2001 on {node}\n")
        );
        assert_eq!(
            cat(&lab, node, "/srv/loop-bob"),
            format!("2002 on {node}\n")
        );
        assert_eq!(cat(&lab, node, "/srv/summary"), "2 True bob True\n");
        assert_eq!(cat(&lab, node, "/srv/only-one"), "x\n");
        assert!(
            !lab.exec(node, "test -e /srv/only-two")
                .unwrap()
                .status
                .success()
        );
        let steps = &report["hosts"][node]["steps"];
        // The templated name, rendered per host; one line per item, labelled.
        assert_eq!(steps[0]["name"], format!("files for {node}"), "{report}");
        assert_eq!(steps[0]["status"], "changed");
        let items = steps[0]["items"].as_array().unwrap();
        let labels: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
        assert_eq!(labels, ["alice", "bob"]);
        assert!(items.iter().all(|i| i["status"] == "changed"), "{report}");
        let statuses: Vec<&str> = steps[1]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["changed", "skipped", "changed"], "{report}");
        // A looped step counts once in the recap, as in Ansible.
        assert_eq!(report["hosts"][node]["changed"], 3, "{report}");
    }
    // Again: every item is ok, the step too.
    let again = deploy_json(&lab, &playbook);
    again.expect_code(0);
    let report = again.json();
    let steps = &report["hosts"]["node1"]["steps"];
    assert_eq!(steps[0]["status"], "ok", "{report}");
    assert_eq!(steps[1]["status"], "ok", "{report}");
    let items = report["hosts"]["node1"]["steps"][0]["items"]
        .as_array()
        .unwrap();
    assert!(items.iter().all(|i| i["status"] == "ok"), "{report}");
    // Text mode: one line per changed item, with its label.
    lab.exec("node2", "rm /srv/loop-bob").unwrap();
    let text =
        Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &[playbook.to_str().unwrap()]);
    text.expect_code(0);
    let out = text.stdout();
    assert!(
        out.contains("node2 | changed | files for node2 (item=bob)"),
        "{out}"
    );
    assert!(!out.contains("(item=alice)"), "{out}");
}

#[test]
fn until_retries_a_step_until_a_file_appears_and_gives_up_after_its_retries() {
    let lab = TempLab::new(2);
    let playbook = write(
        lab.dir(),
        "until.yml",
        r#"
steps:
  - name: wait for the file
    command: {cmd: "test -e /srv/ready && echo there"}
    register: probe
    until: probe.rc == 0 and 'there' in probe.stdout
    retries: 40
    delay: 0.25
  - name: after
    copy: {dest: /srv/after, content: "{{ probe.attempts }}\n"}
  - name: never true
    command: {cmd: "echo not yet"}
    until: "'done' in result.stdout"
    retries: 2
    delay: 0
"#,
    );
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            lab.exec("node1", "touch /srv/ready").unwrap();
            lab.exec("node2", "touch /srv/ready").unwrap();
        });
        let run = deploy_json(&lab, &playbook);
        run.expect_code(1);
        let report = run.json();
        for node in ["node1", "node2"] {
            let steps = &report["hosts"][node]["steps"];
            // A command counts as changed, as in Ansible.
            assert_eq!(steps[0]["status"], "changed", "{report}");
            let attempts = steps[0]["attempts"].as_u64().unwrap_or(1);
            assert!(attempts > 1, "the file was not there at first: {report}");
            assert_eq!(cat(&lab, node, "/srv/after"), format!("{attempts}\n"));
            assert_eq!(steps[2]["status"], "failed", "{report}");
            assert_eq!(steps[2]["attempts"], 3, "{report}");
            let error = steps[2]["error"].as_str().unwrap();
            assert!(
                error.starts_with("`until: 'done' in result.stdout` still false after 3 attempts"),
                "{error}"
            );
        }
    });
    // --check: nothing really ran, so no retrying and no `until` verdict.
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[playbook.to_str().unwrap(), "--json", "--check"],
    );
    run.expect_code(0);
    let report = run.json();
    let steps = &report["hosts"]["node1"]["steps"];
    assert_eq!(steps[2]["status"], "changed", "{report}");
    assert_eq!(steps[2]["attempts"], serde_json::Value::Null, "{report}");
}

#[test]
fn failed_when_decides_failure_and_ignore_errors_keeps_the_host_going() {
    let lab = TempLab::new(2);
    let playbook = write(
        lab.dir(),
        "failures.yml",
        r#"
steps:
  - name: grep finds nothing, which is fine
    command: {cmd: "grep -q nothing-here /etc/hostname"}
    failed_when: result.rc > 1
  - name: fails, ignored
    command: {cmd: "echo broken >&2; exit 3"}
    ignore_errors: true
    register: broken
  - name: still running
    copy: {dest: /srv/went-on, content: "{{ broken.rc }} {{ broken.failed }}\n"}
  - name: output says it failed
    command: {cmd: "echo ERROR on $(hostname)"}
    failed_when: "'ERROR' in result.stdout and node == 'node1'"
  - name: not on node1
    copy: {dest: /srv/end, content: "end\n"}
"#,
    );
    let run = deploy_json(&lab, &playbook);
    run.expect_code(1);
    let report = run.json();
    for node in ["node1", "node2"] {
        let host = &report["hosts"][node];
        let steps = &host["steps"];
        assert_eq!(steps[0]["status"], "changed", "{report}");
        assert_eq!(steps[0]["error"], serde_json::Value::Null, "{report}");
        assert_eq!(steps[1]["status"], "failed", "{report}");
        assert_eq!(steps[1]["ignored"], true, "{report}");
        assert!(
            steps[1]["error"].as_str().unwrap().contains("broken"),
            "{report}"
        );
        assert_eq!(host["ignored"], 1, "{report}");
        assert_eq!(cat(&lab, node, "/srv/went-on"), "3 True\n");
    }
    let node1 = &report["hosts"]["node1"];
    assert_eq!(node1["failed"], 1, "{report}");
    assert_eq!(node1["not_run"], 1, "{report}");
    assert!(
        node1["steps"][3]["error"]
            .as_str()
            .unwrap()
            .starts_with("`failed_when: 'ERROR' in result.stdout and node == 'node1'` is true"),
        "{report}"
    );
    assert!(
        !lab.exec("node1", "test -e /srv/end")
            .unwrap()
            .status
            .success()
    );
    assert_eq!(report["hosts"]["node2"]["failed"], 0, "{report}");
    assert_eq!(cat(&lab, "node2", "/srv/end"), "end\n");
    // The recap shows what was ignored.
    let text =
        Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &[playbook.to_str().unwrap()]);
    text.expect_code(1);
    let out = text.stdout();
    assert!(
        out.contains("node2 | failed (ignored) | fails, ignored: broken"),
        "{out}"
    );
    let node2 = out.lines().find(|l| l.starts_with("node2  ok=")).unwrap();
    assert!(node2.ends_with("ignored=1"), "{out}");
}
