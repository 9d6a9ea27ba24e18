//! `sysctl`: a kernel parameter, persisted as `name = value` in a sysctl.d file (atomic, the
//! existing line for that name replaced) and applied live by writing its /proc/sys file when
//! the running value differs. Both are reported as separate changes.
//!
//! The live value is read with the shell's `read` builtin and compared with whitespace
//! collapsed (the kernel prints `ip_local_port_range` with a tab): a converged check costs one
//! `awk` and no other process. `absent` only removes the persisted line: the kernel's default
//! is unknown here, so the live value is left as is. A symlink at `file` is handled as `line`
//! handles it (`follow`, default true).

use serde::Deserialize;

use super::args::{absolute, parse, yes};
use super::rewrite::{Edit, Missing, one_line};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

const DEFAULT_FILE: &str = "/etc/sysctl.d/99-tandem.conf";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    /// A string or a number (`value: 1` is the common way to write it in YAML).
    value: Option<serde_json::Value>,
    file: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default = "yes")]
    apply: bool,
    #[serde(default = "yes")]
    follow: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Debug)]
pub struct Sysctl {
    name: String,
    /// Whitespace collapsed to single spaces, as compared on the node.
    value: String,
    file: String,
    state: State,
    apply: bool,
    follow: bool,
}

// A line sets `name` when the text before its first `=`, blanks removed and without the `-`
// prefix (sysctl.d's "ignore errors"), is the name. The first such line is rewritten, later
// ones dropped (the last one would win at boot and could undo ours).
const PROGRAM: &str = r#"BEGIN {
  name = ENVIRON["TANDEM_NAME"] ""; want = ENVIRON["TANDEM_LINE"] ""
  present = ENVIRON["TANDEM_PRESENT"] != ""
}
index($0, "=") {
  k = $0; sub(/=.*/, "", k); gsub(/[ \t]/, "", k); sub(/^-/, "", k)
  if (k == name) {
    if (present && !done) { print want; done = 1; if ($0 != want) ch = 1 }
    else ch = 1
    next
  }
}
{ print }
END {
  if (present && !done) { print want; ch = 1 }
  exit ch ? 10 : 0
}"#;

impl Sysctl {
    pub fn from_args(args: &serde_json::Value) -> Result<Sysctl, ModuleError> {
        let a: Args = parse("sysctl", args)?;
        let name_ok = !a.name.is_empty()
            && a.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:/@".contains(c))
            && !a.name.starts_with(['.', '/', '-'])
            && !a.name.ends_with(['.', '/'])
            && !a.name.contains("..")
            && !a.name.contains("//");
        if !name_ok {
            return Err(ModuleError::value(
                "sysctl",
                "name",
                &a.name,
                "is not a kernel parameter name like net.ipv4.ip_forward",
            ));
        }
        let value = match a.value {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            None if a.state == State::Absent => String::new(),
            None => {
                return Err(ModuleError::invalid(
                    "sysctl",
                    "state present needs `value`",
                ));
            }
            Some(other) => {
                return Err(ModuleError::invalid(
                    "sysctl",
                    format!("value must be a string or a number, not {other}"),
                ));
            }
        };
        one_line("sysctl", "value", &value)?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        if value.is_empty() && a.state == State::Present {
            return Err(ModuleError::invalid("sysctl", "value is empty"));
        }
        let file = a.file.unwrap_or_else(|| DEFAULT_FILE.to_string());
        absolute("sysctl", "file", &file)?;
        Ok(Sysctl {
            name: a.name,
            value,
            file,
            state: a.state,
            apply: a.apply,
            follow: a.follow,
        })
    }

    /// The file under /proc/sys: dots are separators, unless the name is written with slashes
    /// (sysctl.d's form for components holding a dot, such as a VLAN interface `eth0.100`).
    fn proc_path(&self) -> String {
        if self.name.contains('/') {
            self.name.clone()
        } else {
            self.name.replace('.', "/")
        }
    }
}

