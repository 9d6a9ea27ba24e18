//! Rollouts on a lab of two pairs: `--rolling` batches, `--max-fail-percent`, `--resume`, and
//! the health check between batches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};

fn playbook(lab: &TempLab) -> PathBuf {
    let path = lab.dir().join("rollout.yml");
    std::fs::write(
        &path,
        "steps:\n  - name: Marker\n    copy: {dest: /tmp/rolled, content: \"rolled\\n\"}\n  - name: Fail where asked\n    command: {cmd: \"test ! -e /tmp/fail-here\"}\n",
    )
    .unwrap();
    path
}

fn deploy(lab: &TempLab, inventory: &Path, extra: &[&str]) -> Run {
    let playbook = playbook(lab);
    let mut args = vec![playbook.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["deploy", "-i"]).run_with(inventory, &args)
}

fn batches(report: &serde_json::Value) -> Vec<Vec<String>> {
    serde_json::from_value(report["batches"].clone()).unwrap()
}

fn cluster_of(lab: &TempLab, node: &str) -> String {
    lab.node(node).cluster.clone()
}

fn assert_one_node_per_pair(lab: &TempLab, batches: &[Vec<String>]) {
    for batch in batches {
        let clusters: BTreeSet<String> = batch.iter().map(|n| cluster_of(lab, n)).collect();
        assert_eq!(
            clusters.len(),
            batch.len(),
            "a batch holds both nodes of a pair: {batch:?}"
        );
    }
}

fn rolled(lab: &TempLab, node: &str) -> bool {
    lab.exec(node, "test -e /tmp/rolled")
        .unwrap()
        .status
        .success()
}

#[test]
fn rolling_batches_hold_one_node_per_pair_the_passive_one_first() {
    let lab = TempLab::new(4);
    // pair2's VIP goes to node4: its passive node is now node3.
    Tandem::new(["vip", "move", "-i"])
        .run_with(
            &lab.inventory(),
            &[
                "--cluster",
                "pair2",
                "--to",
                "node4",
                "--poll-interval",
                "0.2",
            ],
        )
        .expect_code(0);
    let run = deploy(&lab, &lab.inventory(), &["--rolling"]);
    run.expect_code(0);
    let report = run.json();
    let b = batches(&report);
    assert_eq!(
        b,
        vec![vec!["node2", "node3"], vec!["node1", "node4"]],
        "{report}"
    );
    assert_one_node_per_pair(&lab, &b);
    for node in ["node1", "node2", "node3", "node4"] {
        assert!(rolled(&lab, node), "{node} was not deployed");
    }
    // --serial cuts the waves further, never joining two nodes of a pair.
    let run = deploy(&lab, &lab.inventory(), &["--rolling", "--serial", "1"]);
    run.expect_code(0);
    let b = batches(&run.json());
    assert_eq!(b.len(), 4);
    assert_eq!(b[0], vec!["node2"]);

    // A cluster whose service does not answer on its VIP stops the rollout after its first
    // node: the health check gates the next batch.
    let inventory = lab.dir().join("with-health.yml");
    let text = std::fs::read_to_string(lab.inventory()).unwrap().replacen(
        "vars:\n",
        "vars:\n  health_check: {within: 2}\n",
        1,
    );
    std::fs::write(&inventory, text).unwrap();
    let run = deploy(&lab, &inventory, &["--rolling"]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(batches(&report).len(), 1, "{report}");
    let stopped = report["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("health check of cluster pair1 failed"),
        "{report}"
    );
    assert_eq!(report["untouched"], serde_json::json!(["node1", "node4"]));
    assert_eq!(report["health_checks"][0]["ok"], false);
}

#[test]
fn max_fail_percent_stops_before_the_next_batch_and_resume_redoes_only_the_rest() {
    let lab = TempLab::new(4);
    lab.exec("node2", "touch /tmp/fail-here").unwrap();
    let run = deploy(
        &lab,
        &lab.inventory(),
        &["--rolling", "--max-fail-percent", "0"],
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(batches(&report), vec![vec!["node2", "node4"]], "{report}");
    assert_eq!(report["hosts"]["node2"]["failed"], 1);
    assert_eq!(report["untouched"], serde_json::json!(["node1", "node3"]));
    assert!(!rolled(&lab, "node1") && !rolled(&lab, "node3"));
    let text = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[
            playbook(&lab).to_str().unwrap(),
            "--rolling",
            "--max-fail-percent",
            "0",
        ],
    );
    text.expect_code(1);
    assert!(
        text.stdout().contains("2 hosts not touched: node1, node3"),
        "{}",
        text.stdout()
    );

    // Fixed; --resume runs node2 (failed) and node1, node3 (untouched), not node4.
    let earlier = lab.dir().join("earlier.json");
    std::fs::write(&earlier, &run.stdout).unwrap();
    lab.exec("node2", "rm /tmp/fail-here").unwrap();
    lab.exec("node4", "rm /tmp/rolled").unwrap();
    let resumed = deploy(
        &lab,
        &lab.inventory(),
        &["--resume", earlier.to_str().unwrap()],
    );
    resumed.expect_code(0);
    let report = resumed.json();
    let ran: BTreeSet<&str> = report["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(ran, BTreeSet::from(["node1", "node2", "node3"]), "{report}");
    assert!(!rolled(&lab, "node4"), "--resume touched node4");
    // A result with nothing left to do is refused.
    let done = lab.dir().join("done.json");
    std::fs::write(&done, &resumed.stdout).unwrap();
    let none = deploy(
        &lab,
        &lab.inventory(),
        &["--resume", done.to_str().unwrap()],
    );
    none.expect_code(2);
    assert!(none.stderr.contains("nothing to resume"), "{}", none.stderr);
}

/// Ctrl-C while a health check waits for a cluster to answer stops the rollout there, at once:
/// not after the check's `within`, and the next batch is reported untouched.
#[test]
fn ctrl_c_during_a_health_check_stops_the_rollout_at_once() {
    let lab = TempLab::new(2);
    let inventory = lab.dir().join("with-slow-health.yml");
    let text = std::fs::read_to_string(lab.inventory()).unwrap().replacen(
        "vars:\n",
        "vars:\n  health_check: {within: 60}\n",
        1,
    );
    std::fs::write(&inventory, text).unwrap();
    let faulted = crate::faults::deploy_with_fault(
        &inventory,
        &playbook(&lab),
        &["--rolling", "--json"],
        // node2 is the passive node, alone in batch 1; the check of pair1 follows it.
        || rolled(&lab, "node2"),
        |pid| {
            std::thread::sleep(std::time::Duration::from_secs(1));
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            )
            .unwrap();
        },
        std::time::Duration::from_secs(10),
    );
    faulted.run.expect_code(130);
    let report = faulted.run.json();
    let stopped = report["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("interrupted (Ctrl-C) during a health check"),
        "{report}"
    );
    assert_eq!(
        report["untouched"],
        serde_json::json!(["node1"]),
        "{report}"
    );
    assert!(!rolled(&lab, "node1"), "the next batch ran after Ctrl-C");
}
