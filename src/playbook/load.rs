//! Reading a playbook: YAML (serde-saphyr, with budgets) into [`raw`](super::raw) maps, then
//! tandem's rules: one module per step, known keywords, module arguments, template syntax,
//! includes flattened (with their `vars`, `when` and `tags`), handlers and `notify`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location as YamlLocation, Spanned};

use super::error::{PlaybookError, PlaybookErrorKind, one_line};
use super::include_path::{self, IncludeVars};
use super::model::{FLUSH_HANDLERS, Location, Playbook, Step};
use super::raw::{RawFile, RawStep, RawSteps};
use super::suggest::{ansible_play_hint, suggestion};
use super::timeout::parse_timeout;
use crate::inventory::Vars;
use crate::modules;
use crate::template::{Templates, has_template_syntax, single_expression};

/// Playbooks are small; anything this big is the wrong file.
pub const MAX_PLAYBOOK_BYTES: u64 = 16 * 1024 * 1024;

/// How deep `include` may nest; deeper is almost certainly a mistake.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// The keywords of a step, in the order error messages list them.
const STEP_KEYS: &[&str] = &[
    "name",
    "when",
    "tags",
    "notify",
    "register",
    "changed_when",
    "become",
    "become_user",
    "vars",
    "loop",
    "loop_control",
    "until",
    "retries",
    "delay",
    "failed_when",
    "ignore_errors",
    "timeout",
];

/// The keyword of handlers only (topics a `notify` may name), refused on steps with its own
/// message, and not listed with the step keys.
const HANDLER_KEY: &str = "listen";

/// What a step may be instead of a module, for "did you mean" (`include_tasks` -> `include`).
const OTHER_STEP_KINDS: &[&str] = &["include", "role", "include_role", "meta"];

/// The keywords of an `include` step.
const INCLUDE_KEYS: &[&str] = &["include", "name", "vars", "when", "tags", "timeout"];

/// Words minijinja reads as literals or operators: a variable by that name could never be read.
const RESERVED: &[&str] = &[
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "loop", "self",
];

/// Reads, parses and validates the playbook at `path` and every file it includes, without an
/// inventory: a templated include path may read the playbook's vars only.
pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
    load_with(path, &IncludeVars::default())
}

/// [`load`], with the vars a templated include path may read on each selected node.
pub fn load_with(path: &Path, known: &IncludeVars) -> Result<Playbook, PlaybookError> {
    let mut loader = Loader {
        templates: Templates::new(),
        stack: Vec::new(),
        handlers: Vec::new(),
        handler_places: HashMap::new(),
        topics: Default::default(),
        notifies: Vec::new(),
        become_default: (false, None),
        playbook_vars: Vars::new(),
        known: known.clone(),
        roles_loaded: Default::default(),
    };
    let raw = parse_file(path)?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    loader.stack.push((canonical, path.to_path_buf()));

    // A bare list of steps is a playbook too (no vars, no handlers).
    let mut vars_line = None;
    let timeout = match &raw {
        RawFile::Playbook(playbook) => match &playbook.timeout {
            Some(value) => Some(parse_timeout("the playbook", &value.value).map_err(
                |message| PlaybookError::invalid(path, pos(&value.referenced), message),
            )?),
            None => None,
        },
        _ => None,
    };
    if let RawFile::Playbook(playbook) = &raw {
        let label = "the playbook";
        if let Some(value) = &playbook.r#become {
            loader.become_default.0 = parse_become(path, label, value)?;
        }
        if let Some(value) = &playbook.become_user {
            loader.become_default = (true, Some(parse_become_user(path, label, value)?));
        }
    }
    let (vars, raw_steps, raw_handlers) = match raw {
        RawFile::Playbook(playbook) => (
            playbook
                .vars
                .map(|vars| {
                    vars_line = Some(pos(&vars.referenced).0);
                    vars.value
                })
                .unwrap_or_default(),
            playbook.steps,
            playbook.handlers,
        ),
        RawFile::Steps(steps) => {
            let spanned = Spanned::new(steps, YamlLocation::UNKNOWN, YamlLocation::UNKNOWN);
            (Vars::new(), Some(spanned), None)
        }
        RawFile::Empty => (Vars::new(), None, None),
    };

    loader.playbook_vars = vars.clone();
    let mut steps = Vec::new();
    let steps_position = raw_steps.as_ref().map(|s| pos(&s.referenced));
    if let Some(raw_steps) = raw_steps {
        loader.steps(path, raw_steps.value, &Scope::default(), &mut steps)?;
    }
    if let Some(handlers) = raw_handlers {
        loader.handlers(path, handlers.value, &Scope::default())?;
    }
    if steps.is_empty() {
        let message = "the playbook has no steps: add a `steps:` list with at least one step \
                       (a module such as `command: {cmd: uptime}`)"
            .to_string();
        return Err(match steps_position.filter(|&(line, _)| line > 0) {
            Some(position) => PlaybookError::invalid(path, position, message),
            None => PlaybookError::whole(path, message),
        });
    }
    loader.check_notifies()?;

    Ok(Playbook {
        path: path.to_path_buf(),
        vars,
        vars_line,
        extra_vars: Vars::new(),
        steps,
        handlers: loader.handlers,
        timeout,
    })
}

