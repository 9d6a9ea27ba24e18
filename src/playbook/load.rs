//! Reading a playbook: YAML (serde-saphyr, with budgets) into [`raw`](super::raw) maps, then
//! tandem's rules: one module per step, known keywords, module arguments, template syntax,
//! includes flattened (with their `vars`, `when` and `tags`), handlers and `notify`.
//!
//! One concern per child module: [`read`] (the files), [`keys`] (sorting a step's keys),
//! [`step`] and [`args`] (building a step), [`meta`] (`meta: flush_handlers`), [`include`]
//! (includes and roles), [`checks`] (rules over the whole playbook), [`values`] (the shapes of
//! keyword values).

mod args;
mod checks;
mod include;
mod keys;
mod meta;
mod read;
mod step;
mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location as YamlLocation, Spanned};

use super::error::PlaybookError;
use super::include_path::IncludeVars;
use super::model::{Location, Playbook, Step};
use super::raw::{RawFile, RawStep, RawSteps};
use super::timeout::parse_timeout;
use crate::inventory::Vars;
use crate::source_file::position as pos;
use crate::template::Templates;
use keys::sort_keys;
use meta::meta_step;
use read::parse_file;
use values::{parse_become, parse_become_user};

pub use read::MAX_PLAYBOOK_BYTES;

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

    let timeout = playbook_timeout(path, &raw)?;
    loader.become_default = playbook_become(path, &raw)?;
    let top = split_top_level(raw);

    loader.playbook_vars = top.vars.clone();
    let mut steps = Vec::new();
    let steps_position = top.steps.as_ref().map(|s| pos(&s.referenced));
    if let Some(raw_steps) = top.steps {
        loader.steps(path, raw_steps.value, &Scope::default(), &mut steps)?;
    }
    if let Some(handlers) = top.handlers {
        loader.handlers(path, handlers.value, &Scope::default())?;
    }
    checks::has_steps(path, &steps, steps_position)?;
    loader.check_notifies()?;

    Ok(Playbook {
        path: path.to_path_buf(),
        vars: top.vars,
        vars_line: top.vars_line,
        extra_vars: Vars::new(),
        steps,
        handlers: loader.handlers,
        timeout,
    })
}

/// The playbook's own `timeout`: every step's, unless an include or the step says otherwise.
fn playbook_timeout(path: &Path, raw: &RawFile) -> Result<Option<u32>, PlaybookError> {
    let RawFile::Playbook(playbook) = raw else {
        return Ok(None);
    };
    match &playbook.timeout {
        Some(value) => Ok(Some(parse_timeout("the playbook", &value.value).map_err(
            |err| PlaybookError::invalid(path, pos(&value.referenced), err.to_string()),
        )?)),
        None => Ok(None),
    }
}

/// The playbook's own `become` and `become_user`: what a step or handler that says neither does.
fn playbook_become(path: &Path, raw: &RawFile) -> Result<(bool, Option<String>), PlaybookError> {
    let mut become_default = (false, None);
    if let RawFile::Playbook(playbook) = raw {
        let label = "the playbook";
        if let Some(value) = &playbook.r#become {
            become_default.0 = parse_become(path, label, value)?;
        }
        if let Some(value) = &playbook.become_user {
            become_default = (true, Some(parse_become_user(path, label, value)?));
        }
    }
    Ok(become_default)
}

/// The main file's parts; a bare list of steps is a playbook too (no vars, no handlers).
struct TopLevel {
    vars: Vars,
    /// The line of `vars:`, for errors about a var.
    vars_line: Option<usize>,
    steps: Option<Spanned<RawSteps>>,
    handlers: Option<Spanned<RawSteps>>,
}

fn split_top_level(raw: RawFile) -> TopLevel {
    match raw {
        RawFile::Playbook(playbook) => {
            let vars_line = playbook.vars.as_ref().map(|vars| pos(&vars.referenced).0);
            TopLevel {
                vars: playbook.vars.map(|vars| vars.value).unwrap_or_default(),
                vars_line,
                steps: playbook.steps,
                handlers: playbook.handlers,
            }
        }
        RawFile::Steps(steps) => TopLevel {
            vars: Vars::new(),
            vars_line: None,
            steps: Some(Spanned::new(
                steps,
                YamlLocation::UNKNOWN,
                YamlLocation::UNKNOWN,
            )),
            handlers: None,
        },
        RawFile::Empty => TopLevel {
            vars: Vars::new(),
            vars_line: None,
            steps: None,
            handlers: None,
        },
    }
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
}
