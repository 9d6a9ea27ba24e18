//! `tandem run` and `tandem ping` against real sshd on lab nodes.

use base64::Engine;
use tandem_integration::lab::TempLab;

use crate::cli::{Tandem, keygen, public_key, run_json};

fn host<'a>(report: &'a serde_json::Value, node: &str) -> &'a serde_json::Value {
    &report["hosts"][node]
}

/// True when `path` exists on the node (looked at through its namespaces, not over ssh).
fn exists_on(lab: &TempLab, node: &str, path: &str) -> bool {
    lab.exec(node, &format!("test -e {path}"))
        .unwrap()
        .status
        .success()
}

fn replace_known_hosts_line(lab: &TempLab, address: &str, new_line: Option<String>) {
    let text = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{address} ")))
        .map(String::from)
        .collect();
    lines.extend(new_line);
    std::fs::write(lab.known_hosts(), lines.join("\n") + "\n").unwrap();
}

#[test]
fn run_reaches_both_nodes_and_reports_each_output() {
    let lab = TempLab::new(2);
    let run = run_json(&lab.inventory(), &[], "hostname; echo to-stderr >&2");
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        let h = host(&report, node);
        assert_eq!(h["stdout"], format!("{node}\n"), "{report}");
        assert_eq!(h["stderr"], "to-stderr\n");
        assert_eq!(h["exit_status"], 0);
        assert_eq!(h["unreachable"], false);
    }
    assert_eq!(report["summary"]["ok"], 2);

    // Text mode: a block per node and a one-line summary.
    let text = Tandem::new(["run", "-i"]).run_with(&lab.inventory(), &["--", "uname", "-n"]);
    text.expect_code(0);
    let out = text.stdout();
    assert!(out.contains("=== node1: exit 0"), "{out}");
    assert!(out.contains("\nnode2\n"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("2 nodes: 2 ok, 0 failed, 0 unreachable in "),
        "{out}"
    );
}

#[test]
fn limit_selects_nodes_and_a_pattern_matching_nothing_is_refused() {
    let lab = TempLab::new(2);
    let run = run_json(&lab.inventory(), &["--limit", "node2"], "touch /tmp/ran");
    run.expect_code(0);
    assert!(host(&run.json(), "node1").is_null());
    assert!(exists_on(&lab, "node2", "/tmp/ran"));
    assert!(!exists_on(&lab, "node1", "/tmp/ran"));

    let bad = run_json(&lab.inventory(), &["--limit", "node9"], "touch /tmp/ran2");
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("'node9' matches no node or cluster"),
        "{}",
        bad.stderr
    );
    assert!(!exists_on(&lab, "node1", "/tmp/ran2"));
}

#[test]
fn unknown_host_key_is_refused_and_nothing_runs() {
    let lab = TempLab::new(2);
    let node2 = lab.node("node2").address.to_string();
    replace_known_hosts_line(&lab, &node2, None);
    let run = run_json(&lab.inventory(), &[], "touch /tmp/ran");
    run.expect_code(1);
    let report = run.json();
    let h = host(&report, "node2");
    assert_eq!(h["unreachable"], true);
    assert_eq!(h["error_kind"], "host_key_unknown");
    let message = h["error"].as_str().unwrap();
    assert!(
        message.contains("is not in")
            && message.contains("ssh-keyscan")
            && message.contains("--accept-new")
    );
    assert!(
        !exists_on(&lab, "node2", "/tmp/ran"),
        "a command ran on a host whose key was not verified"
    );
    // The other node is not held back.
    assert_eq!(host(&report, "node1")["exit_status"], 0);
    assert!(exists_on(&lab, "node1", "/tmp/ran"));
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let lab = TempLab::new(2);
    let node2 = lab.node("node2").address.to_string();
    let impostor = keygen(lab.dir(), "impostor");
    replace_known_hosts_line(
        &lab,
        &node2,
        Some(format!("{node2} {}", public_key(&impostor))),
    );
    for extra in [&[][..], &["--accept-new"][..]] {
        let run = run_json(&lab.inventory(), extra, "touch /tmp/ran");
        run.expect_code(1);
        let h = host(&run.json(), "node2").clone();
        assert_eq!(h["error_kind"], "host_key_changed", "{h}");
        let message = h["error"].as_str().unwrap();
        assert!(
            message.contains("HOST KEY CHANGED") && message.contains("SHA256:"),
            "{message}"
        );
        assert!(!exists_on(&lab, "node2", "/tmp/ran"));
    }
    // The impostor entry is still there: --accept-new never replaces a key.
    let kh = std::fs::read_to_string(lab.known_hosts()).unwrap();
    assert!(kh.contains(&public_key(&impostor)));
}

