//! A step's time limit (`timeout`, `--step-timeout`): past it, the step's whole process group is
//! stopped on the node and the step fails with "timed out after N s", while the other nodes go
//! on; the node's remote shell stays usable.

use std::time::{Duration, Instant};

use tandem::ssh::{
    Connector, FrameMode, FrameStatus, HostKeyPolicy, KnownHosts, Session, SshConfigFile, Wanted,
};
use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::support::exec_ok;
use crate::support::write;

/// The processes of process group `pgid` left in `node` (its own pid namespace), one per line.
fn group_members(lab: &TempLab, node: &str, pgid: &str) -> String {
    exec_ok(
        lab,
        node,
        &format!(
            "for s in /proc/[0-9]*/stat; do read -r st <\"$s\" 2>/dev/null || continue; \
             set -- ${{st##*) }}; [ \"$1\" = Z ] || [ \"$3\" != {pgid} ] || echo \"${{s%/stat}}\"; done"
        ),
    )
}

/// The step sleeps 30 s on node1 only (a child in the background too, both in the step's
/// process group), under `timeout: 2`; node2 goes through it and the next step.
const PLAYBOOK: &str = r#"steps:
  - name: hang on node1
    command:
      cmd: |
        if [ "{{ node }}" = node1 ]; then
          cut -d' ' -f5 /proc/self/stat >/root/step.pgid
          sleep 31 &
          echo hanging now >&2
          sleep 30
        fi
    timeout: 2
  - name: after
    command: {cmd: 'touch /root/after'}
"#;

#[test]
fn a_step_past_its_timeout_is_killed_on_its_node_while_the_other_finishes() {
    let lab = TempLab::new(2);
    let dir = lab.dir().join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let playbook = write(&dir, "hang.yml", PLAYBOOK);

    let started = Instant::now();
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"]);
    let elapsed = started.elapsed();
    run.expect_code(1);
    let report = run.json();
    let step = &report["hosts"]["node1"]["steps"][0];
    assert_eq!(step["status"], "failed", "{report}");
    let error = step["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("timed out after 2 s") && error.contains("hanging now"),
        "{error}"
    );
    assert_eq!(report["hosts"]["node2"]["failed"], 0, "{report}");
    assert_eq!(report["hosts"]["node2"]["changed"], 2, "{report}");
    assert!(
        elapsed < Duration::from_secs(10),
        "the deploy took {elapsed:?}: the 30 s sleep was not stopped at 2 s"
    );
    exec_ok(&lab, "node2", "test -e /root/after");
    exec_ok(&lab, "node1", "test ! -e /root/after");

    // Nothing of the step's process group is left on node1: not the sleep it waited for, not
    // the one it left in the background.
    let pgid = exec_ok(&lab, "node1", "cat /root/step.pgid");
    assert!(pgid.parse::<u32>().is_ok(), "pgid {pgid:?}");
    let left = group_members(&lab, "node1", &pgid);
    assert!(left.is_empty(), "left in process group {pgid}: {left}");
    eprintln!("deploy with a 2 s step timeout on a 30 s sleep: {elapsed:?}");
}

#[test]
fn step_timeout_flag_applies_to_steps_without_their_own() {
    let lab = TempLab::new(1);
    let dir = lab.dir().join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let playbook = write(
        &dir,
        "slow.yml",
        "timeout: 600\nsteps:\n  - command: {cmd: 'sleep 30'}\n",
    );
    let started = Instant::now();
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[playbook.to_str().unwrap(), "--json", "--step-timeout", "1"],
    );
    run.expect_code(1);
    let report = run.json();
    let error = report["hosts"]["node1"]["steps"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.starts_with("timed out after 1 s"), "{report}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn session(lab: &TempLab, node: &str) -> Session {
    let known = KnownHosts::load(&lab.known_hosts()).unwrap();
    let connector = Connector::new(known, HostKeyPolicy::Strict);
    let target = SshConfigFile::none()
        .resolve(&Wanted {
            label: node.into(),
            address: lab.node(node).address.to_string(),
            user: Some("root".into()),
            identity: Some(lab.identity()),
            ..Default::default()
        })
        .unwrap();
    connector.connect(&target).await.unwrap()
}

