//! The lab itself: nodes are real sshd servers with their own host keys, clean roots and
//! namespaces; labs run side by side; `down` leaves nothing behind.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use tandem_integration::lab::{Lab, TempLab};

use crate::support::{exec_ok, ssh, stderr, stdout, tandem_lab};

#[test]
fn nodes_answer_ssh_with_their_own_host_keys() {
    let lab = TempLab::new(2);
    let known_hosts = fs::read_to_string(lab.known_hosts()).unwrap();
    assert_eq!(known_hosts.lines().count(), 2, "{known_hosts}");
    let mut keys = Vec::new();
    for node in lab.nodes() {
        let scan = std::process::Command::new("ssh-keyscan")
            .args(["-t", "ed25519", &node.address.to_string()])
            .output()
            .expect("running ssh-keyscan");
        let scanned = stdout(&scan);
        let expected = known_hosts
            .lines()
            .find(|l| l.starts_with(&format!("{} ", node.address)))
            .unwrap_or_else(|| panic!("no known_hosts line for {}", node.address));
        assert_eq!(scanned, expected, "host key of {}", node.name);
        keys.push(expected.split_whitespace().nth(2).unwrap().to_string());

        let out = ssh(&lab, node, "hostname");
        assert!(out.status.success(), "ssh {}: {}", node.name, stderr(&out));
        assert_eq!(stdout(&out), node.name);
    }
    assert_ne!(keys[0], keys[1], "each node has its own host key");
}

#[test]
fn node_root_is_clean_and_its_own() {
    let lab = TempLab::new(1);
    let node = lab.node("node1");

    // /root holds only the lab's key: none of the host's rc files, toolchains, histories.
    let out = ssh(&lab, node, "ls -A /root");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), ".ssh");
    if Path::new("/root/.bashrc").exists() {
        assert_eq!(
            exec_ok(
                &lab,
                "node1",
                "test -e /root/.bashrc && echo seen || echo hidden"
            ),
            "hidden"
        );
    }
    assert_eq!(
        exec_ok(
            &lab,
            "node1",
            "stat -c '%a %n' /root/.ssh /root/.ssh/authorized_keys"
        ),
        "700 /root/.ssh\n600 /root/.ssh/authorized_keys"
    );
    let etc_ssh = exec_ok(&lab, "node1", "ls /etc/ssh");
    assert!(etc_ssh.contains("ssh_host_ed25519_key"), "{etc_ssh}");
    assert!(
        !etc_ssh.contains("ssh_host_rsa_key"),
        "host keys leaked: {etc_ssh}"
    );

    // Its own hostname, network, processes and scratch space.
    assert_eq!(exec_ok(&lab, "node1", "hostname"), "node1");
    let addr = exec_ok(&lab, "node1", "ip -4 -o addr show dev eth0");
    assert!(addr.contains(&format!("{}/24", node.address)), "{addr}");
    assert_eq!(
        exec_ok(&lab, "node1", "ls /sys/class/net | sort | tr '\\n' ' '"),
        // brport0 and its peer: the port the cookbook's br0 gets (a bridge needs one for carrier).
        "brport0 brport0p eth0 lo"
    );
    let init = exec_ok(&lab, "node1", "tr '\\0' ' ' < /proc/1/cmdline");
    assert!(init.contains("__node-init"), "{init}");
    assert_eq!(
        exec_ok(
            &lab,
            "node1",
            "findmnt -n -o FSTYPE /tmp; findmnt -n -o FSTYPE /"
        ),
        "tmpfs\noverlay"
    );

    // Writes land in the node's upper dir, never on the host.
    exec_ok(&lab, "node1", "echo written-in-node > /etc/tandem-lab-test");
    assert!(node.upper_dir.join("etc/tandem-lab-test").exists());
    assert!(!Path::new("/etc/tandem-lab-test").exists());
}

#[test]
fn two_labs_at_once_get_their_own_slots() {
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| TempLab::new(1));
        let b = s.spawn(|| TempLab::new(1));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.slot(), b.slot());
    assert_ne!(a.bridge(), b.bridge());
    let (na, nb) = (a.node("node1"), b.node("node1"));
    assert_ne!(na.address, nb.address);
    for (lab, node) in [(&a, na), (&b, nb)] {
        let out = ssh(lab, node, "hostname");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Each lab's key opens only its own nodes.
    let cross = ssh(&a, nb, "true");
    assert!(!cross.status.success(), "lab a's key opened lab b's node");
}

