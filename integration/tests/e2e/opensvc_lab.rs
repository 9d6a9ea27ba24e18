//! The OpenSVC agent in the lab (`tandem-lab up` without `--no-opensvc`): installed in every
//! node as its packaging lays it out, its daemon running, and what it needs from a node there
//! (ping, no /.dockerenv, a bridge port with carrier); `down` leaves none of it behind.

use std::fs;
use std::path::Path;

use tandem_integration::lab::TempLab;
use tandem_integration::lab::opensvc::TARBALL_ENV;

use crate::support::{exec_ok, stderr, stdout, tandem_lab};

#[test]
fn up_installs_the_agent_and_starts_its_daemon_in_every_node() {
    let lab = TempLab::with_opensvc(2);
    assert!(lab.has_opensvc());
    let inventory = fs::read_to_string(lab.inventory()).unwrap();
    assert!(inventory.contains("\n  opensvc: true\n"), "{inventory}");
    assert!(
        inventory.contains("\n  bridge_ports: brport0\n"),
        "{inventory}"
    );
    assert!(
        inventory.contains("\n  opensvc_source: preinstalled\n"),
        "{inventory}"
    );

    for node in ["node1", "node2"] {
        // The package's layout: links in /usr/bin, the defaults file, the directories.
        assert_eq!(
            exec_ok(&lab, node, "readlink /usr/bin/om /usr/bin/nodemgr"),
            "/usr/share/opensvc/bin/om\n/usr/share/opensvc/bin/om"
        );
        assert_eq!(
            exec_ok(&lab, node, "grep ^OSVC_PYTHON= /etc/default/opensvc"),
            "OSVC_PYTHON=/usr/bin/python3"
        );
        exec_ok(
            &lab,
            node,
            "test -d /etc/opensvc && test -d /var/log/opensvc && test -d /var/lib/opensvc/node \
             && test -d /var/lib/opensvc/lock && test -d /var/lib/opensvc/cache && test -d /var/tmp/opensvc",
        );
        // The shared tree is read-only: no node changes what another runs.
        let write = lab
            .exec(node, "touch /usr/share/opensvc/bin/x 2>&1")
            .unwrap();
        assert!(
            !write.status.success(),
            "{node}: the agent tree is writable"
        );
        assert!(stdout(&write).contains("Read-only"), "{}", stdout(&write));

        // The daemon runs, started without systemd, and answers the CLI.
        exec_ok(&lab, node, "om daemon running");
        let status = exec_ok(&lab, node, "om daemon status --format json");
        let status: serde_json::Value = serde_json::from_str(&status)
            .unwrap_or_else(|e| panic!("{node}: daemon status is not JSON ({e}): {status}"));
        assert!(
            status["monitor"]["nodes"].get(node).is_some(),
            "{node} not in its own daemon's status: {status}"
        );

        // What the agent's drivers need from a node.
        assert_eq!(
            exec_ok(
                &lab,
                node,
                "test -e /.dockerenv && echo seen || echo hidden"
            ),
            "hidden"
        );
        let peer = if node == "node1" { "node2" } else { "node1" };
        let peer_address = lab.node(peer).address;
        exec_ok(&lab, node, &format!("ping -c 1 -W 2 {peer_address}"));
        // br0's port (the cookbook enslaves it and brings it up), its peer already up.
        exec_ok(
            &lab,
            node,
            "ip link show brport0 && ip link show brport0p | grep -q ',UP'",
        );
    }

    // Down removes the agent's tree with the rest.
    let dir = lab.dir().to_path_buf();
    lab.close().unwrap();
    assert!(!dir.join("opensvc").exists());
}

#[test]
fn down_removes_the_agents_empty_cgroups() {
    // The nodes share the host's cgroup tree; the agent's slices would outlive the lab.
    let lab = TempLab::with_opensvc(1);
    let probe = Path::new("/sys/fs/cgroup/pids/opensvc.slice/tandem-lab-test.slice");
    // An empty slice like the ones the agent leaves behind when its services stop.
    fs::create_dir_all(probe).unwrap();
    lab.close().unwrap();
    assert!(!probe.exists(), "{} left behind", probe.display());
}

#[test]
fn a_missing_tarball_is_one_clear_error_naming_the_file_the_flag_and_the_variable() {
    let dir = Path::new("/tmp/tandem-lab-tests").join(format!("no-agent-{}", std::process::id()));
    let dir_s = dir.to_str().unwrap();
    let missing = "/nonexistent/opensvc-agent-9.9.tar.gz";
    let by_flag = tandem_lab()
        .args(["up", "--dir", dir_s, "--opensvc-tarball", missing])
        .env_remove(TARBALL_ENV)
        .output()
        .unwrap();
    let by_env = tandem_lab()
        .args(["up", "--dir", dir_s])
        .env(TARBALL_ENV, missing)
        .output()
        .unwrap();
    for (out, from) in [(&by_flag, "--opensvc-tarball"), (&by_env, TARBALL_ENV)] {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
        let err = stderr(out);
        assert_eq!(err.lines().count(), 1, "{err}");
        for needed in [
            missing,
            from,
            "--opensvc-tarball",
            TARBALL_ENV,
            "--no-opensvc",
        ] {
            assert!(err.contains(needed), "{needed:?} not in: {err}");
        }
    }
    // Nothing was made: no slot, no lab.json.
    assert!(!dir.join("lab.json").exists());
    let _ = fs::remove_dir_all(&dir);
}
