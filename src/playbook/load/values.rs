//! The shapes keyword values take (a non-empty string, strings, tags, a vars map, a register
//! name, `become` and `become_user`), each refused with what to write instead.

use std::path::Path;

use serde_saphyr::Spanned;

use super::pos;
use crate::inventory::Vars;
use crate::playbook::error::PlaybookError;

/// Words minijinja reads as literals or operators: a variable by that name could never be read.
const RESERVED: &[&str] = &[
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "loop", "self",
];

/// An error about a value, to be placed by the caller.
pub(super) struct ValueError(String);

impl ValueError {
    pub(super) fn at(self, file: &Path, position: (usize, usize)) -> PlaybookError {
        PlaybookError::invalid(file, position, self.0)
    }
}

pub(super) fn string_value(
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
pub(super) fn strings(
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
pub(super) fn tags(
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

pub(super) fn vars(
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

/// A `register` name templates could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RegisterError {
    #[error(
        "`register: {name}` is not a variable name: use letters, digits and '_', not starting \
         with a digit (e.g. `register: {suggested}`)"
    )]
    NotAName { name: String, suggested: String },
    #[error("`register: {name}` is a reserved word in expressions: pick another name")]
    Reserved { name: String },
}

pub(super) fn check_register(name: &str) -> Result<(), RegisterError> {
    if !crate::template::is_variable_name(name) {
        return Err(RegisterError::NotAName {
            name: name.to_string(),
            suggested: suggest_identifier(name),
        });
    }
    if RESERVED.contains(&name) {
        return Err(RegisterError::Reserved {
            name: name.to_string(),
        });
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

/// A user name sudo's `-u` takes as one word and never as an option.
fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(super) fn parse_become(
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

pub(super) fn parse_become_user(
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
