//! `tandem keys` on lab nodes: afterwards root on each node logs into the other, and into its
//! container, with OpenSSH in batch mode and strict host keys: no prompt, keys verified.

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::support::{exec_ok, stderr, stdout};

/// A container made by LXC's `sshd` template on every node, at 192.168.0.10 behind the node's
/// own br0 (as in the lab inventory's `container_address`), running sshd as its init.
fn sshd_container(lab: &TempLab, node: &str) {
    exec_ok(
        lab,
        node,
        r#"set -e
ip link show br0 >/dev/null 2>&1 || {
  ip link add br0 type bridge; ip addr add 192.168.0.1/24 dev br0; ip link set br0 up; }
lxc-create -n web -t sshd >/dev/null 2>&1
cfg=/var/lib/lxc/web/config
sed -i '/^lxc\.net\./d; /^lxc\.init\.cmd/d' "$cfg"
cat >>"$cfg" <<'EOF'
lxc.init.cmd = /usr/sbin/sshd -D
lxc.net.0.type = veth
lxc.net.0.link = br0
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 192.168.0.10/24
lxc.net.0.ipv4.gateway = 192.168.0.1
EOF
lxc-start -n web
lxc-wait -n web -s RUNNING -t 10"#,
    );
}

/// OpenSSH from inside `node`, as its root, strict and non-interactive.
fn ssh_from(lab: &TempLab, node: &str, target: &str, command: &str) -> std::process::Output {
    lab.exec(
        node,
        &format!(
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -F /dev/null root@{target} {command}"
        ),
    )
    .unwrap()
}

fn keys_json(lab: &TempLab, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let run = Tandem::new(["keys", "-i"]).run_with(&lab.inventory(), &args);
    run.expect_code(0);
    run.json()
}

fn changed(report: &serde_json::Value, node: &str) -> u64 {
    report["hosts"][node]["changed"].as_u64().unwrap()
}

