//! `line`: one line of a text file, present or absent (Ansible's `lineinfile`, simplified).
//!
//! present: the LAST line matching `regexp` (an awk ERE) becomes `line`; when none matches and
//! `line` is not already in the file, it is appended. absent: every line matching `regexp` or
//! equal to `line` goes. One `awk` pass decides and builds the new content; the write is atomic.
//!
//! A symlink at `path` is followed (`follow`, default true, as Ansible's `lineinfile`): the
//! regular file it points to is edited and keeps its mode and owner, the link stays. A dangling
//! link or a link to a directory fails the step; `follow: false` refuses any link.

use serde::Deserialize;

use super::args::{absolute, parse, yes};
use super::rewrite::{Edit, Missing, one_line};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::ShellWord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    line: Option<String>,
    regexp: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    create: bool,
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
pub struct Line {
    path: String,
    line: Option<String>,
    regexp: Option<String>,
    state: State,
    create: bool,
    follow: bool,
}

// Strings from ENVIRON are made plain strings (`""` appended) so that `==` compares text:
// awk would otherwise compare "1" and "1.0" as equal numbers. Lines are kept in memory because
// the line to replace is the last match, known only at the end.
const PRESENT: &str = r#"BEGIN { want = ENVIRON["TANDEM_LINE"] ""; re = ENVIRON["TANDEM_RE"] "" }
{ l[NR] = $0; if (re != "" && $0 ~ re) m = NR; if ($0 == want) e = NR }
END {
  n = NR
  if (m) { if (l[m] != want) { l[m] = want; ch = 1 } }
  else if (!e) { l[++n] = want; ch = 1 }
  for (i = 1; i <= n; i++) print l[i]
  exit ch ? 10 : 0
}"#;

// Streams: no memory needed to drop lines.
const ABSENT: &str = r#"BEGIN { want = ENVIRON["TANDEM_LINE"] ""; has = ENVIRON["TANDEM_HAS_LINE"] != ""; re = ENVIRON["TANDEM_RE"] "" }
(has && $0 == want) || (re != "" && $0 ~ re) { ch = 1; next }
{ print }
END { exit ch ? 10 : 0 }"#;

impl Line {
    pub fn from_args(args: &serde_json::Value) -> Result<Line, ModuleError> {
        let a: Args = parse("line", args)?;
        absolute("line", "path", &a.path)?;
        if let Some(line) = &a.line {
            one_line("line", "line", line)?;
        }
        if let Some(re) = &a.regexp {
            one_line("line", "regexp", re)?;
            if re.is_empty() {
                return Err(ModuleError::invalid(
                    "line",
                    "regexp is empty (it would match every line)",
                ));
            }
        }
        match a.state {
            State::Present if a.line.is_none() => {
                return Err(ModuleError::invalid(
                    "line",
                    "state present needs `line` (the full line wanted)",
                ));
            }
            State::Absent if a.line.is_none() && a.regexp.is_none() => {
                return Err(ModuleError::invalid(
                    "line",
                    "state absent needs `line` or `regexp` (what to remove)",
                ));
            }
            _ => {}
        }
        Ok(Line {
            path: a.path,
            line: a.line,
            regexp: a.regexp,
            state: a.state,
            create: a.create,
            follow: a.follow,
        })
    }
}

