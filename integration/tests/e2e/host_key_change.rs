//! A host key that changes in the middle of a bulk rollout: the node is stopped with the exact
//! fingerprint it offered and what to do, never silently accepted; known_hosts is left alone;
//! the other nodes finish; once the operator pins the new key, `--resume` converges.

use std::path::Path;
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::game_day_faults::write_count;

/// Batch 1 sleeps long enough for the key swap to land before a later batch connects.
const PLAYBOOK: &str = "steps:\n  - name: Slow first step\n    command: {cmd: \"touch /tmp/rollout-started; sleep 6\", creates: /tmp/rollout-done}\n  - name: Marker\n    copy: {dest: /tmp/rollout-done, content: \"rolled\\n\"}\n";

fn deploy(lab: &TempLab, extra: &[&str]) -> Run {
    let playbook = lab.dir().join("slow.yml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let mut args = vec![playbook.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args)
}

fn has(lab: &TempLab, node: &str, file: &str) -> bool {
    lab.exec(node, &format!("test -e {file}"))
        .unwrap()
        .status
        .success()
}

/// `ssh-keygen -lf` of the node's (new) public host key: `SHA256:...`.
fn fingerprint(lab: &TempLab, node: &str) -> String {
    let out = lab
        .exec(node, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fp = text.split_whitespace().nth(1).unwrap().to_string();
    assert!(fp.starts_with("SHA256:"), "{text}");
    fp
}

/// The node gets new host keys, as after a reinstall (or as a man in the middle would offer).
fn swap_host_key(lab: &TempLab, node: &str) {
    let out = lab
        .exec(
            node,
            "rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub && \
             ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.kill_sshd(node).unwrap();
    lab.start_sshd(node).unwrap();
}

#[test]
fn a_host_key_changed_mid_rollout_stops_that_node_with_its_fingerprint_and_the_others_finish() {
    let lab = TempLab::new(4);
    let known_hosts = lab.known_hosts();
    let before = std::fs::read(&known_hosts).unwrap();
    let old = fingerprint(&lab, "node3");

    let rollout = std::thread::scope(|s| {
        let run = s.spawn(|| deploy(&lab, &["--serial", "1"]));
        // Batch 1 (node1) is under way; node3 (batch 3) has not been contacted yet.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !has(&lab, "node1", "/tmp/rollout-started") {
            assert!(Instant::now() < deadline, "batch 1 never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        swap_host_key(&lab, "node3");
        assert!(
            !has(&lab, "node2", "/tmp/rollout-started") && !has(&lab, "node1", "/tmp/rollout-done"),
            "the key swap landed too late: batch 1 was over"
        );
        run.join().unwrap()
    });
    let new = fingerprint(&lab, "node3");
    assert_ne!(old, new);

    rollout.expect_code(1);
    let report = rollout.json();
    let node3 = &report["hosts"]["node3"];
    let error = node3["error"].as_str().unwrap_or_default();
    assert!(
        node3["unreachable"] == true || node3["failed"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let address = lab.node("node3").address;
    for needle in [
        "HOST KEY CHANGED".to_string(),
        format!("ssh-ed25519 {new}"),
        format!("ssh-keygen -R {address}"),
        known_hosts.display().to_string(),
    ] {
        assert!(
            error.contains(&needle),
            "{needle:?} not in {error:?}: {node3}"
        );
    }
    // Never accepted, not even written down.
    assert_eq!(
        std::fs::read(&known_hosts).unwrap(),
        before,
        "known_hosts changed"
    );
    assert!(
        !has(&lab, "node3", "/tmp/rollout-started"),
        "node3 ran a step"
    );
    for node in ["node1", "node2", "node4"] {
        assert_eq!(report["hosts"][node]["failed"], 0, "{report}");
        assert_eq!(report["hosts"][node]["unreachable"], false, "{report}");
        assert!(
            has(&lab, node, "/tmp/rollout-done"),
            "{node} did not finish"
        );
    }

    // The operator checks the fingerprint out of band and pins the new key.
    let result = lab.dir().join("rollout.json");
    std::fs::write(&result, &rollout.stdout).unwrap();
    pin(&lab, &known_hosts, "node3");
    let resumed = deploy(&lab, &["--resume", result.to_str().unwrap()]);
    resumed.expect_code(0);
    let report = resumed.json();
    let hosts = report["hosts"].as_object().unwrap();
    assert_eq!(hosts.keys().collect::<Vec<_>>(), ["node3"], "{report}");
    assert_eq!(hosts["node3"]["failed"], 0, "{report}");
    assert!(has(&lab, "node3", "/tmp/rollout-done"));
    write_count(
        "faults-host-key",
        &format!(
            "fault survived: host key of node3 changed mid-rollout: refused with {new}, known_hosts untouched, 3 other nodes finished, resume after pinning: 0 failures"
        ),
    );
}

/// `ssh-keygen -R` then the node's new key line, as the error message tells the operator.
fn pin(lab: &TempLab, known_hosts: &Path, node: &str) {
    let address = lab.node(node).address.to_string();
    let removed = std::process::Command::new("ssh-keygen")
        .args(["-R", &address, "-f"])
        .arg(known_hosts)
        .output()
        .unwrap();
    assert!(removed.status.success());
    let key = lab
        .exec(node, "cat /etc/ssh/ssh_host_ed25519_key.pub")
        .unwrap();
    let key = String::from_utf8_lossy(&key.stdout);
    let mut words = key.split_whitespace();
    let line = format!(
        "{address} {} {}\n",
        words.next().unwrap(),
        words.next().unwrap()
    );
    let mut text = std::fs::read_to_string(known_hosts).unwrap();
    text.push_str(&line);
    std::fs::write(known_hosts, text).unwrap();
}
