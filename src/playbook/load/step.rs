//! Building a step (or a handler) from its sorted keys: its name and label, exactly one module
//! with checked arguments, then each keyword in the order the messages have always come
//! (`when`, `tags`, `notify`, `listen`, `register`, `changed_when`, `become`, `vars`,
//! `timeout`, the control keys, the name's template).

use std::path::Path;

use serde_saphyr::Spanned;

use super::args::default_name;
use super::keys::{Keys, OTHER_STEP_KINDS, STEP_KEYS};
use super::values::{
    check_register, parse_become, parse_become_user, string_value, strings, tags, vars,
};
use super::{Loader, Notify, Scope, pos};
use crate::inventory::Vars;
use crate::modules;
use crate::playbook::control::{self, Control};
use crate::playbook::error::PlaybookError;
use crate::playbook::model::{Location, Step};
use crate::playbook::suggest::{ansible_play_hint, suggestion};
use crate::playbook::timeout::parse_timeout;
use crate::template::single_expression;

/// One key of a step with its value, both placed.
type Entry = (Spanned<String>, Spanned<serde_json::Value>);

impl Loader {
    /// A step (or handler) with one module, and whether it was given a `name`; `what` is
    /// "step" or "handler" for messages.
    pub(super) fn build_step(
        &mut self,
        file: &Path,
        index: usize,
        here: (usize, usize),
        keys: Keys,
        scope: &Scope,
        what: &str,
    ) -> Result<(Step, bool), PlaybookError> {
        // The name first: every later message names the step.
        let explicit_name = explicit_name(file, index, &keys, what)?;
        let default_name = match keys.modules.as_slice() {
            [(module, args)] => Some(default_name(&module.value, &args.value)),
            _ => None,
        };
        let label = match (&explicit_name, &default_name) {
            (Some(name), _) | (None, Some(name)) => format!("{what} '{name}'"),
            (None, None) => format!("{what} #{index}"),
        };

        refuse_unknown_keys(file, &label, &keys)?;
        let (module_key, args) = the_one_module(file, here, &label, &keys)?;
        let (args_value, built) = self.check_module_args(file, &label, module_key, args, scope)?;

        let mut when = scope.when.clone();
        if let Some(entry) = keys.get("when") {
            when.extend(self.conditions(file, &label, entry)?);
        }
        let mut step_tags = scope.tags.clone();
        if let Some(entry) = keys.get("tags") {
            add_tags(&mut step_tags, tags(file, &label, entry)?);
        }
        let notify = self.notify(file, &label, keys.get("notify"))?;
        let listen = listen(file, &label, keys.get("listen"), what)?;
        let register = register(file, &label, keys.get("register"))?;
        let changed_when = self.changed_when(file, &label, keys.get("changed_when"))?;
        let (become_root, become_user) = self.become_of(file, &label, &keys)?;
        let mut step_vars = scope.vars.clone();
        if let Some(entry) = keys.get("vars") {
            step_vars.extend(vars(file, &label, entry)?);
        }
        let timeout = match keys.get("timeout") {
            Some(entry) => Some(timeout(file, &label, entry)?),
            None => scope.timeout,
        };
        let control = control::parse(
            &self.templates,
            file,
            &label,
            |key| keys.get(key),
            |entry| self.conditions(file, &label, entry),
        )?;
        let name_is_template = self.check_name(
            file,
            &label,
            &explicit_name,
            keys.get("name"),
            &control,
            what,
        )?;
        refuse_item_var(file, here, &label, &control, &step_vars)?;
        let named = explicit_name.is_some();
        let name = explicit_name.or(default_name).unwrap_or_default();

        let step = Step {
            name,
            module: module_key.value.clone(),
            args: args_value,
            built,
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

    /// `notify`: handler names (or `listen` topics), each remembered to be checked once every
    /// handler is known; duplicates dropped.
    fn notify(
        &mut self,
        file: &Path,
        label: &str,
        entry: Option<&Entry>,
    ) -> Result<Vec<String>, PlaybookError> {
        let mut notify = Vec::new();
        let Some(entry) = entry else {
            return Ok(notify);
        };
        for name in strings(file, label, entry, "a handler name")? {
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
                step: label.to_string(),
                handler: name.clone(),
            });
            if !notify.contains(&name) {
                notify.push(name);
            }
        }
        Ok(notify)
    }

    /// `changed_when`: like `when`, a list is and-ed.
    fn changed_when(
        &self,
        file: &Path,
        label: &str,
        entry: Option<&Entry>,
    ) -> Result<Option<String>, PlaybookError> {
        let Some(entry) = entry else {
            return Ok(None);
        };
        let mut exprs = self.conditions(file, label, entry)?;
        Ok(Some(if exprs.len() == 1 {
            exprs.remove(0)
        } else {
            exprs
                .iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(" and ")
        }))
    }

