//! `become` with a sudo password on a lab node: a login that must type its password for sudo
//! deploys steps as root and as another user (`become_user`); the password reaches the node
//! only on sudo's stdin (never in any process's cmdline or environ, scanned all along); a wrong
//! password fails the node with a clear reason in bounded time, not a hang.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::secrets::{ProcScanner, canary, without_canary};
use crate::support::{cat, write};

/// A login `deploy` whose sudo asks for `password` (no NOPASSWD), and a user `app` to become;
/// returns an inventory that logs in as `deploy`.
fn password_sudo_login(lab: &TempLab, password: &str) -> PathBuf {
    let setup = lab
        .exec(
            "node1",
            &format!(
                "useradd -m -s /bin/sh deploy && useradd -m -s /bin/sh app \
                 && echo 'deploy:{password}' | chpasswd \
                 && mkdir -p /home/deploy/.ssh && cp /root/.ssh/authorized_keys /home/deploy/.ssh/ \
                 && chown -R deploy:deploy /home/deploy/.ssh && chmod 700 /home/deploy/.ssh \
                 && echo 'deploy ALL=(ALL:ALL) ALL' > /etc/sudoers.d/deploy \
                 && chmod 440 /etc/sudoers.d/deploy"
            ),
        )
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    // Without the password, sudo really refuses (so the run below proves it was given).
    let refused = lab
        .exec("node1", "su deploy -c 'sudo -n true' 2>&1; echo status=$?")
        .unwrap();
    let refused = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(!refused.contains("status=0"), "{refused}");
    let inventory = std::fs::read_to_string(lab.inventory())
        .unwrap()
        .replace("user: root", "user: deploy");
    write(lab.dir(), "deploy-user.yml", &inventory)
}

const PLAYBOOK: &str = r#"
steps:
  - name: as the login
    command: {cmd: "id -un > /tmp/who-login"}
  - name: as root, long enough to be seen
    command: {cmd: "id -un > /tmp/who-root; sleep 2"}
    become: true
  - name: as app
    command: {cmd: "id -un > /tmp/who-app"}
    become_user: app
"#;

#[test]
fn become_with_a_password_runs_as_root_and_another_user_and_the_password_is_never_seen() {
    let lab = TempLab::new(1);
    // Distinctive, so a sighting is this password and nothing else.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let password = format!("pw-{:x}-{nanos:x}", std::process::id());
    let inventory = password_sudo_login(&lab, &password);
    let playbook = write(lab.dir(), "become.yml", PLAYBOOK);
    let file = write(lab.dir(), "become.pw", &format!("{password}\n"));

    let secrets = vec![("become password".to_string(), password.clone())];
    let scanner = ProcScanner::start(secrets, Duration::from_secs(120));
    let canary = canary(&password);
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &inventory,
        &[
            playbook.to_str().unwrap(),
            "--json",
            "--become-password-file",
            file.to_str().unwrap(),
        ],
    );
    let (sightings, rounds, _) = scanner.finish();
    run.expect_code(0);
    assert_eq!(cat(&lab, "node1", "/tmp/who-login"), "deploy\n");
    assert_eq!(cat(&lab, "node1", "/tmp/who-root"), "root\n");
    assert_eq!(cat(&lab, "node1", "/tmp/who-app"), "app\n");
    let sightings = without_canary(sightings, canary);
    assert!(rounds > 10, "the scanner looked only {rounds} times");
    assert!(
        sightings.is_empty(),
        "the become password was seen in: {sightings:?}"
    );
    assert!(!run.stdout().contains(&password) && !run.stderr.contains(&password));
}

