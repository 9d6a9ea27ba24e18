//! The flags an Ansible user types first, on lab nodes: `-e/--extra-vars` above every var,
//! `-u/--user` and `--private-key` over the inventory's login, `--color`/`NO_COLOR`.

use std::path::Path;

use tandem_integration::lab::TempLab;

use crate::cli::{Tandem, keygen};
use crate::support::{cat, write};

#[test]
fn extra_vars_win_over_every_other_var_and_keep_their_type_from_a_map_or_file() {
    let lab = TempLab::new(2);
    let playbook = write(
        lab.dir(),
        "site.yml",
        r#"
vars: {site: from-playbook, port: 80, debug: false}
steps:
  - name: probe
    command: {cmd: "echo registered"}
    register: probe
  - name: "config of {{ site }}"
    copy:
      dest: /srv/extra
      content: "{{ site }} {{ port + 1 }} {{ debug }} {{ probe }}\n"
    vars: {site: from-step}
"#,
    );
    let file = write(lab.dir(), "extra.yml", "port: 8080\nprobe: from-file\n");
    let extra = format!("@{}", file.display());
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &lab.inventory(),
        &[
            playbook.to_str().unwrap(),
            "--json",
            "-e",
            "site=from-flag",
            "--extra-vars",
            &extra,
            "-e",
            "{\"debug\": true}",
        ],
    );
    run.expect_code(0);
    let report = run.json();
    for node in ["node1", "node2"] {
        // Over the step's vars, the playbook's and a registered result; a number stays one.
        assert_eq!(
            cat(&lab, node, "/srv/extra"),
            "from-flag 8081 True from-file\n"
        );
        assert_eq!(
            report["hosts"][node]["steps"][1]["name"], "config of from-flag",
            "{report}"
        );
    }
}

#[test]
fn user_and_private_key_flags_replace_the_inventorys_login() {
    let lab = TempLab::new(1);
    let stranger = keygen(lab.dir(), "not_authorized");
    let playbook = write(
        lab.dir(),
        "who.yml",
        "steps:\n  - command: {cmd: \"id -un > /tmp/login\"}\n",
    );
    let deploy = |extra: &[&str]| {
        let mut args = vec![playbook.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args)
    };
    // The inventory's key works; a key the node does not know, given on the command line, is
    // the one offered, so the login fails.
    deploy(&[]).expect_code(0);
    assert_eq!(cat(&lab, "node1", "/tmp/login"), "root\n");
    let run = deploy(&["--private-key", stranger.to_str().unwrap()]);
    run.expect_code(1);
    assert_eq!(run.json()["hosts"]["node1"]["unreachable"], true);
    // The right key by flag works whatever the inventory says.
    let right = lab.dir().join("id_ed25519");
    deploy(&["--private-key", right.to_str().unwrap()]).expect_code(0);
    // A user the node has no key for: refused at login, so `-u` is what was sent.
    let run = deploy(&["-u", "nobody"]);
    run.expect_code(1);
    let error = run.json()["hosts"]["node1"]["error"].to_string();
    assert!(error.contains("nobody"), "{error}");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let lab = TempLab::new(1);
    let playbook = write(
        lab.dir(),
        "fail.yml",
        "steps:\n  - name: breaks\n    command: {cmd: \"echo boom >&2; exit 3\"}\n",
    );
    let text = |flag: Option<&str>, no_color: bool| {
        let mut tandem = Tandem::new(["deploy", "-i"]);
        if no_color {
            tandem = tandem.env("NO_COLOR", "1");
        }
        let mut args = vec![playbook.to_str().unwrap()];
        if let Some(flag) = flag {
            args.extend(["--color", flag]);
        }
        let run = tandem.run_with(&lab.inventory(), &args);
        run.expect_code(1);
        run.stdout()
    };
    // Not a terminal: no colour unless asked for.
    let plain = text(None, false);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(plain.contains("node1 | failed | breaks: boom"), "{plain}");
    // The reason again under the recap line.
    assert!(plain.contains("failed at 'breaks' ("), "{plain}");
    let always = text(Some("always"), true);
    assert!(
        always.contains("\x1b[31mfailed\x1b[0m"),
        "the flag wins over NO_COLOR: {always}"
    );
    assert!(!text(Some("never"), false).contains('\x1b'));
}

