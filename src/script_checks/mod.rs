//! Issue 12, class 1: every script tandem sends to a node is valid POSIX sh for any value a
//! user may give, and passes `shellcheck -s sh`, for a table of hostile values in every
//! argument that reaches a script (modules.rs: every module of `modules::NAMES`; others.rs:
//! the prelude, the remote shell's loop, the facts scripts, `keys`' gathering script, the game
//! day's node scripts and switch command, the config read command, and the templates of
//! `templates/` that are scripts). That each value also comes back byte for byte on a node is
//! proven in the lab (integration/tests/e2e/hostile_values.rs).
//!
//! Test-only, at the top of the crate: it reads every layer's script builders.

mod modules;
mod others;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Values that break scripts built by pasting text: blanks, both quotes, command
/// substitutions, a newline, a leading dash, globs, a backslash, a comment sign, a tilde,
/// non-ASCII and U+FFFD (module arguments come from YAML, always UTF-8: raw non-UTF-8 bytes
/// can only be file content, which travels in the payload and is checked in the lab).
pub const HOSTILE: &[&str] = &[
    "two words\tand  tabs ",
    "it's",
    "say \"hi\"",
    "$(touch /tmp/tandem-pwned)",
    "`touch /tmp/tandem-pwned`",
    "${HOME}$1$@",
    "line\nbreak\r",
    "-rf",
    "--",
    "*?[a-z]{a,b}~",
    "a;b&c|d>e<f #!x",
    "back\\slash\\'",
    "é 漢字 \u{fffd}",
    "'; reboot; '",
];

/// SC codes excluded from the check, each with why:
/// - SC2016 (info: "expressions don't expand in single quotes"): tandem single-quotes on
///   purpose: awk programs, `$` in dpkg-query formats and the lxc-create notes are literal.
/// - SC1091 (info: "not following a sourced file"): what the scripts source lives on the node
///   (`/etc/os-release`, the frame the remote shell received), not here.
/// - SC1003 (info: "want to escape a single quote?"): a script quoted as one word for
///   `sh -c` (the config read under sudo) holds `'\''` sequences of its own, which that
///   heuristic takes for a failed escape; `dash -n` and the lab prove the nesting right.
const EXCLUDED: &[&str] = &["SC1003", "SC1091", "SC2016"];

/// Scripts collected under a label each, checked all at once.
#[derive(Default)]
pub struct Checked {
    scripts: Vec<(String, String)>,
}

impl Checked {
    pub fn add(&mut self, label: impl Into<String>, script: &str) {
        self.scripts.push((label.into(), script.to_string()));
    }

    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// Runs `dash -n` on each script and shellcheck on all of them; panics listing every
    /// problem (at most 40) with the script it was found in.
    pub fn assert_all_pass(&self) {
        let dir = std::env::temp_dir().join(format!(
            "tandem-script-checks-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for (i, (_, script)) in self.scripts.iter().enumerate() {
            let path = dir.join(format!("{i:05}.sh"));
            std::fs::write(&path, script).unwrap();
            files.insert(path, i);
        }
        let mut problems: Vec<String> = Vec::new();
        for (path, &i) in &files {
            let out = Command::new("dash").arg("-n").arg(path).output().unwrap();
            if !out.status.success() {
                problems.push(self.describe(i, &String::from_utf8_lossy(&out.stderr)));
            }
        }
        let started = std::time::Instant::now();
        let paths: Vec<&PathBuf> = files.keys().collect();
        // Batches on every core: shellcheck spends ~40 ms per script.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = paths.len().div_ceil(threads).clamp(1, 200);
        let outputs: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = paths
                .chunks(per)
                .map(|batch| {
                    scope.spawn(move || {
                        let out = Command::new("shellcheck")
                            .args(["-s", "sh", "-f", "gcc", "-e", &EXCLUDED.join(",")])
                            .args(batch)
                            .output()
                            .expect("shellcheck (integration/scripts/packages.list installs it)");
                        assert!(
                            out.status.code() == Some(0) || !out.stdout.is_empty(),
                            "shellcheck failed to run: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for line in outputs.iter().flat_map(|o| o.lines()) {
            let file = line.split(':').next().unwrap_or_default();
            problems.push(match files.get(Path::new(file)) {
                Some(&i) => self.describe(i, line),
                None => line.to_string(),
            });
        }
        eprintln!(
            "shellcheck: {} scripts in {:?}",
            paths.len(),
            started.elapsed()
        );
        let _ = std::fs::remove_dir_all(&dir);
        if !problems.is_empty() {
            // Three examples of each kind of problem (SC code, or dash's), and the count.
            let mut kinds: BTreeMap<String, Vec<&String>> = BTreeMap::new();
            for p in &problems {
                let first = p.lines().next().unwrap_or_default();
                let kind = first
                    .rsplit_once('[')
                    .map_or("dash -n", |(_, code)| code.trim_end_matches(']'))
                    .to_string();
                kinds.entry(kind).or_default().push(p);
            }
            let report: Vec<String> = kinds
                .iter()
                .map(|(kind, all)| {
                    let shown: Vec<&str> = all.iter().take(3).map(|s| s.as_str()).collect();
                    format!("== {kind}: {} times\n{}", all.len(), shown.join("\n----\n"))
                })
                .collect();
            panic!(
                "{} problems in {} scripts:\n{}",
                problems.len(),
                self.scripts.len(),
                report.join("\n")
            );
        }
    }

    fn describe(&self, i: usize, problem: &str) -> String {
        let (label, script) = &self.scripts[i];
        format!("{label}: {}\n{script}", problem.trim())
    }
}
