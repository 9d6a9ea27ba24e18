//! The scripts of the fresh path (issue 11): the README's commands, their shared helpers, CI's
//! purge. Checked without purging anything: `purge-fresh.sh --simulate` only asks apt.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bash(script: &str) -> Output {
    Command::new("bash")
        .args(["-c", script])
        .current_dir(repo())
        .output()
        .expect("bash runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_fresh_path_scripts_pass_shellcheck() {
    let out = Command::new("shellcheck")
        .args([
            "-x",
            "integration/scripts/lib.sh",
            "integration/scripts/demo.sh",
            "integration/scripts/demo-live.sh",
            "integration/scripts/test.sh",
            "integration/scripts/setup.sh",
            "integration/scripts/purge-fresh.sh",
            ".ci/run",
        ])
        .current_dir(repo())
        .output()
        .expect("shellcheck (integration/scripts/packages.list installs it)");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn need_shared_names_the_missing_file_and_where_it_comes_from() {
    let out = bash(
        ". integration/scripts/lib.sh; need_shared ../shared/nowhere/agent.tar.gz 'the OpenSVC agent tarball'; echo went on",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("the OpenSVC agent tarball is missing:")
            && err.contains("/../shared/nowhere/agent.tar.gz comes from ../shared"),
        "{err}"
    );
    // A file that is there passes silently.
    let out =
        bash(". integration/scripts/lib.sh; need_shared README.md 'the README'; echo went on");
    assert_eq!(text(&out.stdout), "went on\n");
}

#[test]
fn stage_timings_are_printed_and_summed_after_a_stage() {
    let out = bash(
        ". integration/scripts/lib.sh; stage setup; stage build; sleep 0.2; stage 'lab up'; sleep 0.3; \
         stage_end; echo \"after build: $(stages_ms_after build)\"; stages_report",
    );
    assert!(out.status.success());
    let said = text(&out.stdout);
    let after: u64 = said
        .lines()
        .find_map(|l| l.strip_prefix("after build: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        (250..2000).contains(&after),
        "lab up took {after} ms: {said}"
    );
    for name in ["setup", "build", "lab up", "total"] {
        assert!(
            said.lines()
                .any(|l| l.trim_start().starts_with(name) && l.ends_with(" s")),
            "no timing for {name}: {said}"
        );
    }
}

/// What `packages.list` puts in `group`.
fn group(name: &str) -> Vec<String> {
    let list = std::fs::read_to_string(repo().join("integration/scripts/packages.list")).unwrap();
    list.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next()) {
                (Some(p), Some(g)) if g == name => Some(p.to_string()),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn purge_fresh_would_purge_only_the_cookbook_and_agent_groups_and_simulates_without_purging() {
    let status = || text(&bash("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'").stdout);
    let before = status();
    let out = bash("bash integration/scripts/purge-fresh.sh --simulate");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        status(),
        before,
        "--simulate changed the installed packages"
    );
    let said = text(&out.stdout);
    let purgeable: Vec<String> = group("cookbook")
        .into_iter()
        .chain(group("agent"))
        .collect();
    assert!(!purgeable.is_empty());
    if let Some(list) = said
        .lines()
        .find_map(|l| l.strip_prefix("purge-fresh: would purge "))
    {
        let names = list.trim_end_matches(" (--simulate: nothing purged)");
        for name in names.split_whitespace() {
            assert!(
                purgeable.iter().any(|p| p == name),
                "{name} is not in the cookbook or agent group: {said}"
            );
        }
    } else {
        assert!(said.contains("already fresh"), "{said}");
    }
    for kept in ["lab", "base", "test", "tools"] {
        for package in group(kept) {
            assert!(
                !said.split_whitespace().any(|w| w == package),
                "{package} ({kept}) would be purged: {said}"
            );
        }
    }
}
