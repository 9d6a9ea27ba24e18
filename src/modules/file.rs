//! `file`: a path's kind and attributes: an existing file, a directory, a symbolic link,
//! nothing, or an empty file created if missing (`touch`, without touching the mtime of an
//! existing one: a touch that always changes would never converge).
//!
//! Converged checks use the shell's `[ -d ]`/`[ -L ]` builtins first; a process (`readlink`,
//! `stat` in `tandem_attrs`) is spent only where the builtins cannot answer.
//!
//! Symlinks: `file`, `touch` and `directory` act on what a link points to (as chmod and chown
//! do); a dangling link fails `file` and `touch` (touching it would create a file where it
//! points) and `directory`. `link` replaces whatever is at `path` but a real directory;
//! `absent` removes the link itself, never what it points to.

use serde::Deserialize;

use super::args::{absolute, mode, parse};
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};
use crate::sh::{Script, ShellWord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    #[serde(default)]
    state: State,
    src: Option<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    /// Must exist already (a file step that only fixes attributes).
    #[default]
    File,
    Directory,
    Link,
    Absent,
    Touch,
}

#[derive(Debug)]
pub struct File {
    path: String,
    state: State,
    src: Option<String>,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// User and group names as useradd accepts them, or numeric ids.
fn account(field: &str, value: &str) -> Result<(), ModuleError> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ModuleError::value(
            "file",
            field,
            value,
            "is not a valid user/group name or id",
        ))
    }
}

impl File {
    pub fn from_args(args: &serde_json::Value) -> Result<File, ModuleError> {
        let a: Args = parse("file", args)?;
        absolute("file", "path", &a.path)?;
        // "/srv/app/" and "/srv/app" are the same path; a trailing slash would make `rm` and
        // `ln` follow a link instead of acting on it.
        let trimmed = a.path.trim_end_matches('/');
        let path = if trimmed.is_empty() { "/" } else { trimmed }.to_string();
        let components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.contains(&"..") {
            return Err(ModuleError::value(
                "file",
                "path",
                &a.path,
                "must not contain '..' (write the path it means)",
            ));
        }
        if a.state == State::Absent && components.len() < 2 {
            return Err(ModuleError::invalid(
                "file",
                format!(
                    "refusing to remove '{}': state absent needs a path at least two levels deep",
                    a.path
                ),
            ));
        }
        match (a.state, &a.src) {
            (State::Link, None) => {
                return Err(ModuleError::invalid(
                    "file",
                    "state link needs `src` (the link's target)",
                ));
            }
            (State::Link, Some(src)) if src.is_empty() || src.contains('\0') => {
                return Err(ModuleError::invalid("file", "src must be a non-empty path"));
            }
            (State::Link, Some(_)) => {}
            (_, Some(_)) => {
                return Err(ModuleError::invalid(
                    "file",
                    "`src` only goes with state: link",
                ));
            }
            _ => {}
        }
        if a.state == State::Absent && (a.mode.is_some() || a.owner.is_some() || a.group.is_some())
        {
            return Err(ModuleError::invalid(
                "file",
                "mode, owner and group do not apply to state: absent",
            ));
        }
        if a.state == State::Link && a.mode.is_some() {
            // chmod on a link changes its target, and a link's own mode is always 777: it
            // could never converge.
            return Err(ModuleError::invalid(
                "file",
                "mode does not apply to state: link (set it on the target)",
            ));
        }
        let mode = a.mode.as_deref().map(|m| mode("file", m)).transpose()?;
        if let Some(o) = &a.owner {
            account("owner", o)?;
        }
        if let Some(g) = &a.group {
            account("group", g)?;
        }
        Ok(File {
            path,
            state: a.state,
            src: a.src,
            mode,
            owner: a.owner,
            group: a.group,
        })
    }
}

// Attributes apply to what a link points to, as chmod/chown do.
const FILE: &str = r#"if [ -L "$p" ]; then
  [ -e "$p" ] || tandem_fail "file: $p is a dangling symlink (to $(readlink -- "$p"))"
  p=$(readlink -f -- "$p")
fi
[ -e "$p" ] || tandem_fail "file: $p does not exist (state: touch creates it)"
[ -d "$p" ] && tandem_fail "file: $p is a directory, not a file (state: directory?)"
"#;

// A dangling link is not followed: touching it would create a file where it points, a path
// nobody named.
const TOUCH: &str = r#"if [ -L "$p" ]; then
  [ -e "$p" ] || tandem_fail "file: $p is a dangling symlink (to $(readlink -- "$p")): tandem creates no file through a link"
  p=$(readlink -f -- "$p")
fi
if [ ! -e "$p" ]; then
  tandem_changed "created $p"
  if ! tandem_checking; then
    [ -d "${p%/*}/" ] || tandem_fail "file: directory ${p%/*}/ does not exist"
    : >>"$p" || tandem_fail "file: cannot create $p"
  fi
fi
"#;

