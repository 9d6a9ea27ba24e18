//! A step's keys sorted by kind: tandem's keywords, a module, `include`/`role`, `meta`, or
//! unknown (which the step builder turns into "did you mean").

use serde_saphyr::Spanned;

use crate::modules;
use crate::playbook::raw::RawStep;

/// The keywords of a step, in the order error messages list them.
pub(super) const STEP_KEYS: &[&str] = &[
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
pub(super) const HANDLER_KEY: &str = "listen";

/// What a step may be instead of a module, for "did you mean" (`include_tasks` -> `include`).
pub(super) const OTHER_STEP_KINDS: &[&str] = &["include", "role", "include_role", "meta"];

/// The keywords of an `include` step.
pub(super) const INCLUDE_KEYS: &[&str] = &["include", "name", "vars", "when", "tags", "timeout"];

/// The keys of one step, sorted by kind.
pub(super) struct Keys {
    pub(super) keywords: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    pub(super) modules: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    /// Keys neither tandem's nor a module, with their values (an Ansible play's `tasks:` say
    /// how to translate it).
    pub(super) unknown: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
    pub(super) include: Option<(Spanned<String>, Spanned<serde_json::Value>)>,
    /// `meta: flush_handlers`.
    pub(super) meta: Option<(Spanned<String>, Spanned<serde_json::Value>)>,
}

impl Keys {
    pub(super) fn get(&self, key: &str) -> Option<&(Spanned<String>, Spanned<serde_json::Value>)> {
        self.keywords.iter().find(|(k, _)| k.value == key)
    }
}

/// Sorts a step's keys: keywords, modules, `include`, the rest.
pub(super) fn sort_keys(raw: RawStep) -> Keys {
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
