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
                orchestrate: "no".into(),
            },
            Instance {
                node: "node2".into(),
                avail: "up".into(),
                frozen: false,
                status: "starting".into(),
                global_expect: Some("placed@node2".into()),
                orchestrate: "no".into(),
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
            .to_string()
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

/// The target's log during a real switch in the lab (sids shortened), in a +0100 zone.
const TARGET_LOG: &str = "+0100
2026-12-02 08:17:01,375 INFO sid:2a08 n:node2 o:web sc:n | web defer target state set to placed@node2
2026-12-02 08:17:47,638 INFO sid:884c n:node2 o:web sc:n | do start --local (daemon origin)
2026-12-02 08:17:47,785 INFO sid:884c n:node2 o:web r:ip#1 sc:n | checking 203.0.113.3 availability (5s)
2026-12-02 08:17:52,886 INFO sid:884c n:node2 o:web r:fs#1 sc:n | ext4 /var/lib/tandem/disks/web.dev@/srv/web is already mounted
2026-12-02 08:17:53,348 INFO sid:884c n:node2 o:web r:container#1 sc:n | mkdir /sys/fs/cgroup/cpuset/opensvc.slice/web.slice/container.slice/container.1.slice
2026-12-02 08:17:53,391 INFO sid:884c n:node2 o:web r:container#1 sc:n | lxc-start -d -n web -o /var/tmp/svc_web_lxc_start.log -f /var/lib/lxc/web/config
2026-12-02 08:17:53,449 INFO sid:884c n:node2 o:web r:container#1 sc:n | start done in 0:00:00.057817 - ret 0 - logs in /var/tmp/svc_web_lxc_start.log
2026-12-02 08:17:53,470 INFO sid:884c n:node2 o:web r:container#1 sc:n | wait for container operational
2026-12-02 08:17:53,488 INFO sid:884c n:node2 o:web r:ip#1 sc:n | blocking_pre_start: /etc/opensvc/web.d/ovh_failover
2026-12-02 08:17:53,602 INFO sid:884c n:node2 o:web r:ip#1 sc:n | | ovh_failover: moving 203.0.113.3 from node1.lab.invalid to node2.lab.invalid
a continuation line without a header
2026-12-02 08:17:55,858 INFO sid:884c n:node2 o:web r:ip#1 sc:n | | ovh_failover: 203.0.113.3 is routed to node2.lab.invalid (task 1, 2s)
2026-12-02 08:17:56,137 INFO sid:884c n:node2 o:web r:ip#1 sc:n | bridge mode
2026-12-02 08:17:56,494 INFO sid:884c n:node2 o:web r:ip#1 sc:n | /usr/bin/nsenter --net=/proc/1141/ns/net ip addr add 203.0.113.3/32 dev eth1
2026-12-02 08:17:56,763 INFO sid:884c n:node2 o:web r:ip#1 sc:n | post_start: /etc/opensvc/web.d/ovh_routes start web 203.0.113.3
2026-12-02 08:17:56,813 INFO sid:884c n:node2 o:web r:ip#1 sc:n | | ovh_routes: 203.0.113.3 routed on br0
2026-12-02 08:18:01,375 INFO sid:2a09 n:node2 o:web sc:n | web defer target state set to placed@node1
2026-12-02 08:18:02,633 INFO sid:8112 n:node2 o:web sc:n | do stop --local (daemon origin)
2026-12-02 08:18:02,696 INFO sid:8112 n:node2 o:web r:ip#1 sc:n | pre_stop: /etc/opensvc/web.d/ovh_routes stop web 203.0.113.3
2026-12-02 08:18:02,733 INFO sid:8112 n:node2 o:web r:ip#1 sc:n | | ovh_routes: route to 203.0.113.3 on br0 removed
2026-12-02 08:18:02,978 INFO sid:8112 n:node2 o:web r:ip#1 sc:n | /usr/bin/nsenter --net=/proc/1141/ns/net ip addr del 203.0.113.3/32 dev eth1
2026-12-02 08:18:03,017 INFO sid:8112 n:node2 o:web r:ip#1 sc:n | checking 203.0.113.3 availability (1s)
2026-12-02 08:18:04,072 INFO sid:8112 n:node2 o:web r:container#1 sc:n | lxc-stop -n web
2026-12-02 08:18:06,231 ERROR sid:8112 n:node2 o:web r:container#1 sc:n | stop done in 0:00:02.159078 - ret 0
2026-12-02 08:18:06,269 INFO sid:8112 n:node2 o:web r:fs#1 sc:n | skip 'stop' on standby resource (--force to override)
";

#[test]
fn the_log_is_read_in_utc_and_cut_into_phases() {
    let lines = parse_log(TARGET_LOG);
    assert_eq!(lines.len(), 24);
    // 08:17:47,638 at +0100 is 07:17:47.638 UTC.
    let start = 1_796_195_867_638;
    assert_eq!(lines[1].unix_ms, start);
    assert_eq!(lines[1].sid, "884c");
    assert_eq!(lines[2].rid.as_deref(), Some("ip#1"));
    let got = phases(&lines, start, "web");
    let named: Vec<(&str, u64, u64, bool)> = got
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.start_unix_ms - start,
                p.end_unix_ms - p.start_unix_ms,
                p.ok,
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            // The ip resource's ping of the address before it plumbs it: 5 s of nothing.
            ("start: ip#1 address check", 147, 5101, true),
            ("start: fs#1", 5248, 462, true),
            ("start: container#1", 5710, 140, true),
            // The OVH move, its output lines included.
            ("start: trigger ovh_failover", 5850, 2649, true),
            ("start: ip#1", 8499, 626, true),
            // The last line of the action: the phase ends there.
            ("start: trigger ovh_routes", 9125, 50, true),
            ("stop: trigger ovh_routes", 15058, 282, true),
            ("stop: ip#1", 15340, 39, true),
            ("stop: ip#1 address check", 15379, 1055, true),
            ("stop: container#1", 16434, 2197, false),
            ("stop: fs#1", 18631, 0, true),
        ]
    );
    // Lines before `since` are left out.
    assert_eq!(phases(&lines, start + 14_000, "web").len(), 5);
}

#[test]
fn the_orchestrate_keyword_is_read_and_no_when_the_agent_omits_it() {
    let mut doc: serde_json::Value =
        serde_json::from_str(&status(("up", "idle", None), ("stdby up", "idle", None))).unwrap();
    doc["monitor"]["nodes"]["node1"]["services"]["status"]["web"]["orchestrate"] = "ha".into();
    let got = instances(&doc.to_string(), "web").unwrap();
    assert_eq!(got[0].orchestrate, "ha");
    assert_eq!(got[1].orchestrate, "no");
}
