//! `command`: runs a shell command on the node, unless a guard says it is not needed
//! (`creates`: a path it makes exists; `removes`: a path it deletes is gone; `unless`: a check
//! command succeeds). Guards are read-only, so check mode evaluates them and reports whether the
//! command would run, without running it.
//!
//! A command that runs is `changed` (the engine's `changed_when` can say otherwise); its stdout
//! is the step's output (`register`), its stderr is kept as stderr. The change record is printed
//! before the command runs: a command whose output lacks a final newline would otherwise glue
//! the record to its last line.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    cmd: String,
    creates: Option<String>,
    removes: Option<String>,
    unless: Option<String>,
    chdir: Option<String>,
}

#[derive(Debug)]
pub struct Command {
    cmd: String,
    creates: Option<String>,
    removes: Option<String>,
    unless: Option<String>,
    chdir: Option<String>,
}

impl Command {
    pub fn from_args(args: &serde_json::Value) -> Result<Command, ModuleError> {
        // `command: "uptime"` is the short form of `command: {cmd: "uptime"}`.
        let a: Args = match args {
            serde_json::Value::String(cmd) => Args {
                cmd: cmd.clone(),
                creates: None,
                removes: None,
                unless: None,
                chdir: None,
            },
            serde_json::Value::Object(_) => parse("command", args)?,
            _ => {
                return Err(ModuleError::invalid(
                    "command",
                    "give the command as a string, or a map with `cmd` (and creates, removes, unless, chdir)",
                ));
            }
        };
        if a.cmd.trim().is_empty() {
            return Err(ModuleError::invalid("command", "cmd is empty"));
        }
        for (field, value) in [
            ("cmd", Some(&a.cmd)),
            ("unless", a.unless.as_ref()),
            ("creates", a.creates.as_ref()),
            ("removes", a.removes.as_ref()),
            ("chdir", a.chdir.as_ref()),
        ] {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(ModuleError::invalid(
                    "command",
                    format!("{field} contains a NUL byte"),
                ));
            }
        }
        for (field, value) in [
            ("creates", &a.creates),
            ("removes", &a.removes),
            ("chdir", &a.chdir),
        ] {
            if let Some(path) = value {
                absolute("command", field, path)?;
            }
        }
        Ok(Command {
            cmd: a.cmd,
            creates: a.creates,
            removes: a.removes,
            unless: a.unless,
            chdir: a.chdir,
        })
    }

    /// The command as shown in the change record: its first line, shortened.
    fn label(&self) -> String {
        let first = self.cmd.trim().lines().next().unwrap_or("");
        let more = first.len() < self.cmd.trim().len();
        let mut label: String = first.chars().take(60).collect();
        if more || label.len() < first.len() {
            label.push_str(" ...");
        }
        label
    }
}

const RUN: &str = r#"tandem_changed {label}
tandem_checking && exit 0
# stdin is not the payload: a command that reads it must see end-of-file, not hang.
( eval {cmd} ) </dev/null
rc=$?
if [ "$rc" -ne 0 ]; then
  printf 'command exited with status %s\n' "$rc" >&2
  exit "$rc"
fi
"#;

