//! `copy`: a file with exact content (inline `content` or a local `src` file), mode and owner.
//!
//! The desired sha256 is computed here and compared on the node, so identical content is never
//! rewritten; new content goes through `tandem_install` (temp file, fsync, rename).

use super::args::{absolute, mode, parse, q, sha256_hex};
use super::{Module, PlanContext, RemoteStep};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    dest: String,
    content: Option<String>,
    src: Option<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    /// Credentials: the content never comes back for --diff.
    #[serde(default)]
    secret: bool,
}

#[derive(Debug)]
pub struct Copy {
    dest: String,
    source: Source,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    secret: bool,
}

#[derive(Debug)]
enum Source {
    Inline(String),
    Local(String),
}

impl Copy {
    pub fn from_args(args: &serde_json::Value) -> Result<Copy, String> {
        let a: Args = parse("copy", args)?;
        absolute("copy", "dest", &a.dest)?;
        let source = match (a.content, a.src) {
            (Some(c), None) => Source::Inline(c),
            (None, Some(s)) => Source::Local(s),
            _ => {
                return Err(
                    "copy: give exactly one of `content` (inline text) or `src` (a local file)"
                        .into(),
                );
            }
        };
        let mode = a.mode.as_deref().map(|m| mode("copy", m)).transpose()?;
        Ok(Copy {
            dest: a.dest,
            source,
            mode,
            owner: a.owner,
            group: a.group,
            secret: a.secret,
        })
    }
}

impl Module for Copy {
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, String> {
        let payload = match &self.source {
            Source::Inline(text) => text.clone().into_bytes(),
            Source::Local(path) => {
                let full = cx.base_dir().join(path);
                std::fs::read(&full)
                    .map_err(|e| format!("copy: cannot read src {}: {e}", full.display()))?
            }
        };
        Ok(RemoteStep {
            script: content_script_with(
                &self.dest,
                &payload,
                self.mode.as_deref(),
                self.owner.as_deref(),
                self.group.as_deref(),
                !self.secret,
            ),
            payload,
        })
    }
}

/// The check-and-apply script for "DEST holds exactly the payload", shared with `template`.
pub fn content_script(
    dest: &str,
    payload: &[u8],
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
) -> String {
    content_script_with(dest, payload, mode, owner, group, true)
}

/// The same; `show_diff: false` never sends the content back for --diff (credentials).
pub fn content_script_with(
    dest: &str,
    payload: &[u8],
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
    show_diff: bool,
) -> String {
    let diff = if show_diff {
        r#"tandem_diff "$d" "$d" "$TANDEM_PAYLOAD""#
    } else {
        "# secret: no diff, the content must not appear in any output"
    };
    let want = sha256_hex(payload);
    let owner_group = match (owner, group) {
        (Some(o), Some(g)) => format!("{o}:{g}"),
        (Some(o), None) => o.to_string(),
        (None, Some(g)) => format!(":{g}"),
        (None, None) => String::new(),
    };
    format!(
        r#"d={dest}
[ -d "$d" ] && tandem_fail "$d is a directory, not a file"
# Parameter expansion, not dirname: a converged check should start as few processes as it can.
p=${{d%/*}}; p=${{p:-/}}
if [ ! -d "$p" ]; then
  # In check mode an earlier step would have made the directory: report, do not fail.
  tandem_checking || tandem_fail "directory $p does not exist (create it with a file step first)"
  tandem_changed "created $d"; exit 0
fi
# The payload is on the node already: one `cmp` instead of hashing (sha256 {want}).
if ! cmp -s -- "$TANDEM_PAYLOAD" "$d"; then
  {diff}
  if [ -e "$d" ]; then tandem_changed "content of $d"; else tandem_changed "created $d"; fi
  tandem_checking || tandem_install "$TANDEM_PAYLOAD" "$d" {mode} {owner_group}
fi
tandem_attrs "$d" {mode} {owner} {group}
"#,
        dest = q(dest),
        diff = diff,
        want = want,
        mode = q(mode.unwrap_or("")),
        owner_group = q(&owner_group),
        owner = q(owner.unwrap_or("")),
        group = q(group.unwrap_or("")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};

    #[test]
    fn a_secret_never_comes_back_in_a_diff() {
        let t = Local::new();
        let dest = t.path("ovh.conf");
        std::fs::write(&dest, "old-secret\n").unwrap();
        let args = serde_json::json!({"dest": dest, "content": "new-secret\n", "mode": "0600", "secret": true});
        let plan = Copy::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap();
        let run = t.run(&plan, false, true);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(run.report.changed());
        assert!(run.report.diffs.is_empty());
        assert!(!String::from_utf8_lossy(&run.report.output).contains("secret"));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new-secret\n");
        assert_eq!(t.mode(&dest), 0o600);
    }

    #[test]
    fn creates_then_converges_then_fixes_drift() {
        let t = Local::new();
        let dest = t.path("etc/app.conf");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let step =
            Copy::from_args(&serde_json::json!({"dest": dest, "content": "a=1\n", "mode": "0600"}))
                .unwrap();
        let plan = step.plan(&TestContext::default()).unwrap();

        let first = t.run(&plan, false, true);
        assert_eq!(first.status, 0, "{}", first.stderr);
        assert_eq!(
            first.report.changes,
            vec![format!("created {}", dest.display())]
        );
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a=1\n");
        assert_eq!(t.mode(&dest), 0o600);
        assert_eq!(first.report.diffs[0].new, b"a=1\n");

        let second = t.run(&plan, false, true);
        assert!(!second.report.changed(), "{:?}", second.report);

        std::fs::write(&dest, "a=2\n").unwrap();
        let check = t.run(&plan, true, true);
        assert_eq!(
            check.report.changes,
            vec![format!("content of {}", dest.display())]
        );
        assert_eq!(check.report.diffs[0].old, b"a=2\n");
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "a=2\n",
            "check mode changed the file"
        );
        t.run(&plan, false, false);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a=1\n");
        assert!(t.leftovers(dest.parent().unwrap()).is_empty());
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Copy::from_args(&serde_json::json!({"dest": "/x", "contnet": "a"})).unwrap_err();
        assert!(e.contains("unknown field `contnet`"), "{e}");
        let e = Copy::from_args(&serde_json::json!({"dest": "x", "content": "a"})).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = Copy::from_args(&serde_json::json!({"dest": "/x"})).unwrap_err();
        assert!(e.contains("exactly one of"), "{e}");
    }
}
