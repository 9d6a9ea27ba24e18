//! `tandem-bench-deploy`: the same 18-step node-preparation workload (integration/bench/deploy/)
//! run by tandem, pyinfra and Ansible on lab nodes, first on fresh nodes and then converged, next
//! to the floor: one plain `ssh` session per node running all the checks as one script.
//!
//! integration/scripts/bench.sh --deploy builds it, makes the Python venv with Ansible and pyinfra,
//! and runs it. Each tool gets a fresh lab per scenario (its first run must meet pristine nodes);
//! after a tool's runs the floor script checks every node really is in the wanted state.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use tandem_integration::lab::{Lab, TempLab};

#[derive(Parser)]
#[command(about = "Benchmark a deploy workload: tandem vs pyinfra vs Ansible vs plain ssh")]
struct Args {
    /// Scenarios as NODES@LATENCY_MS, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2@30,50@0")]
    scenarios: Vec<String>,
    /// Tools to run, comma-separated (tandem, pyinfra, ansible).
    #[arg(long, value_delimiter = ',', default_value = "tandem,pyinfra,ansible")]
    tools: Vec<String>,
    /// Timed converged runs per tool and scenario (the table shows the median).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The workload directory (tandem.yml, ansible/, pyinfra/, floor.sh).
    #[arg(long, default_value = "integration/bench/deploy")]
    workload: PathBuf,
    /// The Python venv holding ansible-playbook and pyinfra.
    #[arg(long, default_value = "target/bench-venv")]
    venv: PathBuf,
    /// Where logs, generated inventories and results.md go.
    #[arg(long, default_value = "target/bench-deploy")]
    out: PathBuf,
}

/// Longest any single run may take before it is killed (a hung tool must not hang the bench).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// A first run slower than this is followed by a single converged run.
const SLOW_RUN: Duration = Duration::from_secs(90);
/// How often the controller's process tree is measured.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Tandem,
    Pyinfra,
    Ansible,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Tandem => "tandem",
            Tool::Pyinfra => "pyinfra",
            Tool::Ansible => "Ansible",
        }
    }
}

/// What one run of a tool measured.
struct Run {
    wall: Duration,
    /// Largest resident set among the controller and its descendants (wait4's ru_maxrss).
    max_process_kb: u64,
    /// Largest sum of resident sets over the controller's process tree, sampled.
    tree_kb: u64,
    /// Changes reported by the tool (summed over hosts).
    changed: u64,
    /// A host failed or was unreachable, or the tool exited non-zero.
    failed: bool,
}

struct Row {
    tool: String,
    nodes: usize,
    latency_ms: u32,
    first: Option<Duration>,
    converged: Duration,
    memory: String,
    notes: Vec<String>,
}

struct Ctx {
    args: Args,
    tandem: Option<PathBuf>,
    floor_script: PathBuf,
}

fn main() {
    let mut args = Args::parse();
    let tools: Vec<Tool> = args
        .tools
        .iter()
        .map(|t| match t.as_str() {
            "tandem" => Tool::Tandem,
            "pyinfra" => Tool::Pyinfra,
            "ansible" => Tool::Ansible,
            other => panic!("unknown tool {other:?} (tandem, pyinfra, ansible)"),
        })
        .collect();
    let scenarios: Vec<(usize, u32)> = args.scenarios.iter().map(|s| parse_scenario(s)).collect();
    fs::create_dir_all(&args.out).expect("creating the output directory");
    // The tools run in their work directories: every path handed to them must be absolute.
    args.out = absolute(&args.out);
    let tandem = tandem_deploy_bin();
    if tandem.is_none() && tools.contains(&Tool::Tandem) {
        eprintln!("tandem deploy is not available in this build: measuring the others only");
    }
    let floor_script = args.workload.join("floor.sh");
    assert!(
        floor_script.is_file(),
        "{} is missing",
        floor_script.display()
    );
    let ctx = Ctx {
        args,
        tandem,
        floor_script,
    };

    let mut rows = Vec::new();
    for &(nodes, latency) in &scenarios {
        let mut floor_done = false;
        for &tool in &tools {
            if tool == Tool::Tandem && ctx.tandem.is_none() {
                continue;
            }
            let (row, floor) = bench_tool(&ctx, tool, nodes, latency, !floor_done);
            floor_done |= !floor.is_empty();
            rows.push(row);
            rows.extend(floor);
        }
    }
    let table = render(&rows, &ctx);
    print!("{table}");
    let results = ctx.args.out.join("results.md");
    fs::write(&results, &table).expect("writing results.md");
    eprintln!("written to {}", results.display());
}