#[test]
fn accept_new_records_the_real_host_keys() {
    let lab = TempLab::new(2);
    let original = std::fs::read_to_string(lab.known_hosts()).unwrap();
    std::fs::write(lab.known_hosts(), "").unwrap();
    let run = run_json(&lab.inventory(), &["--accept-new"], "true");
    run.expect_code(0);
    assert!(run.stderr.contains("permanently added"), "{}", run.stderr);
    let learned = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let mut a: Vec<&str> = original.lines().collect();
    let mut b: Vec<&str> = learned.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the keys learned are not the nodes' real host keys");
    // And now strict mode accepts them.
    run_json(&lab.inventory(), &[], "true").expect_code(0);
}

#[test]
fn wrong_identity_is_an_auth_failure() {
    let lab = TempLab::new(2);
    let stranger = keygen(lab.dir(), "stranger");
    let inventory = std::fs::read_to_string(lab.inventory()).unwrap();
    let other = lab.dir().join("stranger.yml");
    std::fs::write(
        &other,
        inventory.replace(
            "identity: id_ed25519",
            &format!("identity: {}", stranger.display()),
        ),
    )
    .unwrap();
    let run = run_json(&other, &[], "touch /tmp/ran");
    run.expect_code(1);
    let report = run.json();
    for node in ["node1", "node2"] {
        let h = host(&report, node);
        assert_eq!(h["error_kind"], "auth_failed", "{h}");
        assert!(h["error"].as_str().unwrap().contains("stranger"));
        assert!(!exists_on(&lab, node, "/tmp/ran"));
    }

    let missing = lab.dir().join("missing.yml");
    std::fs::write(
        &missing,
        inventory.replace("identity: id_ed25519", "identity: no-such-key"),
    )
    .unwrap();
    // A missing identity file is bad input: refused before any node is contacted.
    let run = run_json(&missing, &[], "touch /tmp/ran-missing");
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("tandem: error: cannot use identity file ")
            && run.stderr.contains("no-such-key")
            && run.stderr.lines().count() == 1,
        "{}",
        run.stderr
    );
    for node in ["node1", "node2"] {
        assert!(!exists_on(&lab, node, "/tmp/ran-missing"));
    }
}

