//! The cookbook deployed to a lab with the real OpenSVC agent (`TempLab::with_opensvc`): the
//! playbook forms the two-node cluster from one cluster.conf (identical, root only, its secret
//! kept in a local file and never shown nor on any command line), the agent (not the playbook)
//! starts the service, which answers on the VIP through the container, and the agent validates
//! the service config with zero warnings on both nodes.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::secrets::{ProcScanner, canary, without_canary};
use crate::support::{agent_state, exec_ok};

fn playbook() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml")
}

/// The service's page on the VIP, from the root namespace (OVH's side), or why not.
fn probe(vip: &str) -> Result<String, String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "2", &format!("http://{vip}/")])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Polls `check` every second until it returns Some, for at most `limit`.
fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_deploy_with_the_agent_forms_the_cluster_and_the_agent_starts_the_service() {
    // Its agent starts `web`: one such lab at a time (see `agent_lab_turn`).
    let _turn = crate::support::agent_lab_turn();
    let lab = TempLab::with_opensvc(2);
    let inventory = lab.inventory();
    let vip = lab.clusters()[0].vip.to_string();
    let secret_file = lab.dir().join("pair1.opensvc-secret");

    // The first deploy makes the secret (it cannot be scanned for before it exists; the later
    // runs below are, while they write and compare cluster.conf).
    let first = Tandem::new(["deploy", "-i"]).run_with(&inventory, &[playbook().to_str().unwrap()]);
    first.expect_code(0);
    let secret = std::fs::read_to_string(&secret_file)
        .expect("the deploy made the cluster's secret beside the inventory")
        .trim()
        .to_string();
    assert_eq!(secret.len(), 32, "{secret}");
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the local secret file is root only");
    assert!(
        !std::fs::read_to_string(&inventory)
            .unwrap()
            .contains(&secret)
    );
    assert!(!first.stdout().contains(&secret) && !first.stderr.contains(&secret));

    // cluster.conf: the same bytes on both nodes, root only, holding the local secret.
    let sums: Vec<String> = ["node1", "node2"]
        .iter()
        .map(|n| {
            assert_eq!(
                exec_ok(&lab, n, "stat -c '%a %U' /etc/opensvc/cluster.conf"),
                "600 root"
            );
            exec_ok(
                &lab,
                n,
                "sha256sum /etc/opensvc/cluster.conf | cut -d' ' -f1",
            )
        })
        .collect();
    assert_eq!(
        sums[0],
        sums[1],
        "cluster.conf differs between the nodes{}",
        agent_state(&lab)
    );
    let on_node = exec_ok(
        &lab,
        "node1",
        "sed -n 's/^secret = //p' /etc/opensvc/cluster.conf",
    );
    assert!(
        on_node == secret,
        "node1's cluster secret is not the kept one ({}...){}",
        &secret[..6],
        agent_state(&lab)
    );
    // Each node resolves its peer.
    assert_eq!(
        exec_ok(&lab, "node1", "getent hosts node2 | cut -d' ' -f1"),
        lab.node("node2").address.to_string()
    );

    // Both nodes joined one cluster, as each daemon sees it (bounded: they join in seconds).
    for node in ["node1", "node2"] {
        let joined = wait_for(Duration::from_secs(60), || {
            let out = lab
                .exec(node, "om daemon status --format json")
                .ok()
                .filter(|o| o.status.success())?;
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let nodes = &status["monitor"]["nodes"];
            let cluster = &status["cluster"];
            (nodes.get("node1").is_some()
                && nodes.get("node2").is_some()
                && cluster["name"] == "pair1")
                .then_some(())
        });
        assert!(
            joined.is_some(),
            "{node} did not see both nodes in cluster pair1 within 60 s{}",
            agent_state(&lab)
        );
    }

    // The agent starts the service on node1 (the playbook did not: no container of its own).
    // It takes 20 to 40 s on an idle machine (the daemons join, the orchestrator waits its
    // ready period, the ip resource pings for 5 s); the bound leaves room for a loaded one.
    let up = lab
        .exec(
            "node1",
            "om node wait --filter \"monitor.nodes.'node1'.services.status.'web'.avail=up\" --duration 180",
        )
        .unwrap();
    assert!(
        up.status.success(),
        "the agent did not bring web up on node1 within 180 s: {}{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr),
        agent_state(&lab)
    );
    let answered = wait_for(Duration::from_secs(20), || probe(&vip).ok());
    assert_eq!(
        answered.as_deref(),
        Some("web on node1"),
        "the VIP does not answer"
    );
    // The VIP is in the container (netns form), not on the node.
    let in_node = exec_ok(&lab, "node1", "ip -4 -o addr show");
    assert!(
        !in_node.contains(&format!(" {vip}/")),
        "VIP on the node: {in_node}"
    );
    let in_container = exec_ok(&lab, "node1", "lxc-attach -n web -- ip -4 -o addr show");
    assert!(
        in_container.contains(&format!(" {vip}/32")),
        "{in_container}"
    );
    let log = exec_ok(&lab, "node1", "cat /var/log/opensvc/web.log");
    assert!(log.contains("do start --local (daemon origin)"), "{log}");
    // Triggers write progress on stdout: nothing of theirs at ERROR level.
    assert!(
        !log.lines()
            .any(|l| l.contains(" ERROR ") && l.contains("ovh_")),
        "{log}"
    );

    // The agent finds nothing to warn about in the service config.
    for node in ["node1", "node2"] {
        let out = lab.exec(node, "om web validate config 2>&1").unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{node}: validate failed: {text}");
        assert!(
            text.trim().is_empty(),
            "{node}: `om web validate config` is not clean:\n{text}"
        );
    }

    // A second deploy changes nothing, and leaves the running service alone.
    let again = Tandem::new(["deploy", "-i"])
        .run_with(&inventory, &[playbook().to_str().unwrap(), "--json"]);
    again.expect_code(0);
    let report = again.json();
    for node in ["node1", "node2"] {
        assert_eq!(report["hosts"][node]["changed"], 0, "{report}");
    }

    // The secret on no command line or environment while tandem deploys and diffs, and never
    // in a --diff: node2's cluster.conf is changed by hand (another secret, another name).
    let secrets = vec![("cluster secret".to_string(), secret.clone())];
    let scanner = ProcScanner::start(secrets, Duration::from_secs(120));
    let canary = canary(&secret);
    exec_ok(
        &lab,
        "node2",
        "sed -i 's/^secret = .*/secret = 00000000000000000000000000000000/; s/^name = pair1/name = other/' /etc/opensvc/cluster.conf",
    );
    let diff = Tandem::new(["config", "diff", "-i"])
        .run_with(&inventory, &["--playbook", playbook().to_str().unwrap()]);
    diff.expect_code(1);
    let text = diff.stdout();
    assert!(
        text.contains("node2:/etc/opensvc/cluster.conf: the secret differs (not shown)"),
        "{text}"
    );
    assert!(text.contains("-name = other\n+name = pair1"), "{text}");
    let render = Tandem::new(["config", "render", "-i"])
        .run_with(&inventory, &["--playbook", playbook().to_str().unwrap()]);
    render.expect_code(0);
    assert!(
        render.stdout().contains("\nsecret = <secret: not shown>\n"),
        "{}",
        render.stdout()
    );
    let check = Tandem::new(["deploy", "-i"]).run_with(
        &inventory,
        &[playbook().to_str().unwrap(), "--check", "--diff"],
    );
    check.expect_code(0);
    let push = Tandem::new(["config", "push", "-i"]).run_with(
        &inventory,
        &["--playbook", playbook().to_str().unwrap(), "--diff"],
    );
    push.expect_code(0);
    let (sightings, rounds, _) = scanner.finish();
    let sightings = without_canary(sightings, canary);
    assert!(
        sightings.is_empty(),
        "the secret was on a command line: {sightings:?}"
    );
    assert!(rounds > 5, "the scanner hardly ran ({rounds} rounds)");
    for (what, run) in [
        ("config render", &render),
        ("config diff", &diff),
        ("deploy --check --diff", &check),
        ("config push --diff", &push),
    ] {
        for hidden in [&secret, "00000000000000000000000000000000"] {
            assert!(
                !run.stdout().contains(hidden) && !run.stderr.contains(hidden),
                "{what} showed a secret:\n{}\n{}",
                run.stdout(),
                run.stderr
            );
        }
    }
    assert!(
        check.stdout().contains("cluster.conf"),
        "{}",
        check.stdout()
    );
    // Healed: the same file on both nodes again.
    Tandem::new(["config", "diff", "-i"])
        .run_with(&inventory, &["--playbook", playbook().to_str().unwrap()])
        .expect_code(0);
}