    /// `become` and `become_user`: a step's own keys win over the playbook's; `become_user`
    /// alone means becoming that user, as in Ansible with `become: true`.
    fn become_of(
        &self,
        file: &Path,
        label: &str,
        keys: &Keys,
    ) -> Result<(bool, Option<String>), PlaybookError> {
        let own_become = match keys.get("become") {
            Some((_, value)) => Some(parse_become(file, label, value)?),
            None => None,
        };
        let own_user = match keys.get("become_user") {
            Some((_, value)) => Some(parse_become_user(file, label, value)?),
            None => None,
        };
        Ok(match (own_become, own_user) {
            (_, Some(user)) => (true, Some(user)),
            (Some(false), None) => (false, None),
            (Some(true), None) => (true, self.become_default.1.clone()),
            (None, None) => self.become_default.clone(),
        })
    }

    /// A templated `name` must parse, may not read `item` on a looped step, and a handler's
    /// may not be a template at all; whether the name is a template.
    fn check_name(
        &self,
        file: &Path,
        label: &str,
        explicit_name: &Option<String>,
        entry: Option<&Entry>,
        control: &Control,
        what: &str,
    ) -> Result<bool, PlaybookError> {
        let name_is_template = explicit_name
            .as_deref()
            .is_some_and(crate::template::has_template_syntax);
        if let (Some(name), Some(entry)) = (explicit_name, entry) {
            let looped = control.loop_spec.is_some();
            control::check_name(&self.templates, name, looped).map_err(|message| {
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
        Ok(name_is_template)
    }

    /// `when` / `changed_when`: a string, a bool or a list of them; each must parse.
    pub(super) fn conditions(
        &self,
        file: &Path,
        label: &str,
        (key, value): &Entry,
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
}

/// The step's `name`, when it has one: a non-empty string.
fn explicit_name(
    file: &Path,
    index: usize,
    keys: &Keys,
    what: &str,
) -> Result<Option<String>, PlaybookError> {
    match keys.get("name") {
        Some(entry) => Ok(Some(
            string_value(&format!("{what} #{index}"), entry)
                .map_err(|e| e.at(file, pos(&entry.1.referenced)))?,
        )),
        None => Ok(None),
    }
}

/// A key that is neither a keyword nor a module: an Ansible play pasted as a step, a
/// misspelt module, or a misspelt keyword, each with its hint.
fn refuse_unknown_keys(file: &Path, label: &str, keys: &Keys) -> Result<(), PlaybookError> {
    let Some((key, _)) = keys.unknown.first() else {
        return Ok(());
    };
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
    Err(PlaybookError::invalid(file, pos(&key.referenced), message))
}

/// The step's module: exactly one.
fn the_one_module<'k>(
    file: &Path,
    here: (usize, usize),
    label: &str,
    keys: &'k Keys,
) -> Result<&'k Entry, PlaybookError> {
    match keys.modules.as_slice() {
        [] => Err(PlaybookError::invalid(
            file,
            here,
            format!(
                "{label} has no module: add one of {}",
                modules::NAMES.join(", ")
            ),
        )),
        [one] => Ok(one),
        [first, second, ..] => Err(PlaybookError::invalid(
            file,
            pos(&second.0.referenced),
            format!(
                "{label} has two modules, `{}` and `{}`: split it into two steps",
                first.0.value, second.0.value
            ),
        )),
    }
}

/// Adds `new` tags to `into`, each once, in order.
pub(super) fn add_tags(into: &mut Vec<String>, new: Vec<String>) {
    for tag in new {
        if !into.contains(&tag) {
            into.push(tag);
        }
    }
}

/// `listen`: the topics a handler answers to (a step has none).
fn listen(
    file: &Path,
    label: &str,
    entry: Option<&Entry>,
    what: &str,
) -> Result<Vec<String>, PlaybookError> {
    let mut listen = Vec::new();
    let Some(entry) = entry else {
        return Ok(listen);
    };
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
    for topic in strings(file, label, entry, "a topic")? {
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
    Ok(listen)
}

/// `register`: the name later steps read the result by.
fn register(
    file: &Path,
    label: &str,
    entry: Option<&Entry>,
) -> Result<Option<String>, PlaybookError> {
    let Some(entry) = entry else {
        return Ok(None);
    };
    let name = string_value(label, entry).map_err(|e| e.at(file, pos(&entry.1.referenced)))?;
    check_register(&name).map_err(|message| {
        PlaybookError::invalid(
            file,
            pos(&entry.1.referenced),
            format!("{label}: {message}"),
        )
    })?;
    Ok(Some(name))
}

/// `timeout` on a step or an include.
pub(super) fn timeout(file: &Path, label: &str, (_, value): &Entry) -> Result<u32, PlaybookError> {
    parse_timeout(label, &value.value)
        .map_err(|err| PlaybookError::invalid(file, pos(&value.referenced), err.to_string()))
}

/// `loop` sets `item`: a var by that name would be hidden.
fn refuse_item_var(
    file: &Path,
    here: (usize, usize),
    label: &str,
    control: &Control,
    step_vars: &Vars,
) -> Result<(), PlaybookError> {
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
    Ok(())
}