#[test]
fn a_dead_node_is_reported_and_the_other_completes() {
    let lab = TempLab::new(2);
    lab.kill_sshd("node2").unwrap();
    let run = run_json(&lab.inventory(), &[], "touch /tmp/ran; echo done");
    run.expect_code(1);
    let report = run.json();
    assert_eq!(host(&report, "node2")["error_kind"], "connection_refused");
    assert_eq!(host(&report, "node1")["stdout"], "done\n");
    assert_eq!(report["summary"]["unreachable"], 1);
    assert_eq!(report["summary"]["ok"], 1);

    // A node that is not there at all (no ARP answer): a timeout or "unreachable", quickly.
    let inventory = std::fs::read_to_string(lab.inventory()).unwrap();
    let ghost_address = lab
        .node("node2")
        .address
        .to_string()
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string()
        + ".250";
    let ghost = lab.dir().join("ghost.yml");
    std::fs::write(
        &ghost,
        inventory.replace(&lab.node("node2").address.to_string(), &ghost_address),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let run = run_json(
        &ghost,
        &["--connect-timeout", "2", "--limit", "node2"],
        "true",
    );
    run.expect_code(1);
    let kind = host(&run.json(), "node2")["error_kind"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(kind == "timeout" || kind == "unreachable", "{kind}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn output_and_exit_codes_are_carried_exactly() {
    let lab = TempLab::new(2);
    // 4 MiB of random bytes on stdout and 1 MiB on stderr at the same time: binary-safe, and
    // no deadlock when both streams are large.
    lab.exec(
        "node1",
        "head -c 4194304 /dev/urandom > /tmp/blob; head -c 1048576 /dev/urandom > /tmp/blob2",
    )
    .unwrap();
    let expected = lab.exec("node1", "cat /tmp/blob").unwrap().stdout;
    let expected_err = lab.exec("node1", "cat /tmp/blob2").unwrap().stdout;
    assert_eq!(expected.len(), 4 << 20);
    let out_dir = lab.dir().join("out");
    let run = Tandem::new(["run", "-i"]).run_with(
        &lab.inventory(),
        &[
            "--limit",
            "node1",
            "--output-dir",
            out_dir.to_str().unwrap(),
            "--",
            "cat /tmp/blob; cat /tmp/blob2 >&2",
        ],
    );
    run.expect_code(0);
    assert!(
        std::fs::read(out_dir.join("node1.stdout")).unwrap() == expected,
        "stdout differs"
    );
    assert!(
        std::fs::read(out_dir.join("node1.stderr")).unwrap() == expected_err,
        "stderr differs"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("node1.status")).unwrap(),
        "exit 0\n"
    );

    // Binary in JSON travels as base64, byte for byte.
    let run = run_json(
        &lab.inventory(),
        &["--limit", "node1"],
        "head -c 65536 /tmp/blob",
    );
    let encoded = host(&run.json(), "node1")["stdout_base64"]
        .as_str()
        .unwrap()
        .to_string();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert!(decoded == expected[..65536], "base64 stdout differs");

    // Exit codes and signals, per node.
    let run = run_json(
        &lab.inventory(),
        &[],
        "if [ $(hostname) = node1 ]; then exit 7; else kill -TERM $$; fi",
    );
    run.expect_code(1);
    let report = run.json();
    assert_eq!(host(&report, "node1")["exit_status"], 7);
    assert_eq!(host(&report, "node1")["failed"], true);
    assert_eq!(host(&report, "node2")["signal"], "TERM");
    assert_eq!(report["summary"]["failed"], 2);
}

#[test]
fn many_commands_on_one_connection_stay_under_maxsessions() {
    // The lab's sshd allows 10 sessions per connection (OpenSSH's default); 40 concurrent
    // commands on one connection must all succeed because tandem opens at most 8 at once.
    let lab = TempLab::new(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let inventory = tandem::inventory::Inventory::load(&lab.inventory()).unwrap();
        let node = inventory.node("node1").unwrap();
        let known = tandem::ssh::KnownHosts::load(&lab.known_hosts()).unwrap();
        let connector = tandem::ssh::Connector::new(known, tandem::ssh::HostKeyPolicy::Strict);
        let target = tandem::ssh::SshConfigFile::none()
            .resolve(&tandem::ssh::Wanted {
                label: "node1".into(),
                address: node.address.clone(),
                user: Some("root".into()),
                identity: Some(lab.identity()),
                ..Default::default()
            })
            .unwrap();
        let session = connector.connect(&target).await.unwrap();
        let runs = (0..40).map(|i| {
            let session = &session;
            async move { session.exec(&format!("sleep 0.2; echo {i}"), b"").await }
        });
        let results = futures::future::join_all(runs).await;
        for (i, result) in results.into_iter().enumerate() {
            let out = result.unwrap_or_else(|e| panic!("command {i}: {e}"));
            assert_eq!(out.stdout, format!("{i}\n").into_bytes());
        }
        session.close().await;
    });
}

#[test]
fn proxy_jump_from_ssh_config_is_honoured() {
    let lab = TempLab::new(2);
    let (a1, a2) = (lab.node("node1").address, lab.node("node2").address);
    let home = lab.dir().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host {a2}\n  ProxyJump root@{a1}\nHost *\n  IdentityFile {}\n",
            lab.identity().display()
        ),
    )
    .unwrap();
    let run = Tandem::new(["run", "-i"]).env("HOME", &home).run_with(
        &lab.inventory(),
        &["--limit", "node2", "--json", "--", "echo $SSH_CONNECTION"],
    );
    run.expect_code(0);
    // sshd on node2 sees the connection coming from node1, not from the lab bridge.
    let seen = host(&run.json(), "node2")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(seen.starts_with(&format!("{a1} ")), "{seen}");
}

