//! A node lost in the middle of a deploy, three ways: its sshd and sessions killed (a crash or
//! reboot), its link cut, or the whole node frozen (SIGSTOP). The node is reported unreachable
//! within the keepalive bound, the other node finishes every step, a re-run converges.

use std::process::Command;
use std::time::Duration;

use tandem_integration::lab::TempLab;

use super::{
    HOLD, SLOW_PLAYBOOK, SLOW_STEPS, STARTED, assert_rerun_converges, deploy_with_fault,
    detection_bound, exists_on, fault_inventory, payload_arriving, record, write,
};

const LOST: &str = "node2";
const OTHER: &str = "node1";

/// How a fault test checks tandem's output: the JSON document or the text recap.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    Json,
    Text,
}

/// What node2 is doing when the fault lands.
#[derive(Clone, Copy, PartialEq)]
enum Busy {
    /// Running the slow step (a command that would take 30 s).
    SlowStep,
    /// Receiving a large file: tandem is blocked writing to the connection.
    LargeFile,
}

/// A large file for node2 (a small one for node1, so that tandem's exit time measures node2's
/// verdict, not node1's transfer), then the same `after` step as the slow playbook.
const LARGE_PLAYBOOK: &str = r#"
steps:
  - name: workdir
    file: {path: /var/tmp/fault, state: directory}
  - name: large file
    copy: {dest: /var/tmp/fault/large.bin, src: "large-{{ node }}.bin"}
  - name: after
    copy: {dest: /var/tmp/fault/after, content: "after\n"}
"#;

/// Runs a playbook, applies `cut` to node2 once it is `busy`, checks the report, then
/// `restore`s node2 and checks that a re-run converges; writes the line for the counts.
fn lose_node_mid_deploy(
    name: &str,
    what: &str,
    output: Output,
    busy: Busy,
    cut: impl FnOnce(&TempLab),
    restore: impl FnOnce(&TempLab),
) {
    let lab = TempLab::new(2);
    let inventory = fault_inventory(&lab);
    let (playbook, steps) = match busy {
        Busy::SlowStep => (write(lab.dir(), "slow.yml", SLOW_PLAYBOOK), SLOW_STEPS),
        Busy::LargeFile => {
            let large: Vec<u8> = (0..64u32 * 1024 * 1024)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            std::fs::write(lab.dir().join(format!("large-{LOST}.bin")), large).unwrap();
            std::fs::write(lab.dir().join(format!("large-{OTHER}.bin")), b"small\n").unwrap();
            (write(lab.dir(), "large.yml", LARGE_PLAYBOOK), 3)
        }
    };
    let ready = || match busy {
        Busy::SlowStep => exists_on(&lab, LOST, STARTED),
        Busy::LargeFile => payload_arriving(&lab, LOST),
    };
    // node2's slow step would take 30 s: only the fault's detection ends it sooner.
    crate::support::exec_ok(&lab, LOST, &format!("touch {HOLD}"));
    let extra: &[&str] = if output == Output::Json {
        &["--json"]
    } else {
        &[]
    };
    let faulted = deploy_with_fault(
        &inventory,
        &playbook,
        extra,
        ready,
        |_| cut(&lab),
        detection_bound() + Duration::from_secs(15),
    );
    let run = &faulted.run;
    run.expect_code(1);
    let error = match output {
        Output::Json => {
            let report = run.json();
            let lost = &report["hosts"][LOST];
            assert_eq!(lost["unreachable"], true, "{report}");
            let other = &report["hosts"][OTHER];
            assert_eq!(
                (other["failed"].as_u64(), other["unreachable"].as_bool()),
                (Some(0), Some(false)),
                "{report}"
            );
            let done = other["ok"].as_u64().unwrap() + other["changed"].as_u64().unwrap();
            assert_eq!(done, steps, "{OTHER} did not run every step: {report}");
            assert_eq!(report["summary"]["unreachable"], 1, "{report}");
            lost["error"].as_str().unwrap_or_default().to_string()
        }
        Output::Text => {
            let out = run.stdout();
            let recap = |node: &str| {
                out.lines()
                    .rev()
                    .find(|l| l.starts_with(node) && l.contains("unreachable="))
                    .unwrap_or_else(|| panic!("no recap line for {node}:\n{out}"))
                    .to_string()
            };
            // Its steps not run after the loss are counted on the same line.
            let lost = recap(LOST);
            assert!(
                lost.ends_with("unreachable=1") || lost.contains("unreachable=1  not_run="),
                "{out}"
            );
            let other = recap(OTHER);
            assert!(
                other.contains(&format!("changed={steps} "))
                    && other.contains("failed=0 ")
                    && other.ends_with("unreachable=0"),
                "{out}"
            );
            assert!(
                out.contains("1 ok, 0 failed, 1 unreachable"),
                "the recap's summary: {out}"
            );
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{LOST} | UNREACHABLE | ")))
                .unwrap_or_else(|| panic!("no UNREACHABLE line for {LOST}:\n{out}"))
                .to_string()
        }
    };
    let address = lab.node(LOST).address.to_string();
    assert!(
        error.contains(&address) && !error.contains('\n'),
        "the reason names the node's address, on one line: {error:?}"
    );
    assert!(
        faulted.after_fault <= detection_bound(),
        "{LOST} was reported {:.1} s after the fault, over the bound of {} s (4 x keepalive_interval + 2)",
        faulted.after_fault.as_secs_f64(),
        detection_bound().as_secs()
    );
    assert!(exists_on(&lab, OTHER, "/var/tmp/fault/after"));
    assert!(!exists_on(&lab, LOST, "/var/tmp/fault/after"));

    restore(&lab);
    crate::support::exec_ok(&lab, LOST, &format!("rm -f {HOLD}"));
    assert_rerun_converges(&inventory, &playbook);
    assert!(exists_on(&lab, LOST, "/var/tmp/fault/after"));
    record(
        name,
        &format!(
            "fault survived: {what}: {LOST} reported unreachable, tandem done {:.1} s after the fault (bound {} s): \"{error}\"; 1 other node finished, re-run converged",
            faulted.after_fault.as_secs_f64(),
            detection_bound().as_secs()
        ),
    );
}

