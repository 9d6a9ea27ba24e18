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
