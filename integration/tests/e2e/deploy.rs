//! `tandem deploy` on lab nodes: convergence, idempotence, check mode proven on the overlay's
//! upper directory, diffs, failure isolation, a killed run, template errors.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tandem_integration::lab::TempLab;

use crate::cli::{Run, Tandem};
use crate::support::write;

/// `tandem deploy -i INVENTORY PLAYBOOK --json EXTRA...`
fn deploy_json(lab: &TempLab, playbook: &Path, extra: &[&str]) -> Run {
    let mut args = vec![playbook.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args)
}

fn counts(report: &serde_json::Value, node: &str) -> (u64, u64, u64, u64) {
    let h = &report["hosts"][node];
    let n = |k: &str| {
        h[k].as_u64()
            .unwrap_or_else(|| panic!("no {k} for {node} in {report}"))
    };
    (n("ok"), n("changed"), n("failed"), n("skipped"))
}

fn read_on(lab: &TempLab, node: &str, path: &str) -> Vec<u8> {
    lab.exec(node, &format!("cat {path}")).unwrap().stdout
}

/// Every entry under a node's overlay upper directory: what the node's root filesystem has
/// changed relative to the host. Check mode must leave it exactly as it was.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let key = path.strip_prefix(root).unwrap().display().to_string();
            use std::os::unix::fs::MetadataExt;
            let value = if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                format!(
                    "file {:o} {} {:x}",
                    meta.mode(),
                    bytes.len(),
                    fxhash(&bytes)
                )
            } else {
                format!("dir {:o}", meta.mode())
            };
            out.insert(key, value);
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

const SMALL_PLAYBOOK: &str = r#"
vars:
  greeting: hello
steps:
  - name: config dir
    file: {path: /etc/demo, state: directory, mode: "0755"}
  - name: main config
    copy: {dest: /etc/demo/app.conf, content: "greeting={{ greeting }}\nnode={{ node }}\n", mode: "0640"}
  - name: a line
    line: {path: /etc/demo/extra.conf, line: "port = 8080", regexp: "^port", create: true}
  - name: marker
    command: {cmd: "touch /etc/demo/marker", creates: /etc/demo/marker}
  - name: link
    file: {path: /etc/demo/current, state: link, src: /etc/demo/app.conf}
"#;

#[test]
fn converges_then_reports_nothing_to_change() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "small.yml", SMALL_PLAYBOOK);
    let first = deploy_json(&lab, &playbook, &[]);
    first.expect_code(0);
    let report = first.json();
    for node in ["node1", "node2"] {
        let (_, changed, failed, _) = counts(&report, node);
        assert_eq!((changed, failed), (5, 0), "{report}");
        assert_eq!(
            read_on(&lab, node, "/etc/demo/app.conf"),
            format!("greeting=hello\nnode={node}\n").into_bytes()
        );
        let mode = lab
            .exec(node, "stat -c %a /etc/demo/app.conf")
            .unwrap()
            .stdout;
        assert_eq!(String::from_utf8_lossy(&mode).trim(), "640");
    }
    let second = deploy_json(&lab, &playbook, &[]);
    second.expect_code(0);
    let report = second.json();
    for node in ["node1", "node2"] {
        assert_eq!(counts(&report, node), (5, 0, 0, 0), "{report}");
    }
}

