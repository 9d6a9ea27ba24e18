//! `tandem-bench-failover --agent`: the same game days through the OpenSVC agent (no
//! `--direct`) on a lab pair with the agent, split into the agent's phases (read from its log
//! by the game day), next to `--direct`; then once more with the ip resource's address check
//! skipped (`tags = nonrouted` on `[ip#1]`, set by hand on the lab's nodes: not what tandem
//! renders), to show what that check costs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tandem_integration::lab::TempLab;

use super::{median, tandem_ok};

/// Who a phase's time belongs to, for the README's table.
fn owner(phase: &str) -> &'static str {
    if phase.contains("trigger ovh_failover") {
        "OVH (the move task, through the failover trigger)"
    } else if phase.contains("trigger ovh_routes") {
        "tandem's routes trigger"
    } else if phase.contains("address check") {
        "agent (ip resource's ping; config can skip it)"
    } else if phase.starts_with("orchestration") {
        "agent's daemons"
    } else {
        "agent (resource driver)"
    }
}

/// Per flip: the figures of one game day's report, by row name.
fn rows(report: &Value) -> Vec<BTreeMap<String, i64>> {
    let mut out = Vec::new();
    for flip in report["flips"].as_array().expect("flips") {
        let mut row = BTreeMap::new();
        let started = flip["started_at_ms"].as_i64().unwrap_or(0);
        row.insert(
            "downtime (probes)".to_string(),
            flip["downtime_ms"].as_i64().unwrap_or(-1),
        );
        if let Some(task) = flip["task"]["duration_ms"].as_i64() {
            row.insert("OVH task (as tandem polled it)".to_string(), task);
        }
        let from = flip["from"].as_str().unwrap_or("");
        let mut source_end = None;
        let mut target_start = None;
        for p in flip["agent_phases"].as_array().into_iter().flatten() {
            let start = p["span"]["start_ms"].as_i64().unwrap_or(0);
            let end = p["span"]["end_ms"].as_i64().unwrap_or(0);
            let on_source = p["node"].as_str() == Some(from);
            let name = format!(
                "{} {}",
                if on_source { "source" } else { "target" },
                p["name"].as_str().unwrap_or("?")
            );
            *row.entry(name).or_insert(0) += end - start;
            if on_source {
                row.entry("orchestration: request to the source's stop".to_string())
                    .or_insert(start - started);
                source_end = Some(end);
            } else if target_start.is_none() {
                target_start = Some(start);
            }
        }
        if let (Some(end), Some(start)) = (source_end, target_start) {
            row.insert(
                "orchestration: source stopped to target's start".to_string(),
                start - end,
            );
        }
        out.push(row);
    }
    out
}

fn game_days(inventory: &str, runs: usize) -> Vec<BTreeMap<String, i64>> {
    let mut all = Vec::new();
    for _ in 0..runs {
        let out = tandem_ok(&[
            "failover-test",
            "-i",
            inventory,
            "--cluster",
            "pair1",
            "--flip-back",
            "--rto",
            "90",
            "--yes",
            "--json",
        ]);
        let report: Value = serde_json::from_slice(&out).expect("JSON report");
        all.extend(rows(&report));
    }
    all
}

fn exec(lab: &TempLab, node: &str, script: &str) {
    let out = lab.exec(node, script).expect("exec in the node");
    assert!(
        out.status.success(),
        "{script} on {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn compare(runs: usize, direct: &[i64]) {
    let lab = TempLab::with_opensvc(2);
    let inventory_path = lab.inventory();
    // The agent's switch takes about 15 s: a budget for it (the lab's 5 s is for --direct).
    let text = std::fs::read_to_string(&inventory_path).expect("inventory");
    std::fs::write(
        &inventory_path,
        text.replace("  rto_seconds: 5\n", "  rto_seconds: 60\n"),
    )
    .expect("inventory");
    let inventory = inventory_path.to_str().expect("UTF-8 path");
    let playbook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../playbooks/ovh-lxc-cluster.yml"
    );
    tandem_ok(&["deploy", "-i", inventory, playbook, "--json"]);
    exec(
        &lab,
        "node1",
        "om node wait --filter \"monitor.nodes.'node1'.services.status.'web'.avail=up\" --duration 90",
    );
    std::thread::sleep(Duration::from_secs(2));
    let rendered = game_days(inventory, runs);
    for node in ["node1", "node2"] {
        exec(&lab, node, "om web set --kw ip#1.tags=nonrouted");
    }
    std::thread::sleep(Duration::from_secs(5));
    let nonrouted = game_days(inventory, runs);
    let _ = lab.close();

    let mut names: Vec<String> = Vec::new();
    for row in rendered.iter().chain(&nonrouted) {
        for name in row.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    // The downtime first, then the phases in the order they happen.
    let order = |n: &String| {
        let rank = [
            "downtime",
            "OVH task",
            "orchestration: request",
            "source stop: trigger",
            "source stop: ip#1",
            "source stop: ip#1 address",
            "source stop: container",
            "source stop: fs",
            "orchestration: source",
            "target start: ip#1 address",
            "target start: fs",
            "target start: container",
            "target start: trigger ovh_failover",
            "target start: ip#1",
            "target start: trigger ovh_routes",
        ];
        rank.iter()
            .rposition(|r| n.starts_with(r))
            .unwrap_or(rank.len())
    };
    names.sort_by_key(|n| (order(n), n.clone()));
    let med = |rows: &[BTreeMap<String, i64>], name: &str| {
        let values: Vec<i64> = rows.iter().filter_map(|r| r.get(name).copied()).collect();
        if values.is_empty() {
            "-".to_string()
        } else {
            format!("{} ms", median(values))
        }
    };
    println!(
        "game days through the OpenSVC agent, {runs} x (switch + flip back), medians per flip; --direct downtime median: {} ms",
        median(direct.to_vec())
    );
    println!();
    println!("| phase | rendered config | `tags = nonrouted` | whose time |");
    println!("|---|---:|---:|---|");
    for name in &names {
        println!(
            "| {name} | {} | {} | {} |",
            med(&rendered, name),
            med(&nonrouted, name),
            if name.starts_with("downtime") || name.starts_with("OVH task") {
                "-"
            } else {
                owner(name)
            }
        );
    }
}
