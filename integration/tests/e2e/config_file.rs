//! `tandem.toml` and `TANDEM_<KEY>` as a user meets them: a file in the directory tandem runs
//! from changes a flag's default, the environment beats it, the command line beats both; and
//! `tandem config` finds the cookbook beside the inventory from any directory.

use std::path::PathBuf;

use tandem_integration::lab::TempLab;

use crate::cli::Tandem;
use crate::support::write;

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The one step's outcome on node1 of a `--json` report.
fn step_outcome(report: &serde_json::Value) -> String {
    let step = &report["hosts"]["node1"]["steps"][0];
    format!("{} {}", step["status"], step["error"])
}

#[test]
fn a_tandem_toml_in_the_current_directory_sets_defaults_env_and_flags_win() {
    let lab = TempLab::new(1);
    let cwd = lab.dir().join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    // No -i, no --json, no --step-timeout on the command line: all three from the file; the
    // inventory relative to the file's directory.
    let inventory = lab.inventory();
    let relative = format!("../{}", inventory.file_name().unwrap().to_string_lossy());
    write(
        &cwd,
        "tandem.toml",
        &format!("inventory = \"{relative}\"\njson = true\nstep_timeout = 1\n"),
    );
    write(
        &cwd,
        "site.yml",
        "steps:\n  - name: nap\n    command: sleep 3\n",
    );

    let run = Tandem::new(["deploy", "site.yml"]).dir(&cwd).run();
    run.expect_code(1);
    let report = run.json();
    let outcome = step_outcome(&report);
    assert!(outcome.contains("timed out after 1 s"), "{report}");

    // The environment over the file: the step now has the time it needs.
    let run = Tandem::new(["deploy", "site.yml"])
        .env("TANDEM_STEP_TIMEOUT", "30")
        .dir(&cwd)
        .run();
    run.expect_code(0);
    let outcome = step_outcome(&run.json());
    assert!(!outcome.contains("timed out"), "{outcome}");

    // The command line over both.
    let run = Tandem::new(["deploy", "site.yml", "--step-timeout", "1"])
        .env("TANDEM_STEP_TIMEOUT", "30")
        .dir(&cwd)
        .run();
    run.expect_code(1);
    assert!(step_outcome(&run.json()).contains("timed out after 1 s"));

    // Without the file, the built-in default: --inventory is required again.
    std::fs::remove_file(cwd.join("tandem.toml")).unwrap();
    let run = Tandem::new(["deploy", "site.yml"]).dir(&cwd).run();
    run.expect_code(2);
    assert!(run.stderr.contains("--inventory"), "{}", run.stderr);
}

#[test]
fn config_render_finds_the_cookbook_beside_the_inventory_from_any_directory() {
    let elsewhere = std::env::temp_dir().join(format!("tandem-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let inventory = checkout().join("inventories/example.yml");
    let cookbook = checkout().join("playbooks/ovh-lxc-cluster.yml");

    let found = Tandem::new(["config", "render", "-i"])
        .dir(&elsewhere)
        .run_with(&inventory, &[]);
    found.expect_code(0);
    let named = Tandem::new(["config", "render", "--playbook"])
        .dir(&elsewhere)
        .run_with(&cookbook, &["-i", inventory.to_str().unwrap()]);
    named.expect_code(0);
    assert_eq!(found.stdout(), named.stdout());
    assert!(found.stdout().contains("[DEFAULT]"), "{}", found.stdout());

    // An inventory with no cookbook near it (and none in the current directory): one line
    // naming where tandem looked and both ways to say where it is.
    let lone = write(
        &elsewhere,
        "inventory.yml",
        &std::fs::read_to_string(&inventory).unwrap(),
    );
    let run = Tandem::new(["config", "render", "-i"])
        .dir(&elsewhere)
        .run_with(&lone, &[]);
    run.expect_code(2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no cookbook playbook") && run.stderr.contains("--playbook"),
        "{}",
        run.stderr
    );

    // tandem.toml's `playbook`, relative to the file, over the search.
    write(
        &elsewhere,
        "tandem.toml",
        &format!("playbook = \"{}\"\n", cookbook.display()),
    );
    let run = Tandem::new(["config", "render", "-i"])
        .dir(&elsewhere)
        .run_with(&lone, &[]);
    run.expect_code(0);
    assert_eq!(run.stdout(), named.stdout());
    std::fs::remove_dir_all(&elsewhere).unwrap();
}