#[test]
fn a_wrong_become_password_fails_the_node_with_the_reason_in_bounded_time() {
    let lab = TempLab::new(1);
    let inventory = password_sudo_login(&lab, "the-right-one");
    let playbook = write(lab.dir(), "become.yml", PLAYBOOK);
    let file = write(lab.dir(), "wrong.pw", "not-the-password\n");
    let started = Instant::now();
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &inventory,
        &[
            playbook.to_str().unwrap(),
            "--json",
            "--become-password-file",
            file.to_str().unwrap(),
        ],
    );
    let took = started.elapsed();
    run.expect_code(1);
    let report = run.json();
    let error = report["hosts"]["node1"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("refused the become password"), "{report}");
    // sudo's own delay after a wrong password is about 2 s; a hang would be the handshake's
    // 30 s limit or more.
    assert!(took < Duration::from_secs(25), "took {took:?}");
    // The step before the become step ran; nothing ran as root.
    assert_eq!(cat(&lab, "node1", "/tmp/who-login"), "deploy\n");
    let root = lab.exec("node1", "test -e /tmp/who-root; echo $?").unwrap();
    assert_eq!(String::from_utf8_lossy(&root.stdout).trim(), "1");
}

/// Ctrl-C halts a shell that runs through `sudo -S` too: its halt asks sudo with the password
/// on stdin (never `-n`, which would be refused), so the step queued behind the running one is
/// skipped there, and the password is still never in a process's cmdline or environ.
#[test]
fn ctrl_c_halts_a_shell_become_with_a_password() {
    let lab = TempLab::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let password = format!("pw-halt-{nanos:x}");
    let inventory = password_sudo_login(&lab, &password);
    let file = write(lab.dir(), "become.pw", &format!("{password}\n"));
    let playbook = write(
        lab.dir(),
        "slow.yml",
        r#"
steps:
  - name: slow as root
    command: {cmd: "touch /tmp/slow.started; sleep 3; echo done > /tmp/slow.done"}
    become: true
  - name: queued behind it
    command: {cmd: "touch /tmp/after"}
    become: true
"#,
    );
    let scanner = ProcScanner::start(
        vec![("become password".to_string(), password.clone())],
        Duration::from_secs(60),
    );
    let canary = canary(&password);
    let started = |path: &str| {
        lab.exec("node1", &format!("test -e {path}"))
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let faulted = crate::faults::deploy_with_fault(
        &inventory,
        &playbook,
        &["--become-password-file", file.to_str().unwrap()],
        || started("/tmp/slow.started"),
        |pid| {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGINT,
            )
            .unwrap()
        },
        Duration::from_secs(30),
    );
    let (sightings, _, _) = scanner.finish();
    faulted.run.expect_code(130);
    assert!(started("/tmp/slow.done"), "the running step did not finish");
    assert!(
        !started("/tmp/after"),
        "the queued step ran after Ctrl-C: the halt did not reach the sudo shell\n{}",
        faulted.run.stdout()
    );
    let sightings = without_canary(sightings, canary);
    assert!(sightings.is_empty(), "{sightings:?}");
}

/// `-K` asks on the terminal (a pseudo-terminal made by `script` here, fed the password as a
/// user would type it), and the run becomes root with what was typed.
#[test]
fn ask_become_pass_reads_the_password_from_the_terminal() {
    let lab = TempLab::new(1);
    let password = "typed-at-the-prompt";
    let inventory = password_sudo_login(&lab, password);
    let playbook = write(
        lab.dir(),
        "root.yml",
        "steps:\n  - command: {cmd: \"id -un > /tmp/who-k\"}\n    become: true\n",
    );
    let command = format!(
        "{} deploy -i {} {} -K",
        crate::cli::tandem_bin().display(),
        inventory.display(),
        playbook.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // After the prompt is up: typed ahead, a terminal keeps it for the reader anyway.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
        // Kept open until tandem is done: EOF on a terminal is a keypress too.
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("BECOME password:"), "{shown}");
    assert!(
        !shown.contains(password),
        "the typed password was echoed: {shown}"
    );
    assert_eq!(cat(&lab, "node1", "/tmp/who-k"), "root\n");
}