const LIVE_KEY: &str = r#"k={name} v={value}
lp="${TANDEM_SYSCTL_ROOT:-/proc/sys}/"{rel}
missing=
if [ ! -f "$lp" ]; then
  # In check mode an earlier step may be what creates it (a bridge's proxy_arp): report it.
  tandem_checking || tandem_fail "sysctl: this kernel has no $k ($lp does not exist: module not loaded?)"
  missing=1
fi
"#;

const LIVE_APPLY: &str = r#"if [ -n "$missing" ]; then
  tandem_changed "live $k to $v (once $lp exists)"
  exit 0
fi
# `set --` splits on blanks: the kernel's tabs and ours compare equal.
IFS= read -r cur <"$lp" || [ -n "$cur" ] || tandem_fail "sysctl: cannot read $lp"
# shellcheck disable=SC2086 # split on blanks on purpose; globbing is off
{ set -f; set -- $cur; cur=$*; set +f; }
if [ "$cur" != "$v" ]; then
  tandem_changed "live $k from $cur to $v"
  if ! tandem_checking; then
    printf '%s\n' "$v" >"$lp" || tandem_fail "sysctl: the kernel refused $k = $v"
    IFS= read -r cur <"$lp"
    # shellcheck disable=SC2086 # as above
    { set -f; set -- $cur; cur=$*; set +f; }
    [ "$cur" = "$v" ] || tandem_fail "sysctl: wrote $k = $v but the kernel reports $cur"
  fi
fi
"#;