#[test]
fn kill_sshd_then_start_sshd() {
    let lab = TempLab::new(2);
    let node = lab.node("node1");
    lab.kill_sshd("node1").unwrap();
    let refused =
        std::net::TcpStream::connect_timeout(&(node.address, 22).into(), Duration::from_secs(2));
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(!ssh(&lab, node, "true").status.success());
    // The other node is untouched, and node1 itself still runs.
    assert!(ssh(&lab, lab.node("node2"), "true").status.success());
    assert_eq!(exec_ok(&lab, "node1", "hostname"), "node1");

    lab.start_sshd("node1").unwrap();
    let out = ssh(&lab, node, "hostname");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "node1");
    // Twice in a row works too.
    lab.kill_sshd("node1").unwrap();
    lab.start_sshd("node1").unwrap();
    assert!(ssh(&lab, node, "true").status.success());
}

#[test]
fn loop_devices_and_mounts_work_in_a_node() {
    let lab = TempLab::new(1);
    if !Path::new("/sbin/mkfs.ext4").exists() && !Path::new("/usr/sbin/mkfs.ext4").exists() {
        eprintln!("mkfs.ext4 missing (e2fsprogs): skipped");
        return;
    }
    let out = exec_ok(
        &lab,
        "node1",
        "set -e; truncate -s 16M /tmp/disk.img; mkfs.ext4 -q /tmp/disk.img; mkdir -p /mnt/disk; \
         mount -o loop /tmp/disk.img /mnt/disk; echo ok > /mnt/disk/file; cat /mnt/disk/file; umount /mnt/disk",
    );
    assert_eq!(out, "ok");
}

#[test]
fn down_leaves_nothing_behind_even_with_a_dead_node() {
    let lab = TempLab::new(2);
    let (dir, slot) = (lab.dir().to_path_buf(), lab.slot());
    // An ssh session and an exec'd background process: down must kill them too.
    assert!(ssh(&lab, lab.node("node1"), "true").status.success());
    exec_ok(&lab, "node2", "sleep 600 >/dev/null 2>&1 &");
    // node2 dies on its own before down.
    let pid = lab.node("node2").init_pid;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    lab.down().unwrap();
    assert_nothing_left(&dir, slot);
    // Idempotent.
    lab.down().unwrap();
    assert!(!dir.join("lab.json").exists());
    lab.close().unwrap();
}