#[test]
fn sshd_killed_mid_deploy_reports_the_node_and_the_other_finishes() {
    lose_node_mid_deploy(
        "sshd-killed",
        "sshd and its sessions killed mid-deploy",
        Output::Json,
        Busy::SlowStep,
        // Every process of the node but its init: sshd, the session, the step. A crash.
        |lab| {
            crate::support::exec_ok(lab, LOST, "kill -KILL -1; true");
        },
        |lab| lab.start_sshd(LOST).unwrap(),
    );
}

#[test]
fn link_cut_mid_deploy_is_found_by_keepalives() {
    let link = set_link;
    lose_node_mid_deploy(
        "link-cut",
        "link cut mid-deploy (ip link set down)",
        Output::Text,
        Busy::SlowStep,
        |lab| link(lab, "down"),
        |lab| link(lab, "up"),
    );
}

#[test]
fn link_cut_while_a_large_file_is_sent_does_not_hang() {
    lose_node_mid_deploy(
        "link-cut-large-file",
        "link cut while a 64 MiB file was being sent",
        Output::Json,
        Busy::LargeFile,
        |lab| set_link(lab, "down"),
        |lab| set_link(lab, "up"),
    );
}

#[test]
fn a_frozen_node_times_out_instead_of_hanging() {
    lose_node_mid_deploy(
        "node-frozen",
        "node frozen mid-deploy (SIGSTOP of sshd, its sessions and the step)",
        Output::Json,
        Busy::SlowStep,
        |lab| {
            crate::support::exec_ok(lab, LOST, "kill -STOP -1; true");
        },
        |lab| {
            crate::support::exec_ok(lab, LOST, "kill -CONT -1; true");
        },
    );
}

/// `ip link set dev VETH STATE` on node2's link, from the host side of its veth.
fn set_link(lab: &TempLab, state: &str) {
    let veth = lab.node(LOST).veth.clone();
    let out = Command::new("ip")
        .args(["link", "set", "dev", &veth, state])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip link set {veth} {state}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_frozen_while_a_large_file_is_sent_times_out() {
    lose_node_mid_deploy(
        "node-frozen-large-file",
        "node frozen (SIGSTOP) while a 64 MiB file was being sent",
        Output::Json,
        Busy::LargeFile,
        |lab| {
            crate::support::exec_ok(lab, LOST, "kill -STOP -1; true");
        },
        |lab| {
            crate::support::exec_ok(lab, LOST, "kill -CONT -1; true");
        },
    );
}