#[test]
fn check_mode_reports_changes_and_writes_nothing() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "small.yml", SMALL_PLAYBOOK);
    let before: Vec<_> = lab.nodes().iter().map(|n| snapshot(&n.upper_dir)).collect();
    let run = deploy_json(&lab, &playbook, &["--check"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["check"], true);
    for node in ["node1", "node2"] {
        let (_, changed, failed, _) = counts(&report, node);
        assert_eq!((changed, failed), (5, 0), "{report}");
    }
    let after: Vec<_> = lab.nodes().iter().map(|n| snapshot(&n.upper_dir)).collect();
    assert_eq!(before, after, "--check changed a node's filesystem");

    // The shipped cookbook too: on fresh nodes every step reports what it would do (the
    // bridge, disk and container it would make do not exist yet) and nothing is written.
    let cookbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml");
    let run = deploy_json(&lab, &cookbook, &["--check"]);
    run.expect_code(0);
    let report = run.json();
    assert!(counts(&report, "node1").1 > 10, "{report}");
    let after: Vec<_> = lab.nodes().iter().map(|n| snapshot(&n.upper_dir)).collect();
    assert_eq!(
        before, after,
        "--check of the cookbook changed a node's filesystem"
    );
    assert!(
        !lab.exec("node1", "ip link show br0")
            .unwrap()
            .status
            .success(),
        "--check made br0"
    );
    // Text mode says so too.
    let text = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--check"]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("check mode: nothing was changed"),
        "{}",
        text.stdout()
    );
}

#[test]
fn diff_shows_what_a_hand_edit_will_lose() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "small.yml", SMALL_PLAYBOOK);
    deploy_json(&lab, &playbook, &[]).expect_code(0);
    lab.exec(
        "node1",
        "echo 'greeting=bonjour' > /etc/demo/app.conf; echo node=node1 >> /etc/demo/app.conf",
    )
    .unwrap();
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[playbook.to_str().unwrap(), "--diff", "--check"],
    );
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.contains("--- /etc/demo/app.conf (before)"), "{out}");
    assert!(
        out.contains("-greeting=bonjour\n+greeting=hello\n"),
        "{out}"
    );
    assert!(
        !out.contains("node2 | changed"),
        "node2 did not drift: {out}"
    );
    // --check left the edit in place; a real run then restores it.
    assert_eq!(
        read_on(&lab, "node1", "/etc/demo/app.conf"),
        b"greeting=bonjour\nnode=node1\n"
    );
    deploy_json(&lab, &playbook, &[]).expect_code(0);
    assert_eq!(
        read_on(&lab, "node1", "/etc/demo/app.conf"),
        b"greeting=hello\nnode=node1\n"
    );
}

#[test]
fn a_failing_step_stops_only_its_node() {
    let lab = TempLab::new(2);
    let playbook = write(
        lab.dir(),
        "fail.yml",
        r#"
steps:
  - name: first
    copy: {dest: /tmp/first, content: "1\n"}
  - name: breaks on node1
    command: {cmd: "if [ $(hostname) = node1 ]; then echo boom >&2; exit 4; fi"}
  - name: after
    copy: {dest: /tmp/after, content: "2\n"}
"#,
    );
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(counts(&report, "node1").2, 1, "{report}");
    assert_eq!(counts(&report, "node2"), (0, 3, 0, 0), "{report}");
    // `after` never ran on node1: it is counted, and a failure is not an interruption.
    assert_eq!(report["hosts"]["node1"]["not_run"], 1, "{report}");
    assert_eq!(report["hosts"]["node1"]["interrupted"], false, "{report}");
    assert_eq!(report["hosts"]["node2"]["not_run"], 0, "{report}");
    let error = report["hosts"]["node1"]["steps"][1]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("boom") && error.contains("exit status 4"),
        "{error}"
    );
    // node1 stopped before `after`; node2 went on.
    assert!(
        !lab.exec("node1", "test -e /tmp/after")
            .unwrap()
            .status
            .success()
    );
    assert_eq!(read_on(&lab, "node2", "/tmp/after"), b"2\n");
}

