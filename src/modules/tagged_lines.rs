//! `tagged_lines`: the exact set of lines a tool owns in a file that others edit too, such as
//! `authorized_keys` or `known_hosts`. A line is owned when its last field starts with `tag`
//! (e.g. `ssh-ed25519 AAAA... tandem-keys:pair1:node2`); every owned line not in `lines` goes
//! (a node replaced or removed), every line of `lines` is present once, and every other line is
//! left exactly as it was. Owned lines are kept after the others, in the order given, so the
//! result is the same whatever the file looked like: a second run changes nothing.
//!
//! The parent directory is created with `dir_mode` when missing (`~/.ssh` must be 0700 for
//! sshd to trust it); the file gets `mode` and `owner`. One `awk` pass, atomic write, diff.
//!
//! Symlinks: such files often live in trees another user owns (a container's root file system,
//! a user's home). A link at the file fails the step unless `follow: true` (default false);
//! with `within: DIR`, a link anywhere below DIR on the way to the file fails it too, before
//! anything is made, so a planted link can never lead root's write out of DIR.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::rewrite::{Edit, Missing, one_line};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    tag: String,
    #[serde(default)]
    lines: Vec<String>,
    mode: Option<String>,
    owner: Option<String>,
    dir_mode: Option<String>,
    #[serde(default)]
    follow: bool,
    within: Option<String>,
}

#[derive(Debug)]
pub struct TaggedLines {
    path: String,
    tag: String,
    lines: Vec<String>,
    mode: Option<String>,
    owner: Option<String>,
    dir_mode: Option<String>,
    follow: bool,
    within: Option<String>,
}

// Owned: a non-comment line whose last field starts with the tag. When the owned lines are
// already the wanted ones, in order, the file is left as it is wherever they stand (OpenSSH's
// UpdateHostKeys appends its own lines after ours: that is not a change). Otherwise the others
// stay in place and the wanted lines follow them.
const PROGRAM: &str = r#"BEGIN {
  tag = ENVIRON["TANDEM_TAG"] ""; want = ENVIRON["TANDEM_LINES"] ""
  nw = (want == "") ? 0 : split(want, w, "\n")
}
{ in_[++ni] = $0 }
$1 !~ /^#/ && NF > 0 && index($NF, tag) == 1 { own[++nown] = $0; next }
{ out[++no] = $0 }
END {
  same = (nown == nw)
  for (i = 1; same && i <= nw; i++) if (own[i] != w[i]) same = 0
  if (same) { for (i = 1; i <= ni; i++) print in_[i]; exit 0 }
  for (i = 1; i <= nw; i++) out[++no] = w[i]
  for (i = 1; i <= no; i++) print out[i]
  exit 10
}"#;

