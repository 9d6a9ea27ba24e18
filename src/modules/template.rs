//! `template`: a file rendered on the controller from a local minijinja template with the
//! host's variables, then shipped exactly like `copy` content (sha256 compared on the node,
//! atomic install, diff). Rendering happens here so nodes need no template engine. Symlinks
//! at `dest` are handled as `copy` handles them (`follow`, default false: the link is replaced
//! by a file that keeps the mode and owner of the file it led to).
//!
//! `secrets: {NAME: LOCAL_FILE}` gives this one rendering the secret kept in each local file
//! (made once, random, root only: see `secret_file`); such a step never shows a diff, only
//! that the file changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::args::{absolute, mode, parse};
use super::copy::Content;
use super::{Module, ModuleError, PlanContext, PlanError, RemoteStep};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    src: String,
    dest: String,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Template {
    src: String,
    dest: String,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    follow: bool,
    /// Name in the template -> the local file holding that secret.
    secrets: BTreeMap<String, String>,
}

impl Template {
    pub fn from_args(args: &serde_json::Value) -> Result<Template, ModuleError> {
        let a: Args = parse("template", args)?;
        absolute("template", "dest", &a.dest)?;
        if a.src.is_empty() {
            return Err(ModuleError::invalid(
                "template",
                "src is empty (a template file, relative to the playbook)",
            ));
        }
        let mode = a.mode.as_deref().map(|m| mode("template", m)).transpose()?;
        for (name, file) in &a.secrets {
            let word = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !word {
                return Err(ModuleError::invalid(
                    "template",
                    format!("secrets: {name:?} is not a variable name (letters, digits, _)"),
                ));
            }
            if !Path::new(file).is_absolute() {
                return Err(ModuleError::invalid(
                    "template",
                    format!(
                        "secrets.{name}: {file:?} is not an absolute path (the local file holding the secret)"
                    ),
                ));
            }
        }
        Ok(Template {
            src: a.src,
            dest: a.dest,
            mode,
            owner: a.owner,
            group: a.group,
            follow: a.follow,
            secrets: a.secrets,
        })
    }
}

impl Module for Template {
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, PlanError> {
        // `join` keeps an absolute `src` as is.
        let path = cx.base_dir().join(Path::new(&self.src));
        // minijinja's error already names the template, the line and the undefined variable:
        // passed through unchanged (DESIGN.md section 3).
        let mut secrets = BTreeMap::new();
        for (name, file) in &self.secrets {
            let value = super::secret_file::load_or_create(Path::new(file)).map_err(|source| {
                PlanError::Secret {
                    module: "template",
                    name: name.clone(),
                    source,
                }
            })?;
            secrets.insert(name.clone(), value);
        }
        let payload = cx.render_file_with(&path, &secrets)?.into_bytes();
        Ok(RemoteStep {
            script: Content {
                dest: &self.dest,
                payload: &payload,
                mode: self.mode.as_deref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
                show_diff: self.secrets.is_empty(),
                follow: self.follow,
            }
            .script(),
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::{Local, TestContext};
    use serde_json::json;
    use std::path::PathBuf;

    /// Records which file it was asked to render.
    struct Recording {
        base: PathBuf,
        asked: std::sync::Mutex<Vec<PathBuf>>,
    }

    impl PlanContext for Recording {
        fn base_dir(&self) -> &Path {
            &self.base
        }
        fn render_file(&self, path: &Path) -> Result<String, PlanError> {
            self.asked.lock().unwrap().push(path.to_path_buf());
            Ok("port = 80\n".into())
        }
    }

    #[test]
    fn renders_relative_to_the_playbook_and_installs_like_copy() {
        let t = Local::new();
        let dest = t.path("app.conf");
        let cx = Recording {
            base: PathBuf::from("/play"),
            asked: Default::default(),
        };
        let step = Template::from_args(
            &json!({"src": "templates/app.conf.j2", "dest": dest, "mode": "0640"}),
        )
        .unwrap()
        .plan(&cx)
        .unwrap();
        assert_eq!(
            cx.asked.lock().unwrap().as_slice(),
            [PathBuf::from("/play/templates/app.conf.j2")]
        );

        let check = t.run(&step, true, true);
        assert_eq!(check.status, 0, "{}", check.stderr);
        assert_eq!(
            check.report.changes,
            vec![format!("created {}", dest.display())]
        );
        assert_eq!(check.report.diffs[0].new, b"port = 80\n");
        assert!(!dest.exists());

        let run = t.run(&step, false, false);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "port = 80\n");
        assert_eq!(t.mode(&dest), 0o640);
        assert!(!t.run(&step, false, false).report.changed());

        std::fs::write(&dest, "port = 81\n").unwrap();
        let diff = t.run(&step, false, true);
        assert_eq!(diff.report.diffs[0].old, b"port = 81\n");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "port = 80\n");

        // An absolute src is used as is.
        Template::from_args(&json!({"src": "/etc/t.j2", "dest": "/x"}))
            .unwrap()
            .plan(&cx)
            .unwrap();
        assert_eq!(cx.asked.lock().unwrap()[1], PathBuf::from("/etc/t.j2"));
    }

    #[test]
    fn render_errors_are_the_plan_error() {
        let cx = TestContext {
            base: PathBuf::from("/play"),
            rendered: None,
        };
        let e = Template::from_args(&json!({"src": "t.j2", "dest": "/x"}))
            .unwrap()
            .plan(&cx)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no template /play/t.j2");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = Template::from_args(&json!({"src": "t", "dst": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `dst`"), "{e}");
        let e = Template::from_args(&json!({"src": "t", "dest": "x"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("template: dest 'x' must be an absolute path"),
            "{e}"
        );
        let e = Template::from_args(&json!({"src": "t", "dest": "/x", "mode": "644x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("template: mode '644x'"), "{e}");
        let e = Template::from_args(&json!({"dest": "/x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `src`"), "{e}");
    }
}
