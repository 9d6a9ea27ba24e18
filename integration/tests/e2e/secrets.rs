//! Secrets stay secret: the OVH credentials and an identity key's passphrase never show in
//! tandem's output, `--json`, the HTML report, logs, any process's command line or environment
//! (scanned every 50 ms on the whole machine while tandem works: the lab's nodes have their own
//! PID namespaces, but the host's /proc sees their processes too), nor in any file but the
//! root-only 0600 credentials files.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem, tandem_bin};
use crate::game_day_faults::write_count;

/// Where a secret was seen in a process: (pid, command name, `cmdline` or `environ`, which).
pub(crate) type Sighting = (u32, String, &'static str, String);

/// Watches every process's cmdline and environ for the secrets until stopped (or `limit`).
pub(crate) struct ProcScanner {
    stop: Arc<AtomicBool>,
    /// What it saw, how many scans of all processes, one every so many ms on average.
    thread: JoinHandle<(Vec<Sighting>, u64, u64)>,
}

impl ProcScanner {
    pub(crate) fn start(secrets: Vec<(String, String)>, limit: Duration) -> ProcScanner {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let me = std::process::id();
            let started = Instant::now();
            let deadline = started + limit;
            let mut seen = Vec::new();
            let mut rounds = 0;
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                scan_once(me, &secrets, &mut seen);
                rounds += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            let average_ms = started.elapsed().as_millis() as u64 / rounds.max(1);
            (seen, rounds, average_ms)
        });
        ProcScanner { stop, thread }
    }

    pub(crate) fn finish(self) -> (Vec<Sighting>, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// A short-lived process holding `secret` in its environment: the scanner must see it, which
/// proves that it would see a real leak.
pub(crate) fn canary(secret: &str) -> u32 {
    let mut child = Command::new("sleep")
        .arg("0.5")
        .env("TRUST_SCANNER_CANARY", secret)
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// The canary's sighting is removed; it must have been there.
pub(crate) fn without_canary(mut sightings: Vec<Sighting>, canary: u32) -> Vec<Sighting> {
    let before = sightings.len();
    sightings.retain(|(pid, _, _, _)| *pid != canary);
    assert!(
        sightings.len() < before,
        "the scanner missed its canary (pid {canary}): it would miss a leak too"
    );
    sightings
}

fn scan_once(me: u32, secrets: &[(String, String)], seen: &mut Vec<Sighting>) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        for field in ["cmdline", "environ"] {
            // A process may be gone already: nothing to see then.
            let Ok(bytes) = std::fs::read(entry.path().join(field)) else {
                continue;
            };
            for (which, secret) in secrets {
                if contains(&bytes, secret.as_bytes()) {
                    let comm = std::fs::read_to_string(entry.path().join("comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    let sighting = (pid, comm, field, which.clone());
                    if !seen.contains(&sighting) {
                        seen.push(sighting);
                    }
                }
            }
        }
    }
}

/// std's substring search (optimised even in a debug build, unlike a `windows` loop here: the
/// scanner must keep up with short-lived processes such as the trigger's curl).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let (Ok(needle), false) = (std::str::from_utf8(needle), needle.is_empty()) else {
        return false;
    };
    String::from_utf8_lossy(haystack).contains(needle)
}

/// The three keys of the lab's ovh.conf (random per lab: 16 and 32 bytes from /dev/urandom).
fn ovh_secrets(lab: &TempLab) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(lab.ovh_conf()).unwrap();
    ["application_key", "application_secret", "consumer_key"]
        .into_iter()
        .map(|name| {
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} in ovh.conf"))
                .trim()
                .to_string();
            assert!(value.len() >= 16, "{name} is not distinctive: {value}");
            (name.to_string(), value)
        })
        .collect()
}

fn assert_no_secret_in(what: &str, text: &[u8], secrets: &[(String, String)]) {
    for (which, secret) in secrets {
        assert!(
            !contains(text, secret.as_bytes()),
            "the {which} appears in {what}"
        );
    }
}

fn assert_clean_run(what: &str, run: &Run, secrets: &[(String, String)]) {
    assert_no_secret_in(&format!("{what}'s stdout"), &run.stdout, secrets);
    assert_no_secret_in(&format!("{what}'s stderr"), run.stderr.as_bytes(), secrets);
}

/// Regular files under `dir` (symlinks not followed) that contain a secret, with how many
/// files were read; files over 64 MiB (the lab's disk images) are checked by streaming.
fn files_with_secrets(dir: &Path, secrets: &[(String, String)]) -> (Vec<PathBuf>, usize) {
    let mut found = Vec::new();
    let mut read = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                read += 1;
                if file_contains_any(&entry.path(), secrets) {
                    found.push(entry.path());
                }
            }
        }
    }
    (found, read)
}