impl Module for Sysctl {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let present = if self.state == State::Present {
            "1"
        } else {
            ""
        };
        let line = format!("{} = {}", self.name, self.value);
        let env = [
            ("TANDEM_NAME", self.name.as_str()),
            ("TANDEM_LINE", line.as_str()),
            ("TANDEM_PRESENT", present),
        ];
        let edit = Edit {
            module: "sysctl",
            path: ShellWord::quote(&self.file),
            awk: PROGRAM,
            env: &env,
            missing: Missing::Create,
            mode: ShellWord::quote(""),
            owner: ShellWord::quote(""),
            what: match self.state {
                State::Present => "setting in",
                State::Absent => "removed setting from",
            },
            arms: "",
            follow: self.follow,
        };
        let live = self.apply && self.state == State::Present;
        let mut script = Script::default();
        if live {
            // Checked first: a key this kernel lacks (module not loaded) must not be persisted
            // half-way; it fails before anything is written.
            script.push(Script::fill(
                LIVE_KEY,
                &[
                    ("name", &ShellWord::quote(&self.name)),
                    ("value", &ShellWord::quote(&self.value)),
                    ("rel", &ShellWord::quote(&self.proc_path())),
                ],
            ));
        }
        script.push(edit.script());
        if live {
            script.push_code(LIVE_APPLY);
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
        Sysctl::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    /// A fake /proc/sys holding one key.
    fn proc(t: &Local, rel: &str, value: &str) -> (String, std::path::PathBuf) {
        let root = t.path("proc");
        let key = root.join(rel);
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        std::fs::write(&key, value).unwrap();
        (root.display().to_string(), key)
    }

    #[test]
    fn persists_and_applies_then_converges() {
        let t = Local::new();
        let (root, key) = proc(&t, "net/ipv4/ip_forward", "0\n");
        let conf = t.path("99-tandem.conf");
        std::fs::write(&conf, "# mine\nnet.ipv4.ip_forward=0\nvm.swappiness = 10\n").unwrap();
        let step = plan(json!({"name": "net.ipv4.ip_forward", "value": 1, "file": conf}));
        let env = [("TANDEM_SYSCTL_ROOT", root.as_str())];

        let check = t.run_env(&step, true, true, &env);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![
                format!("setting in {}", conf.display()),
                "live net.ipv4.ip_forward from 0 to 1".to_string()
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(&check.report.diffs[0].new),
            "# mine\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n"
        );
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "0\n");
        assert!(
            std::fs::read_to_string(&conf)
                .unwrap()
                .contains("forward=0")
        );

        let run = t.run_env(&step, false, false, &env);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.report.changes.len(), 2);
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "1\n");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "# mine\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n"
        );
        let again = t.run_env(&step, false, false, &env);
        assert!(!again.report.changed(), "{:?}", again.report);

        // Only the live value drifted: one change.
        std::fs::write(&key, "0\n").unwrap();
        let run = t.run_env(&step, false, false, &env);
        assert_eq!(
            run.report.changes,
            vec!["live net.ipv4.ip_forward from 0 to 1"]
        );
    }

    #[test]
    fn multi_word_values_compare_with_blanks_collapsed() {
        let t = Local::new();
        let (root, _) = proc(&t, "net/ipv4/ip_local_port_range", "32768\t60999\n");
        let conf = t.path("new.conf");
        let step = plan(
            json!({"name": "net.ipv4.ip_local_port_range", "value": "32768   60999", "file": conf}),
        );
        let env = [("TANDEM_SYSCTL_ROOT", root.as_str())];
        let run = t.run_env(&step, false, false, &env);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![format!("created {}", conf.display())]
        );
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "net.ipv4.ip_local_port_range = 32768 60999\n"
        );
        assert!(!t.run_env(&step, false, false, &env).report.changed());
    }

    #[test]
    fn missing_key_fails_and_writes_nothing() {
        let t = Local::new();
        let (root, _) = proc(&t, "vm/swappiness", "60\n");
        let conf = t.path("c.conf");
        let step =
            plan(json!({"name": "net.bridge.bridge-nf-call-iptables", "value": "1", "file": conf}));
        let run = t.run_env(&step, false, false, &[("TANDEM_SYSCTL_ROOT", &root)]);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr
                .contains("this kernel has no net.bridge.bridge-nf-call-iptables"),
            "{}",
            run.stderr
        );
        assert!(!conf.exists());

        // apply: false only persists (for a key that appears later, at module load).
        let step = plan(
            json!({"name": "net.bridge.bridge-nf-call-iptables", "value": "1", "file": conf, "apply": false}),
        );
        let run = t.run_env(&step, false, false, &[("TANDEM_SYSCTL_ROOT", &root)]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "net.bridge.bridge-nf-call-iptables = 1\n"
        );
    }

    #[test]
    fn absent_removes_every_line_for_the_name() {
        let t = Local::new();
        let conf = t.path("c.conf");
        std::fs::write(
            &conf,
            "vm.swappiness=1\n-vm.swappiness = 2\nvm.swappiness_x = 3\n",
        )
        .unwrap();
        let step = plan(json!({"name": "vm.swappiness", "state": "absent", "file": conf}));
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "vm.swappiness_x = 3\n"
        );
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn slash_names_map_to_proc_as_written() {
        let s = Sysctl::from_args(&json!({"name": "net/ipv4/conf/eth0.100/rp_filter", "value": 1}))
            .unwrap();
        assert_eq!(s.proc_path(), "net/ipv4/conf/eth0.100/rp_filter");
        let s =
            Sysctl::from_args(&json!({"name": "net.ipv4.conf.all.rp_filter", "value": 1})).unwrap();
        assert_eq!(s.proc_path(), "net/ipv4/conf/all/rp_filter");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Sysctl::from_args(&json!({"name": "vm.swappiness", "valeu": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `valeu`"), "{e}");
        let e = Sysctl::from_args(&json!({"name": "vm.swappiness"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `value`"), "{e}");
        let e = Sysctl::from_args(&json!({"name": "../../etc/passwd", "value": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sysctl: name '../../etc/passwd'"), "{e}");
        let e = Sysctl::from_args(&json!({"name": "vm.x; rm", "value": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a kernel parameter name"), "{e}");
        let e = Sysctl::from_args(&json!({"name": "vm.x", "value": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("string or a number"), "{e}");
        let e = Sysctl::from_args(&json!({"name": "vm.x", "value": 1, "file": "x.conf"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sysctl: file 'x.conf' must be an absolute path"),
            "{e}"
        );
    }
}
