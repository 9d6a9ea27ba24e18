//! Many logins to one sshd at once: the handshakes are spread so that OpenSSH's MaxStartups
//! (10 unauthenticated connections by default, then random drops) never drops one, and nodes
//! behind a jump host share one login to it.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use tandem_integration::lab::{LabNode, TempLab};

use crate::cli::Tandem;

/// Far past MaxStartups' 10, and all handshakes asked for at once (--forks).
const LOGINS: usize = 40;

/// An inventory of `count` nodes (pairs, as tandem expects) that all live at `address`: many
/// names for one sshd, as containers or nodes behind one NAT address are.
fn many_names_for(lab: &TempLab, address: &str, count: usize) -> PathBuf {
    let mut y = format!(
        "ssh:\n  user: root\n  identity: {}\n  known_hosts: {}\n  connect_timeout: 5\nclusters:\n",
        lab.identity().display(),
        lab.known_hosts().display()
    );
    for pair in 0..count / 2 {
        let _ = writeln!(y, "  c{pair:02}:\n    nodes:");
        for side in ["a", "b"] {
            let _ = writeln!(y, "      n{pair:02}{side}: {{address: {address}}}");
        }
    }
    let path = lab.dir().join(format!("many-{count}.yml"));
    std::fs::write(&path, y).unwrap();
    path
}

/// How many logins a node's sshd has accepted, and whether it ever dropped a connection for
/// MaxStartups (OpenSSH logs "drop connection #N ... (beyond MaxStartups)" or "Exceeded MaxStartups").
fn sshd_log(node: &LabNode) -> (usize, Vec<String>) {
    let log = std::fs::read_to_string(&node.sshd_log).unwrap_or_default();
    let accepted = log.matches("Accepted publickey").count();
    let drops = log
        .lines()
        .filter(|l| l.contains("MaxStartups"))
        .map(str::to_string)
        .collect();
    (accepted, drops)
}

fn run_everywhere(inventory: &Path, home: Option<&Path>) -> serde_json::Value {
    let mut tandem = Tandem::new(["run", "-i"]);
    if let Some(home) = home {
        tandem = tandem.env("HOME", home);
    }
    let forks = LOGINS.to_string();
    let run = tandem.run_with(inventory, &["--forks", &forks, "--json", "--", "true"]);
    let report = run.json();
    let hosts = report["hosts"].as_object().expect("hosts in --json");
    let failed: Vec<String> = hosts
        .iter()
        .filter(|(_, h)| h["exit_status"] != 0)
        .map(|(name, h)| format!("{name}: {h}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {LOGINS} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(hosts.len(), LOGINS);
    run.expect_code(0);
    report
}

#[test]
fn forty_logins_to_one_sshd_at_once_are_never_dropped() {
    let lab = TempLab::new(2);
    let node = lab.node("node1");
    let inventory = many_names_for(&lab, &node.address.to_string(), LOGINS);
    let (before, _) = sshd_log(node);
    run_everywhere(&inventory, None);
    let (after, drops) = sshd_log(node);
    assert_eq!(after - before, LOGINS, "each name logs in once");
    assert!(
        drops.is_empty(),
        "sshd dropped connections:\n{}",
        drops.join("\n")
    );
}

#[test]
fn nodes_behind_a_jump_host_share_one_login_to_it() {
    let lab = TempLab::new(2);
    let (bastion, inner) = (lab.node("node1"), lab.node("node2"));
    let home = lab.dir().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host {}\n  ProxyJump root@{}\nHost *\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            inner.address,
            bastion.address,
            lab.identity().display(),
            lab.known_hosts().display()
        ),
    )
    .unwrap();
    let inventory = many_names_for(&lab, &inner.address.to_string(), LOGINS);
    let (bastion_before, _) = sshd_log(bastion);
    let (inner_before, _) = sshd_log(inner);
    run_everywhere(&inventory, Some(&home));
    let (bastion_after, bastion_drops) = sshd_log(bastion);
    let (inner_after, inner_drops) = sshd_log(inner);
    assert_eq!(
        bastion_after - bastion_before,
        1,
        "one login to the jump host for all {LOGINS}"
    );
    assert_eq!(inner_after - inner_before, LOGINS);
    assert!(
        bastion_drops.is_empty() && inner_drops.is_empty(),
        "{bastion_drops:?} {inner_drops:?}"
    );
}
