//! The long-lived remote shell (tandem's step transport) against a real sshd.

use tandem::ssh::{
    Connector, FrameMode, FrameStatus, HostKeyPolicy, KnownHosts, Session, SshConfigFile, Wanted,
};
use tandem_integration::lab::TempLab;

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

#[test]
fn frames_are_pipelined_answered_in_order_and_binary_safe() {
    let lab = TempLab::new(1);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let session = session(&lab, "node1").await;
        let shell = session.shell(false).await.unwrap();
        // Definitions made by an init frame are seen by later frames.
        let init = shell
            .run("greet() { echo \"hi $1\"; }", b"", FrameMode::Init)
            .await
            .unwrap();
        assert_eq!(init.status, FrameStatus::Exited(0));

        // 200 frames written back to back, before any answer is read.
        let mut pending = Vec::new();
        for i in 0..200 {
            let script = format!("greet {i}; echo err{i} >&2");
            pending.push(
                shell
                    .send(&script, b"", FrameMode::StopOnFailure)
                    .await
                    .unwrap(),
            );
        }
        for (i, p) in pending.into_iter().enumerate() {
            let a = p.wait().await.unwrap();
            assert_eq!(a.status, FrameStatus::Exited(0));
            assert_eq!(a.stdout, format!("hi {i}\n").into_bytes());
            assert_eq!(a.stderr, format!("err{i}\n").into_bytes());
        }

        // A payload of every byte value, 3 MiB, reaches the script exactly (stdin and file).
        let payload: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
        let a = shell
            .run(
                "cat; cmp -s - \"$TANDEM_PAYLOAD\" < \"$TANDEM_PAYLOAD\" && echo same >&2",
                &payload,
                FrameMode::Continue,
            )
            .await
            .unwrap();
        assert!(a.stdout == payload, "payload came back different");
        assert_eq!(a.stderr, b"same\n");

        // Output without a final newline, and empty output.
        let a = shell
            .run("printf abc", b"", FrameMode::Continue)
            .await
            .unwrap();
        assert_eq!(a.stdout, b"abc");
        let a = shell.run("true", b"", FrameMode::Continue).await.unwrap();
        assert!(a.stdout.is_empty() && a.stderr.is_empty());

        // A failing StopOnFailure frame halts the frames already sent behind it.
        let marker = "/tmp/should-not-exist";
        let failing = shell
            .send("exit 3", b"", FrameMode::StopOnFailure)
            .await
            .unwrap();
        let behind = shell
            .send(&format!("touch {marker}"), b"", FrameMode::StopOnFailure)
            .await
            .unwrap();
        assert_eq!(failing.wait().await.unwrap().status, FrameStatus::Exited(3));
        assert_eq!(behind.wait().await.unwrap().status, FrameStatus::Skipped);
        shell.close().await;
        session.close().await;
    });
    assert!(
        !lab.exec("node1", "test -e /tmp/should-not-exist")
            .unwrap()
            .status
            .success()
    );
    // The loop cleans its temporary directory when it ends.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = lab
        .exec("node1", "ls -d /tmp/tandem.* 2>/dev/null | wc -l")
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "0");
}

#[test]
fn a_dead_connection_fails_every_waiting_frame() {
    let lab = TempLab::new(1);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let session = session(&lab, "node1").await;
        let shell = session.shell(false).await.unwrap();
        let slow = shell
            .send("sleep 30", b"", FrameMode::Continue)
            .await
            .unwrap();
        // Wait (bounded) until the step really runs, then kill the shell's process tree on the
        // node, as a crash would (the bracket keeps pkill's own command line from matching).
        for _ in 0..50 {
            if lab
                .exec("node1", "pgrep -x sleep")
                .unwrap()
                .status
                .success()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        lab.exec("node1", "pkill -KILL -f '[@]tandem-'; pkill -KILL -x sleep")
            .unwrap();
        let started = std::time::Instant::now();
        let result = slow.wait().await;
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(shell.send("true", b"", FrameMode::Continue).await.is_err());
    });
}