#[test]
fn undefined_template_variable_fails_before_anything_is_written() {
    let lab = TempLab::new(2);
    write(
        lab.dir(),
        "templates/app.conf.j2",
        "name={{ node }}\nport={{ prot }}\n",
    );
    let playbook = write(
        lab.dir(),
        "tpl.yml",
        r#"
steps:
  - name: before
    copy: {dest: /tmp/before, content: "x\n"}
  - name: app config
    template: {src: templates/app.conf.j2, dest: /tmp/app.conf}
"#,
    );
    // Undefined variables are only known per host (facts, registered results): a failed step
    // naming the template's file and line, in check mode too, never a half-rendered file.
    for extra in [&["--check"][..], &[][..]] {
        let run = deploy_json(&lab, &playbook, extra);
        run.expect_code(1);
        let report = run.json();
        let error = report["hosts"]["node1"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|s| s["error"].as_str())
            .unwrap_or_else(|| panic!("no error in {report} ({extra:?})"))
            .to_string();
        assert!(
            error.contains("prot") && error.contains("app.conf.j2:2"),
            "{error}"
        );
    }
    for node in ["node1", "node2"] {
        assert!(
            !lab.exec(node, "test -e /tmp/app.conf")
                .unwrap()
                .status
                .success()
        );
    }
}