fn parse_scenario(s: &str) -> (usize, u32) {
    let (n, ms) = s.split_once('@').unwrap_or((s, "0"));
    (
        n.trim()
            .parse()
            .expect("scenario NODES@LATENCY_MS: bad node count"),
        ms.trim()
            .parse()
            .expect("scenario NODES@LATENCY_MS: bad latency"),
    )
}

/// `tandem` next to this binary, if it has a working `deploy` subcommand.
fn tandem_deploy_bin() -> Option<PathBuf> {
    let bin = std::env::current_exe().ok()?.with_file_name("tandem");
    let ok = Command::new(&bin)
        .args(["deploy", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // While deploy is being written its handler may still be a stub that panics (exit 101):
    // on missing files a real one answers with an error instead.
    let stub = Command::new(&bin)
        .args([
            "deploy",
            "-i",
            "/nonexistent/inventory.yml",
            "/nonexistent/playbook.yml",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |s| s.code() == Some(101));
    (ok && !stub).then_some(bin)
}

/// A fresh lab, the tool's first run, its converged runs, the check that the nodes really hold
/// the wanted state, and (with `floor`) the floor's timings on the same converged nodes.
fn bench_tool(ctx: &Ctx, tool: Tool, nodes: usize, latency: u32, floor: bool) -> (Row, Vec<Row>) {
    let started = Instant::now();
    let lab = TempLab::try_with_latency(nodes, (latency > 0).then_some(latency))
        .unwrap_or_else(|e| panic!("tandem-lab up failed: {e}"));
    eprintln!(
        "== {} on {nodes} nodes, {latency} ms: lab up in {:.1} s",
        tool.name(),
        started.elapsed().as_secs_f64()
    );
    let work = ctx.args.out.join(format!(
        "{}-{nodes}n-{latency}ms",
        tool.name().to_lowercase()
    ));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("creating the work directory");
    write_inventories(&lab, &work);

    let mut notes = Vec::new();
    let first = run_tool(ctx, tool, &lab, &work, "first");
    eprintln!(
        "   first run {:.2} s, {} changed",
        first.wall.as_secs_f64(),
        first.changed
    );
    if first.failed {
        notes.push("first run FAILED".to_string());
    } else if first.changed == 0 {
        notes.push("first run changed nothing".to_string());
    }
    // A tool whose run takes minutes (Ansible on 50 nodes) gets one converged run, not several.
    let runs = if first.wall > SLOW_RUN {
        1
    } else {
        ctx.args.runs.max(1)
    };
    if runs < ctx.args.runs {
        notes.push(format!("{runs} converged run (slow)"));
    }
    let mut converged = Vec::new();
    for i in 0..runs {
        let run = run_tool(ctx, tool, &lab, &work, &format!("converged{i}"));
        eprintln!(
            "   converged run {:.2} s, {} changed",
            run.wall.as_secs_f64(),
            run.changed
        );
        if run.failed {
            notes.push(format!("converged run {i} FAILED"));
        }
        if run.changed > 0 {
            notes.push(format!("converged run {i}: {} changed", run.changed));
        }
        converged.push(run);
    }
    let state = floor_check(ctx, &lab, None);
    if !state.1 {
        notes.push("nodes NOT in the wanted state afterwards".into());
    }
    let all = converged.iter().chain([&first]);
    let max_process = all.clone().map(|r| r.max_process_kb).max().unwrap_or(0);
    let tree = all.map(|r| r.tree_kb).max().unwrap_or(0);
    let memory = if tree > max_process + 1024 {
        format!("{} ({} largest process)", mb(tree), mb(max_process))
    } else {
        mb(max_process.max(tree))
    };
    let row = Row {
        tool: tool.name().into(),
        nodes,
        latency_ms: latency,
        first: Some(first.wall),
        converged: median(converged.iter().map(|r| r.wall).collect()),
        memory,
        notes,
    };

    let mut floors = Vec::new();
    if floor {
        for (label, kex) in [
            ("floor: ssh + floor.sh per node", None),
            ("floor, curve25519 kex", Some("curve25519-sha256")),
        ] {
            floor_check(ctx, &lab, kex); // warm-up
            let walls: Vec<Duration> = (0..ctx.args.runs.max(1))
                .map(|_| floor_check(ctx, &lab, kex).0)
                .collect();
            floors.push(Row {
                tool: label.into(),
                nodes,
                latency_ms: latency,
                first: None,
                converged: median(walls),
                memory: "-".into(),
                notes: Vec::new(),
            });
        }
    }
    if let Err(e) = lab.close() {
        eprintln!("taking the lab down: {e}");
    }
    (row, floors)
}

/// Ansible's and pyinfra's inventories for the lab, from its lab.json: the same endpoints (the
/// delay proxy, if any), key and known_hosts as tandem's inventory.yml.
fn write_inventories(lab: &Lab, work: &Path) {
    let key = lab.identity();
    let known_hosts = lab.known_hosts();
    let mut ini = String::from("[lab]\n");
    let mut py = format!(
        "# Written by tandem-bench-deploy for the lab in {}.\n_common = {{\"ssh_user\": \"root\", \"ssh_key\": {:?}, \"ssh_known_hosts_file\": {:?}, \"ssh_strict_host_key_checking\": \"yes\", \"ssh_allow_agent\": False, \"ssh_look_for_keys\": False}}\nlab = [\n",
        lab.dir().display(),
        key.display().to_string(),
        known_hosts.display().to_string()
    );
    for n in lab.nodes() {
        let at = n.ssh_endpoint();
        let _ = writeln!(
            ini,
            "{} ansible_host={} ansible_port={} node={} cluster={}",
            n.name,
            at.ip(),
            at.port(),
            n.name,
            n.cluster
        );
        let _ = writeln!(
            py,
            "    ({:?}, {{**_common, \"ssh_hostname\": \"{}\", \"ssh_port\": {}, \"node\": {:?}, \"cluster\": {:?}}}),",
            n.name,
            at.ip(),
            at.port(),
            n.name,
            n.cluster
        );
    }
    let _ = write!(
        ini,
        "[lab:vars]\nansible_user=root\nansible_ssh_private_key_file={}\nansible_ssh_common_args='-F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes'\n",
        key.display(),
        known_hosts.display()
    );
    py.push_str("]\n");
    fs::write(work.join("hosts.ini"), ini).expect("writing hosts.ini");
    fs::write(work.join("inventory.py"), py).expect("writing inventory.py");
}

fn run_tool(ctx: &Ctx, tool: Tool, lab: &Lab, work: &Path, label: &str) -> Run {
    let venv_bin = absolute(&ctx.args.venv).join("bin");
    let workload = absolute(&ctx.args.workload);
    let mut cmd;
    match tool {
        Tool::Tandem => {
            cmd = Command::new(ctx.tandem.as_ref().expect("tandem deploy"));
            cmd.arg("deploy")
                .arg("-i")
                .arg(lab.inventory())
                .arg(workload.join("tandem.yml"))
                .arg("--json");
        }
        Tool::Pyinfra => {
            cmd = Command::new(venv_bin.join("pyinfra"));
            cmd.args(["-y", "--parallel", "50"])
                .arg(work.join("inventory.py"))
                .arg(workload.join("pyinfra/deploy.py"))
                .current_dir(work);
        }
        Tool::Ansible => {
            // A control-socket directory of its own per run: each run starts cold, as tandem's.
            let cp = work.join(format!("cp-{label}"));
            fs::create_dir_all(&cp).expect("creating the control path directory");
            cmd = Command::new(venv_bin.join("ansible-playbook"));
            cmd.arg("-i")
                .arg(work.join("hosts.ini"))
                .arg(workload.join("ansible/playbook.yml"))
                .env("ANSIBLE_CONFIG", workload.join("ansible/ansible.cfg"))
                .env("ANSIBLE_SSH_CONTROL_PATH_DIR", &cp)
                .env("ANSIBLE_HOME", work.join("ansible-home"))
                .env("ANSIBLE_LOCAL_TEMP", work.join("ansible-tmp"))
                .env("ANSIBLE_NOCOLOR", "1")
                .current_dir(work);
        }
    }
    let out_path = work.join(format!("{label}.out"));
    let err_path = work.join(format!("{label}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("creating a log"))
        .stderr(File::create(&err_path).expect("creating a log"));
    let (wall, max_process_kb, tree_kb, success) = measure(&mut cmd);
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let (changed, failed) = match tool {
        Tool::Tandem => tandem_counts(&out),
        Tool::Ansible => ansible_counts(&out),
        // pyinfra prints its results table on stderr.
        Tool::Pyinfra => pyinfra_counts(&fs::read_to_string(&err_path).unwrap_or_default()),
    };
    if !success || failed {
        eprintln!(
            "   {} {label} failed: see {} and {}",
            tool.name(),
            out_path.display(),
            err_path.display()
        );
    }
    Run {
        wall,
        max_process_kb,
        tree_kb,
        changed,
        failed: failed || !success,
    }
}

fn absolute(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `{"hosts": {NODE: {"changed": N, "failed": N, "unreachable": BOOL, ...}}}`.
fn tandem_counts(out: &str) -> (u64, bool) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(out) else {
        return (0, true);
    };
    let Some(hosts) = v.get("hosts").and_then(|h| h.as_object()) else {
        return (0, true);
    };
    let mut changed = 0;
    let mut failed = false;
    for h in hosts.values() {
        changed += h.get("changed").and_then(|c| c.as_u64()).unwrap_or(0);
        failed |= h.get("failed").and_then(|c| c.as_u64()).unwrap_or(0) > 0;
        failed |= h
            .get("unreachable")
            .and_then(|c| c.as_bool())
            .unwrap_or(false);
    }
    (changed, failed)
}

/// PLAY RECAP lines: `node1 : ok=18 changed=0 unreachable=0 failed=0 ...`.
fn ansible_counts(out: &str) -> (u64, bool) {
    let mut changed = 0;
    let mut failed = false;
    let mut hosts = 0;
    for line in out.lines().filter(|l| l.contains(" : ok=")) {
        hosts += 1;
        for kv in line.split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "changed" => changed += v,
                "unreachable" | "failed" => failed |= v > 0,
                _ => {}
            }
        }
    }
    (changed, failed || hosts == 0)
}

/// pyinfra's results table: `Grand total  HOSTS  SUCCESS  ERROR  NO-CHANGE` (`-` for zero).
fn pyinfra_counts(out: &str) -> (u64, bool) {
    let Some(line) = out
        .lines()
        .find(|l| l.trim_start().starts_with("Grand total"))
    else {
        return (0, true);
    };
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(2)
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    match n.as_slice() {
        [hosts, success, error, ..] => (*success, *error > 0 || *hosts == 0),
        _ => (0, true),
    }
}

/// Runs the floor script on every node at once, one plain `ssh` each (optionally with one kex).
/// Returns the wall time and whether every node printed `converged`.
fn floor_check(ctx: &Ctx, lab: &Lab, kex: Option<&str>) -> (Duration, bool) {
    let started = Instant::now();
    let children: Vec<_> = lab
        .nodes()
        .iter()
        .map(|n| {
            let at = n.ssh_endpoint();
            let mut cmd = Command::new("ssh");
            cmd.arg("-F")
                .arg("/dev/null")
                .arg("-i")
                .arg(lab.identity())
                .arg("-o")
                .arg(format!(
                    "UserKnownHostsFile={}",
                    lab.known_hosts().display()
                ))
                .args([
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=10",
                ]);
            if let Some(kex) = kex {
                cmd.arg("-o").arg(format!("KexAlgorithms={kex}"));
            }
            cmd.arg("-p")
                .arg(at.port().to_string())
                .arg(format!("root@{}", at.ip()))
                .arg("sh")
                .stdin(File::open(&ctx.floor_script).expect("floor.sh"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("ssh runs")
        })
        .collect();
    let mut all = true;
    for child in children {
        let out = child.wait_with_output().expect("ssh exits");
        all &= out.status.success() && String::from_utf8_lossy(&out.stdout).contains("converged");
    }
    (started.elapsed(), all)
}

/// Spawns in its own process group and waits with wait4(2), which hands back ru_maxrss: the
/// largest resident set of the child and its reaped descendants. A sampler thread meanwhile sums
/// the resident sets of the whole live tree, and kills the group after RUN_TIMEOUT.
/// The `Child` is reaped by wait4 itself, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> (Duration, u64, u64, bool) {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let child = cmd.process_group(0).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(0u64));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let kb = tree_rss_kb(pid as u32);
                if let Ok(mut p) = peak.lock() {
                    *p = (*p).max(kb);
                }
                if started.elapsed() > RUN_TIMEOUT {
                    // SAFETY: signalling our own child's process group.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                }
                thread::sleep(SAMPLE_EVERY);
            }
        })
    };
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, status and usage are valid for writes.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    assert_eq!(rc, pid, "wait4 failed");
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let tree = peak.lock().map(|p| *p).unwrap_or(0);
    (wall, usage.ru_maxrss.max(0) as u64, tree, success)
}

/// Sum of VmRSS (kB) over a process and all its live descendants, via /proc/PID/task/*/children.
fn tree_rss_kb(root: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![root];
    let mut seen = 0;
    while let Some(pid) = stack.pop() {
        seen += 1;
        if seen > 10_000 {
            break;
        }
        if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
            total += status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                if let Ok(kids) = fs::read_to_string(t.path().join("children")) {
                    stack.extend(
                        kids.split_whitespace()
                            .filter_map(|k| k.parse::<u32>().ok()),
                    );
                }
            }
        }
    }
    total
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn mb(kb: u64) -> String {
    format!("{:.0} MB", kb as f64 / 1024.0)
}