impl Module for Command {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let mut script = Script::default();
        if let Some(dir) = &self.chdir {
            script.push(Script::fill(
                "d={dir}\ncd -- \"$d\" || tandem_fail \"command: cannot change to directory $d\"\n",
                &[("dir", &ShellWord::quote(dir))],
            ));
        }
        if let Some(path) = &self.creates {
            script.push(Script::fill(
                "[ -e {path} ] && exit 0\n",
                &[("path", &ShellWord::quote(path))],
            ));
        }
        if let Some(path) = &self.removes {
            script.push(Script::fill(
                "[ -e {path} ] || [ -L {path} ] || exit 0\n",
                &[("path", &ShellWord::quote(path))],
            ));
        }
        if let Some(unless) = &self.unless {
            // `eval` in a subshell: no new sh process, and the guard cannot change our state.
            script.push(Script::fill(
                "if ( eval {unless} ) >/dev/null 2>&1 </dev/null; then exit 0; fi\n",
                &[("unless", &ShellWord::quote(unless))],
            ));
        }
        script.push(Script::fill(
            RUN,
            &[
                ("label", &ShellWord::quote(&format!("ran {}", self.label()))),
                ("cmd", &ShellWord::quote(&self.cmd)),
            ],
        ));
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
        Command::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn runs_and_reports_its_output() {
        let t = Local::new();
        let step = plan(json!("printf 'a b\\n'; echo oops >&2; printf 'no newline'"));
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.report.changes.len(), 1, "{:?}", run.report);
        assert!(run.report.changes[0].starts_with("ran printf"));
        assert_eq!(run.report.output, b"a b\nno newline");
        assert_eq!(run.stderr, "oops\n");
    }

    #[test]
    fn check_mode_does_not_run() {
        let t = Local::new();
        let f = t.path("ran");
        let step = plan(json!({"cmd": format!("touch {}", f.display())}));
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("ran touch {}", f.display())]
        );
        assert!(!f.exists());
    }

    #[test]
    fn guards_make_it_idempotent() {
        let t = Local::new();
        let f = t.path("made");
        let step = plan(json!({"cmd": "echo x > made", "creates": f, "chdir": t.path("")}));
        assert!(t.run(&step, false, false).report.changed());
        assert!(f.exists());
        let again = t.run(&step, false, false);
        assert_eq!(again.status, 0);
        assert!(!again.report.changed());
        assert!(!t.run(&step, true, false).report.changed());

        let rm = plan(json!({"cmd": format!("rm {}", f.display()), "removes": f}));
        assert!(t.run(&rm, true, false).report.changed());
        assert!(f.exists(), "check mode ran the command");
        assert!(t.run(&rm, false, false).report.changed());
        assert!(!t.run(&rm, false, false).report.changed());

        let unless = plan(
            json!({"cmd": "echo ran", "unless": format!("grep -q yes {}", t.path("flag").display())}),
        );
        assert!(t.run(&unless, false, false).report.changed());
        std::fs::write(t.path("flag"), "yes\n").unwrap();
        let skipped = t.run(&unless, false, false);
        assert!(!skipped.report.changed());
        assert!(skipped.report.output.is_empty());
    }

    #[test]
    fn failure_shows_the_status() {
        let t = Local::new();
        let run = t.run(
            &plan(json!("echo partial; echo bad >&2; exit 3")),
            false,
            false,
        );
        assert_eq!(run.status, 3);
        assert!(run.report.changed());
        assert_eq!(run.report.output, b"partial\n");
        assert_eq!(run.stderr, "bad\ncommand exited with status 3\n");
        let run = t.run(
            &plan(json!({"cmd": "true", "chdir": t.path("nope")})),
            false,
            false,
        );
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("cannot change to directory"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn long_commands_are_shortened_in_the_record() {
        let c = Command::from_args(&json!(format!("{}\nsecond line", "x".repeat(100)))).unwrap();
        assert_eq!(c.label(), format!("{} ...", "x".repeat(60)));
        let c = Command::from_args(&json!("uptime")).unwrap();
        assert_eq!(c.label(), "uptime");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Command::from_args(&json!({"cmd": "x", "creates": "rel"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("command: creates 'rel' must be an absolute path"),
            "{e}"
        );
        let e = Command::from_args(&json!({"cmd": "x", "stdin": "y"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `stdin`"), "{e}");
        let e = Command::from_args(&json!({"creates": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `cmd`"), "{e}");
        let e = Command::from_args(&json!(" ")).unwrap_err().to_string();
        assert!(e.contains("cmd is empty"), "{e}");
        let e = Command::from_args(&json!(["ls"])).unwrap_err().to_string();
        assert!(e.contains("as a string, or a map"), "{e}");
    }
}
