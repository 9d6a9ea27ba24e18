//! The failures that really happen, with the real OpenSVC agent (orchestrate = ha):
//!
//! - node-crash: the active node's power is cut (OVH's hard reboot, which the simulator plays on
//!   the lab node: every process killed, the node off the wire for 40 s, then booted), the
//!   survivor's agent notices the lost heartbeats and takes the service and the VIP over, and
//!   the crashed node comes back into a whole pair;
//! - network-split: the link between the nodes is cut while both stay up; both agents run the
//!   service (split brain), which fails the verdict, and the pair is made whole after.

use crate::failover::{node_address, vip, who_serves};
use crate::opensvc_game_day::{agent_lab, agent_says, game_day, notes};
use crate::support::{agent_lab_turn, exec_ok};
use crate::vip::route_via;

#[test]
fn a_node_crash_is_taken_over_by_the_peer_and_the_pair_is_whole_again() {
    let _turn = agent_lab_turn();
    let lab = agent_lab();
    // Lives in node1's memory only (/run is a tmpfs): a real power cut loses it.
    exec_ok(&lab, "node1", "echo before > /run/tandem-crash-marker");
    let daemon_before = exec_ok(&lab, "node1", "cat /var/lib/opensvc/osvcd.pid");
    // The data reaches node2 through the agent's rsync resources, over root's ssh between the
    // nodes (`tandem keys`): one sync now, so the crash has an RPO to measure.
    crate::cli::Tandem::new(["keys", "-i"])
        .run_with(&lab.inventory(), &[])
        .expect_code(0);
    exec_ok(&lab, "node1", "om web sync nodes");
    let synced = std::time::SystemTime::now();

    let run = game_day(
        &lab,
        &["--scenario", "node-crash", "--yes-really", "--rpo", "600"],
    );
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["verdict"], "pass", "{}", run.stderr);
    assert_eq!(report["scenario"], "node-crash");
    let flip = &report["flips"][0];
    assert_eq!(flip["label"], "node-crash");
    assert_eq!(
        (flip["from"].as_str(), flip["to"].as_str()),
        (Some("node1"), Some("node2"))
    );

    // Detection: the agent's heartbeat timeout is 15 s, so the survivor cannot act sooner
    // than that after the last answer, and it acts before the service is back.
    let detection = flip["detection_ms"].as_u64().expect("detection measured");
    let downtime = report["downtime_ms"].as_u64().unwrap();
    assert!(
        detection >= 14_000,
        "detected in {detection} ms: before the heartbeat timeout?"
    );
    assert!(
        detection < downtime,
        "detection {detection} ms, downtime {downtime} ms"
    );
    // The OVH task the survivor's trigger started, and the recovery after it.
    assert_eq!(flip["task"]["final_status"], "done", "{flip}");
    assert!(flip["reaction_ms"].is_i64(), "{flip}");
    // The outage ended on node2's answers.
    assert_eq!(flip["first_target_answer"]["node"], "node2", "{flip}");
    // The RPO: the data node2 took over was as old as the sync before the crash, at least the
    // detection, at most the time since that sync.
    let rpo = &flip["rpo"];
    assert_eq!(rpo["within_budget"], true, "{rpo}");
    assert_eq!(rpo["budget_ms"], 600_000, "{rpo}");
    let age = rpo["age_ms"].as_u64().expect("an RPO");
    assert!(age >= detection, "RPO {age} ms, detection {detection} ms");
    assert!(
        u128::from(age) <= synced.elapsed().unwrap().as_millis(),
        "RPO {age} ms, older than the sync"
    );

    // The node really crashed: its memory is gone and its agent is a new process.
    let marker = lab.exec("node1", "cat /run/tandem-crash-marker").unwrap();
    assert!(
        !marker.status.success(),
        "node1's /run survived the power cut"
    );
    let daemon_after = exec_ok(&lab, "node1", "cat /var/lib/opensvc/osvcd.pid");
    assert_ne!(
        daemon_before.trim(),
        daemon_after.trim(),
        "node1's daemon was not restarted"
    );

    // The pair is whole: the service and the VIP on node2, node1 back in the cluster in
    // standby, nothing failed or frozen.
    assert!(
        notes(&report)
            .iter()
            .any(|n| n.starts_with("the pair is whole again")),
        "{:?}",
        notes(&report)
    );
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node2")));
    assert_eq!(who_serves(&lab), "web on node2");
    let says = agent_says(&lab);
    assert_eq!(
        says[1],
        ("node2".into(), "up".into(), "idle".into(), false),
        "{says:?}"
    );
    assert_ne!(says[0].1, "up", "web runs on node1 too: {says:?}");
    assert_eq!(says[0].2, "idle", "{says:?}");
    assert!(!says[0].3, "node1 left frozen: {says:?}");
}

#[test]
fn a_network_split_that_ends_with_both_nodes_serving_fails_and_the_pair_is_made_whole() {
    let _turn = agent_lab_turn();
    let lab = agent_lab();
    let run = game_day(
        &lab,
        &["--scenario", "network-split", "--split-seconds", "50"],
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["verdict"], "fail", "{}", run.stderr);
    assert_eq!(report["scenario"], "network-split");
    // Cut off from node1, node2's agent started the service while node1 kept it.
    let violations: Vec<&str> = report["timeline"]["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("node1 and node2 both ran web from")
                && v.ends_with("(split brain)")),
        "{violations:?}"
    );
    // The link is whole again: no blackhole route, no self-heal timer left on either node.
    for node in ["node1", "node2"] {
        let routes = exec_ok(&lab, node, "ip route show type blackhole");
        assert_eq!(routes.trim(), "", "{node} keeps {routes}");
        let timer = lab.exec(node, "test -e /run/tandem-split.pid").unwrap();
        assert!(!timer.status.success(), "{node} keeps its self-heal timer");
    }
    // One node serves, where OVH routes the VIP; the other is at rest in standby.
    let serving = who_serves(&lab);
    let node = serving
        .strip_prefix("web on ")
        .expect("the VIP answers")
        .to_string();
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, &node)));
    let says = agent_says(&lab);
    for (name, avail, status, frozen) in &says {
        assert_eq!(avail == "up", *name == node, "{says:?}");
        assert_eq!(status, "idle", "{says:?}");
        assert!(!frozen, "{says:?}");
    }
}
