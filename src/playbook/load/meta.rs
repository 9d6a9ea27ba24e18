//! `- meta: flush_handlers`, the one `meta` action tandem has.

use std::path::Path;

use super::keys::Keys;
use super::values::string_value;
use super::{Scope, pos};
use crate::inventory::Vars;
use crate::playbook::error::{PlaybookError, one_line};
use crate::playbook::model::{FLUSH_HANDLERS, Location, Step};

/// `- meta: flush_handlers` (with an optional `name`): the one `meta` action tandem has. It
/// runs whatever the `--tags` (tagged `always`, as Ansible treats it): skipping it would move
/// handlers past steps that need them done.
pub(super) fn meta_step(
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
        built: None,
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
