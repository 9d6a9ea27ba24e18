//! The deploy report: the recap and the JSON for failed, unreached and looped hosts.

use super::*;
use crate::engine::events::ItemResult;

fn step(host: &str, index: usize, status: StepStatus) -> Event {
    Event::StepFinished(StepResult {
        host: host.into(),
        name: format!("step {index}"),
        location: format!("site.yml:{}", 3 * index + 1),
        handler: false,
        status,
        changes: Vec::new(),
        diffs: Vec::new(),
        error: (status == StepStatus::Failed).then(|| "boom".to_string()),
        elapsed_ms: 1,
        items: Vec::new(),
        attempts: 1,
        ignored: false,
        stdout: String::new(),
        stderr: String::new(),
    })
}

/// Five steps planned: node1 fails at its second, node2 runs them all.
fn report() -> DeployReport {
    let mut report = DeployReport::new(true, false, false, 2);
    for host in ["node1", "node2"] {
        report.handle(Event::HostStarted {
            host: host.into(),
            steps: 5,
        });
    }
    report.handle(step("node1", 0, StepStatus::Ok));
    report.handle(step("node1", 1, StepStatus::Failed));
    for index in 0..5 {
        report.handle(step("node2", index, StepStatus::Ok));
    }
    report.handle(Event::HostFinished {
        host: "node1".into(),
        stats: HostStats {
            ok: 1,
            failed: 1,
            not_run: 3,
            ..Default::default()
        },
        error: Some("step 'step 1' failed".into()),
    });
    report.handle(Event::HostFinished {
        host: "node2".into(),
        stats: HostStats {
            ok: 5,
            ..Default::default()
        },
        error: None,
    });
    report
}

#[test]
fn a_failed_host_shows_its_steps_not_run_in_the_recap_and_json() {
    let order = vec!["node1".to_string(), "node2".to_string()];
    let report = report();
    let recap = report.recap(&order, Duration::from_millis(20), false);
    let node1 = recap.lines().find(|l| l.starts_with("node1")).unwrap();
    assert!(node1.ends_with("not_run=3"), "{recap}");
    let node2 = recap.lines().find(|l| l.starts_with("node2")).unwrap();
    assert!(!node2.contains("not_run"), "{recap}");
    assert!(
        recap.contains("2 hosts: 1 ok, 1 failed, 0 unreachable, 3 steps not run in "),
        "{recap}"
    );
    assert!(!recap.contains("INTERRUPTED"), "{recap}");
    let doc = report.json_doc(&order, Duration::from_millis(20));
    assert_eq!(doc["hosts"]["node1"]["not_run"], 3);
    assert_eq!(doc["hosts"]["node1"]["interrupted"], false);
}

#[test]
fn a_host_without_a_result_is_never_shown_as_a_success() {
    let order = vec![
        "node1".to_string(),
        "node2".to_string(),
        "node3".to_string(),
    ];
    let report = report();
    let recap = report.recap(&order, Duration::from_millis(20), false);
    assert!(
        recap.contains("node3  NO RESULT (internal error"),
        "{recap}"
    );
    assert!(recap.contains(", 1 without a result in "), "{recap}");
    let doc = report.json_doc(&order, Duration::from_millis(20));
    assert_eq!(doc["hosts"]["node3"]["no_result"], true);
    assert_eq!(doc["summary"]["ok"], 1);
}

#[test]
fn the_recap_repeats_why_a_host_failed_and_counts_what_was_ignored() {
    let order = vec!["node1".to_string(), "node2".to_string()];
    let mut report = report();
    let mut ignored = match step("node2", 5, StepStatus::Failed) {
        Event::StepFinished(r) => r,
        _ => unreachable!(),
    };
    ignored.ignored = true;
    report.handle(Event::StepFinished(ignored));
    report.hosts.get_mut("node2").unwrap().stats.ignored = 1;
    let recap = report.recap(&order, Duration::from_millis(20), false);
    let lines: Vec<&str> = recap.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("node1")).unwrap();
    assert_eq!(
        lines[at + 1].trim(),
        "failed at 'step 1' (site.yml:4): boom",
        "{recap}"
    );
    let node2 = lines.iter().position(|l| l.starts_with("node2")).unwrap();
    assert!(lines[node2].ends_with("ignored=1"), "{recap}");
    assert!(
        !lines[node2 + 1].contains("failed at"),
        "an ignored failure is no reason: {recap}"
    );
    // Colour only when asked: the failed host's line is red.
    let coloured = report.recap(&order, Duration::from_millis(20), true);
    assert!(coloured.contains("\x1b[31mnode1 "), "{coloured}");
    assert!(!recap.contains('\x1b'));
}

#[test]
fn a_looped_step_gets_a_line_per_changed_or_failed_item_and_json_has_them() {
    let mut report = DeployReport::new(true, false, false, 1);
    let mut looped = match step("node1", 0, StepStatus::Failed) {
        Event::StepFinished(r) => r,
        _ => unreachable!(),
    };
    looped.items = vec![
        ItemResult {
            label: "alice".into(),
            status: StepStatus::Changed,
            changes: vec!["created".into()],
            error: None,
            attempts: 1,
        },
        ItemResult {
            label: "bob".into(),
            status: StepStatus::Failed,
            changes: Vec::new(),
            error: Some("no such group".into()),
            attempts: 3,
        },
        ItemResult {
            label: "carol".into(),
            status: StepStatus::Ok,
            changes: Vec::new(),
            error: None,
            attempts: 1,
        },
    ];
    looped.stdout = "hello\n".into();
    report.handle(Event::HostStarted {
        host: "node1".into(),
        steps: 1,
    });
    report.handle(Event::StepFinished(looped.clone()));
    let order = vec!["node1".to_string()];
    let doc = report.json_doc(&order, Duration::from_millis(1));
    let step = &doc["hosts"]["node1"]["steps"][0];
    assert_eq!(step["items"][1]["label"], "bob");
    assert_eq!(step["items"][1]["attempts"], 3);
    assert_eq!(step["stdout"], "hello\n");
    // Text: through the same function the terminal uses.
    let text = DeployReport::new(false, false, false, 1);
    let lines = text.step_text(&looped);
    assert_eq!(
        lines,
        "node1 | changed | step 0 (item=alice) (created)\n\
         node1 | failed | step 0 (item=bob): no such group [3 attempts]"
    );
}
