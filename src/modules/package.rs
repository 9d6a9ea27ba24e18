//! `package`: Debian packages installed or removed with apt.
//!
//! The check is ONE `dpkg-query` for all the packages of the step (about 6 ms on a node, the
//! most expensive process of a typical converged run), matched by the shell's `case` without
//! any further process. apt runs only for what is missing (or, for absent, still there).
//!
//! Package lists: refreshed first when the last successful `apt-get update` is older than a
//! day, and once more when an install fails anyway (a package unknown to old lists, or a
//! version already gone from the mirror), then the install is tried again.

use serde::Deserialize;

use super::args::parse;
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

/// The limit of a `package` step unless the playbook or the command line sets one: 15 minutes.
pub const DEFAULT_TIMEOUT_SECS: u32 = 900;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// One name or a list.
    name: serde_json::Value,
    #[serde(default)]
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Debug)]
pub struct Package {
    names: Vec<String>,
    state: State,
}

/// Debian policy: lowercase letters, digits, `+ - .`, at least two characters, starting with
/// a letter or digit. Checked here so that the names are also safe as shell words.
fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

// apt's options: never prompt, keep the node's edited config files, no recommends (a server
// gets what was asked for), wait for a running apt (unattended-upgrades) instead of failing.
const APT: &str = "apt-get -y -q -o DPkg::Lock::Timeout=300";
const INSTALL: &str = "install --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

impl Package {
    pub fn from_args(args: &serde_json::Value) -> Result<Package, ModuleError> {
        let a: Args = parse("package", args)?;
        let names: Vec<String> = match a.name {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(ModuleError::invalid(
                        "package",
                        format!("name list holds {other}, not a package name"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(ModuleError::invalid(
                    "package",
                    format!("name must be a package name or a list of them, not {other}"),
                ));
            }
        };
        if names.is_empty() {
            return Err(ModuleError::invalid("package", "name is an empty list"));
        }
        if let Some(bad) = names.iter().find(|n| !valid_name(n)) {
            return Err(ModuleError::invalid(
                "package",
                format!("'{bad}' is not a Debian package name (lowercase letters, digits, + - .)"),
            ));
        }
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        Ok(Package {
            names: unique,
            state: a.state,
        })
    }
}

/// One line per package: "NAME XYZ" where Y is the status: i = installed, n = not installed,
/// c = only config files left; Z is an error flag (space when none).
const CHECK: &str = r#"nl='
'
# The names as positional parameters: data, not code.
set -- {words}
st=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null)
st="$nl$st$nl"
todo=
for p in "$@"; do
  case $st in {pattern}) {hit} ;; *) {miss} ;; esac
done
[ -n "$todo" ] || exit 0
set -f
for p in $todo; do tandem_changed "{verb} $p"; done
tandem_checking && exit 0
export DEBIAN_FRONTEND=noninteractive
"#;

// `$todo` holds validated package names (letters, digits, `+-.`): split on purpose, globbing
// is off (`set -f` above).
const INSTALL_TODO: &str = r#"out="$TANDEM_TMP/apt.out"
apt_update() {
  {apt} update >"$out" 2>&1 || { cat -- "$out" >&2; tandem_fail "package: apt-get update failed"; }
  updated=1
}
updated=
# apt's own hook touches this stamp after every successful update; the lists directory is the
# fallback where it is missing.
stamp=${TANDEM_APT_STAMP:-/var/lib/apt/periodic/update-success-stamp}
[ -e "$stamp" ] || stamp=/var/lib/apt/lists
touch -d '1 day ago' -- "$TANDEM_TMP/day"
# find -newer: POSIX (test's -nt is not).
[ -n "$(find "$stamp" -prune -newer "$TANDEM_TMP/day")" ] || apt_update
# shellcheck disable=SC2086 # $todo: validated names, split on purpose
if {apt} {install} $todo >"$out" 2>&1; then
  cat -- "$out"
elif [ -z "$updated" ]; then
  apt_update
  # shellcheck disable=SC2086 # as above
  {apt} {install} $todo || tandem_fail "package: apt-get install$todo failed"
else
  cat -- "$out" >&2
  tandem_fail "package: apt-get install$todo failed"
fi
"#;

const REMOVE_TODO: &str = r#"# shellcheck disable=SC2086 # $todo: validated names, split on purpose
{apt} remove $todo || tandem_fail "package: apt-get remove$todo failed"
"#;