#[test]
fn ping_shows_hostname_os_and_kernel() {
    let lab = TempLab::new(2);
    let run = Tandem::new(["ping", "-i"]).run_with(&lab.inventory(), &["--json"]);
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        let h = host(&report, node);
        assert_eq!(h["hostname"], node);
        assert!(h["os"].as_str().unwrap().contains("Debian"), "{h}");
        assert!(h["kernel"].as_str().unwrap().starts_with("Linux "), "{h}");
    }
    let text = Tandem::new(["ping", "-i"]).run_with(&lab.inventory(), &[]);
    text.expect_code(0);
    assert!(
        text.stdout()
            .contains("2 node(s): 2 answered, 0 unreachable"),
        "{}",
        text.stdout()
    );
}

/// The lab's inventory without `identity` (tandem then falls back to OpenSSH's default keys
/// in `home`), written next to `home/.ssh`.
fn inventory_without_identity(lab: &TempLab, home: &std::path::Path) -> std::path::PathBuf {
    let inventory: String = std::fs::read_to_string(lab.inventory())
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("identity:"))
        .map(
            |line| match line.trim_start().strip_prefix("known_hosts:") {
                Some(_) => format!("  known_hosts: {}", lab.known_hosts().display()),
                None => line.to_string(),
            },
        )
        .map(|line| line + "\n")
        .collect();
    assert!(!inventory.contains("identity"), "{inventory}");
    let path = home.join("inventory-without-identity.yml");
    std::fs::write(&path, inventory).unwrap();
    path
}

fn ssh_keygen(args: &[&str], key: &std::path::Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args(args)
        .arg("-f")
        .arg(key)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
}

#[test]
fn an_unusable_default_key_is_skipped_like_openssh_does() {
    // No `identity` in the inventory, no agent, no passphrase: tandem falls back to OpenSSH's
    // default keys. A working ~/.ssh/id_ed25519 next to an old passphrase-protected
    // ~/.ssh/id_rsa must connect with the first, never stop at (or ask for) the second.
    let lab = TempLab::new(2);
    let home = lab.dir().join("home-default-keys");
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::copy(lab.identity(), ssh_dir.join("id_ed25519")).unwrap();
    ssh_keygen(
        &[
            "-q", "-t", "rsa", "-b", "2048", "-N", "somepass", "-C", "old",
        ],
        &ssh_dir.join("id_rsa"),
    );
    let inventory = inventory_without_identity(&lab, &home);

    let run = Tandem::new(["run", "-i"])
        .env("HOME", &home)
        .run_with(&inventory, &["--json", "--", "true"]);
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        assert_eq!(host(&report, node)["exit_status"], 0, "{report}");
    }
    assert!(!run.stderr.contains("id_rsa"), "{}", run.stderr);

    // An encrypted default key that is the only one there is still counts: without its
    // passphrase that is bad input naming the file, with it the run goes through. (It is the
    // lab's ed25519 key under the name id_rsa: OpenSSH reads the file, not the name.)
    std::fs::remove_file(ssh_dir.join("id_ed25519")).unwrap();
    std::fs::remove_file(ssh_dir.join("id_rsa")).unwrap();
    std::fs::copy(lab.identity(), ssh_dir.join("id_rsa")).unwrap();
    ssh_keygen(
        &["-q", "-p", "-P", "", "-N", "somepass"],
        &ssh_dir.join("id_rsa"),
    );
    let run = Tandem::new(["run", "-i"])
        .env("HOME", &home)
        .run_with(&inventory, &["--json", "--", "true"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(".ssh/id_rsa: the key is encrypted"),
        "{}",
        run.stderr
    );
    let run = Tandem::new(["run", "-i"])
        .env("HOME", &home)
        .env("TANDEM_KEY_PASSPHRASE", "somepass")
        .run_with(&inventory, &["--json", "--", "true"]);
    run.expect_code(0);
    assert_eq!(run.json()["summary"]["ok"], 2);
}

