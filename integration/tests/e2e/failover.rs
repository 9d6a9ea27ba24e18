//! `tandem failover-test` in the lab, with real packets: the probes go from the root namespace
//! to the VIP, which the OVH API simulator really routes to one node or the other.

use std::path::{Path, PathBuf};

use serde_json::json;
use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::vip::{faults, route_via};

/// A lab pair with the cookbook deployed: the container serves `web on node1` on the VIP.
pub fn cookbook_lab() -> TempLab {
    let lab = TempLab::new(2);
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml");
    Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"])
        .expect_code(0);
    lab
}

pub fn game_day(lab: &TempLab, extra: &[&str]) -> Run {
    let mut args = vec!["--cluster", "pair1", "--direct", "--yes", "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["failover-test", "-i"]).run_with(&lab.inventory(), &args)
}

pub fn vip(lab: &TempLab) -> std::net::Ipv4Addr {
    lab.clusters()[0].vip
}

pub fn node_address(lab: &TempLab, node: &str) -> std::net::Ipv4Addr {
    lab.node(node).address
}

/// What the service says on the VIP right now, from the root namespace (bounded: 1 s).
pub fn who_serves(lab: &TempLab) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "1", &format!("http://{}/", vip(lab))])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_game_day_moves_the_vip_and_the_probes_follow_it_there_and_back() {
    let lab = cookbook_lab();
    assert_eq!(who_serves(&lab), "web on node1");
    let report_path: PathBuf = lab.dir().join("game-day.html");
    let run = game_day(
        &lab,
        &["--flip-back", "--report", report_path.to_str().unwrap()],
    );
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["verdict"], "pass", "{}", run.stderr);
    assert_eq!(report["from"], "node1");
    assert_eq!(report["to"], "node2");
    let flips = report["flips"].as_array().unwrap();
    assert_eq!(flips.len(), 2);
    assert_eq!(flips[1]["from"], "node2");
    assert_eq!(flips[1]["to"], "node1");
    // Real answers came from both nodes, in order: node1, then node2, then node1 again.
    let answered: Vec<String> = report["timeline"]["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["node"].as_str().map(String::from))
        .collect();
    let mut runs: Vec<String> = Vec::new();
    for node in answered {
        if runs.last() != Some(&node) {
            runs.push(node);
        }
    }
    assert_eq!(runs, ["node1", "node2", "node1"], "{}", run.stderr);
    // The outage stays within the simulated task (2 s) plus a second, each way.
    for flip in flips {
        let downtime = flip["downtime_ms"].as_u64().unwrap();
        let task = flip["task"]["duration_ms"].as_u64().unwrap();
        assert!(
            downtime <= task + 1000,
            "downtime {downtime} ms, task {task} ms"
        );
    }
    assert!(report["probes"]["sent"].as_u64().unwrap() > 20);
    // Back where it started, for real.
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    assert_eq!(who_serves(&lab), "web on node1");
    let html = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        html.contains("<svg") && html.contains("node2"),
        "no timeline in the report"
    );
    // The lock was released: a second game day may start (and switch once).
    let again = game_day(&lab, &[]);
    again.expect_code(0);
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node2")));
    assert_eq!(who_serves(&lab), "web on node2");
}

#[test]
fn preflight_refuses_when_the_target_is_down_and_nothing_moves() {
    let lab = cookbook_lab();
    lab.kill_sshd("node2").unwrap();
    let run = game_day(&lab, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("node2 is unreachable"),
        "{}",
        run.stderr
    );
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    assert_eq!(who_serves(&lab), "web on node1");

    // A target without the container is not ready either.
    lab.start_sshd("node2").unwrap();
    lab.exec("node2", "lxc-destroy -n web >/dev/null 2>&1; true")
        .unwrap();
    let run = game_day(&lab, &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("node2 is not ready"), "{}", run.stderr);
    assert_eq!(run.json()["verdict"], "fail");
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    // And a game day already under way (its lock on the nodes) stops the second one.
    lab.exec("node1", "mkdir -p /run/tandem/failover-test-pair1.lock && echo other@laptop >/run/tandem/failover-test-pair1.lock/holder").unwrap();
    let run = game_day(&lab, &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("other@laptop"), "{}", run.stderr);
}

#[test]
fn a_failed_move_restores_the_vip_and_the_service() {
    let lab = cookbook_lab();
    // 5xx and 429 answers during a game day are retried: it still passes.
    faults(&lab, json!({"fail_next": 2, "fail_status": 503}));
    let run = game_day(&lab, &["--flip-back"]);
    run.expect_code(0);
    assert_eq!(run.json()["verdict"], "pass", "{}", run.stderr);
    let counters = faults(&lab, json!({"fail_next": 1, "fail_status": 429}));
    assert!(
        counters["faults_served"].as_u64().unwrap() >= 2,
        "{counters}"
    );

    // The OVH task ends in ovhError.
    faults(&lab, json!({"next_task": "ovhError"}));
    let run = game_day(&lab, &[]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["verdict"], "fail");
    assert!(run.stderr.contains("ovhError"), "{}", run.stderr);
    assert!(
        run.stderr.contains("service back on node1"),
        "{}",
        run.stderr
    );
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    assert_eq!(who_serves(&lab), "web on node1");
    let running = lab.exec("node2", "lxc-info -n web -s -H").unwrap();
    assert_eq!(String::from_utf8_lossy(&running.stdout).trim(), "STOPPED");

    // A task that never finishes: given up after the move timeout, and restored the same way.
    // (Last: the simulator keeps that task pending, and the next move would wait for it.)
    faults(&lab, json!({"next_task": "stuck"}));
    let run = game_day(&lab, &["--move-timeout", "4"]);
    run.expect_code(1);
    assert_eq!(run.json()["verdict"], "fail");
    assert!(run.stderr.contains("gave up waiting"), "{}", run.stderr);
    assert!(
        run.stderr.contains("service back on node1"),
        "{}",
        run.stderr
    );
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    assert_eq!(who_serves(&lab), "web on node1");
}