fn file_contains_any(path: &Path, secrets: &[(String, String)]) -> bool {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let longest = secrets.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        if secrets.iter().any(|(_, s)| contains(&carry, s.as_bytes())) {
            return true;
        }
        let keep = carry.len().saturating_sub(longest);
        carry.drain(..keep);
    }
}

/// Inside a node: files under the usual places that hold any key of the node's own
/// /etc/ovh.conf (the patterns go to grep on its stdin, never on a command line), with their
/// mode and owner.
fn node_files_with_secrets(lab: &TempLab, node: &str) -> Vec<String> {
    let out = lab
        .exec(
            node,
            "awk -F= '/^(application_key|application_secret|consumer_key)=/ { print $2 }' /etc/ovh.conf | \
             grep -rlF -D skip -f - /etc /root /tmp /var/tmp /run /var/log /var/lib/lxc /var/lib/tandem /srv /home /opt 2>/dev/null | \
             while read -r f; do printf '%s %s\\n' \"$(stat -c '%a %U' \"$f\")\" \"$f\"; done",
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ovh_credentials_never_leak_during_a_deploy_and_a_game_day() {
    let lab = TempLab::new(2);
    let secrets = ovh_secrets(&lab);
    let conf_mode = std::fs::metadata(lab.ovh_conf())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(conf_mode & 0o777, 0o600);
    let scanner = ProcScanner::start(secrets.clone(), Duration::from_secs(600));
    let canary = canary(&secrets[1].1);

    // The cookbook (it installs the credentials file on the nodes), with --diff.
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml");
    let deploy = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[playbook.to_str().unwrap(), "--diff", "--json"],
    );
    deploy.expect_code(0);
    assert_clean_run("deploy --diff --json", &deploy, &secrets);
    // A drifted credentials file is rewritten: its diff must not show the keys.
    let drift = lab
        .exec("node1", "echo '# drift' >> /etc/ovh.conf")
        .unwrap();
    assert!(drift.status.success());
    let deploy_text = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--diff"]);
    deploy_text.expect_code(0);
    assert!(
        deploy_text.stdout().contains("OVH API credentials"),
        "the credentials step did not change: {}",
        deploy_text.stdout()
    );
    assert_clean_run("deploy --diff", &deploy_text, &secrets);

    // A game day there and back, its report, and the VIP commands.
    let report_path = lab.dir().join("game-day.html");
    let game_day = Tandem::new(["failover-test", "-i"]).run_with(
        &lab.inventory(),
        &[
            "--cluster",
            "pair1",
            "--direct",
            "--yes",
            "--flip-back",
            "--json",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    game_day.expect_code(0);
    assert_clean_run("failover-test --json", &game_day, &secrets);
    let html = std::fs::read(&report_path).unwrap();
    assert_no_secret_in("the HTML report", &html, &secrets);
    for args in [
        vec!["vip", "status", "--json", "-i"],
        vec!["vip", "status", "-i"],
    ] {
        let run = Tandem::new(args).run_with(&lab.inventory(), &[]);
        run.expect_code(0);
        assert_clean_run("vip status", &run, &secrets);
    }
    // The node's own failover trigger (sh, curl, sha1sum) moves the VIP to node2 through the API.
    let trigger = lab
        .exec("node2", "/etc/opensvc/web.d/ovh_failover 2>&1")
        .unwrap();
    let trigger_out = String::from_utf8_lossy(&trigger.stdout).into_owned();
    assert!(trigger.status.success(), "{trigger_out}");
    assert!(trigger_out.contains("is routed to node2"), "{trigger_out}");
    assert_no_secret_in("the trigger's output", &trigger.stdout, &secrets);
    let (sightings, rounds, every_ms) = scanner.finish();
    let sightings = without_canary(sightings, canary);
    assert!(rounds > 20, "the scanner ran only {rounds} rounds");
    assert!(
        sightings.is_empty(),
        "OVH credentials on a process's command line or environment: {sightings:?}"
    );

    // Files: on the nodes, only the credentials file, 0600 and root's.
    for node in ["node1", "node2"] {
        let found = node_files_with_secrets(&lab, node);
        assert_eq!(found, ["600 root /etc/ovh.conf"], "{node}");
    }
    // Laptop side (the lab's directory: inventory, logs, the simulator's log, the report,
    // the nodes' overlay files): only the lab's ovh.conf and the nodes' copies of it.
    let (found, read) = files_with_secrets(lab.dir(), &secrets);
    assert!(read > 20, "only {read} files read");
    for file in &found {
        let meta = std::fs::metadata(file).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "{}", file.display());
        assert_eq!(meta.uid(), 0, "{}", file.display());
        assert!(
            *file == lab.ovh_conf() || file.ends_with("upper/etc/ovh.conf"),
            "a secret in {}",
            file.display()
        );
    }
    assert_eq!(found.len(), 3, "{found:?}");
    write_count(
        "secrets-ovh",
        &format!(
            "secrets kept: OVH keys in 0 of {rounds} scans (one every {every_ms} ms) of every process's cmdline and environ, 0 outputs, only 3 files (0600, root) of {read} read"
        ),
    );
}

/// An encrypted identity key: its passphrase comes from `TANDEM_KEY_PASSPHRASE` (or a prompt),
/// and goes nowhere else: not to the output, the JSON, nor any process tandem starts, here or
/// on the node.
#[test]
fn a_key_passphrase_never_leaks() {
    let lab = TempLab::new(2);
    let passphrase = format!(
        "pass-{:x}-phrase",
        std::process::id() as u64 * 7919 + 104729
    );
    let key = lab.dir().join("id_encrypted");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "encrypted",
            "-N",
            &passphrase,
            "-f",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    for node in ["node1", "node2"] {
        let out = lab
            .exec(
                node,
                &format!(
                    "printf '%s\\n' '{}' >> /root/.ssh/authorized_keys",
                    public.trim()
                ),
            )
            .unwrap();
        assert!(out.status.success());
    }
    let inventory = lab.dir().join("encrypted.yml");
    let text = std::fs::read_to_string(lab.inventory()).unwrap().replacen(
        "identity: id_ed25519",
        "identity: id_encrypted",
        1,
    );
    assert!(text.contains("identity: id_encrypted"));
    std::fs::write(&inventory, text).unwrap();

    let secrets = vec![("passphrase".to_string(), passphrase.clone())];
    let scanner = ProcScanner::start(secrets.clone(), Duration::from_secs(120));
    let canary = canary(&passphrase);
    let mut tandem_pids = BTreeSet::new();
    let mut outputs = Vec::new();
    for json in [true, false] {
        let mut cmd = Command::new(tandem_bin());
        cmd.args(["run", "-i"]).arg(&inventory);
        if json {
            cmd.arg("--json");
        }
        cmd.args(["--", "id -un; sleep 1"])
            .env("TANDEM_KEY_PASSPHRASE", &passphrase)
            .env_remove("SSH_AUTH_SOCK")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        tandem_pids.insert(child.id());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("root"));
        outputs.push(out);
    }
    // A wrong passphrase is refused without echoing either one.
    let wrong = Tandem::new(["run", "-i"])
        .env("TANDEM_KEY_PASSPHRASE", "not-the-right-one-4711")
        .run_with(&inventory, &["--json", "--", "true"]);
    assert_ne!(wrong.code, 0);
    assert!(
        !wrong.stderr.contains("not-the-right-one-4711"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stdout().contains("not-the-right-one-4711"));
    let (sightings, rounds, every_ms) = scanner.finish();
    let sightings = without_canary(sightings, canary);
    assert!(rounds > 10, "the scanner ran only {rounds} rounds");

    for out in &outputs {
        assert_no_secret_in("tandem run's stdout", &out.stdout, &secrets);
        assert_no_secret_in("tandem run's stderr", &out.stderr, &secrets);
    }
    assert_clean_run("tandem run (wrong passphrase)", &wrong, &secrets);
    // Only the environment the test gave tandem itself holds it (and never its command line).
    let leaks: Vec<&Sighting> = sightings
        .iter()
        .filter(|(pid, _, field, _)| !(tandem_pids.contains(pid) && *field == "environ"))
        .collect();
    assert!(leaks.is_empty(), "the passphrase leaked to: {leaks:?}");
    // Files: the lab's directory holds the nodes' overlay files (their /etc, /root, /var);
    // their own /tmp and /run (tmpfs) are searched from inside, the passphrase handed to grep
    // in a file (never on its command line).
    for node in ["node1", "node2"] {
        let needle = lab.node(node).upper_dir.join("root/.trust-needle");
        std::fs::write(&needle, format!("{passphrase}\n")).unwrap();
        let out = lab
            .exec(
                node,
                "grep -rlF -D skip -f /root/.trust-needle /etc /root /tmp /var/tmp /run /var/log 2>/dev/null | grep -vx /root/.trust-needle; true",
            )
            .unwrap();
        std::fs::remove_file(&needle).unwrap();
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(found.is_empty(), "the passphrase is in {node}:{found}");
    }
    let (found, read) = files_with_secrets(lab.dir(), &secrets);
    assert!(found.is_empty(), "the passphrase is in {found:?}");
    write_count(
        "secrets-passphrase",
        &format!(
            "secrets kept: key passphrase in 0 of {rounds} scans (one every {every_ms} ms) of every process tandem started (here and on the nodes), 0 outputs, 0 of {read} files"
        ),
    );
}