impl TaggedLines {
    pub fn from_args(args: &serde_json::Value) -> Result<TaggedLines, ModuleError> {
        let a: Args = parse("tagged_lines", args)?;
        absolute("tagged_lines", "path", &a.path)?;
        one_line("tagged_lines", "tag", &a.tag)?;
        if a.tag.is_empty() || a.tag.contains(char::is_whitespace) {
            return Err(ModuleError::value(
                "tagged_lines",
                "tag",
                &a.tag,
                "must be one word (it is matched against each line's last field)",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for line in &a.lines {
            one_line("tagged_lines", "each of lines", line)?;
            let last = line.split_whitespace().last().unwrap_or("");
            if !last.starts_with(&a.tag) {
                return Err(ModuleError::invalid(
                    "tagged_lines",
                    format!(
                        "line '{line}' must end with a field starting with '{}' (or the next run would not recognise it as its own)",
                        a.tag
                    ),
                ));
            }
            if !seen.insert(line.as_str()) {
                return Err(ModuleError::value(
                    "tagged_lines",
                    "line",
                    line,
                    "is given twice",
                ));
            }
        }
        let mode = a
            .mode
            .as_deref()
            .map(|m| super::args::mode("tagged_lines", m))
            .transpose()?;
        let dir_mode = a
            .dir_mode
            .as_deref()
            .map(|m| super::args::mode("tagged_lines", m))
            .transpose()?;
        if let Some(owner) = &a.owner {
            one_line("tagged_lines", "owner", owner)?;
        }
        if let Some(within) = &a.within {
            absolute("tagged_lines", "within", within)?;
            let inside = a
                .path
                .strip_prefix(within.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'));
            if !inside {
                return Err(ModuleError::invalid(
                    "tagged_lines",
                    format!("path '{}' is not inside within '{within}'", a.path),
                ));
            }
        }
        Ok(TaggedLines {
            path: a.path,
            tag: a.tag,
            lines: a.lines,
            mode,
            owner: a.owner,
            dir_mode,
            follow: a.follow,
            within: a.within,
        })
    }
}

/// The directory first: in check mode it is only reported (the file check then reads a
/// missing file as empty, which is what it would find).
const DIR: &str = r#"d=$(dirname -- {path}) o={owner}
if [ ! -d "$d" ]; then
  tandem_changed "created $d"
  if ! tandem_checking; then
    # Its parents as mkdir makes them; the directory itself with its mode from the start.
    { mkdir -p -- "$(dirname -- "$d")" && mkdir -m {dir_mode} -- "$d"; } || tandem_fail "tagged_lines: cannot create $d"
    [ -z "$o" ] || chown -- "$o" "$d" || tandem_fail "tagged_lines: chown $o $d failed"
  fi
else
  tandem_attrs "$d" {dir_mode} '' ''
fi
if tandem_checking && [ ! -d "$d" ]; then tandem_changed "created "{path}; exit 0; fi
"#;

impl Module for TaggedLines {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let want = self.lines.join("\n");
        let env = [
            ("TANDEM_TAG", self.tag.as_str()),
            ("TANDEM_LINES", want.as_str()),
        ];
        let path = ShellWord::quote(&self.path);
        let mode = ShellWord::quote(self.mode.as_deref().unwrap_or(""));
        let owner = ShellWord::quote(self.owner.as_deref().unwrap_or(""));
        let edit = Edit {
            module: "tagged_lines",
            path: path.clone(),
            awk: PROGRAM,
            env: &env,
            missing: Missing::Create,
            mode: mode.clone(),
            owner: owner.clone(),
            what: "tagged lines in",
            arms: "",
            follow: self.follow,
        };
        let mut script = Script::default();
        if let Some(within) = &self.within {
            // Checked before anything is made: mkdir -p would follow a planted link too.
            script.push(Script::fill(
                "tandem_inside {within} {path}\n",
                &[
                    ("within", &ShellWord::quote(within.trim_end_matches('/'))),
                    ("path", &path),
                ],
            ));
        }
        if let Some(dir_mode) = &self.dir_mode {
            script.push(Script::fill(
                DIR,
                &[
                    ("path", &path),
                    ("dir_mode", &ShellWord::quote(dir_mode)),
                    ("owner", &owner),
                ],
            ));
        }
        script.push(edit.script());
        script.push(Script::fill(
            "tandem_attrs \"$f\" {mode} '' ''\n",
            &[("mode", &mode)],
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
        TaggedLines::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn owns_only_its_tagged_lines_and_converges() {
        let t = Local::new();
        let f = t.path("ssh/authorized_keys");
        std::fs::create_dir_all(t.path("ssh")).unwrap();
        std::fs::write(
            &f,
            "# keys\nssh-ed25519 AAAAuser alice@laptop\nssh-ed25519 AAAAold tandem-keys:p1:node9\nssh-rsa AAAAbob bob\n",
        )
        .unwrap();
        let step = plan(json!({
            "path": f, "tag": "tandem-keys:p1:", "mode": "0600",
            "lines": ["ssh-ed25519 AAAAn2 tandem-keys:p1:node2"],
        }));

        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert!(check.report.changed());
        assert!(
            std::fs::read_to_string(&f)
                .unwrap()
                .contains("AAAAold tandem-keys:p1:node9")
        );

        let run = t.run(&step, false, false);
        assert!(run.report.changed(), "{}", run.stderr);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# keys\nssh-ed25519 AAAAuser alice@laptop\nssh-rsa AAAAbob bob\nssh-ed25519 AAAAn2 tandem-keys:p1:node2\n"
        );
        assert_eq!(t.mode(&f), 0o600);
        let again = t.run(&step, false, false);
        assert!(!again.report.changed(), "{:?}", again.report.changes);
        // Lines someone appends after ours (OpenSSH's UpdateHostKeys does) are not a change.
        let mut text = std::fs::read_to_string(&f).unwrap();
        text.push_str("ssh-ed25519 AAAAlater later\n");
        std::fs::write(&f, &text).unwrap();
        assert!(!t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
        assert!(t.leftovers(&t.path("ssh")).is_empty());
    }

    #[test]
    fn creates_the_directory_and_file_with_their_modes() {
        let t = Local::new();
        let f = t.path("home/.ssh/known_hosts");
        let step = plan(json!({
            "path": f, "tag": "tandem-keys:", "mode": "0644", "dir_mode": "0700",
            "lines": ["node2,198.18.0.12 ssh-ed25519 AAAAh tandem-keys:p1:node2"],
        }));
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert!(check.report.changed());
        assert!(!t.path("home/.ssh").exists());
        std::fs::create_dir_all(t.path("home")).unwrap();
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(t.mode(&t.path("home/.ssh")), 0o700);
        assert_eq!(t.mode(&f), 0o644);
        assert!(!t.run(&step, false, false).report.changed());
        // An empty set removes every owned line and only those.
        std::fs::write(
            &f,
            "x ssh-ed25519 AAAA\nnode2 ssh-ed25519 AAAAh tandem-keys:p1:node2\n",
        )
        .unwrap();
        let clear = plan(json!({"path": f, "tag": "tandem-keys:", "lines": []}));
        assert!(t.run(&clear, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x ssh-ed25519 AAAA\n");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = TaggedLines::from_args(&json!({"path": "/x", "tag": "t:", "lines": ["a b"]}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("must end with a field starting with 't:'"),
            "{e}"
        );
        let e = TaggedLines::from_args(&json!({"path": "/x", "tag": "a b"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be one word"), "{e}");
        let e = TaggedLines::from_args(&json!({"path": "/x", "tag": "t", "lines": ["a t", "a t"]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
        let e = TaggedLines::from_args(&json!({"path": "x", "tag": "t"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute path"), "{e}");
        let e = TaggedLines::from_args(&json!({"path": "/x", "tag": "t", "mode": "rw"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("octal mode"), "{e}");
    }
}
