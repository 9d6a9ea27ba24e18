//! `authorized_key`: one public key in a user's `authorized_keys`, present or absent.
//!
//! A line "is" our key when one of its fields is the key's base64 blob (so a line with options
//! such as `from="..."` or another comment still counts). present: exactly one such line, equal
//! to the wanted one; with `tag`, lines carrying the tag as a field are ours too, so a rotated
//! key replaces the old one instead of piling up. Other lines and comments are left untouched.
//! The home directory is resolved on the node (`getent passwd`, so LDAP/sssd users work too).
//!
//! Symlinks (`follow`, default false, as Ansible's `authorized_key`): a home belongs to its
//! user, who could plant a link at `~/.ssh` or at the file to lead root's write (and the chown
//! to the user) to any file of the node. So a link at the file, or anywhere below the home
//! directory on the way to it (the default path, or a `path` inside the home), fails the step;
//! `follow: true` follows them.

use serde::Deserialize;

use super::args::{absolute, parse};
use super::rewrite::{Edit, Missing, one_line};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    user: String,
    key: String,
    #[serde(default)]
    state: State,
    tag: Option<String>,
    path: Option<String>,
    #[serde(default)]
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
pub struct AuthorizedKey {
    user: String,
    /// The line as written in the file (the key, then the tag when not already its last word).
    line: String,
    blob: String,
    tag: Option<String>,
    state: State,
    path: Option<String>,
    follow: bool,
}

