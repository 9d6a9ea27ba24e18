//! `include: FILE` (its path maybe a template rendered per node) and `role: NAME`: the steps
//! of another file pulled in with the include's `vars`, `when`, `tags` and `timeout`, include
//! cycles and depth refused.

use std::path::Path;

use super::keys::{INCLUDE_KEYS, Keys};
use super::read::{parse_file, parse_vars_file};
use super::step::{add_tags, timeout};
use super::values::{string_value, tags, vars};
use super::{Loader, Scope, pos};
use crate::playbook::error::PlaybookError;
use crate::playbook::include_path;
use crate::playbook::model::Step;
use crate::playbook::raw::RawFile;
use crate::playbook::suggest::suggestion;
use crate::source_file;
use crate::template::has_template_syntax;

/// How deep `include` may nest; deeper is almost certainly a mistake.
pub const MAX_INCLUDE_DEPTH: usize = 16;

impl Loader {
    pub(super) fn include(
        &mut self,
        file: &Path,
        keys: Keys,
        scope: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        let (include_key, include_value) = keys.include.as_ref().expect("checked by the caller");
        let role = include_key.value != "include";
        let target = match (&include_value.value, role) {
            (serde_json::Value::String(target), _) if !target.trim().is_empty() => target.clone(),
            // Ansible's `include_role: {name: web}`.
            (serde_json::Value::Object(map), true)
                if map.len() == 1 && map.get("name").and_then(|n| n.as_str()).is_some() =>
            {
                map["name"].as_str().unwrap_or_default().to_string()
            }
            _ => {
                let message = if role {
                    format!(
                        "`{}` takes the name of a role (a directory roles/NAME/ beside the \
                         playbook), e.g. `role: web`",
                        include_key.value
                    )
                } else {
                    "`include` takes the path of a steps file, e.g. `include: node-prep.yml`"
                        .to_string()
                };
                return Err(PlaybookError::invalid(
                    file,
                    pos(&include_value.referenced),
                    message,
                ));
            }
        };
        let what = if role { "role" } else { "include" };
        let label = match keys.get("name").map(|(_, v)| &v.value) {
            Some(serde_json::Value::String(name)) => format!("{what} '{name}'"),
            _ => format!("{what} '{target}'"),
        };
        if let Some((module, _)) = keys.modules.first() {
            return Err(PlaybookError::invalid(
                file,
                pos(&module.referenced),
                format!(
                    "{label} also has module `{}`: an include only pulls in the steps of another \
                     file; put the module in a step of its own",
                    module.value
                ),
            ));
        }
        if let Some(key) = keys
            .unknown
            .first()
            .map(|(k, _)| k)
            .or(keys.meta.as_ref().map(|(k, _)| k))
        {
            return Err(PlaybookError::invalid(
                file,
                pos(&key.referenced),
                format!(
                    "unknown key `{}` in {label}; expected one of {}{}",
                    key.value,
                    INCLUDE_KEYS.join(", "),
                    suggestion(&key.value, INCLUDE_KEYS.iter().copied())
                ),
            ));
        }
        if let Some((key, _)) = keys
            .keywords
            .iter()
            .find(|(k, _)| !INCLUDE_KEYS.contains(&k.value.as_str()))
        {
            return Err(PlaybookError::invalid(
                file,
                pos(&key.referenced),
                format!(
                    "`{}` cannot be used on an include ({label}): put it on the included steps \
                     (an include takes {})",
                    key.value,
                    INCLUDE_KEYS.join(", ")
                ),
            ));
        }
        if let Some(entry) = keys.get("name") {
            string_value(&label, entry).map_err(|e| e.at(file, pos(&entry.1.referenced)))?;
        }

        let mut inner = scope.clone();
        if let Some(entry) = keys.get("when") {
            inner.when.extend(self.conditions(file, &label, entry)?);
        }
        if let Some(entry) = keys.get("tags") {
            add_tags(&mut inner.tags, tags(file, &label, entry)?);
        }
        if let Some(entry) = keys.get("vars") {
            inner.vars.extend(vars(file, &label, entry)?);
        }
        if let Some(entry) = keys.get("timeout") {
            inner.timeout = Some(timeout(file, &label, entry)?);
        }
        let position = pos(&include_value.referenced);
        if role {
            return self.role(file, &label, &target, position, inner, out);
        }
        if !has_template_syntax(&target) {
            return self.include_file(file, &label, &target, position, &inner, out);
        }
        self.templates.check_str(&target).map_err(|message| {
            PlaybookError::invalid(file, position, format!("{label}: {message}"))
        })?;
        let rendered = include_path::render(
            &self.templates,
            &target,
            &self.playbook_vars,
            &inner.vars,
            &self.known,
        )
        .map_err(|message| PlaybookError::invalid(file, position, format!("{label}: {message}")))?;
        let several = rendered.len() > 1;
        for (path, nodes) in rendered {
            let mut only = inner.clone();
            if several {
                only.when.push(include_path::only_on(&nodes));
            }
            let shown = if nodes.is_empty() {
                format!("{label} ({path})")
            } else {
                format!("{label} ({path} on {})", nodes.join(", "))
            };
            self.include_file(file, &shown, &path, position, &only, out)?;
        }
        Ok(())
    }

