//! `tandem-bench`: how long `tandem run -- true` takes on lab nodes, next to plain OpenSSH.
//!
//! One command (integration/scripts/bench.sh builds it in release mode and runs it): brings up
//! a lab per size, times each tool several times, prints a Markdown table, takes the lab down.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tandem_integration::lab::TempLab;

#[derive(Parser)]
#[command(about = "Benchmark tandem run -- true against plain OpenSSH on lab nodes")]
struct Args {
    /// Lab sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,50")]
    nodes: Vec<usize>,
    /// Timed runs per tool and size (after one warm-up run).
    #[arg(long, default_value_t = 7)]
    runs: usize,
}

/// Wall time and peak resident memory of one child process.
struct Sample {
    wall: Duration,
    peak_rss_kb: i64,
}

/// Spawns and waits with wait4(2), which hands back the child's own rusage (ru_maxrss).
/// The `Child` is reaped by wait4 itself, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Sample {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, status and usage are valid for writes.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "benchmarked command failed: {cmd:?}"
    );
    Sample {
        wall,
        peak_rss_kb: usage.ru_maxrss,
    }
}

/// N OpenSSH clients at once, one per node, each running `true`: what a shell loop with `&`
/// would do, and the floor set by sshd's own work on the nodes.
fn openssh_all(lab: &TempLab) -> Sample {
    let started = Instant::now();
    let children: Vec<_> = lab
        .nodes()
        .iter()
        .map(|node| {
            Command::new("ssh")
                .args([
                    "-q",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                ])
                .arg("-o")
                .arg(format!(
                    "UserKnownHostsFile={}",
                    lab.known_hosts().display()
                ))
                .arg("-i")
                .arg(lab.identity())
                .arg(format!("root@{}", node.address))
                .arg("true")
                .stdin(Stdio::null())
                .spawn()
                .expect("ssh runs")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("ssh exits").success(), "ssh failed");
    }
    Sample {
        wall: started.elapsed(),
        peak_rss_kb: 0,
    }
}

fn tandem_bin() -> PathBuf {
    let me = std::env::current_exe().expect("current exe");
    let bin = me.with_file_name("tandem");
    assert!(
        bin.is_file(),
        "{} is missing: cargo build --release --workspace --bins",
        bin.display()
    );
    bin
}

fn tandem_run(bin: &Path, lab: &TempLab) -> Sample {
    measure(
        Command::new(bin)
            .arg("run")
            .arg("-i")
            .arg(lab.inventory())
            .args(["--", "true"]),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args = Args::parse();
    let bin = tandem_bin();
    let mut rows = Vec::new();
    for &n in &args.nodes {
        let started = Instant::now();
        let lab = TempLab::new(n);
        let up = started.elapsed();
        eprintln!("lab of {n} nodes up in {}", ms(up));
        for tool in ["tandem run", "OpenSSH, one ssh per node in parallel"] {
            let once = |lab: &TempLab| {
                if tool == "tandem run" {
                    tandem_run(&bin, lab)
                } else {
                    openssh_all(lab)
                }
            };
            once(&lab); // warm-up: page cache, ARP, sshd's first fork
            let samples: Vec<Sample> = (0..args.runs).map(|_| once(&lab)).collect();
            let walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
            let peak = samples.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0);
            rows.push(format!(
                "| {n} | {tool} | {} | {} | {} | {} |",
                ms(median(walls.clone())),
                ms(*walls.iter().min().unwrap()),
                ms(*walls.iter().max().unwrap()),
                if peak > 0 {
                    format!("{:.1} MB", peak as f64 / 1024.0)
                } else {
                    "-".into()
                },
            ));
        }
        let started = Instant::now();
        lab.close().expect("lab down");
        eprintln!("lab of {n} nodes down in {}", ms(started.elapsed()));
    }
    println!("| nodes | command `true` on every node | median | min | max | peak memory |");
    println!("|---:|---|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\n{} runs each after one warm-up; {} cores; lab nodes share this machine's CPU.",
        args.runs,
        num_cpus()
    );
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
