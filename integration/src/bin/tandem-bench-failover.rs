//! `tandem-bench-failover`: the game day's figures on a lab pair, several times over.
//!
//! One command (`integration/scripts/bench.sh --failover` builds it in release mode and runs
//! it): brings up a two-node lab (its OVH API simulator's move task takes 2 s), deploys the
//! cookbook, runs `tandem failover-test --direct --flip-back` RUNS times, and prints a Markdown
//! table: downtime, task duration and tandem's reaction (first answer from the target minus the
//! moment tandem saw the task `done`) per flip, with medians. Targets (issue 5): downtime at
//! most the task duration plus 1 s; reaction under 300 ms.

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use serde_json::Value;
use tandem_integration::lab::TempLab;

#[derive(Parser)]
#[command(about = "Measure tandem failover-test on a lab pair")]
struct Args {
    /// Game days to run (each switches and flips back).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also through the OpenSVC agent (no --direct) on a lab pair with the agent, and compare:
    /// downtime per way, and the agent's phases (from its log) per flip.
    #[arg(long)]
    agent: bool,
}

fn tandem() -> PathBuf {
    std::env::current_exe()
        .expect("own path")
        .with_file_name("tandem")
}

fn tandem_ok(args: &[&str]) -> Vec<u8> {
    let out = Command::new(tandem())
        .args(args)
        .output()
        .expect("tandem runs");
    assert!(
        out.status.success(),
        "tandem {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn median(mut values: Vec<i64>) -> i64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn main() {
    let args = Args::parse();
    let direct = direct_game_days(args.runs);
    if args.agent {
        println!();
        agent::compare(args.runs, &direct);
    }
}

/// The `--direct` table; returns the downtimes (ms).
fn direct_game_days(runs: usize) -> Vec<i64> {
    let lab = TempLab::new(2);
    let inventory = lab.inventory();
    let inventory = inventory.to_str().expect("UTF-8 path");
    let playbook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../playbooks/ovh-lxc-cluster.yml"
    );
    tandem_ok(&["deploy", "-i", inventory, playbook, "--json"]);

    println!("| game day | flip | downtime | OVH task | downtime - task | reaction | probes ok |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let (mut downtimes, mut margins, mut reactions) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let out = tandem_ok(&[
            "failover-test",
            "-i",
            inventory,
            "--cluster",
            "pair1",
            "--direct",
            "--flip-back",
            // The bench measures, the tests judge: a loaded machine must not end the run.
            "--rto",
            "60",
            "--yes",
            "--json",
        ]);
        let report: Value = serde_json::from_slice(&out).expect("JSON report");
        for flip in report["flips"].as_array().expect("flips") {
            let downtime = flip["downtime_ms"].as_i64().unwrap_or(-1);
            let task = flip["task"]["duration_ms"].as_i64().unwrap_or(-1);
            let reaction = flip["reaction_ms"].as_i64().unwrap_or(i64::MAX);
            downtimes.push(downtime);
            margins.push(downtime - task);
            reactions.push(reaction);
            println!(
                "| {run} | {} -> {} | {downtime} ms | {task} ms | {} ms | {reaction} ms | {}/{} |",
                flip["from"].as_str().unwrap_or("?"),
                flip["to"].as_str().unwrap_or("?"),
                downtime - task,
                flip["probes"]["ok"],
                flip["probes"]["sent"],
            );
        }
    }
    println!(
        "| median | | {} ms | | {} ms | {} ms | |",
        median(downtimes.clone()),
        median(margins.clone()),
        median(reactions.clone())
    );
    let worst_margin = margins.iter().copied().max().unwrap_or(0);
    let worst_reaction = reactions.iter().copied().max().unwrap_or(0);
    println!();
    println!(
        "worst downtime - task: {worst_margin} ms (target <= 1000 ms: {}); worst reaction: {worst_reaction} ms (target < 300 ms: {})",
        if worst_margin <= 1000 {
            "met"
        } else {
            "MISSED"
        },
        if worst_reaction < 300 {
            "met"
        } else {
            "MISSED"
        },
    );
    let _ = lab.close();
    downtimes
}

#[path = "tandem-bench-failover/agent.rs"]
mod agent;
