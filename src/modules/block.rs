//! `block`: several lines of a text file kept between two marker lines (Ansible's
//! `blockinfile`). present: the text between the markers is replaced, or the whole block is
//! appended when the markers are not there; absent: markers and text go. One `awk` pass, atomic
//! write, diff. A symlink at `path` is handled as `line` handles it (`follow`, default true).

use serde::Deserialize;

use super::args::{absolute, parse, yes};
use super::rewrite::{Edit, Missing, one_line};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

const DEFAULT_MARKER: &str = "# {mark} MANAGED BY TANDEM";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    #[serde(default)]
    block: String,
    marker: Option<String>,
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
pub struct Block {
    path: String,
    /// Without its final newline: each line of it becomes one line of the file.
    block: String,
    /// How many lines: 0 for "", 1 for "\n" (one empty line), which `block` alone cannot tell.
    lines: usize,
    begin: String,
    end: String,
    state: State,
    create: bool,
    follow: bool,
}

// The first BEGIN..END region is the block; later copies (a hand-made duplicate) are dropped.
// The line count comes with the text so that an empty block and one empty line differ. A BEGIN
// with no END would swallow the rest of the file: refuse instead (exit 3) and let a human look.
const PROGRAM: &str = r#"BEGIN {
  b = ENVIRON["TANDEM_BEGIN"] ""; e = ENVIRON["TANDEM_END"] ""
  body = ENVIRON["TANDEM_BLOCK"] ""; present = ENVIRON["TANDEM_PRESENT"] != ""
  nb = ENVIRON["TANDEM_LINES"] + 0
}
!inb && $0 == b { inb = 1; cur = ""; nc = 0; next }
inb && $0 == e {
  inb = 0
  if (done || !present) ch = 1
  else {
    print b; if (nb) print body; print e
    if (nc != nb || cur != body) ch = 1
  }
  done = 1
  next
}
inb { cur = nc++ ? cur "\n" $0 : $0; next }
{ print }
END {
  if (inb) exit 3
  if (present && !done) { print b; if (nb) print body; print e; ch = 1 }
  exit ch ? 10 : 0
}"#;

impl Block {
    pub fn from_args(args: &serde_json::Value) -> Result<Block, ModuleError> {
        let a: Args = parse("block", args)?;
        absolute("block", "path", &a.path)?;
        let marker = a.marker.as_deref().unwrap_or(DEFAULT_MARKER);
        one_line("block", "marker", marker)?;
        if !marker.contains("{mark}") {
            return Err(ModuleError::invalid(
                "block",
                format!("marker '{marker}' must contain {{mark}} (replaced by BEGIN and END)"),
            ));
        }
        if a.block.contains('\0') {
            return Err(ModuleError::invalid(
                "block",
                "block must be text (it contains a NUL byte)",
            ));
        }
        let begin = marker.replace("{mark}", "BEGIN");
        let end = marker.replace("{mark}", "END");
        // YAML's `|` ends the text with a newline that is not meant as an extra empty line.
        let block = a.block.strip_suffix('\n').unwrap_or(&a.block).to_string();
        let lines = if a.block.is_empty() {
            0
        } else {
            block.split('\n').count()
        };
        if block.lines().any(|l| l == begin || l == end) {
            return Err(ModuleError::invalid(
                "block",
                "block contains its own marker line",
            ));
        }
        Ok(Block {
            path: a.path,
            block,
            lines,
            begin,
            end,
            state: a.state,
            create: a.create,
            follow: a.follow,
        })
    }
}

