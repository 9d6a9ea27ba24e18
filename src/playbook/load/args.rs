//! A step's module arguments: template syntax in every string, the module's own check (when
//! nothing is templated), a role's `templates/` for a `template` src, the local file a
//! `template` or `copy` reads, and the step's default name.

use std::path::Path;
use std::sync::Arc;

use serde_saphyr::Spanned;

use super::{Loader, Scope, pos};
use crate::modules::{self, Module};
use crate::playbook::error::PlaybookError;
use crate::source_file;
use crate::template::{Templates, has_template_syntax};

impl Loader {
    /// The module's arguments, checked before any node is touched: template syntax in every
    /// string, then the module's own check; a `{{ }}` may stand for a number or a bool the
    /// module checks, so a templated step is checked after rendering, per host. Returns the
    /// arguments as the step keeps them (a role's template `src` resolved) and, when nothing is
    /// templated, the module built from them: the one every host runs, so they are parsed once.
    pub(super) fn check_module_args(
        &self,
        file: &Path,
        label: &str,
        module_key: &Spanned<String>,
        args: &Spanned<serde_json::Value>,
        scope: &Scope,
    ) -> Result<(serde_json::Value, Option<Arc<dyn Module>>), PlaybookError> {
        let mut templated = false;
        let mut bad = None;
        check_templates(
            &self.templates,
            &args.value,
            &mut String::new(),
            &mut templated,
            &mut bad,
        );
        if let Some((arg, message)) = bad {
            let place = if arg.is_empty() {
                String::new()
            } else {
                format!(" `{arg}`:")
            };
            return Err(PlaybookError::invalid(
                file,
                pos(&args.referenced),
                format!("{label}:{place} {message}"),
            ));
        }
        if templated {
            return Ok((args.value.clone(), None));
        }
        let mut args_value = args.value.clone();
        if module_key.value == "template" {
            // Before building: the module keeps its `src`, and must keep the resolved one
            // (resolving never empties it, so the checks say the same either way).
            in_template_dir(&mut args_value, scope.template_dir.as_deref());
        }
        let module = modules::build(&module_key.value, &args_value).map_err(|message| {
            PlaybookError::invalid(
                file,
                pos(&module_key.referenced),
                format!("{label}: {message}"),
            )
        })?;
        let spanned = Spanned::new(args_value.clone(), args.referenced, args.defined);
        self.check_local_source(file, label, &module_key.value, &spanned)?;
        Ok((args_value, Some(Arc::from(module))))
    }

    /// The local file a `template` or `copy` step reads (relative to the playbook file that
    /// holds the step, as the engine resolves it): it must exist, and a template must parse, or
    /// every host would fail the same way after connecting.
    fn check_local_source(
        &self,
        file: &Path,
        label: &str,
        module: &str,
        args: &Spanned<serde_json::Value>,
    ) -> Result<(), PlaybookError> {
        let Some(src) = args.value.get("src").and_then(|src| src.as_str()) else {
            return Ok(());
        };
        if module != "template" && module != "copy" {
            return Ok(());
        }
        let path = file.parent().unwrap_or(Path::new("")).join(src);
        let fail = |problem: String| PlaybookError::invalid(file, pos(&args.referenced), problem);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(fail(format!(
                    "{label}: src {} is not a regular file: give the path of a file",
                    path.display()
                )));
            }
            Err(e) => {
                let dir = match file.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.display().to_string(),
                    _ => "the playbook's directory".to_string(),
                };
                return Err(fail(format!(
                    "{label}: cannot read src {}: {}: fix the path (it is relative to {dir})",
                    path.display(),
                    source_file::io_message(&e)
                )));
            }
        }
        if module == "template" {
            self.templates
                .check_file(&path)
                .map_err(|problem| fail(format!("{label}: {problem}")))?;
        }
        Ok(())
    }
}

/// A role's `template` step: a relative `src` found in the role's `templates/` is read from
/// there (else it stays relative to the steps file, as anywhere).
fn in_template_dir(args: &mut serde_json::Value, dir: Option<&Path>) {
    let Some(dir) = dir else { return };
    let Some(src) = args.get("src").and_then(|s| s.as_str()) else {
        return;
    };
    let found = dir.join(src);
    if Path::new(src).is_relative() && found.is_file() {
        args["src"] = serde_json::Value::from(found.to_string_lossy().into_owned());
    }
}

/// Walks the string leaves of module arguments: notes whether any holds template code, and
/// the first that does not parse (argument path, message).
fn check_templates(
    templates: &Templates,
    value: &serde_json::Value,
    path: &mut String,
    templated: &mut bool,
    bad: &mut Option<(String, String)>,
) {
    use serde_json::Value as J;
    if bad.is_some() {
        return;
    }
    match value {
        J::String(text) => {
            // The engine renders every string with template syntax, `{# #}` comments too:
            // such a step's module must be built from the rendered text, per host.
            if has_template_syntax(text) {
                *templated = true;
            }
            if let Err(message) = templates.check_str(text) {
                *bad = Some((path.clone(), message.to_string()));
            }
        }
        J::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                check_templates(templates, item, path, templated, bad);
                path.truncate(len);
            }
        }
        J::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                check_templates(templates, item, path, templated, bad);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// "<module> <first arg>": `package lxc, rsync`, `command uptime`, `copy /etc/motd`.
pub(super) fn default_name(module: &str, args: &serde_json::Value) -> String {
    fn show(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Array(items) => {
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            }
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
    // The first key as written is lost (arguments are a JSON map); prefer the keys that say
    // what the step is about.
    let first = match args {
        serde_json::Value::Object(map) => ["name", "dest", "path", "cmd", "key", "src"]
            .iter()
            .find_map(|key| map.get(*key))
            .or_else(|| map.values().next())
            .map(show)
            .unwrap_or_default(),
        other => show(other),
    };
    let first = first.lines().next().unwrap_or_default().trim();
    let mut shown: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        shown.push_str("...");
    }
    if shown.is_empty() {
        module.to_string()
    } else {
        format!("{module} {shown}")
    }
}