/// The Markdown table, tandem's ratios and the targets of the benchmark's issue.
fn render(rows: &[Row], ctx: &Ctx) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| tool | nodes | latency | first run | converged run | converged vs tandem | first vs tandem | peak memory | notes |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let tandem = rows
            .iter()
            .find(|x| x.tool == "tandem" && x.nodes == r.nodes && x.latency_ms == r.latency_ms);
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) if !b.is_zero() => {
                format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} ms | {} | {} | {} | {} | {} | {} |",
            r.tool,
            r.nodes,
            r.latency_ms,
            r.first.map(secs).unwrap_or_else(|| "-".into()),
            secs(r.converged),
            ratio(Some(r.converged), tandem.map(|x| x.converged)),
            ratio(r.first, tandem.and_then(|x| x.first)),
            r.memory,
            r.notes.join("; ")
        );
    }
    let _ = writeln!(
        t,
        "\nconverged run: median of {} runs on the same nodes; first run: one run on a fresh lab. \
         Ansible: ansible-core, pipelining, forks 50, a cold ControlPersist directory per run; \
         pyinfra: --parallel 50. Peak memory: the controller's whole process tree (largest single \
         process in parentheses when different). {} cores shared by the controller and every lab node.",
        ctx.args.runs.max(1),
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let _ = write!(t, "{}", targets(rows));
    if ctx.tandem.is_none() {
        let _ = writeln!(
            t,
            "\ntandem deploy was not available in this build: tandem was not measured."
        );
    }
    t
}

