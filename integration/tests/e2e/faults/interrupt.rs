//! Ctrl-C (SIGINT) to tandem in the middle of a deploy: the first lets running steps finish and
//! starts none (not even those already queued on a node's shell), the second abandons at once;
//! both print the recap and exit 130; a re-run converges.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tandem_integration::lab::TempLab;

use super::{
    HOLD, SLOW_PLAYBOOK, STARTED, assert_rerun_converges, deploy_with_fault, exists_on,
    fault_inventory, payload_arriving, read_on, record, write,
};

const NODES: [&str; 2] = ["node1", "node2"];

/// What a shell left in the node's /tmp (its directory, a halt marker), once at most 5 s have
/// passed for it to clean up: empty when nothing.
fn tmp_left(lab: &TempLab, node: &str) -> String {
    let mut left = String::new();
    for _ in 0..50 {
        left = crate::support::exec_ok(lab, node, "ls -A /tmp | grep -E '^tandem[.]|halt' || true");
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    left
}

fn sigint(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
}

#[test]
fn sigint_finishes_running_steps_starts_none_and_prints_the_recap() {
    let lab = TempLab::new(2);
    let inventory = fault_inventory(&lab);

    // 1. While a large file is on its way: that step completes whole, the next never starts.
    let big: Vec<u8> = (0..48u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(lab.dir().join("big.bin"), &big).unwrap();
    let copy = write(
        lab.dir(),
        "big.yml",
        r#"
steps:
  - name: big file
    copy: {dest: /var/tmp/int/big.bin, src: big.bin}
  - name: after
    copy: {dest: /var/tmp/int/after, content: "after\n"}
"#,
    );
    for node in NODES {
        crate::support::exec_ok(
            &lab,
            node,
            "mkdir -p /var/tmp/int && echo old > /var/tmp/int/big.bin",
        );
    }
    let first = deploy_with_fault(
        &inventory,
        &copy,
        &["--json"],
        || payload_arriving(&lab, "node1"),
        sigint,
        Duration::from_secs(60),
    );
    first.run.expect_code(130);
    let report = first.run.json();
    assert_eq!(report["interrupted"], "stop", "{report}");
    for node in NODES {
        let now = read_on(&lab, node, "/var/tmp/int/big.bin");
        assert!(
            now == b"old\n" || now == big,
            "{node}: partial file of {} bytes",
            now.len()
        );
        // The report matches the node: the file step is reported exactly when it ran (a frame
        // still in transit when Ctrl-C came is skipped by the node, never started), and the
        // step after it never ran.
        let host = &report["hosts"][node];
        assert_eq!(host["failed"], 0, "{report}");
        let reported = host["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "big file" && s["status"] == "changed");
        assert_eq!(reported, now == big, "{node}: {report}");
        let expected_not_run = if reported { 1 } else { 2 };
        assert_eq!(host["not_run"], expected_not_run, "{node}: {report}");
        assert!(
            !exists_on(&lab, node, "/var/tmp/int/after"),
            "{node}: a step started after Ctrl-C: {report}"
        );
    }

    // 2. While a slow command runs with the steps behind it already queued on the node's shell:
    // those are skipped there, never run; the running one finishes.
    let slow = write(lab.dir(), "slow.yml", SLOW_PLAYBOOK);
    let second = deploy_with_fault(
        &inventory,
        &slow,
        &[],
        || NODES.iter().all(|n| exists_on(&lab, n, STARTED)),
        sigint,
        Duration::from_secs(30),
    );
    second.run.expect_code(130);
    let out = second.run.stdout();
    assert!(
        out.contains("INTERRUPTED (Ctrl-C: running steps finished, no new one started): 2 steps not run on 2 hosts"),
        "{out}"
    );
    for node in NODES {
        assert!(
            exists_on(&lab, node, "/var/tmp/fault/slow.done"),
            "{node}: the running step did not finish"
        );
        assert!(
            !exists_on(&lab, node, "/var/tmp/fault/after"),
            "{node}: a queued step ran after Ctrl-C"
        );
        let line = out
            .lines()
            .find(|l| l.starts_with(node) && l.contains("not_run="))
            .unwrap_or_else(|| panic!("no recap line for {node}: {out}"));
        assert!(line.ends_with("not_run=1"), "{line}");
        // The shell's directory, and the halt marker it was told to stop with, went with it.
        assert_eq!(
            tmp_left(&lab, node),
            "",
            "{node}: left in /tmp after Ctrl-C"
        );
    }

    // 3. Ctrl-C twice while a step hangs (30 s): tandem abandons at once, still with a recap.
    for node in NODES {
        crate::support::exec_ok(
            &lab,
            node,
            &format!("rm -f {STARTED} /var/tmp/fault/slow.done && touch {HOLD}"),
        );
    }
    let third = deploy_with_fault(
        &inventory,
        &slow,
        &[],
        || NODES.iter().all(|n| exists_on(&lab, n, STARTED)),
        |pid| {
            sigint(pid);
            std::thread::sleep(Duration::from_millis(300));
            sigint(pid);
        },
        Duration::from_secs(15),
    );
    third.run.expect_code(130);
    let out = third.run.stdout();
    assert!(
        out.contains("INTERRUPTED (Ctrl-C twice: running steps abandoned)"),
        "{out}"
    );
    assert!(
        third.after_fault < Duration::from_secs(3),
        "abandoning took {:?}",
        third.after_fault
    );
    // The abandoned shells lost their pipes mid-step: once the step ends (its sleep killed
    // here, in the node's own pid namespace), each must still remove its directory and marker.
    for node in NODES {
        crate::support::exec_ok(&lab, node, "pkill -x sleep || true");
        assert_eq!(
            tmp_left(&lab, node),
            "",
            "{node}: left in /tmp after the second Ctrl-C"
        );
    }

    // Restored (no hang left): the re-run converges and reaches the last step everywhere.
    let started = Instant::now();
    for node in NODES {
        crate::support::exec_ok(&lab, node, &format!("rm -f {HOLD}"));
    }
    assert_rerun_converges(&inventory, &slow);
    assert_rerun_converges(&inventory, &copy);
    for node in NODES {
        assert!(exists_on(&lab, node, "/var/tmp/fault/after"));
        assert_eq!(read_on(&lab, node, "/var/tmp/int/big.bin"), big);
    }
    record(
        "sigint",
        &format!(
            "fault survived: SIGINT mid-deploy: exit 130 with recap and JSON, running steps finished whole, queued steps skipped on 2 nodes; a second SIGINT abandoned in {:.1} s; re-run converged in {:.1} s",
            third.after_fault.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
    );
}

#[test]
fn a_skip_tandem_did_not_ask_for_fails_the_host() {
    // Something other than tandem (here: root on the node) makes a halt marker in the shell's
    // directory while a step runs: the steps behind it are skipped by the node, and tandem must
    // report that as a failure, never pass the host off as done.
    let lab = TempLab::new(1);
    let inventory = fault_inventory(&lab);
    let slow = write(lab.dir(), "slow.yml", SLOW_PLAYBOOK);
    let faulted = deploy_with_fault(
        &inventory,
        &slow,
        &["--json"],
        || exists_on(&lab, "node1", STARTED),
        |_| {
            crate::support::exec_ok(
                &lab,
                "node1",
                "for d in /tmp/tandem.*; do mkdir \"$d/halt\"; done",
            );
        },
        Duration::from_secs(30),
    );
    faulted.run.expect_code(1);
    let report = faulted.run.json();
    let host = &report["hosts"]["node1"];
    assert_eq!(host["failed"], 1, "{report}");
    let after = host["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "after")
        .unwrap_or_else(|| panic!("no result for the skipped step: {report}"));
    assert_eq!(after["status"], "failed", "{report}");
    assert!(
        after["error"]
            .as_str()
            .is_some_and(|e| e.contains("tandem did not halt it")),
        "{report}"
    );
    assert!(!exists_on(&lab, "node1", "/var/tmp/fault/after"));
    assert_rerun_converges(&inventory, &slow);
}