#[test]
fn a_run_killed_while_sending_a_large_file_leaves_old_or_new_never_partial() {
    let lab = TempLab::new(1);
    let big: Vec<u8> = (0..48u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(lab.dir().join("big.bin"), &big).unwrap();
    let playbook = write(
        lab.dir(),
        "big.yml",
        "steps:\n  - name: big file\n    copy: {dest: /var/tmp/big.bin, src: big.bin}\n",
    );
    lab.exec("node1", "echo old > /var/tmp/big.bin").unwrap();

    let mut child = std::process::Command::new(crate::cli::tandem_bin())
        .args(["deploy", "-i"])
        .arg(lab.inventory())
        .arg(&playbook)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill tandem while the payload is on its way (bounded wait for the transfer to start).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let size = lab
            .exec("node1", "cat /tmp/tandem.*/payload 2>/dev/null | wc -c")
            .unwrap()
            .stdout;
        if String::from_utf8_lossy(&size)
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let now = read_on(&lab, "node1", "/var/tmp/big.bin");
    assert!(
        now == b"old\n" || now == big,
        "partial file of {} bytes",
        now.len()
    );

    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(0);
    assert!(read_on(&lab, "node1", "/var/tmp/big.bin") == big);
    let left = lab
        .exec("node1", "ls -A /var/tmp | grep -c '^.tandem' || true")
        .unwrap()
        .stdout;
    assert_eq!(
        String::from_utf8_lossy(&left).trim(),
        "0",
        "temporary files left behind"
    );
    assert_eq!(
        counts(&deploy_json(&lab, &playbook, &[]).json(), "node1"),
        (1, 0, 0, 0)
    );
}

#[test]
fn bad_playbook_is_refused_with_its_location_and_nothing_runs() {
    let lab = TempLab::new(1);
    let playbook = write(
        lab.dir(),
        "bad.yml",
        "steps:\n  - name: typo\n    copy: {dest: /tmp/x, contnet: a}\n",
    );
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("bad.yml:") && run.stderr.contains("contnet"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        !lab.exec("node1", "test -e /tmp/x")
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn tags_when_register_and_handlers() {
    let lab = TempLab::new(2);
    let playbook = write(
        lab.dir(),
        "flow.yml",
        r#"
steps:
  - name: probe
    command: {cmd: "echo $(hostname)-says-hi"}
    register: probe
    changed_when: "false"
  - name: only where the probe said node1
    copy: {dest: /tmp/seen, content: "{{ probe.stdout }}\n"}
    when: "'node1' in probe.stdout"
    notify: restart
  - name: tagged
    copy: {dest: /tmp/tagged, content: "t\n"}
    tags: [extra]
  - name: primary only
    copy: {dest: /tmp/primary, content: "p\n"}
    when: "node == primary"
handlers:
  - name: restart
    copy: {dest: /tmp/handler-ran, content: "yes\n"}
"#,
    );
    let run = deploy_json(&lab, &playbook, &["--skip-tags", "extra"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(read_on(&lab, "node1", "/tmp/seen"), b"node1-says-hi\n");
    assert!(
        !lab.exec("node2", "test -e /tmp/seen")
            .unwrap()
            .status
            .success()
    );
    assert_eq!(
        read_on(&lab, "node1", "/tmp/handler-ran"),
        b"yes\n",
        "{report}"
    );
    assert!(
        !lab.exec("node2", "test -e /tmp/handler-ran")
            .unwrap()
            .status
            .success(),
        "handler ran without notify"
    );
    assert!(
        !lab.exec("node1", "test -e /tmp/tagged")
            .unwrap()
            .status
            .success(),
        "--skip-tags ignored"
    );
    assert!(
        lab.exec("node1", "test -e /tmp/primary")
            .unwrap()
            .status
            .success()
    );
    assert!(
        !lab.exec("node2", "test -e /tmp/primary")
            .unwrap()
            .status
            .success()
    );
    // node2: probe ok, seen skipped, primary skipped.
    assert_eq!(counts(&report, "node2"), (1, 0, 0, 2), "{report}");

    // A second run changes nothing, so the handler is not notified again.
    lab.exec("node1", "rm /tmp/handler-ran").unwrap();
    deploy_json(&lab, &playbook, &["--skip-tags", "extra"]).expect_code(0);
    assert!(
        !lab.exec("node1", "test -e /tmp/handler-ran")
            .unwrap()
            .status
            .success()
    );
    // --tags extra runs only that step.
    let only = deploy_json(&lab, &playbook, &["--tags", "extra"]);
    only.expect_code(0);
    assert_eq!(counts(&only.json(), "node2"), (0, 1, 0, 0));
}

#[test]
fn an_unreachable_node_is_reported_and_the_other_converges() {
    let lab = TempLab::new(2);
    let playbook = write(lab.dir(), "small.yml", SMALL_PLAYBOOK);
    lab.kill_sshd("node2").unwrap();
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["hosts"]["node2"]["unreachable"], true);
    assert_eq!(counts(&report, "node1").1, 5);
    assert_eq!(report["summary"]["unreachable"], 1);
}

#[test]
fn become_runs_steps_as_root_through_sudo() {
    let lab = TempLab::new(1);
    // A non-root login with passwordless sudo, as on servers where root login is off.
    let setup = lab
        .exec(
            "node1",
            "useradd -m -s /bin/sh deploy && usermod -p '*' deploy \
             && mkdir -p /home/deploy/.ssh && cp /root/.ssh/authorized_keys /home/deploy/.ssh/ \
             && chown -R deploy:deploy /home/deploy/.ssh && chmod 700 /home/deploy/.ssh \
             && echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy && chmod 440 /etc/sudoers.d/deploy",
        )
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let inventory = std::fs::read_to_string(lab.inventory())
        .unwrap()
        .replace("user: root", "user: deploy");
    let inventory = write(lab.dir(), "deploy-user.yml", &inventory);
    let playbook = write(
        lab.dir(),
        "become.yml",
        r#"
steps:
  - name: as the login user
    command: {cmd: "id -un > /tmp/who-plain"}
  - name: as root
    command: {cmd: "id -un > /tmp/who-root"}
    become: true
  - name: root-owned file
    copy: {dest: /etc/made-by-deploy, content: "x\n", mode: "0600"}
    become: true
"#,
    );
    let run =
        Tandem::new(["deploy", "-i"]).run_with(&inventory, &[playbook.to_str().unwrap(), "--json"]);
    run.expect_code(0);
    assert_eq!(read_on(&lab, "node1", "/tmp/who-plain"), b"deploy\n");
    assert_eq!(read_on(&lab, "node1", "/tmp/who-root"), b"root\n");
    let owner = lab
        .exec("node1", "stat -c %U:%a /etc/made-by-deploy")
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8_lossy(&owner).trim(), "root:600");
}

/// The shipped cookbook, for real: bridge, sysctls, loop disk, ext4, mount, an LXC container
/// configured from templates and started on the cluster's primary node only.
#[test]
fn cookbook_playbook_converges_and_runs_the_container_on_the_primary() {
    let lab = TempLab::new(2);
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/ovh-lxc-cluster.yml");
    let first = deploy_json(&lab, &playbook, &[]);
    first.expect_code(0);
    let report = first.json();
    for node in ["node1", "node2"] {
        let (_, changed, failed, _) = counts(&report, node);
        assert!(changed > 10 && failed == 0, "{node}: {report}");
    }
    let state = |node: &str| {
        let out = lab.exec(node, "lxc-info -n web -s").unwrap().stdout;
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(state("node1").contains("RUNNING"), "{}", state("node1"));
    assert!(state("node2").contains("STOPPED"), "{}", state("node2"));
    // The container really serves, through node1's br0.
    let served = lab
        .exec("node1", "for i in $(seq 50); do curl -sf -m 1 http://192.168.0.10/ && exit 0; sleep 0.1; done; exit 1")
        .unwrap();
    assert!(
        served.status.success(),
        "the container's httpd did not answer"
    );
    // The bridge and sysctls exist on both nodes.
    for node in ["node1", "node2"] {
        assert!(lab.exec(node, "ip link show br0").unwrap().status.success());
        let fwd = lab
            .exec(node, "cat /proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .stdout;
        assert_eq!(String::from_utf8_lossy(&fwd).trim(), "1");
    }

    let second = deploy_json(&lab, &playbook, &[]);
    second.expect_code(0);
    let report = second.json();
    for node in ["node1", "node2"] {
        assert_eq!(
            counts(&report, node).1,
            0,
            "second run changed something on {node}: {report}"
        );
    }
    // `deploy` and `tandem config` agree on the service config, byte for byte.
    let diff = crate::cli::Tandem::new(["config", "diff", "-i"]).run_with(
        &lab.inventory(),
        &["--playbook", playbook.to_str().unwrap()],
    );
    diff.expect_code(0);
}

/// The README's example: include vars that are templates are rendered when a step reads them,
/// in the host's context, keeping their type (`when: started` tests a bool); a var reading a
/// registered result waits for it (the step is not pipelined ahead of the answer).
#[test]
fn templated_vars_are_rendered_per_host_and_when_tests_their_value() {
    let lab = TempLab::new(2);
    write(
        lab.dir(),
        "container.yml",
        r#"
- name: show
  command: {cmd: "echo started={{ started }}"}
- name: only where started
  copy: {dest: /tmp/started, content: "{{ node }}\n"}
  when: started
"#,
    );
    let playbook = write(
        lab.dir(),
        "vars.yml",
        r#"
vars:
  probe_out: "{{ probe.stdout }} on {{ node }}"
steps:
  - name: probe
    command: {cmd: "echo hello"}
    register: probe
    changed_when: "false"
  - name: uses a var that reads the registered result
    copy: {dest: /tmp/probe-out, content: "{{ probe_out }}\n"}
  - include: container.yml
    vars: {started: "{{ node == primary }}"}
"#,
    );
    let run = deploy_json(&lab, &playbook, &[]);
    run.expect_code(0);
    let report = run.json();
    for (node, started) in [("node1", "True"), ("node2", "False")] {
        let show = &report["hosts"][node]["steps"][2];
        assert_eq!(show["name"], "show", "{report}");
        let changes = show["changes"].to_string();
        assert!(
            changes.contains(&format!("echo started={started}")),
            "{node}: {changes}"
        );
        assert_eq!(
            read_on(&lab, node, "/tmp/probe-out"),
            format!("hello on {node}\n").into_bytes()
        );
    }
    assert_eq!(read_on(&lab, "node1", "/tmp/started"), b"node1\n");
    assert_eq!(
        report["hosts"]["node2"]["steps"][3]["status"], "skipped",
        "{report}"
    );
    assert!(
        !lab.exec("node2", "test -e /tmp/started")
            .unwrap()
            .status
            .success()
    );
}