/// What enclosing includes add to each step they pull in.
#[derive(Debug, Clone, Default)]
struct Scope {
    when: Vec<String>,
    tags: Vec<String>,
    vars: Vars,
    /// The innermost enclosing include's `timeout`.
    timeout: Option<u32>,
    /// The enclosing roles' `defaults.yml`: below every other var (inner role wins).
    defaults: Vars,
    /// The innermost enclosing role's `templates/` (absolute): a `template` src found there
    /// is read from there.
    template_dir: Option<PathBuf>,
}

/// A `notify` to check once every handler is known.
struct Notify {
    file: PathBuf,
    position: (usize, usize),
    step: String,
    handler: String,
}

struct Loader {
    templates: Templates,
    /// The include chain: (canonical path for cycle checks, path as shown).
    stack: Vec<(PathBuf, PathBuf)>,
    handlers: Vec<Step>,
    /// Handler name -> where it was first defined.
    handler_places: HashMap<String, Location>,
    /// `listen` topics of the handlers so far.
    topics: std::collections::HashSet<String>,
    notifies: Vec<Notify>,
    /// The playbook's own `become` and `become_user`: what a step or handler that says
    /// neither does.
    become_default: (bool, Option<String>),
    /// The main playbook's `vars`: what a templated include path may read, with `known`.
    playbook_vars: Vars,
    known: IncludeVars,
    /// Roles whose `handlers.yml` is read (once, whatever the number of uses).
    roles_loaded: std::collections::HashSet<String>,
}

/// The keys of one step, sorted by kind.
struct Keys {
    keywords: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    modules: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    /// Keys neither tandem's nor a module, with their values (an Ansible play's `tasks:` say
    /// how to translate it).
    unknown: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    include: Option<(Spanned<String>, Spanned<serde_json::Value>)>,
    /// `meta: flush_handlers`.
    meta: Option<(Spanned<String>, Spanned<serde_json::Value>)>,
}

impl Keys {
    fn get(&self, key: &str) -> Option<&(Spanned<String>, Spanned<serde_json::Value>)> {
        self.keywords.iter().find(|(k, _)| k.value == key)
    }
}

impl Loader {
    fn steps(
        &mut self,
        file: &Path,
        raw: RawSteps,
        scope: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        for (index, step) in raw.into_iter().enumerate() {
            self.step(file, index + 1, step, scope, out)?;
        }
        Ok(())
    }