#[test]
fn each_v_shows_more_and_the_log_file_keeps_it_all() {
    let lab = TempLab::new(1);
    let playbook = write(
        lab.dir(),
        "say.yml",
        "steps:\n  - name: say\n    command: {cmd: \"echo said-on-the-node; echo warned >&2\"}\n",
    );
    let deploy = |extra: &[&str]| {
        let mut args = vec![playbook.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = Tandem::new(["deploy", "-i"]).run_with(&lab.inventory(), &args);
        run.expect_code(0);
        (run.stdout(), run.stderr.clone())
    };
    let (out, err) = deploy(&[]);
    assert!(!out.contains("stdout: said-on-the-node"), "{out}");
    assert!(!err.contains("script sent"), "{err}");
    // -v: the step's output under its line.
    let (out, _) = deploy(&["-v"]);
    assert!(out.contains("    stdout: said-on-the-node"), "{out}");
    assert!(out.contains("    stderr: warned"), "{out}");
    // -vv: the script, named by node.
    let (_, err) = deploy(&["-vv"]);
    assert!(err.contains("node{name=node1}"), "{err}");
    assert!(err.contains("script sent:"), "{err}");
    assert!(err.contains("echo said-on-the-node"), "{err}");
    assert!(!err.contains("answer: stdout"), "{err}");
    // -vvv: the conversation, tandem's frames and russh's own log.
    let (_, err) = deploy(&["-vvv"]);
    assert!(err.contains("answer: stdout"), "{err}");
    assert!(err.contains("russh"), "{err}");
    // --log-file: all of it, without -v, and nothing on stderr.
    let log = lab.dir().join("tandem.log");
    let (_, err) = deploy(&["--log-file", log.to_str().unwrap()]);
    assert!(!err.contains("script sent"), "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("script sent:"), "{text}");
    assert!(text.contains("said-on-the-node"), "{text}");
    assert!(!text.contains('\x1b'), "no colour in a file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // --json always has a command's output.
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"]);
    let report = run.json();
    let step = &report["hosts"]["node1"]["steps"][0];
    assert_eq!(step["stdout"], "said-on-the-node\n", "{report}");
    assert!(
        step["stderr"].as_str().unwrap().starts_with("warned\n"),
        "{report}"
    );
}

#[test]
fn listings_and_syntax_check_print_without_connecting() {
    // Nodes on a closed port, without known_hosts or key: any connection attempt (or even
    // preparing one) would fail the command.
    let dir = std::env::temp_dir().join(format!("tandem-listing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inventory = write(
        &dir,
        "inventory.yml",
        "ssh: {port: 1, identity: missing_key, known_hosts: missing_known_hosts}
clusters:
  pair1:
    nodes:
      node1: {address: 127.0.0.1}
      node2: {address: 127.0.0.1}
",
    );
    let playbook = write(
        &dir,
        "site.yml",
        "steps:\n  - name: net\n    command: {cmd: \"true\"}\n    tags: [network]\n  - name: disk\n    command: {cmd: \"true\"}\n    tags: [disk, node]\nhandlers:\n  - name: reload\n    command: {cmd: \"true\"}\n",
    );
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &inventory,
        &[
            playbook.to_str().unwrap(),
            "--syntax-check",
            "--list-hosts",
            "--list-tasks",
            "--list-tags",
            "--tags",
            "disk",
            "--limit",
            "node2",
        ],
    );
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.starts_with("syntax ok: "), "{out}");
    assert!(
        out.contains("hosts (1):\n  node2  (cluster pair1)\n"),
        "{out}"
    );
    assert!(
        out.contains("steps (1):\n  disk  TAGS: [disk, node]  ("),
        "{out}"
    );
    assert!(out.contains("handlers (1):\n  reload  ("), "{out}");
    assert!(out.contains("tags: [disk, network, node]\n"), "{out}");
    // A name nothing defines: exit 2.
    let broken = write(
        &dir,
        "broken.yml",
        "steps:\n  - command: {cmd: \"echo {{ sevrice }}\"}\n",
    );
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&inventory, &[broken.to_str().unwrap(), "--syntax-check"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("reads `sevrice`, which nothing defines"),
        "{}",
        run.stderr
    );
}

/// The cookbook playbook and the example inventory pass `--syntax-check`: every name the
/// cookbook reads is defined by the inventory, the playbook or tandem (a name tandem's context
/// sets but the undefined-name check did not know once refused the whole cookbook).
#[test]
fn the_cookbook_and_the_example_inventory_pass_the_syntax_check() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = Tandem::new(["deploy", "-i"]).run_with(
        &repo.join("inventories/example.yml"),
        &[
            repo.join("playbooks/ovh-lxc-cluster.yml").to_str().unwrap(),
            "--syntax-check",
        ],
    );
    run.expect_code(0);
    assert!(run.stdout().starts_with("syntax ok: "), "{}", run.stdout());
}