impl Module for Package {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let words: Vec<ShellWord> = self.names.iter().map(|n| ShellWord::quote(n)).collect();
        let (pattern, verb) = match self.state {
            State::Present => (r#"*"$nl$p "?"i $nl"*"#, "installed"),
            State::Absent => (r#"*"$nl$p "?[!nc]?"$nl"*"#, "removed"),
        };
        let (hit, miss) = match self.state {
            State::Present => (":", r#"todo="$todo $p""#),
            State::Absent => (r#"todo="$todo $p""#, ":"),
        };
        let mut script = Script::fill(
            CHECK,
            &[
                ("words", &words),
                ("pattern", &Script::code(pattern)),
                ("hit", &Script::code(hit)),
                ("miss", &Script::code(miss)),
                ("verb", &Script::code(verb)),
            ],
        );
        let apt = Script::code(APT);
        match self.state {
            State::Present => script.push(Script::fill(
                INSTALL_TODO,
                &[("apt", &apt), ("install", &Script::code(INSTALL))],
            )),
            State::Absent => script.push(Script::fill(REMOVE_TODO, &[("apt", &apt)])),
        }
        Ok(RemoteStep {
            script,
            payload: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;

    fn plan(args: serde_json::Value) -> RemoteStep {
        Package::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    /// Fake dpkg-query and apt-get over a text "database" of `NAME STATUS` lines; apt-get logs
    /// its calls, and refuses to install until `update` when `$FAKE_DB.stale` exists.
    fn fake_apt(t: &Local, db: &str) -> (Vec<(&'static str, String)>, std::path::PathBuf) {
        let dbf = t.path("db");
        std::fs::write(&dbf, db).unwrap();
        t.stub(
            "dpkg-query",
            r#"printf "%s\n" "$*" >>"$FAKE_DB.queries"
shift 2
rc=0
for p; do grep "^$p " "$FAKE_DB" || rc=1; done
exit $rc
"#,
        );
        t.stub(
            "apt-get",
            r#"echo "$*" >>"$FAKE_DB.log"
cmd= skip=
for a; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case $a in
  -o) skip=1 ;;
  -*) ;;
  update) rm -f "$FAKE_DB.stale"; echo "Reading package lists..." ;;
  install|remove) cmd=$a ;;
  *)
    if [ "$cmd" = install ] && [ -e "$FAKE_DB.stale" ]; then
      echo "E: Unable to locate package $a" >&2; exit 100
    fi
    grep -v "^$a " "$FAKE_DB" >"$FAKE_DB.t"; mv "$FAKE_DB.t" "$FAKE_DB"
    if [ "$cmd" = install ]; then echo "$a ii " >>"$FAKE_DB"; echo "Setting up $a"; fi
    ;;
  esac
done
"#,
        );
        let fresh = t.path("stamp");
        std::fs::write(&fresh, "").unwrap();
        let env = vec![
            ("FAKE_DB", dbf.display().to_string()),
            ("TANDEM_APT_STAMP", fresh.display().to_string()),
        ];
        (env, dbf)
    }

    fn env<'a>(e: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        e.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn log(t: &Local) -> String {
        std::fs::read_to_string(t.path("db.log")).unwrap_or_default()
    }

    #[test]
    fn installs_only_what_is_missing_then_converges() {
        let t = Local::new();
        let (e, _) = fake_apt(&t, "curl ii \nvim rc \nnano hi \n");
        let e = env(&e);
        let step = plan(json!({"name": ["curl", "vim", "nano", "jq"]}));

        let check = t.run_env(&step, true, false, &e);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(check.report.changes, vec!["installed vim", "installed jq"]);
        assert_eq!(log(&t), "", "check mode ran apt-get");

        let run = t.run_env(&step, false, false, &e);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.report.changes, vec!["installed vim", "installed jq"]);
        assert_eq!(
            log(&t),
            "-y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold vim jq\n"
        );
        assert!(String::from_utf8_lossy(&run.report.output).contains("Setting up jq"));

        let again = t.run_env(&step, false, false, &e);
        assert!(!again.report.changed(), "{:?}", again.report);
        // One dpkg-query per check, for all the packages.
        let queries = std::fs::read_to_string(t.path("db.queries")).unwrap();
        assert_eq!(queries.lines().count(), 3);
        assert!(
            queries.lines().all(|l| l.ends_with(" curl vim nano jq")),
            "{queries}"
        );
    }

    #[test]
    fn stale_or_unknown_lists_are_refreshed() {
        let t = Local::new();
        let (mut e, db) = fake_apt(&t, "");
        // Fresh stamp but lists that do not know the package: install, update, install.
        std::fs::write(db.with_extension("stale"), "").unwrap();
        let run = t.run_env(&plan(json!({"name": "jq"})), false, false, &env(&e));
        assert_eq!(run.status, 0, "{}", run.stderr);
        let calls: Vec<String> = log(&t)
            .lines()
            .map(|l| {
                l.split(' ')
                    .find(|w| ["install", "update"].contains(w))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(calls, ["install", "update", "install"]);

        // A stamp older than a day: update first.
        std::fs::write(t.path("db.log"), "").unwrap();
        let old = t.path("old-stamp");
        std::fs::write(&old, "").unwrap();
        let status = std::process::Command::new("touch")
            .args(["-d", "2 days ago"])
            .arg(&old)
            .status()
            .unwrap();
        assert!(status.success());
        e[1].1 = old.display().to_string();
        let run = t.run_env(&plan(json!({"name": "curl"})), false, false, &env(&e));
        assert_eq!(run.status, 0, "{}", run.stderr);
        let log = log(&t);
        assert!(
            log.starts_with("-y -q -o DPkg::Lock::Timeout=300 update\n"),
            "{log}"
        );
        assert_eq!(log.lines().count(), 2);
    }

    #[test]
    fn install_failure_is_reported() {
        let t = Local::new();
        let (e, _) = fake_apt(&t, "");
        t.stub(
            "apt-get",
            "for a; do [ \"$a\" = update ] && exit 0; done\necho 'E: Unable to locate package nope' >&2\nexit 100\n",
        );
        let run = t.run_env(&plan(json!({"name": "nope"})), false, false, &env(&e));
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("E: Unable to locate package"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .ends_with("package: apt-get install nope failed\n"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn absent_removes_what_is_there() {
        let t = Local::new();
        let (e, _) = fake_apt(&t, "nano ii \nvim rc \nexim4 iU \n");
        let e = env(&e);
        let step = plan(json!({"name": ["nano", "vim", "exim4", "jq"], "state": "absent"}));
        let check = t.run_env(&step, true, false, &e);
        assert_eq!(check.report.changes, vec!["removed nano", "removed exim4"]);
        let run = t.run_env(&step, false, false, &e);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(log(&t).ends_with(" remove nano exim4\n"), "{}", log(&t));
        assert!(!t.run_env(&step, false, false, &e).report.changed());
    }

    #[test]
    fn real_dpkg_query_in_check_mode() {
        // Check mode never runs apt: safe on this machine, where dpkg exists (Debian).
        if !std::path::Path::new("/usr/bin/dpkg-query").exists() {
            return;
        }
        let t = Local::new();
        let step = plan(json!({"name": ["coreutils", "tandem-no-such-package"]}));
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec!["installed tandem-no-such-package"]
        );
        let gone =
            plan(json!({"name": ["coreutils", "tandem-no-such-package"], "state": "absent"}));
        assert_eq!(
            t.run(&gone, true, false).report.changes,
            vec!["removed coreutils"]
        );
    }

    #[test]
    fn bad_arguments_are_explained() {
        let err = |v: serde_json::Value| Package::from_args(&v).unwrap_err().to_string();
        assert!(err(json!({"name": "vim", "stat": "absent"})).contains("unknown field `stat`"));
        assert!(
            err(json!({"name": "vim", "state": "latest"})).contains("unknown variant `latest`")
        );
        assert!(
            err(json!({"name": "Vim"})).contains("package: 'Vim' is not a Debian package name")
        );
        assert!(err(json!({"name": "vim; rm -rf /"})).contains("not a Debian package name"));
        assert!(err(json!({"name": "-f"})).contains("not a Debian package name"));
        assert!(err(json!({"name": []})).contains("empty list"));
        assert!(err(json!({"name": 3})).contains("package: name must be"));
        assert!(err(json!({"name": ["a1", 3]})).contains("name list holds 3"));
        assert!(err(json!({})).contains("missing field `name`"));
    }
}