#[test]
fn keys_make_nodes_and_containers_trust_each_other_and_converge() {
    let lab = TempLab::new(2);
    for node in ["node1", "node2"] {
        sshd_container(&lab, node);
        // Lines a user wrote: they must survive every run.
        exec_ok(
            &lab,
            node,
            "mkdir -p -m 700 /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUSERKEY admin@laptop' >>/root/.ssh/authorized_keys",
        );
    }
    // Before: no trust at all.
    let before = ssh_from(
        &lab,
        "node1",
        &lab.node("node2").address.to_string(),
        "true",
    );
    assert!(!before.status.success());

    // --check changes nothing, not even the key pairs.
    let check = keys_json(&lab, &["--check"]);
    assert!(changed(&check, "node1") > 0, "{check}");
    let no_key = lab.exec("node1", "test -e /root/.ssh/id_ed25519").unwrap();
    assert!(!no_key.status.success(), "--check generated a key");

    let first = keys_json(&lab, &[]);
    for node in ["node1", "node2"] {
        assert!(changed(&first, node) >= 3, "{node}: {first}");
    }
    let a1 = lab.node("node1").address.to_string();
    let a2 = lab.node("node2").address.to_string();
    for (from, to, name) in [("node1", &a2, "node2"), ("node2", &a1, "node1")] {
        let out = ssh_from(&lab, from, to, "hostname");
        assert!(out.status.success(), "{from} -> {to}: {}", stderr(&out));
        assert_eq!(stdout(&out), name);
        // Under its name too (pinned as "node2,ADDRESS").
        let by_name = lab
            .exec(
                from,
                &format!(
                    "ssh-keygen -F {name} -f /root/.ssh/known_hosts >/dev/null && ssh-keygen -F {to} -f /root/.ssh/known_hosts >/dev/null"
                ),
            )
            .unwrap();
        assert!(by_name.status.success(), "{from} has no pin for {name}");
    }
    for node in ["node1", "node2"] {
        let out = ssh_from(&lab, node, "192.168.0.10", "echo inside");
        assert!(
            out.status.success(),
            "{node} -> its container: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "inside");
        let modes = exec_ok(
            &lab,
            node,
            "stat -c %a /root/.ssh /root/.ssh/authorized_keys /root/.ssh/id_ed25519 /var/lib/lxc/web/rootfs/root/.ssh/authorized_keys",
        );
        assert_eq!(
            modes.split_whitespace().collect::<Vec<_>>(),
            ["700", "600", "600", "600"]
        );
    }

    // A second run changes nothing; the user's own line is still there.
    let second = keys_json(&lab, &[]);
    for node in ["node1", "node2"] {
        assert_eq!(changed(&second, node), 0, "{node}: {second}");
        let keys = exec_ok(&lab, node, "cat /root/.ssh/authorized_keys");
        assert!(keys.contains("USERKEY admin@laptop"), "{keys}");
    }

    // node2 is replaced: new host keys, new root key. The lab's own known_hosts learns the new
    // host key the way an operator would (ssh-keyscan), then keys runs again.
    let old_root2 = exec_ok(&lab, "node2", "cut -d' ' -f2 /root/.ssh/id_ed25519.pub");
    let old_host2 = exec_ok(
        &lab,
        "node2",
        "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub",
    );
    exec_ok(
        &lab,
        "node2",
        "rm -f /root/.ssh/id_ed25519 /root/.ssh/id_ed25519.pub /etc/ssh/ssh_host_*key* && ssh-keygen -A >/dev/null",
    );
    lab.kill_sshd("node2").unwrap();
    lab.start_sshd("node2").unwrap();
    let scanned = std::process::Command::new("ssh-keyscan")
        .args(["-T", "5", "-t", "ed25519", &a2])
        .output()
        .unwrap();
    let known = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let mut lines: Vec<String> = known
        .lines()
        .filter(|l| !l.starts_with(&format!("{a2} ")))
        .map(String::from)
        .collect();
    lines.push(String::from_utf8_lossy(&scanned.stdout).trim().to_string());
    std::fs::write(lab.known_hosts(), lines.join("\n") + "\n").unwrap();

    let third = keys_json(&lab, &[]);
    assert!(changed(&third, "node1") > 0, "{third}");
    let on1 = exec_ok(
        &lab,
        "node1",
        "cat /root/.ssh/authorized_keys /root/.ssh/known_hosts",
    );
    assert!(
        !on1.contains(&old_root2),
        "node2's old root key is still trusted:\n{on1}"
    );
    assert!(
        !on1.contains(&old_host2),
        "node2's old host key is still pinned:\n{on1}"
    );
    let out = ssh_from(&lab, "node1", &a2, "hostname");
    assert!(out.status.success(), "node1 -> new node2: {}", stderr(&out));
    let out = ssh_from(&lab, "node2", &a1, "hostname");
    assert!(out.status.success(), "new node2 -> node1: {}", stderr(&out));
    let keys = exec_ok(&lab, "node1", "cat /root/.ssh/authorized_keys");
    assert!(keys.contains("USERKEY admin@laptop"), "{keys}");
}

#[test]
fn keys_leave_a_cluster_alone_when_one_node_is_down() {
    let lab = TempLab::new(2);
    lab.kill_sshd("node2").unwrap();
    let run = Tandem::new(["keys", "-i"]).run_with(&lab.inventory(), &["--json"]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["hosts"]["node2"]["unreachable"], true, "{report}");
    assert_eq!(report["hosts"]["node1"]["failed"], 1, "{report}");
    let error = report["hosts"]["node1"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("trust must go both ways"), "{report}");
    // Nothing was written on node1, not even a key pair.
    let untouched = lab.exec("node1", "test -e /root/.ssh/id_ed25519").unwrap();
    assert!(!untouched.status.success());
}

/// Ctrl-C while `keys` still waits to read a node (node4 frozen): the reads end, then no key is
/// written anywhere (not even in pair1, which was read in full), the recap is printed and the
/// exit status is 130, as for `deploy`.
#[test]
fn ctrl_c_while_keys_reads_writes_nothing_and_prints_the_recap() {
    use std::process::{Command, Stdio};
    let lab = TempLab::new(4);
    crate::support::exec_ok(&lab, "node4", "kill -STOP -1; true");
    let child = Command::new(crate::cli::tandem_bin())
        .args(["keys", "-i"])
        .arg(lab.inventory())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::support::exec_ok(&lab, "node4", "kill -CONT -1; true");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    for node in ["node1", "node2"] {
        let keys = lab
            .exec(
                node,
                "cat /root/.ssh/authorized_keys /root/.ssh/known_hosts 2>/dev/null",
            )
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&keys.stdout).contains("tandem-keys"),
            "{node}: keys were written after Ctrl-C"
        );
    }
}