const DIRECTORY: &str = r#"if [ -L "$p" ] && [ -d "$p" ]; then p=$(readlink -f -- "$p"); fi
if [ ! -d "$p" ]; then
  if [ -e "$p" ] || [ -L "$p" ]; then tandem_fail "file: $p exists and is not a directory"; fi
  tandem_changed "created directory $p"
  tandem_checking || mkdir -p -- "$p" || tandem_fail "file: cannot create directory $p"
fi
"#;

// A new link made in a private temporary directory and renamed over the old one
// (`tandem_link`): there is no instant where the path is missing (a "current" release link is
// always usable), and no guessable temporary name.
const LINK: &str = r#"src={src}
if [ ! -L "$p" ] || [ "$(readlink -- "$p")" != "$src" ]; then
  # Replacing a directory would need removing what is inside: never implicitly.
  if [ -d "$p" ] && [ ! -L "$p" ]; then tandem_fail "file: $p is a directory, not a link (remove it first with state: absent)"; fi
  tandem_changed "link $p -> $src"
  tandem_checking || tandem_link "$src" "$p" || tandem_fail "file: cannot link $p to $src"
fi
"#;

const ABSENT: &str = r#"if [ -e "$p" ] || [ -L "$p" ]; then
  tandem_changed "removed $p"
  tandem_checking || rm -rf -- "$p" || tandem_fail "file: cannot remove $p"
fi
"#;

impl Module for File {
    fn plan(&self, _cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        let mut script = Script::fill("p={path}\n", &[("path", &ShellWord::quote(&self.path))]);
        script.push(match self.state {
            State::File => Script::code(FILE),
            State::Touch => Script::code(TOUCH),
            State::Directory => Script::code(DIRECTORY),
            State::Link => Script::fill(
                LINK,
                &[(
                    "src",
                    &ShellWord::quote(self.src.as_deref().unwrap_or_default()),
                )],
            ),
            State::Absent => Script::code(ABSENT),
        });
        if self.mode.is_some() || self.owner.is_some() || self.group.is_some() {
            let word = |v: &Option<String>| ShellWord::quote(v.as_deref().unwrap_or(""));
            script.push(Script::fill(
                "tandem_attrs \"$p\" {mode} {owner} {group}\n",
                &[
                    ("mode", &word(&self.mode)),
                    ("owner", &word(&self.owner)),
                    ("group", &word(&self.group)),
                ],
            ));
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
        File::from_args(&args)
            .unwrap()
            .plan(&TestContext::default())
            .unwrap()
    }

    #[test]
    fn directory_is_created_with_its_mode_then_converges() {
        let t = Local::new();
        let d = t.path("srv/app/data");
        let step = plan(
            json!({"path": format!("{}/", d.display()), "state": "directory", "mode": "0750"}),
        );
        let check = t.run(&step, true, false);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("created directory {}", d.display())]
        );
        assert!(!d.exists());

        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(d.is_dir());
        assert_eq!(t.mode(&d), 0o750);
        assert!(!t.run(&step, false, false).report.changed());

        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let check = t.run(&step, true, false);
        assert_eq!(
            check.report.changes,
            vec![format!("mode of {} to 750", d.display())]
        );
        assert_eq!(t.mode(&d), 0o755);

