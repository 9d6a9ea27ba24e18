//! `tandem config render|diff|push` on lab nodes: one service config, the same bytes on both.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::support::exec_ok;

/// The service config: the only config file of a lab without the agent.
const WEB_CONF: &str = "/etc/opensvc/web.conf";

fn playbook() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml")
}

fn config(action: &str, lab: &TempLab, extra: &[&str]) -> crate::cli::Run {
    let playbook = playbook();
    let mut args = vec!["--playbook", playbook.to_str().unwrap()];
    args.extend_from_slice(extra);
    Tandem::new(["config", action, "-i"]).run_with(&lab.inventory(), &args)
}

/// A small INI reader, strict enough to prove the file is INI: every non-blank, non-comment
/// line is a `[section]` or a `key = value` inside one; a key appears once per section.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(
                sections.insert(name.to_string(), BTreeMap::new()).is_none(),
                "line {}: section [{name}] twice",
                n + 1
            );
            current = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not INI: {line}", n + 1));
        let section = current
            .as_ref()
            .unwrap_or_else(|| panic!("line {}: key outside any section", n + 1));
        let previous = sections
            .get_mut(section)
            .unwrap()
            .insert(key.trim().to_string(), value.trim().to_string());
        assert!(previous.is_none(), "line {}: {} twice", n + 1, key.trim());
    }
    sections
}

#[test]
fn rendered_config_is_ini_with_every_keyword_the_service_needs() {
    let lab = TempLab::new(2);
    let run = config("render", &lab, &[]);
    run.expect_code(0);
    let ini = parse_ini(&run.stdout());
    let vip = lab.clusters()[0].vip.to_string();
    let expect = [
        ("DEFAULT", "nodes", "node1 node2".to_string()),
        ("DEFAULT", "topology", "failover".into()),
        ("DEFAULT", "orchestrate", "ha".into()),
        ("fs#1", "type", "ext4".into()),
        ("fs#1", "dev", "/var/lib/tandem/disks/web.dev".into()),
        ("fs#1", "mnt", "/srv/web".into()),
        ("ip#1", "ipname", vip.clone()),
        ("ip#1", "ipdev", "br0".into()),
        // The netns form: the VIP in the container (`container_rid` would be ignored by the
        // agent's host driver, the VIP landing on the node's br0).
        ("ip#1", "type", "netns".into()),
        ("ip#1", "netns", "container#1".into()),
        (
            "ip#1",
            "blocking_pre_start",
            "/etc/opensvc/web.d/ovh_failover".into(),
        ),
        (
            "ip#1",
            "post_start",
            format!("/etc/opensvc/web.d/ovh_routes start web {vip}"),
        ),
        (
            "ip#1",
            "pre_stop",
            format!("/etc/opensvc/web.d/ovh_routes stop web {vip}"),
        ),
        ("container#1", "type", "lxc".into()),
        ("container#1", "name", "web".into()),
        ("sync#1", "type", "rsync".into()),
        ("sync#1", "src", "/srv/web/".into()),
        ("sync#1", "target", "nodes".into()),
    ];
    assert!(
        ini.get("ip#1")
            .is_some_and(|s| !s.contains_key("container_rid")),
        "{}",
        run.stdout()
    );
    for (section, key, value) in expect {
        assert_eq!(
            ini.get(section).and_then(|s| s.get(key)),
            Some(&value),
            "[{section}] {key} in:\n{}",
            run.stdout()
        );
    }
    // Nothing was contacted: render works with every node down.
    lab.kill_sshd("node1").unwrap();
    config("render", &lab, &[]).expect_code(0);
}

#[test]
fn diff_reports_drift_and_push_heals_it() {
    let lab = TempLab::new(2);
    // Nothing there yet: drift.
    let before = config("diff", &lab, &["--json"]);
    before.expect_code(1);
    assert_eq!(
        before.json()["clusters"]["pair1"]["files"][WEB_CONF]["nodes"]["node1"]["state"],
        "missing"
    );

    config("push", &lab, &[]).expect_code(0);
    let pushed: Vec<String> = ["node1", "node2"]
        .iter()
        .map(|n| exec_ok(&lab, n, "sha256sum /etc/opensvc/web.conf | cut -d' ' -f1"))
        .collect();
    assert_eq!(pushed[0], pushed[1], "the nodes got different bytes");
    config("diff", &lab, &[]).expect_code(0);

    // A hand edit on node2 is drift, with its diff, and exit 1.
    exec_ok(
        &lab,
        "node2",
        "sed -i 's/^orchestrate = ha/orchestrate = no/' /etc/opensvc/web.conf",
    );
    let drift = config("diff", &lab, &[]);
    drift.expect_code(1);
    let text = drift.stdout();
    assert!(text.contains("node1: same as rendered"), "{text}");
    assert!(text.contains("node2: DIFFERS"), "{text}");
    assert!(
        text.contains("-orchestrate = no\n+orchestrate = ha"),
        "{text}"
    );
    let json = config("diff", &lab, &["--json"]).json();
    assert_eq!(json["drift"], true);
    assert_eq!(json["clusters"]["pair1"]["drift"], true);
    assert_eq!(
        json["clusters"]["pair1"]["files"][WEB_CONF]["peers_agree"],
        false
    );

    // --check changes nothing; push heals node2 only.
    config("push", &lab, &["--check"]).expect_code(0);
    config("diff", &lab, &[]).expect_code(1);
    let heal = config("push", &lab, &["--json"]);
    heal.expect_code(0);
    let report = heal.json();
    assert_eq!(report["hosts"]["node1"]["changed"], 0, "{report}");
    assert_eq!(report["hosts"]["node2"]["changed"], 1, "{report}");
    config("diff", &lab, &[]).expect_code(0);

    // An unreachable node is drift too (its copy cannot be vouched for).
    lab.kill_sshd("node2").unwrap();
    let down = config("diff", &lab, &["--json"]);
    down.expect_code(1);
    assert_eq!(
        down.json()["clusters"]["pair1"]["files"][WEB_CONF]["nodes"]["node2"]["state"],
        "unreachable"
    );
}