#[test]
fn cli_up_status_down_and_errors() {
    let dir = Path::new("/tmp/tandem-lab-tests").join(format!("cli-{}", std::process::id()));
    let dir_s = dir.to_str().unwrap();
    let up = tandem_lab()
        .args(["up", "--no-opensvc", "--dir", dir_s, "--nodes", "3"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(stdout(&up).contains("inventory.yml"), "{}", stdout(&up));
    let lab = Lab::load(&dir).unwrap();
    assert_eq!(lab.nodes().len(), 3);
    assert_eq!(lab.clusters().len(), 2);
    assert_eq!(lab.clusters()[1].nodes, ["node3"]);
    let inventory = fs::read_to_string(lab.inventory()).unwrap();
    let vip2 = lab.clusters()[1].vip;
    assert!(
        inventory.contains(&format!(
            "  pair2:\n    vip: {vip2}\n    nodes:\n      node3:\n"
        )),
        "{inventory}"
    );
    assert_ne!(lab.clusters()[0].vip, vip2);
    for file in ["id_ed25519", "id_ed25519.pub"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }

    let status = tandem_lab()
        .args(["status", "--dir", dir_s])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(
        stdout(&status).matches("listening").count(),
        3,
        "{}",
        stdout(&status)
    );

    let again = tandem_lab().args(["up", "--dir", dir_s]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already holds a running lab"),
        "{}",
        stderr(&again)
    );
    assert_eq!(stderr(&again).lines().count(), 1);

    let down = tandem_lab()
        .args(["down", "--dir", dir_s])
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", stderr(&down));
    assert_nothing_left(&dir, lab.slot());
    let down_again = tandem_lab()
        .args(["down", "--dir", dir_s])
        .output()
        .unwrap();
    assert!(down_again.status.success(), "{}", stderr(&down_again));

    for bad in ["0", "201"] {
        let out = tandem_lab()
            .args(["up", "--dir", dir_s, "--nodes", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--nodes {bad}");
        assert!(
            stderr(&out).contains("--nodes must be between 1 and 200"),
            "{}",
            stderr(&out)
        );
    }
    // Not root: one clear line, exit 2, nothing made.
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tandem-lab"))
        .args(["up", "--dir", dir_s])
        .output()
        .unwrap();
    assert_eq!(as_nobody.status.code(), Some(2), "{}", stderr(&as_nobody));
    assert_eq!(
        stderr(&as_nobody),
        "tandem-lab: tandem-lab needs root: it creates network namespaces and mounts"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn down_cleans_up_after_an_interrupted_up() {
    let dir =
        Path::new("/tmp/tandem-lab-tests").join(format!("interrupted-{}", std::process::id()));
    let mut up = tandem_lab()
        .args([
            "up",
            "--no-opensvc",
            "--dir",
            dir.to_str().unwrap(),
            "--nodes",
            "12",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it somewhere in the middle of setting nodes up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("nodes/node3/init.pid").exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let _ = up.kill();
    let _ = up.wait();
    let slot = fs::read_to_string(dir.join("lab.json"))
        .ok()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .and_then(|v| v["slot"].as_u64())
        .map(|s| s as u16);

    let down = tandem_lab()
        .args(["down", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", stderr(&down));
    if let Some(slot) = slot {
        assert_nothing_left(&dir, slot);
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn fifty_nodes_come_up_in_seconds() {
    let started = Instant::now();
    let lab = TempLab::new(50);
    let up = started.elapsed();
    assert_eq!(lab.nodes().len(), 50);
    assert_eq!(lab.node("node50").address.octets()[3], 60);
    assert!(ssh(&lab, lab.node("node50"), "true").status.success());
    let started = Instant::now();
    lab.close().unwrap();
    let down = started.elapsed();
    eprintln!(
        "50 nodes: up {:.2} s, down {:.2} s",
        up.as_secs_f64(),
        down.as_secs_f64()
    );
    assert!(up < Duration::from_secs(60), "up took {up:?}");
}

/// No namespace, interface, process or mount of the lab that lived in `dir` on `slot`.
fn assert_nothing_left(dir: &Path, slot: u16) {
    let dir_s = dir.to_str().unwrap();
    // Parallel tests may claim the freed slot at once: its names then belong to another lab.
    let reclaimed = || {
        fs::read_to_string(format!("/run/tandem-lab/slots/{slot}/dir"))
            .is_ok_and(|owner| owner.trim() != dir_s)
    };
    let netns: Vec<String> = fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let ours: Vec<&String> = netns
        .iter()
        .filter(|n| n.starts_with(&format!("tandem-lab{slot}-")))
        .collect();
    assert!(
        ours.is_empty() || reclaimed(),
        "network namespaces left: {ours:?}"
    );
    let links: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| *n == format!("tlb{slot}") || n.starts_with(&format!("tl{slot}n")))
        .collect();
    assert!(
        links.is_empty() || reclaimed(),
        "interfaces left: {links:?}"
    );

    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir_s), "mounts left under {dir_s}");
    let procs: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(dir_s)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect();
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert!(!dir.join("nodes").exists(), "nodes/ left");
    for file in [
        "lab.json",
        "inventory.yml",
        "known_hosts",
        "id_ed25519",
        "id_ed25519.pub",
        "ovh.conf",
        "ovh-api.log",
    ] {
        assert!(!dir.join(file).exists(), "{file} left");
    }
    let owner = fs::read_to_string(format!("/run/tandem-lab/slots/{slot}/dir")).unwrap_or_default();
    assert_ne!(owner.trim(), dir_s, "slot {slot} still claimed");
}

#[test]
fn a_test_lab_whose_test_process_died_is_collected_by_the_next_up() {
    let orphan = TempLab::new(1);
    let (dir, slot) = (orphan.dir().to_path_buf(), orphan.slot());
    // Pretend the process holding it died: a child that has exited holds it now.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let json_path = dir.join("lab.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
    state["held_by"] = serde_json::json!({"pid": dead_pid, "start_time": 1});
    fs::write(&json_path, serde_json::to_vec(&state).unwrap()).unwrap();

    let next = TempLab::new(1);
    assert!(
        !dir.exists(),
        "the abandoned lab's directory is still there"
    );
    assert_nothing_left(&dir, slot);
    assert!(ssh(&next, next.node("node1"), "true").status.success());
    // Dropping the collected lab finds nothing left to do.
    orphan.close().unwrap();
}