    /// `role: NAME`: roles/NAME/ beside the playbook; its `steps.yml` pulled in like an
    /// include, with its `defaults.yml` below every other var, its `templates/` searched first
    /// for a `template` src, and its `handlers.yml` added to the handlers (once).
    fn role(
        &mut self,
        file: &Path,
        label: &str,
        name: &str,
        position: (usize, usize),
        mut inner: Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        let valid = name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with('.');
        if !valid {
            return Err(PlaybookError::invalid(
                file,
                position,
                format!(
                    "{label}: a role is named by its directory under roles/ (letters, digits, \
                     '_', '-', '.'; no path, no template)"
                ),
            ));
        }
        let playbook_dir = self.stack[0]
            .1
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let dir = playbook_dir.join("roles").join(name);
        if !dir.is_dir() {
            return Err(PlaybookError::invalid(
                file,
                position,
                format!(
                    "{label}: no directory {}: a role is roles/NAME/ beside the playbook, with \
                     steps.yml (and optional defaults.yml, handlers.yml, templates/)",
                    dir.display()
                ),
            ));
        }
        let defaults = dir.join("defaults.yml");
        if defaults.exists() {
            for (key, value) in parse_vars_file(&defaults)? {
                inner.defaults.insert(key, value);
            }
        }
        let templates = dir.join("templates");
        if templates.is_dir() {
            inner.template_dir = Some(std::fs::canonicalize(&templates).unwrap_or(templates));
        }
        let handlers = dir.join("handlers.yml");
        if handlers.exists() && self.roles_loaded.insert(name.to_string()) {
            match parse_file(&handlers)? {
                RawFile::Steps(list) => {
                    // Handlers run outside the role's include: only its defaults and templates.
                    let scope = Scope {
                        defaults: inner.defaults.clone(),
                        template_dir: inner.template_dir.clone(),
                        ..Scope::default()
                    };
                    self.handlers(&handlers, list, &scope)?;
                }
                RawFile::Empty => {}
                RawFile::Playbook(_) => {
                    return Err(PlaybookError::whole(
                        &handlers,
                        "a role's handlers.yml is a list of handlers (`- name: ...`), not a map"
                            .to_string(),
                    ));
                }
            }
        }
        let steps = Path::new("roles").join(name).join("steps.yml");
        let steps = steps.to_string_lossy().into_owned();
        // Relative to the playbook's directory, not to the file naming the role.
        let main = self.stack[0].1.clone();
        self.include_relative(&main, file, label, &steps, position, &inner, out)
    }

    /// Pulls in the steps of `target`, relative to the including `file`.
    fn include_file(
        &mut self,
        file: &Path,
        label: &str,
        target: &str,
        position: (usize, usize),
        inner: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        self.include_relative(file, file, label, target, position, inner, out)
    }

    /// Pulls in the steps of `target`, relative to the directory of `base`; errors go to
    /// `file` (the file that names the include) at `position`.
    #[allow(clippy::too_many_arguments)]
    fn include_relative(
        &mut self,
        base: &Path,
        file: &Path,
        label: &str,
        target: &str,
        position: (usize, usize),
        inner: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        // Relative to the including file, whatever the working directory.
        let dir = base.parent().unwrap_or(Path::new(""));
        let path = dir.join(target);
        let canonical = std::fs::canonicalize(&path).map_err(|err| {
            let text = source_file::io_message(&err);
            PlaybookError::invalid(
                file,
                position,
                format!(
                    "{label}: cannot read included file {}: {text}",
                    path.display()
                ),
            )
        })?;
        if let Some(first) = self.stack.iter().position(|(c, _)| *c == canonical) {
            let mut chain: Vec<String> = self.stack[first..]
                .iter()
                .map(|(_, shown)| shown.display().to_string())
                .collect();
            chain.push(path.display().to_string());
            return Err(PlaybookError::invalid(
                file,
                position,
                format!(
                    "include cycle: {}: a file cannot include itself, directly or not",
                    chain.join(" -> ")
                ),
            ));
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(PlaybookError::invalid(
                file,
                position,
                format!(
                    "includes nested more than {MAX_INCLUDE_DEPTH} levels deep (from {}): \
                     flatten them",
                    self.stack[0].1.display()
                ),
            ));
        }

        let raw = parse_file(&path)?;
        self.stack.push((canonical, path.clone()));
        let result = self.included(&path, raw, inner, out);
        self.stack.pop();
        result
    }

    fn included(
        &mut self,
        path: &Path,
        raw: RawFile,
        scope: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        match raw {
            RawFile::Steps(steps) => self.steps(path, steps, scope, out),
            RawFile::Empty => Ok(()),
            RawFile::Playbook(playbook) => {
                if let Some(vars) = &playbook.vars {
                    return Err(PlaybookError::invalid(
                        path,
                        pos(&vars.referenced),
                        "`vars` in an included file: put them on the include (`- include: ...` \
                         with `vars:`) or in the playbook's `vars:`"
                            .to_string(),
                    ));
                }
                if let Some(value) = playbook.r#become.as_ref().or(playbook.become_user.as_ref()) {
                    return Err(PlaybookError::invalid(
                        path,
                        pos(&value.referenced),
                        "`become`/`become_user` at the top of an included file: put them on the \
                         included steps or at the top of the playbook"
                            .to_string(),
                    ));
                }
                if let Some(timeout) = &playbook.timeout {
                    return Err(PlaybookError::invalid(
                        path,
                        pos(&timeout.referenced),
                        "`timeout` at the top of an included file: put it on the include \
                         (`- include: ...` with `timeout:`) or at the top of the playbook"
                            .to_string(),
                    ));
                }
                if let Some(steps) = playbook.steps {
                    self.steps(path, steps.value, scope, out)?;
                }
                if let Some(handlers) = playbook.handlers {
                    self.handlers(path, handlers.value, scope)?;
                }
                Ok(())
            }
        }
    }
}