/// The targets, checked against the measured medians.
fn targets(rows: &[Row]) -> String {
    let mut t = String::new();
    let find = |tool: &str, nodes: usize, lat: u32| {
        rows.iter()
            .find(|r| r.tool == tool && r.nodes == nodes && r.latency_ms == lat)
    };
    let scenarios: Vec<(usize, u32)> = {
        let mut s: Vec<(usize, u32)> = rows.iter().map(|r| (r.nodes, r.latency_ms)).collect();
        s.dedup();
        s
    };
    for (nodes, lat) in scenarios {
        let Some(tandem) = find("tandem", nodes, lat) else {
            continue;
        };
        let (py_target, ansible_target) = if nodes <= 2 {
            (10.0, 25.0)
        } else {
            (6.0, 50.0)
        };
        let mut check = |what: &str, other: Option<Duration>, mine: Option<Duration>, want: f64| {
            if let (Some(o), Some(m)) = (other, mine) {
                let got = o.as_secs_f64() / m.as_secs_f64();
                let _ = writeln!(
                    t,
                    "- {nodes} nodes, {lat} ms, {what}: tandem is {got:.1}x faster (target {want}x): {}",
                    if got >= want { "met" } else { "MISSED" }
                );
            }
        };
        let py = find("pyinfra", nodes, lat);
        let an = find("Ansible", nodes, lat);
        check(
            "converged vs pyinfra",
            py.map(|r| r.converged),
            Some(tandem.converged),
            py_target,
        );
        check(
            "converged vs Ansible",
            an.map(|r| r.converged),
            Some(tandem.converged),
            ansible_target,
        );
        check(
            "first run vs pyinfra",
            py.and_then(|r| r.first),
            tandem.first,
            3.0,
        );
        if let Some(floor) = find("floor, curve25519 kex", nodes, lat) {
            let _ = writeln!(
                t,
                "- {nodes} nodes, {lat} ms: tandem converged {} vs the floor {} ({:.2}x the floor)",
                secs(tandem.converged),
                secs(floor.converged),
                tandem.converged.as_secs_f64() / floor.converged.as_secs_f64()
            );
        }
    }
    if !t.is_empty() {
        t.insert_str(0, "\nTargets:\n");
    }
    t
}
