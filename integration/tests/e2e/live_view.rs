//! What a user sees on a terminal: the live view of a 20-node deploy (a line per host or a
//! "+N more" line, colours), colour following `--color`/`NO_COLOR` in `failover-test` too, and
//! each step's time counted from when it started on its node. Terminals are pseudo-terminals
//! made by util-linux's `script`, sized with `stty`.

use std::process::Command;

use tandem_integration::lab::TempLab;

use crate::cli::{Tandem, tandem_bin};
use crate::support::write;

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// What a terminal of `rows` x 100 showed while `tandem ARGS` ran in it, and its exit status.
/// `env`: variables set for tandem (TERM is xterm, NO_COLOR unset unless given here).
fn on_terminal(rows: u16, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut line = format!(
        "stty rows {rows} cols 100; exec {}",
        quote(tandem_bin().to_str().unwrap())
    );
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut cmd = Command::new("timeout");
    // Bounded: a deploy of a few seconds, with room for a loaded machine.
    cmd.args(["180", "script", "-qec", &line, "/dev/null"]);
    cmd.env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("SSH_AUTH_SOCK");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The live view's spinner frames.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Colour codes (SGR red, green, yellow), not the cursor moves the view is drawn with.
fn has_colour(text: &str) -> bool {
    ["\x1b[31m", "\x1b[32m", "\x1b[33m"]
        .iter()
        .any(|code| text.contains(code))
}

/// A few steps that change, and a step that runs long enough on every node (longer on some)
/// for the view to be drawn with all of them at work.
const PLAYBOOK: &str = r#"
steps:
  - name: marker
    copy: {dest: /srv/live-marker, content: "{{ node }}\n"}
  - name: slow step
    command: {cmd: "sleep {{ 2 if node[-1:] == '7' else 1 }}"}
  - name: second marker
    copy: {dest: /srv/live-marker-2, content: "done\n"}
"#;

#[test]
fn a_20_node_deploy_on_a_terminal_shows_every_host_or_a_more_line_in_colour() {
    let lab = TempLab::new(20);
    let playbook = write(lab.dir(), "live.yml", PLAYBOOK);
    let inventory = lab.inventory();
    let deploy = |rows: u16, env: &[(&str, &str)]| {
        let (code, screen) = on_terminal(
            rows,
            env,
            &[
                "deploy",
                "-i",
                inventory.to_str().unwrap(),
                playbook.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{screen}");
        screen
    };
    let names: Vec<String> = (1..=20).map(|i| format!("node{i}")).collect();
    // A line for a host at work: its spinner, then its name padded to the longest (node20).
    let host_line = |screen: &str, name: &str| {
        SPINNER
            .iter()
            .any(|c| screen.contains(&format!("{c} {name:<6} ")))
    };
    // A tall terminal: every host has its line at some point, no "+N more".
    let tall = deploy(50, &[]);
    assert!(tall.contains("deploy ["), "no overall bar: {tall}");
    assert!(
        tall.contains("/60 steps"),
        "the total is known from the start: {tall}"
    );
    for name in &names {
        assert!(host_line(&tall, name), "{name} has no live line: {tall}");
    }
    assert!(!tall.contains("more hosts running"), "{tall}");
    // Colour: the recap and the changed steps.
    assert!(has_colour(&tall), "no colour on a terminal: {tall}");
    assert!(tall.contains("20 hosts: 20 ok, 0 failed"), "{tall}");

    // A short one: as many hosts as fit, then one "+N more" line.
    let short = deploy(12, &[]);
    // The most hosts left out at once: while all 20 run.
    let most = short
        .split(['\n', '\r'])
        .filter_map(|l| {
            let (_, rest) = l.split_once('+')?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("more hosts running")
                .then(|| n.parse::<usize>().ok())?
        })
        .max()
        .unwrap_or_else(|| panic!("no +N more line in 12 rows: {short}"));
    // 12 rows: one for the cursor, the bar, 9 hosts and the "+N more" line.
    assert_eq!(most, 11, "{short}");
    assert!(has_colour(&short));

    // NO_COLOR on a terminal: the view is drawn, without colour.
    let plain = deploy(50, &[("NO_COLOR", "1")]);
    assert!(plain.contains("deploy ["), "{plain}");
    assert!(!has_colour(&plain), "NO_COLOR is not respected: {plain}");
    // --color never too.
    let (_, never) = on_terminal(
        50,
        &[],
        &[
            "--color",
            "never",
            "deploy",
            "-i",
            inventory.to_str().unwrap(),
            playbook.to_str().unwrap(),
        ],
    );
    assert!(!has_colour(&never), "{never}");
}

#[test]
fn failover_test_colour_follows_the_flag_and_no_color() {
    // No cookbook deployed: the preflight refuses (nothing serves), which is enough to print
    // the live lines and the summary's verdict.
    let lab = TempLab::new(2);
    let inventory = lab.inventory();
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "failover-test",
            "-i",
            inventory.to_str().unwrap(),
            "--cluster",
            "pair1",
            "--direct",
            "--yes",
        ];
        args.extend_from_slice(extra);
        args
    };
    let (code, coloured) = on_terminal(40, &[], &args(&[]));
    assert_eq!(code, 1, "{coloured}");
    assert!(coloured.contains("FAIL"), "{coloured}");
    assert!(has_colour(&coloured), "no colour on a terminal: {coloured}");
    let (code, plain) = on_terminal(40, &[("NO_COLOR", "1")], &args(&[]));
    assert_eq!(code, 1, "{plain}");
    assert!(plain.contains("FAIL"), "{plain}");
    assert!(!has_colour(&plain), "NO_COLOR is not respected: {plain}");
    let (_, never) = on_terminal(40, &[], &args(&["--color", "never"]));
    assert!(!has_colour(&never), "{never}");
    // Not a terminal: colour only when asked, and then whatever NO_COLOR says.
    let piped = Tandem::new(["failover-test", "-i"])
        .env("NO_COLOR", "1")
        .run_with(
            &inventory,
            &[
                "--cluster",
                "pair1",
                "--direct",
                "--yes",
                "--color",
                "always",
            ],
        );
    piped.expect_code(1);
    assert!(has_colour(&piped.stdout()), "{}", piped.stdout());
    let piped = Tandem::new(["failover-test", "-i"])
        .run_with(&inventory, &["--cluster", "pair1", "--direct", "--yes"]);
    assert!(!has_colour(&piped.stdout()) && !has_colour(&piped.stderr));
}

#[test]
fn help_colour_follows_the_flag_and_no_color() {
    // clap's help styles (bold, underline) are escape codes too.
    let help = |args: &[&str], env: &[(&str, &str)]| on_terminal(40, env, args).1;
    assert!(help(&["deploy", "--help"], &[]).contains("\x1b[1m"));
    assert!(!help(&["deploy", "--help"], &[("NO_COLOR", "1")]).contains("\x1b["));
    assert!(!help(&["--color", "never", "deploy", "--help"], &[]).contains("\x1b["));
    let piped = Tandem::new(["--color", "always", "deploy", "--help"]).run();
    assert!(piped.stdout().contains("\x1b[1m"), "{}", piped.stdout());
}

#[test]
fn a_step_pipelined_behind_a_slow_one_counts_its_own_time() {
    let lab = TempLab::new(1);
    // Both steps are sent at once; the second waits on the node while the first sleeps.
    let playbook = write(
        lab.dir(),
        "timed.yml",
        r#"
steps:
  - name: slow
    command: {cmd: "sleep 1.5"}
  - name: quick
    copy: {dest: /srv/quick, content: "x\n"}
"#,
    );
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"]);
    run.expect_code(0);
    let report = run.json();
    let steps = &report["hosts"]["node1"]["steps"];
    let slow = steps[0]["elapsed_ms"].as_u64().unwrap();
    let quick = steps[1]["elapsed_ms"].as_u64().unwrap();
    assert!(slow >= 1500, "{report}");
    assert!(
        quick < 700,
        "the quick step counted its wait behind the slow one ({quick} ms): {report}"
    );
}
