//! OVH preflight (the keys' rights, `ipCanBeMovedTo`, a pending move) before `vip move` and a
//! game day, and `tandem inventory import --from-ovh`, against the lab's OVH API simulator.

use serde_json::json;
use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::failover::{cookbook_lab, game_day, node_address, vip, who_serves};
use crate::vip::{faults, route_via};

fn move_to_node2(lab: &TempLab, extra: &[&str]) -> Run {
    let mut args = vec![
        "--cluster",
        "pair1",
        "--to",
        "node2",
        "--poll-interval",
        "0.2",
        "--retry-base-ms",
        "50",
    ];
    args.extend_from_slice(extra);
    Tandem::new(["vip", "move", "-i"]).run_with(&lab.inventory(), &args)
}

fn moves(lab: &TempLab) -> u64 {
    faults(lab, json!({}))["moves"].as_u64().unwrap()
}

#[test]
fn vip_move_preflight_refuses_missing_rights_a_refused_target_and_a_pending_move() {
    let lab = TempLab::new(2);
    let vip = vip(&lab);
    let on_node1 = Some(node_address(&lab, "node1"));

    // A read-only key: the simulator itself would refuse the POST (403 NOT_GRANTED_CALL), but
    // the preflight says so first, in one line, and nothing moves.
    faults(&lab, json!({"rules": [{"method": "GET", "path": "/*"}]}));
    let run = move_to_node2(&lab, &[]);
    run.expect_code(1);
    let line = format!(
        "tandem: error: OVH preflight refused moving {vip} to node2.lab.invalid: the OVH keys may \
         not call POST /ip/{vip}/32/move: make a consumer key with these access rules"
    );
    assert!(run.stderr.starts_with(&line), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert_eq!(moves(&lab), 0);
    assert_eq!(route_via(vip), on_node1);

    // OVH says the target cannot take the IP.
    faults(
        &lab,
        json!({"rules": [{"method": "GET", "path": "/*"}, {"method": "POST", "path": "/ip/*"}],
               "cannot_receive": ["node2.lab.invalid"]}),
    );
    let run = move_to_node2(&lab, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "OVH says it cannot: The IP {vip}/32 cannot be moved to node2.lab.invalid"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(moves(&lab), 0);

    // A move left pending (a task stuck on OVH's side): the next one is refused...
    faults(&lab, json!({"cannot_receive": [], "next_task": "stuck"}));
    move_to_node2(&lab, &["--timeout", "1"]).expect_code(1);
    assert_eq!(moves(&lab), 1);
    let run = move_to_node2(&lab, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "a move of {vip} is pending (OVH task 1): wait until it ends"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(moves(&lab), 1);
    // ... until it ends; then the move goes through, the preflight passing.
    faults(
        &lab,
        json!({"end_pending": "cancelled", "task_duration_ms": 400}),
    );
    move_to_node2(&lab, &[]).expect_code(0);
    assert_eq!(moves(&lab), 2);
    assert_eq!(route_via(vip), Some(node_address(&lab, "node2")));
}

#[test]
fn a_game_day_is_refused_by_the_ovh_preflight_before_anything_changes() {
    let lab = cookbook_lab();
    faults(&lab, json!({"cannot_receive": ["node2.lab.invalid"]}));
    let run = game_day(&lab, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "tandem: failover-test refused: OVH preflight refused moving {} to node2.lab.invalid: OVH says it cannot",
            vip(&lab)
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(run.json()["verdict"], "fail");
    assert_eq!(moves(&lab), 0);
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node1")));
    assert_eq!(who_serves(&lab), "web on node1");

    // With the target allowed, the same game day passes, and its report says what was checked.
    faults(&lab, json!({"cannot_receive": []}));
    let run = game_day(&lab, &[]);
    run.expect_code(0);
    let text = run.json().to_string();
    assert!(
        text.contains(&format!(
            "OVH says {} can be moved to node2.lab.invalid",
            vip(&lab)
        )),
        "{text}"
    );
    assert_eq!(route_via(vip(&lab)), Some(node_address(&lab, "node2")));
}

#[test]
fn inventory_import_from_ovh_writes_an_inventory_tandem_ping_accepts() {
    let lab = TempLab::new(2);
    let conf = lab.ovh_conf();
    let conf = conf.to_str().unwrap();
    let dir = lab.dir();

    // Without --pair: the account's servers and failover IPs, nothing written.
    let listing = Tandem::new(["inventory", "import", "--from-ovh", "--ovh-conf"])
        .run_with(std::path::Path::new(conf), &[]);
    listing.expect_code(0);
    let out = listing.stdout();
    assert!(
        out.contains(&format!(
            "node1  node1.lab.invalid  {}  lab1  {}",
            node_address(&lab, "node1"),
            vip(&lab)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "node2  node2.lab.invalid  {}  lab1  -",
            node_address(&lab, "node2")
        )),
        "{out}"
    );

    let written = dir.join("imported.yml");
    let (identity, known_hosts) = (dir.join("id_ed25519"), dir.join("known_hosts"));
    let args = [
        "--pair",
        "node1,node2",
        "-o",
        written.to_str().unwrap(),
        "--identity",
        identity.to_str().unwrap(),
        "--known-hosts",
        known_hosts.to_str().unwrap(),
    ];
    let run = Tandem::new(["inventory", "import", "--from-ovh", "--ovh-conf"])
        .run_with(std::path::Path::new(conf), &args);
    run.expect_code(0);
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains(&format!("vip: {}", vip(&lab))), "{text}");
    assert!(text.contains("service_name: node2.lab.invalid"), "{text}");

    // tandem ping accepts it and reaches both nodes; vip status finds the VIP's node by it.
    let ping = Tandem::new(["ping", "--json", "-i"]).run_with(&written, &[]);
    ping.expect_code(0);
    let status = Tandem::new(["vip", "status", "--json", "-i"]).run_with(&written, &[]);
    status.expect_code(0);
    assert_eq!(status.json()["clusters"]["pair1"]["node"], "node1");

    // An existing file is kept unless --force; a server the account lacks is a one-line exit 2.
    let again = Tandem::new(["inventory", "import", "--from-ovh", "--ovh-conf"])
        .run_with(std::path::Path::new(conf), &args);
    again.expect_code(2);
    assert!(
        again.stderr.contains("the file exists: pass --force"),
        "{}",
        again.stderr
    );
    let unknown = Tandem::new(["inventory", "import", "--from-ovh", "--ovh-conf"])
        .run_with(std::path::Path::new(conf), &["--pair", "node1,node7"]);
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains(
            "--pair: no dedicated server node7 in this OVH account (its servers: node1, node2)"
        ),
        "{}",
        unknown.stderr
    );
}
