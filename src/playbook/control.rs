//! The step keys that decide how often a step runs and what counts as its failure, with
//! Ansible's names and meanings: `loop` (with `loop_control.label`), `until` / `retries` /
//! `delay`, `failed_when`, `ignore_errors`. Parsed and checked here, at load; run by
//! `engine::host::controlled`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::error::PlaybookError;
use crate::source_file::position;
use crate::template::{TemplateError, Templates, has_template_syntax, single_expression};

/// Keys of `loop_control`.
const LOOP_CONTROL_KEYS: &[&str] = &["label"];

/// Ansible's defaults: with `until` and no `retries`, 3 retries; 5 s between attempts.
pub const DEFAULT_RETRIES: u32 = 3;
pub const DEFAULT_DELAY: Duration = Duration::from_secs(5);

/// Bounds that keep a typo from meaning "retry for a week".
pub const MAX_RETRIES: u32 = 1000;
pub const MAX_DELAY_SECS: f64 = 3600.0;

#[derive(Debug, Clone, PartialEq)]
pub struct LoopSpec {
    /// A list (items may hold templates) or a string that is one `{{ expr }}` giving a list;
    /// rendered per host.
    pub items: Value,
    /// `loop_control.label`: a template shown for each item instead of the item itself.
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Control {
    pub loop_spec: Option<LoopSpec>,
    /// An expression over the attempt's result (`result`, or the `register` name): stop
    /// retrying once true.
    pub until: Option<String>,
    /// How many times to try again after the first attempt. With `until` and no `retries`:
    /// [`DEFAULT_RETRIES`]; `retries` without `until` retries while the step fails.
    pub retries: Option<u32>,
    pub delay: Option<Duration>,
    /// An expression over the result deciding "failed" instead of the exit status.
    pub failed_when: Option<String>,
    /// A failure is reported (and counted as `ignored`) but the host goes on.
    pub ignore_errors: bool,
}

impl Control {
    /// Whether the step runs once, fails on a non-zero exit and stops its host then: such steps
    /// are pipelined; the others are run one attempt at a time.
    pub fn is_plain(&self) -> bool {
        *self == Control::default()
    }

    /// Attempts per item at most: the first one and the retries.
    pub fn attempts(&self) -> u32 {
        let retries = match (self.retries, &self.until) {
            (Some(n), _) => n,
            (None, Some(_)) => DEFAULT_RETRIES,
            (None, None) => 0,
        };
        retries + 1
    }

    pub fn delay(&self) -> Duration {
        self.delay.unwrap_or(DEFAULT_DELAY)
    }

    /// Every expression and template of these keys, for the names a step reads.
    pub fn templates(&self) -> Vec<TemplateText<'_>> {
        let mut out = Vec::new();
        if let Some(spec) = &self.loop_spec {
            out.push(TemplateText::Args(&spec.items));
            if let Some(label) = &spec.label {
                out.push(TemplateText::Str(label));
            }
        }
        for expr in [&self.until, &self.failed_when].into_iter().flatten() {
            out.push(TemplateText::Expr(expr));
        }
        out
    }
}

/// A piece of a step that templates read.
pub enum TemplateText<'a> {
    Args(&'a Value),
    Str(&'a str),
    Expr(&'a str),
}

type Entry = (Spanned<String>, Spanned<Value>);

/// A control key with a value tandem cannot run; the `Display` follows the step's label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error("`loop` item {index}: {message}")]
    LoopItem {
        index: usize,
        message: TemplateError,
    },
    #[error(
        "`loop` is a list, or one expression giving a list written `\"{{{{ expr }}}}\"` (e.g. \
         `loop: \"{{{{ users }}}}\"`), not the text `{text}`"
    )]
    LoopText { text: String },
    #[error("`loop`: {message}")]
    LoopExpression { message: TemplateError },
    #[error(
        "`loop` is a list (e.g. `loop: [alice, bob]`) or one expression giving a list (`loop: \
         \"{{{{ users }}}}\"`)"
    )]
    LoopShape,
    #[error("`loop_control` without `loop`: add `loop:` with the items, or remove it")]
    LoopControlWithoutLoop,
    #[error("`loop_control` is a map, e.g. `loop_control: {{label: \"{{{{ item.name }}}}\"}}`")]
    LoopControlShape,
    #[error(
        "unknown key `{key}` in `loop_control`; expected {expected} (the loop variable is always \
         `item`)",
        expected = LOOP_CONTROL_KEYS.join(", ")
    )]
    LoopControlKey { key: String },
    #[error("`loop_control.label`: {message}")]
    LoopLabel { message: TemplateError },
    #[error("`loop_control.label` is a template string, e.g. `\"{{{{ item.name }}}}\"`")]
    LoopLabelShape,
    #[error(
        "`retries` is a whole number from 0 to {max} (attempts after the first), not {value}",
        max = MAX_RETRIES
    )]
    Retries { value: Value },
    #[error(
        "`delay` is the wait between attempts, and this step has one attempt: add `until:` (or \
         `retries:`), or remove `delay`"
    )]
    DelayWithoutRetries,
    #[error(
        "`delay` is the seconds between attempts, from 0 to {max}, not {value}",
        max = MAX_DELAY_SECS
    )]
    Delay { value: Value },
    #[error("`ignore_errors` is true or false")]
    IgnoreErrors,
    #[error("`name`: {message}")]
    Name { message: TemplateError },
    #[error(
        "`name` reads `item`, but the name is shown once for all items: show each item with \
         `loop_control: {{label: \"{{{{ item }}}}\"}}` instead"
    )]
    NameReadsItem,
}

