//! Faults in the middle of `tandem deploy`, on real lab nodes: sshd killed, the link cut, a
//! frozen node, a full disk, Ctrl-C. Each fault is its own test with its own small lab; each
//! proves the faulted node is reported (bounded in time, never a hang), the others finish, and a
//! re-run after the node is restored converges. Each writes one line to
//! target/hardening/faults-deploy-NAME.txt for the suite's counts.

mod disk;
mod interrupt;
mod interrupt_handlers;
mod node_lost;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};

/// Short timeouts for the tests' inventories; production defaults are 10 s and 15 s.
pub const CONNECT_TIMEOUT_S: u64 = 2;
pub const KEEPALIVE_S: u64 = 1;

/// How long a lost node may take to be reported once the fault lands: russh gives up after
/// 3 unanswered keepalives, i.e. 4 silent intervals, plus 2 s for scheduling on a busy box.
pub fn detection_bound() -> Duration {
    Duration::from_secs(4 * KEEPALIVE_S + 2)
}

/// The lab's inventory with short connect and keepalive timeouts.
pub fn fault_inventory(lab: &TempLab) -> PathBuf {
    let text = std::fs::read_to_string(lab.inventory()).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("connect_timeout:"))
        .expect("the lab's inventory sets ssh.connect_timeout")
        .to_string();
    let text = text.replacen(
        &line,
        &format!("  connect_timeout: {CONNECT_TIMEOUT_S}\n  keepalive_interval: {KEEPALIVE_S}"),
        1,
    );
    write(lab.dir(), "faults-inventory.yml", &text)
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Marker the slow step leaves when it starts, and the file that makes it hang (30 s) on the
/// node that will be faulted. Without the hold file it takes 2 s, so the other nodes are still
/// at work when the fault lands.
pub const STARTED: &str = "/var/tmp/fault/slow.started";
pub const HOLD: &str = "/var/tmp/fault-hold";

/// Four steps; the third is slow; `after` is the proof that a node finished all of them.
pub const SLOW_PLAYBOOK: &str = r#"
steps:
  - name: workdir
    file: {path: /var/tmp/fault, state: directory}
  - name: before
    copy: {dest: /var/tmp/fault/before, content: "before\n"}
  - name: slow
    command:
      cmd: "touch /var/tmp/fault/slow.started; if [ -e /var/tmp/fault-hold ]; then sleep 30; else sleep 2; fi; echo done > /var/tmp/fault/slow.done"
      creates: /var/tmp/fault/slow.done
  - name: after
    copy: {dest: /var/tmp/fault/after, content: "after\n"}
"#;
pub const SLOW_STEPS: u64 = 4;

/// A tandem run with a fault injected while it runs.
pub struct Faulted {
    pub run: Run,
    /// From the fault to tandem's exit: an upper bound on how long the faulted node took to
    /// be reported.
    pub after_fault: Duration,
}

/// Starts `tandem deploy -i INVENTORY PLAYBOOK EXTRA...`, waits (at most 30 s) until `ready`
/// holds, calls `inject` with tandem's PID, then waits for tandem, killing it and failing the
/// test if it takes longer than `limit` after the fault: a hang is a failure, never a stuck CI.
pub fn deploy_with_fault(
    inventory: &Path,
    playbook: &Path,
    extra: &[&str],
    ready: impl Fn() -> bool,
    inject: impl FnOnce(u32),
    limit: Duration,
) -> Faulted {
    let mut child = Command::new(crate::cli::tandem_bin())
        .args(["deploy", "-i"])
        .arg(inventory)
        .arg(playbook)
        .args(extra)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tandem starts");
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let waited = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "tandem ended ({status}) before the fault could be injected\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap()),
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the deploy never reached the point where the fault goes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    inject(child.id());
    let injected = Instant::now();
    let code = wait_bounded(&mut child, limit);
    let after_fault = injected.elapsed();
    let run = Run {
        code,
        stdout: stdout.join().unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    };
    assert!(
        code >= 0,
        "tandem did not end within {limit:?} of the fault: killed (a hang)\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout(),
        run.stderr
    );
    Faulted { run, after_fault }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

/// The exit code, or -1 after killing a child that outlived `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when `path` exists on the node (checked from inside it, not over ssh).
pub fn exists_on(lab: &TempLab, node: &str, path: &str) -> bool {
    lab.exec(node, &format!("test -e {path}"))
        .unwrap()
        .status
        .success()
}

/// True once a payload is arriving on the node (the frame loop stores it before its step runs).
pub fn payload_arriving(lab: &TempLab, node: &str) -> bool {
    let out = read_on(lab, node, "cat /tmp/tandem.*/payload 2>/dev/null | wc -c");
    String::from_utf8_lossy(&out)
        .trim()
        .parse::<u64>()
        .unwrap_or(0)
        > 0
}

pub fn read_on(lab: &TempLab, node: &str, path: &str) -> Vec<u8> {
    lab.exec(node, &format!("cat {path}")).unwrap().stdout
}

/// `tandem deploy --json` again, after the node was restored: must end with 0 failures.
pub fn assert_rerun_converges(inventory: &Path, playbook: &Path) -> Run {
    let run =
        Tandem::new(["deploy", "-i"]).run_with(inventory, &[playbook.to_str().unwrap(), "--json"]);
    run.expect_code(0);
    let report = run.json();
    for (node, host) in report["hosts"].as_object().unwrap() {
        assert_eq!(host["failed"], 0, "{node} failed on the re-run: {report}");
        assert_eq!(
            host["unreachable"], false,
            "{node} unreachable on the re-run: {report}"
        );
    }
    run
}

/// One line for the suite's counts: target/hardening/faults-deploy-NAME.txt.
pub fn record(name: &str, line: &str) {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("target/hardening");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("faults-deploy-{name}.txt")),
        format!("{line}\n"),
    )
    .unwrap();
}