// Comment lines (`#`) are never ours, even when they quote the key.
const PROGRAM: &str = r#"BEGIN {
  want = ENVIRON["TANDEM_LINE"] ""; blob = ENVIRON["TANDEM_BLOB"] ""
  tag = ENVIRON["TANDEM_TAG"] ""; present = ENVIRON["TANDEM_PRESENT"] != ""
}
$1 !~ /^#/ {
  ours = 0
  for (i = 1; i <= NF; i++) if ($i == blob || (tag != "" && i > 2 && $i == tag)) ours = 1
  if (ours) {
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

impl AuthorizedKey {
    pub fn from_args(args: &serde_json::Value) -> Result<AuthorizedKey, ModuleError> {
        let a: Args = parse("authorized_key", args)?;
        let user_ok = !a.user.is_empty()
            && a.user.len() <= 32
            && !a.user.starts_with('-')
            && a.user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !user_ok {
            return Err(ModuleError::value(
                "authorized_key",
                "user",
                &a.user,
                "is not a valid user name",
            ));
        }
        one_line("authorized_key", "key", &a.key)?;
        let key = a.key.trim();
        let fields: Vec<&str> = key.split_whitespace().collect();
        let type_ok = |t: &str| {
            (t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-"))
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.@".contains(c))
        };
        let blob_ok = |b: &str| {
            b.len() >= 16
                && b.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
        };
        if fields.len() < 2 || !type_ok(fields[0]) || !blob_ok(fields[1]) {
            return Err(ModuleError::invalid(
                "authorized_key",
                "key must be one public key line: \"TYPE BASE64 [COMMENT]\" (as in a .pub file)",
            ));
        }
        let mut line = fields.join(" ");
        if let Some(tag) = &a.tag {
            if tag.is_empty() || tag.contains(char::is_whitespace) {
                return Err(ModuleError::value(
                    "authorized_key",
                    "tag",
                    tag,
                    "must be one word (no spaces), e.g. \"tandem:node1\"",
                ));
            }
            if fields.last() != Some(&tag.as_str()) || fields.len() == 2 {
                line = format!("{line} {tag}");
            }
        }
        if let Some(path) = &a.path {
            absolute("authorized_key", "path", path)?;
        }
        Ok(AuthorizedKey {
            user: a.user,
            blob: fields[1].to_string(),
            line,
            tag: a.tag,
            state: a.state,
            path: a.path,
            follow: a.follow,
        })
    }
}

// Fields of the passwd entry split by the shell itself (IFS=:), no cut/awk process; the
// split is the point, and globbing is off.
const USER: &str = r#"u={user}
ent=$(getent passwd "$u") || tandem_fail "authorized_key: no user $u on this node"
oifs=$IFS; IFS=:; set -f
# shellcheck disable=SC2086 # split on `:` on purpose; globbing is off
set -- $ent
IFS=$oifs; set +f
uid=$3 gid=$4 home=$6 follow={follow}
"#;

/// A path given explicitly: inside the user's home, the same rule as the default path.
const GIVEN: &str = r#"p={path}
if [ -z "$follow" ] && [ -n "$home" ] && [ "$home" != / ]; then
  case $p in "$home"/*) tandem_inside "$home" "$p" ;; esac
fi
"#;

const IN_HOME: &str = r#"{ [ -n "$home" ] && [ "$home" != / ]; } || tandem_fail "authorized_key: user $u has no home directory"
[ -d "$home" ] || tandem_fail "authorized_key: home directory $home of $u does not exist"
p=$home/.ssh/authorized_keys
# The home is the user's: a link they planted at .ssh or at the file would lead root's write
# (and the chown to the user) anywhere. Followed only with follow: true.
[ -n "$follow" ] || tandem_inside "$home" "$p"
# sshd (StrictModes) wants ~/.ssh owned by the user and not writable by others.
if [ ! -d "$home/.ssh" ]; then
  tandem_changed "created $home/.ssh"
  if ! tandem_checking; then
    { mkdir -m 700 -- "$home/.ssh" && chown "$uid:$gid" -- "$home/.ssh"; } || tandem_fail "authorized_key: cannot create $home/.ssh"
  fi
fi
"#;

impl Module for AuthorizedKey {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let follow = ShellWord::quote(if self.follow { "1" } else { "" });
        let mut script = Script::fill(
            USER,
            &[("user", &ShellWord::quote(&self.user)), ("follow", &follow)],
        );
        match &self.path {
            Some(path) => script.push(Script::fill(GIVEN, &[("path", &ShellWord::quote(path))])),
            None => script.push_code(IN_HOME),
        }
        let present = if self.state == State::Present {
            "1"
        } else {
            ""
        };
        let env = [
            ("TANDEM_LINE", self.line.as_str()),
            ("TANDEM_BLOB", self.blob.as_str()),
            ("TANDEM_TAG", self.tag.as_deref().unwrap_or("")),
            ("TANDEM_PRESENT", present),
        ];
        let edit = Edit {
            module: "authorized_key",
            path: ShellWord::verbatim("\"$p\""),
            awk: PROGRAM,
            env: &env,
            // A missing file: created for present; nothing to remove for absent.
            missing: Missing::Create,
            // Written 0600 and owned by the user, whatever it was before: sshd refuses keys in
            // a file others can write.
            mode: ShellWord::verbatim("600"),
            owner: ShellWord::verbatim("\"$uid:$gid\""),
            what: match self.state {
                State::Present => "key in",
                State::Absent => "removed key from",
            },
            arms: "",
            follow: self.follow,
        };
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

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9ydGFuZGVtdGVzdHM alice@laptop";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVya2V5Zm9ydGFuZGVtdGVzdHM bob@desk";

    fn me() -> String {
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn plan(args: serde_json::Value) -> RemoteStep {
        AuthorizedKey::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn adds_once_keeps_other_lines_and_replaces_by_tag() {
        let t = Local::new();
        let f = t.path("authorized_keys");
        std::fs::write(&f, format!("# keys\n{OTHER}\n")).unwrap();
        let step = plan(json!({"user": me(), "key": KEY, "path": f, "tag": "tandem:n1"}));

        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("key in {}", f.display())]
        );
        let want = format!("# keys\n{OTHER}\n{KEY} tandem:n1\n");
        assert_eq!(String::from_utf8_lossy(&check.report.diffs[0].new), want);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("# keys\n{OTHER}\n")
        );

        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), want);
        assert_eq!(t.mode(&f), 0o600);
        assert!(!t.run(&step, false, false).report.changed());

        // A new key under the same tag replaces the old line, in place.
        let rotated = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJvdGF0ZWRrZXlmb3J0YW5kZW10ZXN0cw";
        let step2 = plan(json!({"user": me(), "key": rotated, "path": f, "tag": "tandem:n1"}));
        assert!(t.run(&step2, false, false).report.changed());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("# keys\n{OTHER}\n{rotated} tandem:n1\n")
        );
        assert!(!t.run(&step2, false, false).report.changed());
    }

    #[test]
    fn duplicates_and_options_collapse_to_one_line_and_absent_removes() {
        let t = Local::new();
        let f = t.path("ak");
        let blob = KEY.split(' ').nth(1).unwrap();
        std::fs::write(
            &f,
            format!("from=\"10.0.0.1\" ssh-ed25519 {blob} old\n{OTHER}\n{KEY}\n"),
        )
        .unwrap();
        let step = plan(json!({"user": me(), "key": KEY, "path": f}));
        assert!(t.run(&step, false, false).report.changed());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            format!("{KEY}\n{OTHER}\n")
        );
        assert!(!t.run(&step, false, false).report.changed());

        let gone = plan(json!({"user": me(), "key": KEY, "path": f, "state": "absent"}));
        let run = t.run(&gone, false, false);
        assert_eq!(
            run.report.changes,
            vec![format!("removed key from {}", f.display())]
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{OTHER}\n"));
        assert!(!t.run(&gone, false, false).report.changed());
    }

    #[test]
    fn default_path_is_in_the_users_home() {
        let t = Local::new();
        let home = t.path("home/alice");
        std::fs::create_dir_all(&home).unwrap();
        // A fake getent: the user "alice" lives in the test directory, with our own ids.
        let (uid, gid) = ids();
        t.stub(
            "getent",
            &format!(
                "[ \"$2\" = alice ] || exit 2\necho 'alice:x:{uid}:{gid}:Alice,,,:{}:/bin/sh'\n",
                home.display()
            ),
        );
        let step = plan(json!({"user": "alice", "key": KEY}));
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(check.report.changes.len(), 2, "{:?}", check.report.changes);
        assert!(!home.join(".ssh").exists());

        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let ak = home.join(".ssh/authorized_keys");
        assert_eq!(
            run.report.changes,
            vec![
                format!("created {}", home.join(".ssh").display()),
                format!("created {}", ak.display())
            ]
        );
        assert_eq!(t.mode(&home.join(".ssh")), 0o700);
        assert_eq!(t.mode(&ak), 0o600);
        assert_eq!(std::fs::read_to_string(&ak).unwrap(), format!("{KEY}\n"));
        assert!(!t.run(&step, false, false).report.changed());

        let nobody = plan(json!({"user": "bob", "key": KEY}));
        let run = t.run(&nobody, false, false);
        assert_ne!(run.status, 0);
        assert!(run.stderr.contains("no user bob"), "{}", run.stderr);
    }

    fn ids() -> (String, String) {
        let id = |flag: &str| {
            let out = std::process::Command::new("id").arg(flag).output().unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        (id("-u"), id("-g"))
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = AuthorizedKey::from_args(&json!({"user": "a", "key": KEY, "tags": "x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `tags`"), "{e}");
        let e = AuthorizedKey::from_args(&json!({"user": "a b", "key": KEY}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("authorized_key: user 'a b'"), "{e}");
        let e = AuthorizedKey::from_args(&json!({"user": "a", "key": "AAAA"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one public key line"), "{e}");
        let e = AuthorizedKey::from_args(&json!({"user": "a", "key": format!("{KEY}\n{OTHER}")}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("single line"), "{e}");
        let e = AuthorizedKey::from_args(&json!({"user": "a", "key": KEY, "tag": "a b"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one word"), "{e}");
        let e = AuthorizedKey::from_args(&json!({"user": "a", "key": KEY, "path": "ak"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
    }
}
