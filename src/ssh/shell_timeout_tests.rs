//! The remote shell's loop run here, under `sh`, as a node runs it: a frame past its time limit
//! is stopped whole, and a write it was in the middle of leaves the old file and no temporary
//! file (what the README promises for a timed-out step).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::shell::LOOP;

/// One request frame, as `RemoteShell::send_limited` writes it.
fn frame(id: u64, mode: char, limit: u32, script: &str) -> Vec<u8> {
    let mut f = format!("{id} {} 0 {mode} {limit}\n", script.len()).into_bytes();
    f.extend_from_slice(script.as_bytes());
    f.extend_from_slice(b".\n");
    f
}

/// Runs the loop with `frames` on its stdin; returns its stdout and how long it ran.
fn run_loop(frames: &[Vec<u8>]) -> (String, Duration) {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", LOOP, "tandem", "@tk"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
    let mut stdin = child.stdin.take().unwrap();
    for f in frames {
        stdin.write_all(f).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_write_stopped_by_the_time_limit_leaves_the_old_file_and_no_temporary_one() {
    let dir = std::env::temp_dir().join(format!("tandem-timeout-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("dest.conf");
    std::fs::write(&dest, "old\n").unwrap();
    let d = dir.display();
    let init = format!(
        "TANDEM_MARK='@mark' TANDEM_CHECK= TANDEM_DIFF=\n{}",
        crate::modules::PRELUDE
    );
    // The source never ends: `cat` inside tandem_install blocks with half the content written
    // to the temporary file when the limit comes.
    let step = format!(
        "mkfifo {d}/src\n( printf 'half of the new'; sleep 30 ) >{d}/src &\n\
         tandem_install {d}/src {d}/dest.conf '' ''\n"
    );
    let (out, took) = run_loop(&[
        frame(1, 'i', 0, &init),
        frame(2, 'c', 1, &step),
        frame(3, 'c', 0, "echo still here"),
    ]);
    assert!(out.contains("\n@tk 2 timeout\n"), "{out}");
    assert!(out.contains("still here\n\n@tk 3 0\n"), "{out}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tandem."))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frames_without_a_limit_run_as_before_and_limited_ones_see_the_init_definitions() {
    let (out, _) = run_loop(&[
        frame(1, 'i', 0, "greet() { echo \"hi $1\"; }"),
        frame(2, 's', 0, "greet plain"),
        frame(3, 's', 5, "greet limited"),
        frame(4, 's', 5, "exit 3"),
        frame(5, 's', 0, "echo never"),
    ]);
    assert!(out.contains("hi plain\n\n@tk 2 0\n"), "{out}");
    assert!(out.contains("hi limited\n\n@tk 3 0\n"), "{out}");
    // A limited frame's failure halts the frames behind it, as an unlimited one's does.
    assert!(out.contains("\n@tk 4 3\n"), "{out}");
    assert!(
        out.contains("\n@tk 5 skip\n") && !out.contains("never"),
        "{out}"
    );
}

/// A frame that ends before its watchdog has even made its own process group: the watchdog is
/// still stopped at once (it was not, and fired its limit later, turning a success into a
/// timeout and holding the shell for the whole limit).
#[test]
fn frames_that_end_at_once_never_wait_for_their_limit() {
    let frames: Vec<Vec<u8>> = (1..=30).map(|id| frame(id, 's', 3, "true")).collect();
    let (out, took) = run_loop(&frames);
    for id in 1..=30 {
        assert!(
            out.contains(&format!("\n@tk {id} 0\n")),
            "frame {id}: {out}"
        );
    }
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: a watchdog outlived its frame"
    );
}
