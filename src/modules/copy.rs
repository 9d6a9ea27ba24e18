//! `copy`: a file with exact content (inline `content` or a local `src` file), mode and owner.
//!
//! The desired sha256 is computed here and compared on the node, so identical content is never
//! rewritten; new content goes through `tandem_install` (temp file, fsync, rename).
//!
//! Symlinks (as Ansible's `follow`, default false): with `follow: false` a symlink at `dest` is
//! replaced by a regular file, never written through, even when the file it points to already
//! holds the content; the new file takes the mode and owner of the regular file the link led
//! to (never the link's own 0777), unless `mode`/`owner`/`group` say otherwise. With
//! `follow: true` the file the link points to gets the content and the link stays; that file
//! must exist. A link to a directory fails either way, as does anything but a regular file.
//! A new file with no `mode` gets 0644 less the node's umask.

use super::args::{absolute, mode, parse, sha256_hex};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};
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
    #[serde(default)]
    follow: bool,
}

#[derive(Debug)]
pub struct Copy {
    dest: String,
    source: Source,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    secret: bool,
    follow: bool,
}

#[derive(Debug)]
enum Source {
    Inline(String),
    Local(String),
}

impl Copy {
    pub fn from_args(args: &serde_json::Value) -> Result<Copy, ModuleError> {
        let a: Args = parse("copy", args)?;
        absolute("copy", "dest", &a.dest)?;
        let source = match (a.content, a.src) {
            (Some(c), None) => Source::Inline(c),
            (None, Some(s)) => Source::Local(s),
            _ => {
                return Err(ModuleError::invalid(
                    "copy",
                    "give exactly one of `content` (inline text) or `src` (a local file)",
                ));
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
            follow: a.follow,
        })
    }
}

impl Module for Copy {
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let payload = match &self.source {
            Source::Inline(text) => text.clone().into_bytes(),
            Source::Local(path) => {
                let full = cx.base_dir().join(path);
                std::fs::read(&full).map_err(|source| PlanError::Unreadable {
                    module: "copy",
                    field: "src",
                    path: full,
                    source,
                })?
            }
        };
        Ok(RemoteStep {
            script: Content {
                dest: &self.dest,
                payload: &payload,
                mode: self.mode.as_deref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
                show_diff: !self.secret,
                follow: self.follow,
            }
            .script(),
            payload,
        })
    }
}

/// "DEST holds exactly the payload": the check-and-apply script shared by `copy`, `template`
/// and `lxc`'s config.
pub struct Content<'a> {
    pub dest: &'a str,
    pub payload: &'a [u8],
    pub mode: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
    /// False for credentials: the content never comes back for --diff.
    pub show_diff: bool,
    /// Write the file a symlink at `dest` points to, instead of replacing the link.
    pub follow: bool,
}

const CONTENT: &str = r#"d={dest} follow={follow}
if [ -L "$d" ]; then
  [ -d "$d" ] && tandem_fail "$d is a symlink to a directory (to $(readlink -- "$d")), not a file"
  if [ -n "$follow" ]; then
    [ -e "$d" ] || tandem_fail "$d is a dangling symlink (to $(readlink -- "$d")): with follow: true the file it points to must exist"
    l=$d; d=$(readlink -f -- "$l") || tandem_fail "cannot resolve the symlink $l"
  fi