        let f = t.path("plain");
        std::fs::write(&f, "").unwrap();
        let run = t.run(
            &plan(json!({"path": f, "state": "directory"})),
            false,
            false,
        );
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("exists and is not a directory"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn link_is_made_retargeted_and_never_replaces_a_directory() {
        let t = Local::new();
        std::fs::create_dir_all(t.path("releases/1")).unwrap();
        std::fs::create_dir_all(t.path("releases/2")).unwrap();
        let link = t.path("current");
        let to = |n: &str| t.path(&format!("releases/{n}")).display().to_string();
        let step = plan(json!({"path": link, "state": "link", "src": to("1")}));
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(
            run.report.changes,
            vec![format!("link {} -> {}", link.display(), to("1"))]
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap().display().to_string(),
            to("1")
        );
        assert!(!t.run(&step, false, false).report.changed());

        // Retargeting a link to a directory replaces the link, not something inside it.
        let step2 = plan(json!({"path": link, "state": "link", "src": to("2")}));
        let check = t.run(&step2, true, false);
        assert!(check.report.changed());
        assert_eq!(
            std::fs::read_link(&link).unwrap().display().to_string(),
            to("1")
        );
        assert_eq!(t.run(&step2, false, false).status, 0);
        assert_eq!(
            std::fs::read_link(&link).unwrap().display().to_string(),
            to("2")
        );
        assert!(
            std::fs::read_dir(t.path("releases/1"))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(t.leftovers(&t.path("")).is_empty());

        let on_dir = plan(json!({"path": t.path("releases/1"), "state": "link", "src": "/tmp"}));
        let run = t.run(&on_dir, false, false);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("is a directory, not a link"),
            "{}",
            run.stderr
        );
        assert!(t.path("releases/1").is_dir());
    }

    #[test]
    fn absent_removes_trees_and_links_only() {
        let t = Local::new();
        std::fs::create_dir_all(t.path("tree/a/b")).unwrap();
        std::fs::write(t.path("tree/a/b/f"), "x").unwrap();
        std::fs::create_dir_all(t.path("keep")).unwrap();
        std::fs::write(t.path("keep/f"), "x").unwrap();
        std::os::unix::fs::symlink(t.path("keep"), t.path("link")).unwrap();

        let step = plan(json!({"path": t.path("tree"), "state": "absent"}));
        assert!(t.run(&step, true, false).report.changed());
        assert!(t.path("tree").exists());
        assert!(t.run(&step, false, false).report.changed());
        assert!(!t.path("tree").exists());
        assert!(!t.run(&step, false, false).report.changed());

        // A link (even written with a trailing slash) goes; what it points to stays.
        let step =
            plan(json!({"path": format!("{}/", t.path("link").display()), "state": "absent"}));
        assert!(t.run(&step, false, false).report.changed());
        assert!(std::fs::symlink_metadata(t.path("link")).is_err());
        assert!(t.path("keep/f").exists());
    }

    #[test]
    fn touch_creates_once_and_file_requires_existence() {
        let t = Local::new();
        let f = t.path("marker");
        let step = plan(json!({"path": f, "state": "touch", "mode": "600"}));
        let check = t.run(&step, true, false);
        assert_eq!(
            check.report.changes,
            vec![format!("created {}", f.display())]
        );
        assert!(!f.exists());
        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(t.mode(&f), 0o600);
        std::fs::write(&f, "kept").unwrap();
        assert!(!t.run(&step, false, false).report.changed());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "kept");

        let run = t.run(&plan(json!({"path": f, "mode": "0640"})), false, false);
        assert_eq!(
            run.report.changes,
            vec![format!("mode of {} to 640", f.display())]
        );
        let run = t.run(&plan(json!({"path": t.path("nope")})), false, false);
        assert_ne!(run.status, 0);
        assert!(
            run.stderr.contains("does not exist (state: touch"),
            "{}",
            run.stderr
        );
        let run = t.run(
            &plan(json!({"path": t.path("no/dir/f"), "state": "touch"})),
            false,
            false,
        );
        assert_ne!(run.status, 0);
        assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    }

    #[test]
    fn bad_arguments_are_explained() {
        let err = |v: serde_json::Value| File::from_args(&v).unwrap_err().to_string();
        assert!(err(json!({"path": "/x/y", "stat": "file"})).contains("unknown field `stat`"));
        assert!(err(json!({"path": "/x/y", "state": "dir"})).contains("unknown variant `dir`"));
        assert!(
            err(json!({"path": "x", "state": "touch"}))
                .contains("file: path 'x' must be an absolute path")
        );
        assert!(err(json!({"path": "/", "state": "absent"})).contains("refusing to remove '/'"));
        assert!(err(json!({"path": "//etc/", "state": "absent"})).contains("two levels"));
        assert!(err(json!({"path": "/srv/../etc", "state": "absent"})).contains("'..'"));
        assert!(err(json!({"path": "/x/y", "state": "link"})).contains("needs `src`"));
        assert!(err(json!({"path": "/x/y", "src": "/a"})).contains("only goes with state: link"));
        assert!(
            err(json!({"path": "/x/y", "state": "link", "src": "/a", "mode": "0644"}))
                .contains("mode does not apply")
        );
        assert!(
            err(json!({"path": "/x/y", "state": "absent", "owner": "root"}))
                .contains("do not apply")
        );
        assert!(err(json!({"path": "/x/y", "mode": "0888"})).contains("not an octal mode"));
        assert!(err(json!({"path": "/x/y", "owner": "-rf"})).contains("file: owner '-rf'"));
    }
}

#[cfg(test)]
mod planted_tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;

    /// Issue 12, defect 3: the link was made at `.tandem.link.$$` next to it, a predictable
    /// name: a directory planted there became the link's path.
    #[test]
    fn a_directory_planted_at_the_old_temporary_name_is_left_alone() {
        let t = Local::new();
        std::fs::create_dir_all(t.path("releases/1")).unwrap();
        let link = t.path("current");
        let step =
            File::from_args(&json!({"path": link, "state": "link", "src": t.path("releases/1")}))
                .unwrap()
                .plan(&TestContext::default())
                .unwrap();
        let dir = t.path("").display().to_string();
        let before =
            format!("mkdir \"{dir}/.tandem.link.$$\" && echo x >\"{dir}/.tandem.link.$$/evil\"");
        let run = t.run_env(&step, false, false, &[("TANDEM_TEST_BEFORE", &before)]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_symlink(), "{link:?} is not the link");
        assert_eq!(std::fs::read_link(&link).unwrap(), t.path("releases/1"));
    }
}