/// Every name the node's writable shared directories hold (where a loop could put anything).
fn files_on(lab: &TempLab, node: &str) -> Vec<String> {
    let out = lab
        .exec(node, "find /tmp /var/tmp /run /dev/shm /root 2>/dev/null")
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits (at most 5 s) until the node has no `/tmp/tandem.*` left; returns what is left.
fn wait_no_loop_dir(lab: &TempLab, node: &str) -> String {
    let mut left = String::new();
    for _ in 0..50 {
        let out = lab.exec(node, "ls -d /tmp/tandem.* 2>/dev/null").unwrap();
        left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    left
}

/// Waits (at most 5 s) until `sleep` runs on the node: the frame's step has started.
fn wait_for_sleep(lab: &TempLab, node: &str) {
    for _ in 0..50 {
        if lab.exec(node, "pgrep -x sleep").unwrap().status.success() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the step never started");
}

#[test]
fn halt_marks_only_the_loops_own_directory() {
    let lab = TempLab::new(1);
    let before = files_on(&lab, "node1");
    let (marked, left) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let session = session(&lab, "node1").await;
        let shell = session.shell(false).await.unwrap();
        let running = shell
            .send("sleep 1", b"", FrameMode::Continue)
            .await
            .unwrap();
        let behind = shell
            .send("touch /tmp/ran-after-halt", b"", FrameMode::Continue)
            .await
            .unwrap();
        wait_for_sleep(&lab, "node1");
        shell.halt(&session).await.unwrap();
        // A second halt (a second host task, a retry) is no error.
        shell.halt(&session).await.unwrap();
        let marked = files_on(&lab, "node1");
        assert_eq!(running.wait().await.unwrap().status, FrameStatus::Exited(0));
        assert_eq!(behind.wait().await.unwrap().status, FrameStatus::Skipped);
        shell.close().await;
        let left = wait_no_loop_dir(&lab, "node1");
        session.close().await;
        (marked, left)
    });
    // While halted, the only new names are the loop's own directory and what is in it: no
    // file named after the token, and nothing in a shared directory by a guessable name.
    let new: Vec<&String> = marked.iter().filter(|f| !before.contains(f)).collect();
    let dir = new
        .iter()
        .find(|f| f.starts_with("/tmp/tandem.") && !f[5..].contains('/'))
        .unwrap_or_else(|| panic!("no loop directory among {new:?}"));
    let own = format!("{dir}/");
    assert!(
        new.iter().all(|f| f == dir || f.starts_with(&own)),
        "files outside the loop's directory: {new:?}"
    );
    assert!(new.contains(&&format!("{dir}/halt")), "{new:?}");
    assert!(
        !new.iter().any(|f| f.contains("@tandem-")),
        "a file named after the token: {new:?}"
    );
    assert!(
        !lab.exec("node1", "test -e /tmp/ran-after-halt")
            .unwrap()
            .status
            .success(),
        "a frame queued behind the halt ran"
    );
    assert_eq!(left, "", "the loop's directory outlived it");
}

#[test]
fn a_shell_cut_off_mid_step_leaves_no_files() {
    // The connection goes while a step runs (tandem abandoned the host, or the link died):
    // sshd closes the loop's pipes, and once the step ends the loop must still remove its
    // directory (payload included), though its next write dies of SIGPIPE.
    let lab = TempLab::new(1);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let session = session(&lab, "node1").await;
        let shell = session.shell(false).await.unwrap();
        let _running = shell
            .send(
                "sleep 1; echo step output",
                b"secret payload",
                FrameMode::Continue,
            )
            .await
            .unwrap();
        wait_for_sleep(&lab, "node1");
        session.close().await;
        drop(shell);
    });
    assert_eq!(
        wait_no_loop_dir(&lab, "node1"),
        "",
        "the loop's directory (with the step's payload) was left on the node"
    );
}