impl Module for Line {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let line = self.line.as_deref().unwrap_or("");
        let has_line = if self.line.is_some() { "1" } else { "" };
        let env = [
            ("TANDEM_LINE", line),
            ("TANDEM_HAS_LINE", has_line),
            ("TANDEM_RE", self.regexp.as_deref().unwrap_or("")),
        ];
        let edit = Edit {
            module: "line",
            path: ShellWord::quote(&self.path),
            awk: match self.state {
                State::Present => PRESENT,
                State::Absent => ABSENT,
            },
            env: &env,
            // Removing from a missing file is a no-op, never an error.
            missing: if self.create || self.state == State::Absent {
                Missing::Create
            } else {
                Missing::Fail
            },
            mode: ShellWord::quote(""),
            owner: ShellWord::quote(""),
            what: match self.state {
                State::Present => "line in",
                State::Absent => "removed line from",
            },
            arms: "",
            follow: self.follow,
        };
        Ok(RemoteStep {
            script: edit.script(),
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
        Line::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn replaces_the_last_match_then_converges() {
        let t = Local::new();
        let f = t.path("sshd_config");
        std::fs::write(
            &f,
            "#PermitRootLogin yes\nPort 22\nPermitRootLogin yes\nX 1\n",
        )
        .unwrap();
        let step =
            plan(json!({"path": f, "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"}));

        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("line in {}", f.display())]
        );
        assert_eq!(
            String::from_utf8_lossy(&check.report.diffs[0].new),
            "#PermitRootLogin yes\nPort 22\nPermitRootLogin no\nX 1\n"
        );
        assert_eq!(
            check.report.diffs[0].old,
            b"#PermitRootLogin yes\nPort 22\nPermitRootLogin yes\nX 1\n"
        );
        assert!(
            std::fs::read_to_string(&f)
                .unwrap()
                .contains("PermitRootLogin yes\nX"),
            "check mode wrote"
        );

        let first = t.run(&step, false, false);
        assert_eq!(first.status, 0, "{}", first.stderr);
        assert!(first.report.changed());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "#PermitRootLogin yes\nPort 22\nPermitRootLogin no\nX 1\n"
        );
        let second = t.run(&step, false, true);
        assert!(!second.report.changed(), "{:?}", second.report);
        assert!(t.leftovers(f.parent().unwrap()).is_empty());
    }

    #[test]
    fn appends_when_nothing_matches_and_stays_put_when_the_line_is_there() {
        let t = Local::new();
        let f = t.path("conf");
        // No trailing newline: the appended line must still start on its own line.
        std::fs::write(&f, "a=1").unwrap();
        // The regexp does not match the wanted line itself: the exact line keeps it idempotent.
        let step = plan(json!({"path": f, "regexp": "^#Port 22$", "line": "Port 2222"}));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a=1\nPort 2222\n");
        assert!(!t.run(&step, false, false).report.changed());

        // Numeric-looking text compares as text.
        let step = plan(json!({"path": f, "line": "1.0"}));
        std::fs::write(&f, "1\n").unwrap();
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1\n1.0\n");
    }

    #[test]
    fn backslashes_and_quotes_are_kept_verbatim() {
        let t = Local::new();
        let f = t.path("conf");
        std::fs::write(&f, "").unwrap();
        let line = r#"x = "a\tb" 'c' $HOME `id`"#;
        let step = plan(json!({"path": f, "line": line, "regexp": r"^x = "}));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{line}\n"));
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn absent_removes_every_match() {
        let t = Local::new();
        let f = t.path("hosts");
        std::fs::write(&f, "a\nold 1\nb\nold 2\nexact\n").unwrap();
        let step = plan(json!({"path": f, "regexp": "^old ", "line": "exact", "state": "absent"}));
        let first = t.run(&step, false, true);
        assert_eq!(
            first.report.changes,
            vec![format!("removed line from {}", f.display())]
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
        assert!(!t.run(&step, false, false).report.changed());

        // A missing file has nothing to remove.
        let gone = plan(json!({"path": t.path("none"), "line": "x", "state": "absent"}));
        let run = t.run(&gone, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(!run.report.changed());
        assert!(!t.path("none").exists());
    }

    #[test]
    fn missing_file_fails_unless_create() {
        let t = Local::new();
        let f = t.path("new.conf");
        let run = t.run(&plan(json!({"path": f, "line": "a"})), false, false);
        assert_ne!(run.status, 0);
        assert!(run.stderr.contains("set create: true"), "{}", run.stderr);

        let step = plan(json!({"path": f, "line": "a", "create": true}));
        let check = t.run(&step, true, false);
        assert_eq!(
            check.report.changes,
            vec![format!("created {}", f.display())]
        );
        assert!(!f.exists());
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\n");
        assert_eq!(t.mode(&f), 0o644);
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn edits_through_a_symlink() {
        let t = Local::new();
        let target = t.path("real");
        std::fs::write(&target, "a\n").unwrap();
        let link = t.path("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let run = t.run(&plan(json!({"path": link, "line": "b"})), false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\nb\n");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Line::from_args(&json!({"path": "/x", "lin": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `lin`"), "{e}");
        let e = Line::from_args(&json!({"path": "x", "line": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line: path 'x' must be an absolute path"), "{e}");
        let e = Line::from_args(&json!({"path": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `line`"), "{e}");
        let e = Line::from_args(&json!({"path": "/x", "state": "absent"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`line` or `regexp`"), "{e}");
        let e = Line::from_args(&json!({"path": "/x", "line": "a\nb"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("single line"), "{e}");
        let e = Line::from_args(&json!({"path": "/x", "line": "a", "state": "gone"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `gone`"), "{e}");
    }
}