/// Reads the control keys of one step. `get` finds a key of the step; `conditions` parses a
/// `when`-like entry (a string, a bool or a list of them, each checked) as the loader does.
pub fn parse<'e>(
    templates: &Templates,
    file: &Path,
    label: &str,
    get: impl Fn(&str) -> Option<&'e Entry>,
    conditions: impl Fn(&Entry) -> Result<Vec<String>, PlaybookError>,
) -> Result<Control, PlaybookError> {
    let at = |entry: &Entry, error: ControlError| {
        PlaybookError::invalid(
            file,
            position(&entry.1.referenced),
            format!("{label}: {error}"),
        )
    };
    let mut control = Control::default();
    if let Some(entry) = get("loop") {
        control.loop_spec = Some(LoopSpec {
            items: loop_items(templates, &entry.1.value).map_err(|m| at(entry, m))?,
            label: None,
        });
    }
    if let Some(entry) = get("loop_control") {
        let Some(spec) = control.loop_spec.as_mut() else {
            return Err(at(entry, ControlError::LoopControlWithoutLoop));
        };
        spec.label = loop_label(templates, &entry.1.value).map_err(|m| at(entry, m))?;
    }
    let and = |exprs: Vec<String>| match exprs.len() {
        1 => exprs.into_iter().next(),
        0 => None,
        _ => Some(
            exprs
                .iter()
                .map(|e| format!("({e})"))
                .collect::<Vec<_>>()
                .join(" and "),
        ),
    };
    if let Some(entry) = get("until") {
        control.until = and(conditions(entry)?);
    }
    if let Some(entry) = get("failed_when") {
        control.failed_when = and(conditions(entry)?);
    }
    if let Some(entry) = get("retries") {
        control.retries = Some(retries(&entry.1.value).map_err(|m| at(entry, m))?);
    }
    if let Some(entry) = get("delay") {
        if control.retries.is_none() && control.until.is_none() {
            return Err(at(entry, ControlError::DelayWithoutRetries));
        }
        control.delay = Some(delay(&entry.1.value).map_err(|m| at(entry, m))?);
    }
    if let Some(entry) = get("ignore_errors") {
        control.ignore_errors = match entry.1.value {
            Value::Bool(flag) => flag,
            _ => return Err(at(entry, ControlError::IgnoreErrors)),
        };
    }
    Ok(control)
}

fn loop_items(templates: &Templates, value: &Value) -> Result<Value, ControlError> {
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_leaves(templates, item).map_err(|message| ControlError::LoopItem {
                    index: index + 1,
                    message,
                })?;
            }
            Ok(value.clone())
        }
        Value::String(text) => {
            let Some(expr) = single_expression(text) else {
                return Err(ControlError::LoopText { text: text.clone() });
            };
            templates
                .check_expr(expr)
                .map_err(|message| ControlError::LoopExpression { message })?;
            Ok(value.clone())
        }
        _ => Err(ControlError::LoopShape),
    }
}

/// Template syntax in every string of a loop item (the message is the template engine's).
fn check_leaves(templates: &Templates, value: &Value) -> Result<(), TemplateError> {
    match value {
        Value::String(text) => templates.check_str(text),
        Value::Array(items) => items.iter().try_for_each(|v| check_leaves(templates, v)),
        Value::Object(map) => map.values().try_for_each(|v| check_leaves(templates, v)),
        _ => Ok(()),
    }
}

fn loop_label(templates: &Templates, value: &Value) -> Result<Option<String>, ControlError> {
    let Value::Object(map) = value else {
        return Err(ControlError::LoopControlShape);
    };
    if let Some(key) = map
        .keys()
        .find(|k| !LOOP_CONTROL_KEYS.contains(&k.as_str()))
    {
        return Err(ControlError::LoopControlKey { key: key.clone() });
    }
    match map.get("label") {
        None => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() => {
            templates
                .check_str(text)
                .map_err(|message| ControlError::LoopLabel { message })?;
            Ok(Some(text.clone()))
        }
        Some(_) => Err(ControlError::LoopLabelShape),
    }
}

fn retries(value: &Value) -> Result<u32, ControlError> {
    match value.as_u64() {
        Some(n) if n <= u64::from(MAX_RETRIES) => Ok(n as u32),
        _ => Err(ControlError::Retries {
            value: value.clone(),
        }),
    }
}

fn delay(value: &Value) -> Result<Duration, ControlError> {
    match value.as_f64() {
        Some(secs) if secs.is_finite() && (0.0..=MAX_DELAY_SECS).contains(&secs) => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(ControlError::Delay {
            value: value.clone(),
        }),
    }
}

/// A step name may be a template rendered per host; its syntax is checked here. It is
/// rendered before any loop item exists, so it may not read `item` (use `loop_control.label`).
pub fn check_name(templates: &Templates, name: &str, looped: bool) -> Result<(), ControlError> {
    if !has_template_syntax(name) {
        return Ok(());
    }
    templates
        .check_str(name)
        .map_err(|message| ControlError::Name { message })?;
    if looped && templates.references_in_str(name).contains("item") {
        return Err(ControlError::NameReadsItem);
    }
    Ok(())
}