    fn handlers(&mut self, file: &Path, raw: RawSteps, scope: &Scope) -> Result<(), PlaybookError> {
        for (index, raw_step) in raw.into_iter().enumerate() {
            let here = pos(&raw_step.referenced);
            let keys = sort_keys(raw_step.value);
            if let Some((key, _)) = &keys.include {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&key.referenced),
                    "`include` is not allowed in handlers: include the file from `steps:`, or \
                     give the included file its own `handlers:`"
                        .to_string(),
                ));
            }
            if let Some((key, _)) = &keys.meta {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&key.referenced),
                    "`meta` is not allowed in handlers: put `- meta: flush_handlers` in `steps:`"
                        .to_string(),
                ));
            }
            let (step, named) = self.build_step(file, index + 1, here, keys, scope, "handler")?;
            if !named {
                return Err(PlaybookError::invalid(
                    file,
                    here,
                    format!(
                        "handler '{}' has no `name`: steps notify handlers by name, add `name: ...`",
                        step.name
                    ),
                ));
            }
            if let Some(first) = self.handler_places.get(&step.name) {
                return Err(PlaybookError::invalid(
                    file,
                    here,
                    format!(
                        "handler '{}' is defined twice (first at {first}): give each handler its \
                         own name",
                        step.name
                    ),
                ));
            }
            self.handler_places
                .insert(step.name.clone(), step.location.clone());
            self.topics.extend(step.listen.iter().cloned());
            self.handlers.push(step);
        }
        Ok(())
    }

    fn step(
        &mut self,
        file: &Path,
        index: usize,
        raw: Spanned<RawStep>,
        scope: &Scope,
        out: &mut Vec<Step>,
    ) -> Result<(), PlaybookError> {
        let here = pos(&raw.referenced);
        let keys = sort_keys(raw.value);
        if keys.include.is_some() {
            return self.include(file, keys, scope, out);
        }
        if keys.meta.is_some() {
            out.push(meta_step(file, here, keys, scope)?);
            return Ok(());
        }
        let (step, _) = self.build_step(file, index, here, keys, scope, "step")?;
        out.push(step);
        Ok(())
    }

    fn include(
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
            for tag in tags(file, &label, entry)? {
                if !inner.tags.contains(&tag) {
                    inner.tags.push(tag);
                }
            }
        }
        if let Some(entry) = keys.get("vars") {
            for (key, value) in vars(file, &label, entry)? {
                inner.vars.insert(key, value);
            }
        }
        if let Some((_, value)) = keys.get("timeout") {
            inner.timeout = Some(parse_timeout(&label, &value.value).map_err(|message| {
                PlaybookError::invalid(file, pos(&value.referenced), message)
            })?);
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
            let text = err.to_string();
            let text = text.split(" (os error ").next().unwrap_or_default();
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

    /// A step (or handler) with one module, and whether it was given a `name`; `what` is
    /// "step" or "handler" for messages.
    fn build_step(
        &mut self,
        file: &Path,
        index: usize,
        here: (usize, usize),
        keys: Keys,
        scope: &Scope,
        what: &str,
    ) -> Result<(Step, bool), PlaybookError> {
        // The name first: every later message names the step.
        let explicit_name = match keys.get("name") {
            Some(entry) => Some(
                string_value(&format!("{what} #{index}"), entry)
                    .map_err(|e| e.at(file, pos(&entry.1.referenced)))?,
            ),
            None => None,
        };
        let default_name = match keys.modules.as_slice() {
            [(module, args)] => Some(default_name(&module.value, &args.value)),
            _ => None,
        };
        let label = match (&explicit_name, &default_name) {
            (Some(name), _) | (None, Some(name)) => format!("{what} '{name}'"),
            (None, None) => format!("{what} #{index}"),
        };

        if let Some((key, _)) = keys.unknown.first() {
            // The play's own `become:` is one of our keys: the hint reads it too.
            let all: Vec<(&str, &serde_json::Value)> = keys
                .keywords
                .iter()
                .chain(&keys.unknown)
                .map(|(k, v)| (k.value.as_str(), &v.value))
                .collect();
            if let Some(hint) = ansible_play_hint(&all) {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&key.referenced),
                    format!("{label}: {hint}"),
                ));
            }
            let message = if keys.modules.is_empty() {
                format!(
                    "unknown module or key `{}` in {label} (modules: {}){}",
                    key.value,
                    modules::NAMES.join(", "),
                    suggestion(
                        &key.value,
                        modules::NAMES
                            .iter()
                            .chain(STEP_KEYS)
                            .chain(OTHER_STEP_KINDS)
                            .copied()
                    )
                )
            } else {
                format!(
                    "unknown key `{}` in {label}; expected one of {}{}",
                    key.value,
                    STEP_KEYS.join(", "),
                    suggestion(&key.value, STEP_KEYS.iter().copied())
                )
            };
            return Err(PlaybookError::invalid(file, pos(&key.referenced), message));
        }
        let (module_key, args) = match keys.modules.as_slice() {
            [] => {
                return Err(PlaybookError::invalid(
                    file,
                    here,
                    format!(
                        "{label} has no module: add one of {}",
                        modules::NAMES.join(", ")
                    ),
                ));
            }
            [one] => one,
            [first, second, ..] => {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&second.0.referenced),
                    format!(
                        "{label} has two modules, `{}` and `{}`: split it into two steps",
                        first.0.value, second.0.value
                    ),
                ));
            }
        };

        // Template syntax in the arguments, then the arguments themselves.
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
        // A `{{ }}` may stand for a number or a bool the module checks: after rendering.
        if !templated && let Err(message) = modules::build(&module_key.value, &args.value) {
            return Err(PlaybookError::invalid(
                file,
                pos(&module_key.referenced),
                format!("{label}: {message}"),
            ));
        }
        let mut args_value = args.value.clone();
        if !templated && module_key.value == "template" {
            in_template_dir(&mut args_value, scope.template_dir.as_deref());
        }
        if !templated {
            let spanned = Spanned::new(args_value.clone(), args.referenced, args.defined);
            self.check_local_source(file, &label, &module_key.value, &spanned)?;
        }

        let mut when = scope.when.clone();
        if let Some(entry) = keys.get("when") {
            when.extend(self.conditions(file, &label, entry)?);
        }
        let mut step_tags = scope.tags.clone();
        if let Some(entry) = keys.get("tags") {
            for tag in tags(file, &label, entry)? {
                if !step_tags.contains(&tag) {
                    step_tags.push(tag);
                }
            }
        }
        let mut notify = Vec::new();
        if let Some(entry) = keys.get("notify") {
            let names = strings(file, &label, entry, "a handler name")?;
            for name in names {
                if name.trim().is_empty() {
                    return Err(PlaybookError::invalid(
                        file,
                        pos(&entry.1.referenced),
                        format!("{label}: `notify` has an empty handler name"),
                    ));
                }
                self.notifies.push(Notify {
                    file: file.to_path_buf(),
                    position: pos(&entry.0.referenced),
                    step: label.clone(),
                    handler: name.clone(),
                });
                if !notify.contains(&name) {
                    notify.push(name);
                }
            }
        }
        let mut listen = Vec::new();
        if let Some(entry) = keys.get("listen") {
            if what != "handler" {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&entry.0.referenced),
                    format!(
                        "{label}: `listen` is for handlers (topics a `notify` may name): move \
                         the step under `handlers:`, or notify the handler by name"
                    ),
                ));
            }
            for topic in strings(file, &label, entry, "a topic")? {
                if topic.trim().is_empty() {
                    return Err(PlaybookError::invalid(
                        file,
                        pos(&entry.1.referenced),
                        format!("{label}: `listen` has an empty topic"),
                    ));
                }
                if !listen.contains(&topic) {
                    listen.push(topic);
                }
            }
        }
        let register = match keys.get("register") {
            Some(entry) => {
                let name = string_value(&label, entry)
                    .map_err(|e| e.at(file, pos(&entry.1.referenced)))?;
                check_register(&name).map_err(|message| {
                    PlaybookError::invalid(
                        file,
                        pos(&entry.1.referenced),
                        format!("{label}: {message}"),
                    )
                })?;
                Some(name)
            }
            None => None,
        };
        let changed_when = match keys.get("changed_when") {
            Some(entry) => {
                let mut exprs = self.conditions(file, &label, entry)?;
                // A list is and-ed, like `when`.
                Some(if exprs.len() == 1 {
                    exprs.remove(0)
                } else {
                    exprs
                        .iter()
                        .map(|e| format!("({e})"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                })
            }
            None => None,
        };
        let own_become = match keys.get("become") {
            Some((_, value)) => Some(parse_become(file, &label, value)?),
            None => None,
        };
        let own_user = match keys.get("become_user") {
            Some((_, value)) => Some(parse_become_user(file, &label, value)?),
            None => None,
        };
        // A step's own keys win over the playbook's; `become_user` alone means becoming that
        // user, as in Ansible with `become: true`.
        let (become_root, become_user) = match (own_become, own_user) {
            (_, Some(user)) => (true, Some(user)),
            (Some(false), None) => (false, None),
            (Some(true), None) => (true, self.become_default.1.clone()),
            (None, None) => self.become_default.clone(),
        };
        let mut step_vars = scope.vars.clone();
        if let Some(entry) = keys.get("vars") {
            for (key, value) in vars(file, &label, entry)? {
                step_vars.insert(key, value);
            }
        }
        let timeout = match keys.get("timeout") {
            Some((_, value)) => Some(parse_timeout(&label, &value.value).map_err(|message| {
                PlaybookError::invalid(file, pos(&value.referenced), message)
            })?),
            None => scope.timeout,
        };
        let control = super::control::parse(
            &self.templates,
            file,
            &label,
            |key| keys.get(key),
            |entry| self.conditions(file, &label, entry),
        )?;
        let name_is_template = explicit_name
            .as_deref()
            .is_some_and(crate::template::has_template_syntax);
        if let (Some(name), Some(entry)) = (&explicit_name, keys.get("name")) {
            let looped = control.loop_spec.is_some();
            super::control::check_name(&self.templates, name, looped).map_err(|message| {
                PlaybookError::invalid(
                    file,
                    pos(&entry.1.referenced),
                    format!("{label}: {message}"),
                )
            })?;
            if name_is_template && what == "handler" {
                return Err(PlaybookError::invalid(
                    file,
                    pos(&entry.1.referenced),
                    format!(
                        "{label}: a handler's name cannot be a template: `notify` finds \
                         handlers by the name as written"
                    ),
                ));
            }
        }
        if control.loop_spec.is_some() && step_vars.contains_key("item") {
            return Err(PlaybookError::invalid(
                file,
                here,
                format!(
                    "{label}: a var named `item` on a step with `loop`: `loop` sets `item` to \
                     each element; rename the var"
                ),
            ));
        }
        let named = explicit_name.is_some();
        let name = explicit_name.or(default_name).unwrap_or_default();

        let step = Step {
            name,
            module: module_key.value.clone(),
            args: args_value,
            when,
            tags: step_tags,
            notify,
            listen,
            register,
            changed_when,
            become_root,
            become_user,
            timeout,
            vars: step_vars,
            defaults: scope.defaults.clone(),
            name_is_template,
            control,
            location: Location {
                file: file.to_path_buf(),
                line: here.0,
            },
        };
        Ok((step, named))
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
                    e.to_string()
                        .split(" (os error ")
                        .next()
                        .unwrap_or_default()
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

    /// `when` / `changed_when`: a string, a bool or a list of them; each must parse.
    fn conditions(
        &self,
        file: &Path,
        label: &str,
        (key, value): &(Spanned<String>, Spanned<serde_json::Value>),
    ) -> Result<Vec<String>, PlaybookError> {
        let at = pos(&value.referenced);
        let items: Vec<&serde_json::Value> = match &value.value {
            serde_json::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            let expr = match item {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                _ => {
                    return Err(PlaybookError::invalid(
                        file,
                        at,
                        format!(
                            "{label}: `{}` is an expression (e.g. \"cluster == 'pair1'\") or a list \
                             of them",
                            key.value
                        ),
                    ));
                }
            };
            if let Some(inner) = single_expression(&expr) {
                return Err(PlaybookError::invalid(
                    file,
                    at,
                    format!(
                        "{label}: `{}` is already an expression: write `{}` without {{{{ }}}}",
                        key.value,
                        inner.trim()
                    ),
                ));
            }
            self.templates.check_expr(&expr).map_err(|message| {
                PlaybookError::invalid(file, at, format!("{label}: `{}`: {message}", key.value))
            })?;
            out.push(expr);
        }
        Ok(out)
    }

    fn check_notifies(&self) -> Result<(), PlaybookError> {
        for notify in &self.notifies {
            if self.handler_places.contains_key(&notify.handler)
                || self.topics.contains(&notify.handler)
            {
                continue;
            }
            let mut names: Vec<&str> = self.handlers.iter().map(|h| h.name.as_str()).collect();
            names.sort_unstable();
            let mut topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            topics.sort_unstable();
            let known = if names.is_empty() {
                "there are no handlers: add a `handlers:` list".to_string()
            } else if topics.is_empty() {
                format!("handlers: {}", names.join(", "))
            } else {
                format!(
                    "handlers: {}; listen topics: {}",
                    names.join(", "),
                    topics.join(", ")
                )
            };
            return Err(PlaybookError::invalid(
                &notify.file,
                notify.position,
                format!(
                    "{} notifies '{}', but no handler has that name or `listen` topic ({known})",
                    notify.step, notify.handler
                ),
            ));
        }
        Ok(())
    }
}

/// `- meta: flush_handlers` (with an optional `name`): the one `meta` action tandem has. It
/// runs whatever the `--tags` (tagged `always`, as Ansible treats it): skipping it would move
/// handlers past steps that need them done.
fn meta_step(
    file: &Path,
    here: (usize, usize),
    keys: Keys,
    scope: &Scope,
) -> Result<Step, PlaybookError> {
    let (key, value) = keys.meta.as_ref().expect("checked by the caller");
    if value.value.as_str() != Some("flush_handlers") {
        return Err(PlaybookError::invalid(
            file,
            pos(&value.referenced),
            format!(
                "`meta: {}`: the only `meta` action is `flush_handlers` (run the handlers \
                 notified so far, here)",
                one_line(&match &value.value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
            ),
        ));
    }
    let other = keys
        .modules
        .first()
        .map(|(k, _)| k)
        .or(keys.unknown.first().map(|(k, _)| k))
        .or_else(|| {
            keys.keywords
                .iter()
                .map(|(k, _)| k)
                .find(|k| k.value != "name")
        })
        .or(keys.include.as_ref().map(|(k, _)| k));
    if let Some(other) = other {
        return Err(PlaybookError::invalid(
            file,
            pos(&other.referenced),
            format!(
                "`{}` on a `meta: flush_handlers` step: it takes only `name` (it runs where it \
                 stands, on every node still running)",
                other.value
            ),
        ));
    }
    let name = match keys.get("name") {
        Some(entry) => string_value("`meta: flush_handlers`", entry)
            .map_err(|e| e.at(file, pos(&entry.1.referenced)))?,
        None => "flush handlers".to_string(),
    };
    let mut tags = scope.tags.clone();
    if !tags.iter().any(|t| t == "always") {
        tags.push("always".to_string());
    }
    Ok(Step {
        name,
        name_is_template: false,
        module: FLUSH_HANDLERS.to_string(),
        args: serde_json::Value::from("flush_handlers"),
        when: Vec::new(),
        tags,
        notify: Vec::new(),
        listen: Vec::new(),
        register: None,
        changed_when: None,
        become_root: false,
        become_user: None,
        timeout: None,
        vars: Vars::new(),
        defaults: Vars::new(),
        control: Default::default(),
        location: Location {
            file: file.to_path_buf(),
            line: pos(&key.referenced).0.max(here.0),
        },
    })
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

/// Sorts a step's keys: keywords, modules, `include`, the rest.
fn sort_keys(raw: RawStep) -> Keys {
    let mut keys = Keys {
        keywords: Vec::new(),
        modules: Vec::new(),
        unknown: Vec::new(),
        include: None,
        meta: None,
    };
    for (key, value) in raw {
        let name = key.value.as_str();
        if name == "include" || name == "role" || name == "include_role" {
            keys.include = Some((key, value));
        } else if name == "meta" {
            keys.meta = Some((key, value));
        } else if STEP_KEYS.contains(&name) || name == HANDLER_KEY {
            keys.keywords.push((key, value));
        } else if modules::NAMES.contains(&name) {
            keys.modules.push((key, value));
        } else {
            keys.unknown.push((key, value));
        }
    }
    keys
}

/// An error about a value, to be placed by the caller.
struct ValueError(String);

impl ValueError {
    fn at(self, file: &Path, position: (usize, usize)) -> PlaybookError {
        PlaybookError::invalid(file, position, self.0)
    }
}

fn string_value(
    label: &str,
    (key, value): &(Spanned<String>, Spanned<serde_json::Value>),
) -> Result<String, ValueError> {
    match &value.value {
        serde_json::Value::String(text) if !text.trim().is_empty() => Ok(text.clone()),
        serde_json::Value::String(_) => {
            Err(ValueError(format!("{label}: `{}` is empty", key.value)))
        }
        _ => Err(ValueError(format!(
            "{label}: `{}` must be a string",
            key.value
        ))),
    }
}

/// A string or a list of strings.
fn strings(
    file: &Path,
    label: &str,
    (key, value): &(Spanned<String>, Spanned<serde_json::Value>),
    what: &str,
) -> Result<Vec<String>, PlaybookError> {
    let fail = || {
        PlaybookError::invalid(
            file,
            pos(&value.referenced),
            format!("{label}: `{}` is {what} or a list of them", key.value),
        )
    };
    match &value.value {
        serde_json::Value::String(text) => Ok(vec![text.clone()]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(fail))
            .collect(),
        _ => Err(fail()),
    }
}

/// Tags: what `--tags` can select, so no commas or spaces.
fn tags(
    file: &Path,
    label: &str,
    entry: &(Spanned<String>, Spanned<serde_json::Value>),
) -> Result<Vec<String>, PlaybookError> {
    let list = strings(file, label, entry, "a tag")?;
    for tag in &list {
        let valid = !tag.is_empty()
            && tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
        if !valid {
            return Err(PlaybookError::invalid(
                file,
                pos(&entry.1.referenced),
                format!(
                    "{label}: tag '{tag}' is not usable with --tags: use letters, digits, '_', \
                     '-', '.', ':' and '/'"
                ),
            ));
        }
    }
    Ok(list)
}

fn vars(
    file: &Path,
    label: &str,
    (key, value): &(Spanned<String>, Spanned<serde_json::Value>),
) -> Result<Vars, PlaybookError> {
    match &value.value {
        serde_json::Value::Object(map) => {
            Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        serde_json::Value::Null => Ok(Vars::new()),
        _ => Err(PlaybookError::invalid(
            file,
            pos(&value.referenced),
            format!("{label}: `{}` is a map of names to values", key.value),
        )),
    }
}

fn check_register(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`register: {name}` is not a variable name: use letters, digits and '_', not starting \
             with a digit (e.g. `register: {}`)",
            suggest_identifier(name)
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`register: {name}` is a reserved word in expressions: pick another name"
        ));
    }
    Ok(())
}

fn suggest_identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
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
            if text.contains("{{") || text.contains("{%") {
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
fn default_name(module: &str, args: &serde_json::Value) -> String {
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

/// A role's `defaults.yml`: a map of names to values (empty file: none).
fn parse_vars_file(path: &Path) -> Result<Vars, PlaybookError> {
    let vars: Option<Vars> = parse_yaml(path)?;
    Ok(vars.unwrap_or_default())
}

/// Reads and parses one file (the playbook or an included one).
fn parse_file(path: &Path) -> Result<RawFile, PlaybookError> {
    parse_yaml(path)
}

/// One YAML file of the playbook's, read within the size limit, its bytes checked as UTF-8
/// (the error at the first bad byte's line and column).
fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PlaybookError> {
    let bytes = read_limited(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|err| {
        let byte = err.valid_up_to();
        PlaybookError::new(
            path,
            Some(position_of(&bytes[..byte])),
            PlaybookErrorKind::NotUtf8 { byte },
        )
    })?;
    serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|err| PlaybookError::from_yaml(path, &err))
}

/// The inventory's limits (see `inventory::yaml_options`): the defaults stop pre-parse bombs,
/// and alias replay is tightened because values become `serde_json::Value`s.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 64,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Reads at most [`MAX_PLAYBOOK_BYTES`], checked before and while reading.
fn read_limited(path: &Path) -> Result<Vec<u8>, PlaybookError> {
    let read_error =
        |err: std::io::Error| PlaybookError::new(path, None, PlaybookErrorKind::Read(err));
    let too_large = |len: u64| PlaybookError::new(path, None, PlaybookErrorKind::TooLarge { len });
    let file = std::fs::File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if metadata.is_dir() {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if metadata.is_file() && metadata.len() > MAX_PLAYBOOK_BYTES {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PLAYBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PLAYBOOK_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Line and column (1-based, in characters) just after `prefix`.
fn position_of(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

fn pos(location: &YamlLocation) -> (usize, usize) {
    (location.line() as usize, location.column() as usize)
}

/// A user name sudo's `-u` takes as one word and never as an option.
fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_become(
    file: &Path,
    label: &str,
    value: &Spanned<serde_json::Value>,
) -> Result<bool, PlaybookError> {
    match value.value {
        serde_json::Value::Bool(flag) => Ok(flag),
        _ => Err(PlaybookError::invalid(
            file,
            pos(&value.referenced),
            format!("{label}: `become` is true or false"),
        )),
    }
}

fn parse_become_user(
    file: &Path,
    label: &str,
    value: &Spanned<serde_json::Value>,
) -> Result<String, PlaybookError> {
    match &value.value {
        serde_json::Value::String(user) if is_user_name(user) => Ok(user.clone()),
        _ => Err(PlaybookError::invalid(
            file,
            pos(&value.referenced),
            format!(
                "{label}: `become_user` is a user name (letters, digits, '_', '-', '.', at most \
                 32, not starting with '-')"
            ),
        )),
    }
}
