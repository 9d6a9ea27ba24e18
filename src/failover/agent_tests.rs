use super::*;

/// The shape of `om daemon status --format json` (v2), cut down to what is read, with the
/// values the agent showed during a switch from node1 to node2.
fn status(node1: (&str, &str, Option<&str>), node2: (&str, &str, Option<&str>)) -> String {
    let inst = |(avail, status, expect): (&str, &str, Option<&str>)| {
        serde_json::json!({
            "avail": avail,
            "overall": avail,
            "frozen": 0,
            "monitor": {"status": status, "global_expect": expect, "local_expect": "started"},
            "resources": {}
        })
    };
    serde_json::json!({
        "cluster": {"name": "pair1"},
        "monitor": {
            "nodes": {
                "node1": {"services": {"status": {"web": inst(node1), "other": inst(("up", "idle", None))}}},
                "node2": {"services": {"status": {"web": inst(node2)}}},
            },
            "services": {}
        }
    })
    .to_string()
}

fn judge(node1: (&str, &str, Option<&str>), node2: (&str, &str, Option<&str>)) -> Progress {
    judge_switch(&instances(&status(node1, node2), "web").unwrap(), "node2")
}

#[test]
fn instances_are_read_from_the_daemon_status() {
    let text = status(
        ("down", "idle", None),
        ("up", "starting", Some("placed@node2")),
    );
    let got = instances(&text, "web").unwrap();
    assert_eq!(
        got,
        [
            Instance {
                node: "node1".into(),
                avail: "down".into(),
                frozen: false,
                status: "idle".into(),
                global_expect: None,
            },
            Instance {
                node: "node2".into(),
                avail: "up".into(),
                frozen: false,
                status: "starting".into(),
                global_expect: Some("placed@node2".into()),
            }
        ]
    );
    assert_eq!(
        describe(&got),
        "node1 down idle; node2 up starting (expect placed@node2)"
    );
    assert!(instances("om: command not found", "web").is_err());
    assert!(
        instances("{\"cluster\": {}}", "web")
            .unwrap_err()
            .contains("no monitor.nodes")
    );
    // A frozen instance (the agent stores when it was frozen).
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["monitor"]["nodes"]["node1"]["services"]["status"]["web"]["frozen"] =
        serde_json::json!(1796194801.5);
    assert!(instances(&doc.to_string(), "web").unwrap()[0].frozen);
}

#[test]
fn a_switch_is_done_only_when_up_on_the_target_and_the_agent_is_idle() {
    // Just asked: the source still runs it.
    assert!(matches!(
        judge(
            ("up", "idle", Some("placed@node2")),
            ("stdby up", "idle", Some("placed@node2"))
        ),
        Progress::Working(_)
    ));
    // The standby fs makes the target "stdby up" at once: not the end.
    assert!(matches!(
        judge(("down", "idle", None), ("stdby up", "starting", None)),
        Progress::Working(_)
    ));
    // Up, but the orchestrator has not cleared its goal yet.
    assert!(matches!(
        judge(
            ("down", "idle", Some("placed@node2")),
            ("up", "idle", Some("placed@node2"))
        ),
        Progress::Working(_)
    ));
    assert_eq!(
        judge(("stdby down", "idle", None), ("up", "idle", None)),
        Progress::Done
    );
    assert_eq!(
        judge(
            ("down", "idle", None),
            ("warn", "start failed", Some("placed@node2"))
        ),
        Progress::Failed("node2: start failed".into())
    );
}

#[test]
fn quiet_means_no_monitor_at_work_and_no_goal() {
    let quiet = |n1, n2| is_quiet(&instances(&status(n1, n2), "web").unwrap());
    assert!(quiet(
        ("down", "idle", None),
        ("warn", "start failed", None)
    ));
    assert!(quiet(
        ("down", "idle", None),
        ("warn", "start failed", Some("aborted"))
    ));
    assert!(!quiet(("down", "stopping", None), ("down", "idle", None)));
    assert!(!quiet(
        ("down", "idle", None),
        ("warn", "start failed", Some("placed@node2"))
    ));
}

#[test]
fn scripts_are_valid_sh_and_quote_their_values() {
    for script in [
        poll_script("web", "node2", Duration::from_secs(5)),
        status_script(),
        clear_script("web", true),
        stop_local_script("web"),
        start_local_script("web", false),
        logs_script("web"),
    ] {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
    }
    assert!(
        poll_script("web", "node2", Duration::from_secs(5)).contains(
            "--filter 'monitor.nodes.'\\''node2'\\''.services.status.'\\''web'\\''.avail=up' --duration 5"
        ),
        "{}",
        poll_script("web", "node2", Duration::from_secs(5))
    );
    assert!(stop_local_script("web;reboot").contains("om 'web;reboot' stop --local"));
}

/// Lines as the agent writes them to /var/log/opensvc/web.log, during a switch.
const TARGET_LOG: &str = "+0100
2026-12-02 07:59:00,001 INFO n:node2 o:web sc:n | do status (daemon origin)
2026-12-02 08:00:01,000 INFO n:node2 o:web sc:n | do start --local (daemon origin)
2026-12-02 08:00:01,100 INFO n:node2 o:web r:fs#1 sc:n | /dev/vg/web is already mounted
2026-12-02 08:00:01,500 INFO n:node2 o:web r:ip#1 sc:n | /etc/opensvc/web.d/ovh_failover
2026-12-02 08:00:01,600 INFO n:node2 o:web r:ip#1 sc:n | moving 203.0.113.10 to node2
2026-12-02 08:00:04,000 INFO n:node2 o:web r:ip#1 sc:n | checking 203.0.113.10 availability
continuation line without a header
2026-12-02 08:00:09,000 INFO n:node2 o:web r:container#1 sc:n | lxc-start -d -n web
2026-12-02 08:00:11,000 ERROR n:node2 o:web r:container#1 sc:n | lxc-start: failed
";

#[test]
fn the_log_is_read_in_utc_and_cut_into_phases() {
    let lines = parse_log(TARGET_LOG);
    assert_eq!(lines.len(), 8);
    // 08:00:01 at +0100 is 07:00:01 UTC.
    let at_0700_01 = 1_796_194_801_000;
    assert_eq!(lines[1].unix_ms, at_0700_01);
    assert_eq!(lines[2].rid.as_deref(), Some("fs#1"));
    assert_eq!(lines[7].level, "ERROR");
    let got = phases(&lines, at_0700_01 - 500, "web");
    let named: Vec<(&str, u64, bool)> = got
        .iter()
        .map(|p| (p.name.as_str(), p.end_unix_ms - p.start_unix_ms, p.ok))
        .collect();
    assert_eq!(
        named,
        [
            ("start: fs#1", 400, true),
            // The trigger's run lasts until the next resource speaks.
            ("start: trigger ovh_failover", 7500, true),
            ("start: container#1", 2000, false),
        ]
    );
    // Lines before the switch are left out.
    assert!(phases(&lines, at_0700_01 + 10_001, "web").is_empty());
}