/// The remote shell itself: a limited frame is answered `TimedOut` soon after its limit (the
/// kill latency is printed), even when the step ignores TERM (KILL follows 5 s later), and the
/// shell runs the next frames, with the init frame's definitions, as before.
#[test]
fn the_remote_shell_stops_a_limited_frame_and_stays_usable() {
    let lab = TempLab::new(1);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let session = session(&lab, "node1").await;
        let shell = session.shell(false).await.unwrap();
        shell
            .run("greet() { echo \"hi $1\"; }", b"", FrameMode::Init)
            .await
            .unwrap();

        // Within its limit: runs as any frame, with the init frame's functions and the payload.
        let a = shell
            .send_limited(
                "greet limited; cat",
                b"payload",
                FrameMode::Continue,
                Some(5),
            )
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert_eq!(a.status, FrameStatus::Exited(0));
        assert_eq!(a.stdout, b"hi limited\npayload");

        let started = Instant::now();
        let a = shell
            .send_limited("sleep 30", b"", FrameMode::Continue, Some(1))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        let latency = started.elapsed().saturating_sub(Duration::from_secs(1));
        assert_eq!(a.status, FrameStatus::TimedOut);
        assert!(
            latency < Duration::from_secs(2),
            "answered {latency:?} after the limit"
        );
        eprintln!("step-timeout kill latency (TERM obeyed): {latency:?}");

        let started = Instant::now();
        let a = shell
            .send_limited("trap '' TERM; sleep 30", b"", FrameMode::Continue, Some(1))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        let latency = started.elapsed().saturating_sub(Duration::from_secs(1));
        assert_eq!(a.status, FrameStatus::TimedOut);
        assert!(
            latency >= Duration::from_secs(4) && latency < Duration::from_secs(8),
            "TERM ignored: KILL came {latency:?} after the limit"
        );
        eprintln!("step-timeout kill latency (TERM ignored): {latency:?}");

        let a = shell
            .run("greet again", b"", FrameMode::StopOnFailure)
            .await
            .unwrap();
        assert_eq!(a.status, FrameStatus::Exited(0));
        assert_eq!(a.stdout, b"hi again\n");
        shell.close().await;
    });
}

/// Steps with `loop` or `retries` take the controlled path (one attempt at a time); each
/// attempt still runs under the step's limit, and a timed-out attempt fails the step.
const CONTROLLED: &str = r#"steps:
  - name: each item hangs
    command: {cmd: 'sleep 30'}
    loop: [a, b]
    timeout: 1
    ignore_errors: true
  - name: retried while it hangs
    command: {cmd: 'sleep 30'}
    retries: 1
    delay: 0
    timeout: 1
"#;

#[test]
fn looped_and_retried_steps_are_stopped_at_their_limit_too() {
    let lab = TempLab::new(1);
    let dir = lab.dir().join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let playbook = write(&dir, "controlled.yml", CONTROLLED);

    let started = Instant::now();
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"]);
    let elapsed = started.elapsed();
    run.expect_code(1);
    let report = run.json();
    let step = &report["hosts"]["node1"]["steps"][0];
    assert_eq!(step["status"], "failed", "{report}");
    let items = step["items"].as_array().expect("per-item results");
    assert_eq!(items.len(), 2, "{report}");
    for item in items {
        let error = item["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("timed out after 1 s"), "{report}");
    }
    let retried = &report["hosts"]["node1"]["steps"][1];
    assert_eq!(retried["status"], "failed", "{report}");
    assert_eq!(retried["attempts"], 2, "{report}");
    let error = retried["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("timed out after 1 s"), "{report}");
    assert!(
        elapsed < Duration::from_secs(20),
        "the deploy took {elapsed:?}: the 30 s sleeps were not stopped at 1 s"
    );
}
