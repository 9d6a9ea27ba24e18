//! What a loaded playbook is: steps (includes already flattened) and handlers, each step knowing
//! the file and line it came from so every later error can point there.

use std::path::PathBuf;
use std::sync::Arc;

use crate::inventory::Vars;
use crate::modules::Module;

#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    /// Defaults: the lowest-precedence variables (below the inventory's).
    pub vars: Vars,
    /// The line the `vars:` mapping starts on, for errors about a var.
    pub vars_line: Option<usize>,
    /// `-e/--extra-vars`: above every other var (set by the command, empty from `load`).
    pub extra_vars: Vars,
    pub steps: Vec<Step>,
    /// Run once at the end (or at a `meta: flush_handlers` step), in this order, on hosts where
    /// a step that notified them (by name or `listen` topic) changed something.
    pub handlers: Vec<Step>,
    /// The playbook's `timeout`: seconds any step may run, below `--step-timeout`.
    pub timeout: Option<u32>,
}

/// Where something was written, for error messages: `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    /// As written: when `name_is_template`, rendered per host before the step runs.
    pub name: String,
    /// The name was given and holds template code (`name: "site {{ site }}"`).
    pub name_is_template: bool,
    /// One of `modules::NAMES`.
    pub module: String,
    /// The module's arguments as written; string leaves may hold templates, rendered per host.
    pub args: serde_json::Value,
    /// The module built at load from `args` when they hold no template code: every host runs
    /// this one value (arguments are parsed once). `None` when they are templated (built per
    /// host after rendering) or for steps not loaded from a file.
    pub built: Option<Arc<dyn Module>>,
    /// A minijinja expression; the step runs only where it is true. Conditions of enclosing
    /// includes are and-ed in.
    pub when: Vec<String>,
    /// Tags of the step and of its enclosing includes.
    pub tags: Vec<String>,
    /// Handler names (or `listen` topics) to notify when this step changes something.
    pub notify: Vec<String>,
    /// A handler's `listen` topics: a `notify` naming one of them notifies it too (empty for
    /// steps).
    pub listen: Vec<String>,
    /// Store the step's result under this name for later `when`s and templates.
    pub register: Option<String>,
    /// A minijinja expression over `result` deciding "changed" instead of the module.
    pub changed_when: Option<String>,
    /// Run through sudo (for a login that is not the user to become): `-n`, or `-S` with the
    /// become password. Also set by `become_user`.
    pub become_root: bool,
    /// `become_user`: the user to become instead of root.
    pub become_user: Option<String>,
    /// Seconds the step may run on a node: its own `timeout`, else its innermost enclosing
    /// include's. Above `--step-timeout`, the playbook's and the module's default.
    pub timeout: Option<u32>,
    /// Step vars, including those of enclosing includes (inner wins).
    pub vars: crate::inventory::Vars,
    /// The `defaults.yml` of the roles it is in: below every other var (inner role wins).
    pub defaults: crate::inventory::Vars,
    /// `loop`, `until`/`retries`/`delay`, `failed_when`, `ignore_errors`.
    pub control: super::control::Control,
    pub location: Location,
}

/// The module name of `meta: flush_handlers`: not a module, a point in the steps where the
/// handlers notified so far run (the engine handles it; nothing is sent for it).
pub const FLUSH_HANDLERS: &str = "meta";

impl Step {
    /// `meta: flush_handlers`.
    pub fn is_flush(&self) -> bool {
        self.module == FLUSH_HANDLERS
    }

    /// Whether a `notify` of `name` reaches this handler: its name or one of its topics.
    pub fn answers(&self, name: &str) -> bool {
        self.name == name || self.listen.iter().any(|topic| topic == name)
    }
}