impl Module for Block {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let present = if self.state == State::Present {
            "1"
        } else {
            ""
        };
        let lines = self.lines.to_string();
        let env = [
            ("TANDEM_BEGIN", self.begin.as_str()),
            ("TANDEM_END", self.end.as_str()),
            ("TANDEM_BLOCK", self.block.as_str()),
            ("TANDEM_PRESENT", present),
            ("TANDEM_LINES", &lines),
        ];
        let edit = Edit {
            module: "block",
            path: ShellWord::quote(&self.path),
            awk: PROGRAM,
            env: &env,
            missing: if self.create || self.state == State::Absent {
                Missing::Create
            } else {
                Missing::Fail
            },
            mode: ShellWord::quote(""),
            owner: ShellWord::quote(""),
            what: match self.state {
                State::Present => "block in",
                State::Absent => "removed block from",
            },
            // awk's exit 3: a BEGIN marker without its END. Markers are user text: they reach
            // the message through variables, never spliced into the double-quoted string.
            arms: "3) tandem_fail \"block: $f has the line '$mb' but no '$me' after it: fix it by hand\" ;;\n",
            follow: self.follow,
        };
        let mut script = Script::fill(
            "mb={begin} me={end}\n",
            &[
                ("begin", &ShellWord::quote(&self.begin)),
                ("end", &ShellWord::quote(&self.end)),
            ],
        );
        script.push(edit.script());
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
        Block::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn appends_then_replaces_then_converges() {
        let t = Local::new();
        let f = t.path("hosts");
        std::fs::write(&f, "127.0.0.1 localhost\n").unwrap();
        let step = plan(json!({"path": f, "block": "10.0.0.1 a\n10.0.0.2 b\n"}));

        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("block in {}", f.display())]
        );
        let want = "127.0.0.1 localhost\n# BEGIN MANAGED BY TANDEM\n10.0.0.1 a\n10.0.0.2 b\n# END MANAGED BY TANDEM\n";
        assert_eq!(String::from_utf8_lossy(&check.report.diffs[0].new), want);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "127.0.0.1 localhost\n"
        );

        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), want);
        assert!(!t.run(&step, false, false).report.changed());

        // Lines after the block stay after it; the text inside is replaced.
        std::fs::write(&f, format!("{want}tail\n")).unwrap();
        let step2 = plan(json!({"path": f, "block": "10.0.0.3 c"}));
        let run = t.run(&step2, false, true);
        assert_eq!(
            run.report.diffs[0].old,
            format!("{want}tail\n").into_bytes()
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "127.0.0.1 localhost\n# BEGIN MANAGED BY TANDEM\n10.0.0.3 c\n# END MANAGED BY TANDEM\ntail\n"
        );
        assert!(!t.run(&step2, false, false).report.changed());
    }

    #[test]
    fn empty_lines_and_custom_markers() {
        let t = Local::new();
        let f = t.path("conf");
        let step = plan(json!({"path": f, "block": "", "marker": "// {mark} x", "create": true}));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "// BEGIN x\n// END x\n"
        );
        assert!(!t.run(&step, false, false).report.changed());
        // One empty line differs from no line.
        let step = plan(json!({"path": f, "block": "\n", "marker": "// {mark} x"}));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "// BEGIN x\n\n// END x\n"
        );
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn absent_removes_the_block_and_duplicates() {
        let t = Local::new();
        let f = t.path("conf");
        let m = "# BEGIN MANAGED BY TANDEM\nx\n# END MANAGED BY TANDEM\n";
        std::fs::write(&f, format!("a\n{m}b\n{m}")).unwrap();
        let step = plan(json!({"path": f, "state": "absent"}));
        let run = t.run(&step, false, false);
        assert_eq!(
            run.report.changes,
            vec![format!("removed block from {}", f.display())]
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
        assert!(!t.run(&step, false, false).report.changed());
    }

    #[test]
    fn a_begin_without_end_is_refused() {
        let t = Local::new();
        let f = t.path("conf");
        std::fs::write(&f, "a\n# BEGIN MANAGED BY TANDEM\nb\n").unwrap();
        let run = t.run(&plan(json!({"path": f, "block": "x"})), false, false);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("but no '# END MANAGED BY TANDEM'"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "a\n# BEGIN MANAGED BY TANDEM\nb\n"
        );
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Block::from_args(&json!({"path": "/x", "blok": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `blok`"), "{e}");
        let e = Block::from_args(&json!({"path": "x", "block": "a"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("block: path 'x' must be an absolute path"),
            "{e}"
        );
        let e = Block::from_args(&json!({"path": "/x", "marker": "# tandem"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must contain {mark}"), "{e}");
        let e = Block::from_args(&json!({"path": "/x", "block": "# END MANAGED BY TANDEM"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("its own marker"), "{e}");
        let t = Local::new();
        let step = plan(json!({"path": t.path("none")}));
        let run = t.run(&step, false, false);
        assert!(run.stderr.contains("set create: true"), "{}", run.stderr);
    }
}