/// `ProxyCommand` in ~/.ssh/config is the transport, as OpenSSH makes it: `%h %p %r` filled,
/// the command's stdin and stdout carry the SSH stream (here `ssh -W` through node1, the
/// classic bastion hop), and the command is gone once the session ends. A proxy that fails is
/// reported for that node, with what it said.
#[test]
fn proxy_command_from_ssh_config_is_the_transport_and_ends_with_the_session() {
    let lab = TempLab::new(2);
    let (a1, a2) = (lab.node("node1").address, lab.node("node2").address);
    let home = lab.dir().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let log = lab.dir().join("proxy.log");
    let hop = format!(
        "ssh -i {key} -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o BatchMode=yes \
         -W %h:%p root@{a1}",
        key = lab.identity().display(),
        kh = lab.known_hosts().display(),
    );
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host {a2}\n  ProxyCommand sh -c 'echo \"$$ %h %p %r\" >> {log}; exec {hop}'\n\
             Host 192.0.2.1\n  ProxyCommand sh -c 'echo the bastion said no >&2; exit 3'\n\
             Host *\n  IdentityFile {id}\n",
            log = log.display(),
            id = lab.identity().display(),
        ),
    )
    .unwrap();
    let run = Tandem::new(["run", "-i"]).env("HOME", &home).run_with(
        &lab.inventory(),
        &["--limit", "node2", "--json", "--", "echo $SSH_CONNECTION"],
    );
    run.expect_code(0);
    // sshd on node2 sees the connection coming from node1: it went through the proxy.
    let seen = host(&run.json(), "node2")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(seen.starts_with(&format!("{a1} ")), "{seen}");
    let logged = std::fs::read_to_string(&log).expect("the proxy command ran");
    let fields: Vec<&str> = logged.split_whitespace().collect();
    assert_eq!(
        fields[1..],
        [a2.to_string().as_str(), "22", "root"],
        "{logged}"
    );
    // The proxy (its pid is the one that exec'ed ssh) is gone with the session: not running
    // (a zombie left to this test process, which may be a subreaper, does not count).
    // Killed when the stream is dropped, it may take a moment to die: bounded, 3 s.
    let pid = fields[0];
    let state_of = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim().to_string()))
    };
    let mut state = state_of();
    for _ in 0..30 {
        if state.as_deref().is_none_or(|s| s.starts_with('Z')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        state = state_of();
    }
    assert!(
        state.as_deref().is_none_or(|s| s.starts_with('Z')),
        "proxy {pid} outlived the run: {state:?}"
    );

    // A node behind a proxy that fails: unreachable, with the proxy's own words.
    let broken = lab.dir().join("broken.yml");
    let text = std::fs::read_to_string(lab.inventory()).unwrap().replacen(
        &format!("address: {a2}"),
        "address: 192.0.2.1",
        1,
    );
    std::fs::write(&broken, text).unwrap();
    let run = Tandem::new(["run", "-i"])
        .env("HOME", &home)
        .run_with(&broken, &["--limit", "node2", "--json", "--", "true"]);
    run.expect_code(1);
    let report = run.json();
    let error = host(&report, "node2")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("ProxyCommand") && error.contains("the bastion said no"),
        "{error}"
    );
}