fi
[ -d "$d" ] && tandem_fail "$d is a directory, not a file"
[ -L "$d" ] || [ ! -e "$d" ] || [ -f "$d" ] || tandem_fail "$d is not a regular file"
# Parameter expansion, not dirname: a converged check should start as few processes as it can.
p=${d%/*}; p=${p:-/}
if [ ! -d "$p" ]; then
  # In check mode an earlier step would have made the directory: report, do not fail.
  tandem_checking || tandem_fail "directory $p does not exist (create it with a file step first)"
  tandem_changed "created $d"; exit 0
fi
if [ -L "$d" ]; then
  # follow: false: the link goes, replaced by a file; what it points to is never written.
  {link_diff}
  tandem_changed "replaced the symlink $d with a file"
  tandem_checking || tandem_install "$TANDEM_PAYLOAD" "$d" {mode} {owner_group}
# The payload is on the node already: one `cmp` instead of hashing (sha256 {want}).
elif ! cmp -s -- "$TANDEM_PAYLOAD" "$d"; then
  {diff}
  if [ -e "$d" ]; then tandem_changed "content of $d"; else tandem_changed "created $d"; fi
  tandem_checking || tandem_install "$TANDEM_PAYLOAD" "$d" {mode} {owner_group}
fi
# (In check mode a link still stands here: the file that replaces it gets these at install.)
[ -L "$d" ] || tandem_attrs "$d" {mode} {owner} {group}
"#;

impl Content<'_> {
    pub fn script(&self) -> Script {
        let (diff, link_diff) = if self.show_diff {
            (
                Script::code(r#"tandem_diff "$d" "$d" "$TANDEM_PAYLOAD""#),
                // The link's target is not this file: its content is no "before".
                Script::code(r#"tandem_diff "$d" /dev/null "$TANDEM_PAYLOAD""#),
            )
        } else {
            let none = "# secret: no diff, the content must not appear in any output";
            (Script::code(none), Script::code(none))
        };
        let owner_group = match (self.owner, self.group) {
            (Some(o), Some(g)) => format!("{o}:{g}"),
            (Some(o), None) => o.to_string(),
            (None, Some(g)) => format!(":{g}"),
            (None, None) => String::new(),
        };
        let word = |v: Option<&str>| ShellWord::quote(v.unwrap_or(""));
        Script::fill(
            CONTENT,
            &[
                ("dest", &ShellWord::quote(self.dest)),
                (
                    "follow",
                    &ShellWord::quote(if self.follow { "1" } else { "" }),
                ),
                ("diff", &diff),
                ("link_diff", &link_diff),
                ("want", &ShellWord::quote(&sha256_hex(self.payload))),
                ("mode", &word(self.mode)),
                ("owner_group", &ShellWord::quote(&owner_group)),
                ("owner", &word(self.owner)),
                ("group", &word(self.group)),
            ],
        )
    }
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
        let e = Copy::from_args(&serde_json::json!({"dest": "/x", "contnet": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `contnet`"), "{e}");
        let e = Copy::from_args(&serde_json::json!({"dest": "x", "content": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = Copy::from_args(&serde_json::json!({"dest": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one of"), "{e}");
    }
}

#[cfg(test)]
mod symlink_tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use std::os::unix::fs::PermissionsExt;

    /// Issue 12, defect 1: a copy with no mode onto a link to a 0600 file left a 0777 file.
    #[test]
    fn a_copy_onto_a_link_never_widens_the_mode() {
        let t = Local::new();
        let real = t.path("real.conf");
        let link = t.path("link.conf");
        std::fs::write(&real, "secret=1\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let plan = Copy::from_args(&serde_json::json!({"dest": link, "content": "secret=2\n"}))
            .unwrap()
            .plan(&TestContext::default())
            .unwrap();
        let run = t.run(&plan, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_file(), "{link:?} is still a link");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "secret=2\n");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "secret=1\n");
    }

    /// Issue 12, defect 3: the rename that installs a file must never move it into a directory
    /// that appeared at the destination's name (`mv -f` without `-T` does).
    #[test]
    fn a_directory_planted_at_the_destination_is_never_written_into() {
        let t = Local::new();
        let dest = t.path("app.conf");
        // `sync` runs right before the rename: the stand-in plants the directory then.
        t.stub(
            "sync",
            &format!("[ -d {0} ] || mkdir {0}\nexit 0\n", dest.display()),
        );
        let plan = Copy::from_args(&serde_json::json!({"dest": dest, "content": "a=1\n"}))
            .unwrap()
            .plan(&TestContext::default())
            .unwrap();
        let run = t.run(&plan, false, false);
        assert_ne!(run.status, 0, "the step passed: {:?}", run.report);
        assert!(
            std::fs::read_dir(&dest).unwrap().next().is_none(),
            "tandem wrote into the planted directory"
        );
        assert!(t.leftovers(&t.path("")).is_empty());
    }
}
