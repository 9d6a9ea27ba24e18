//! A step's variables as templates see them, rendered when read, as Ansible does.
//!
//! A var written as a template (`started: "{{ node == primary }}"`, `url: "http://{{ vip }}/"`)
//! is rendered the first time a template, a `when` or an argument reads it, in the host's own
//! context: the other vars, the facts, the registered results, tandem's names. What it gives is
//! kept for the rest of the step. A var that is exactly one `{{ expr }}` keeps the expression's
//! type (a bool `when` can test, a list, a number), like a step's arguments and like Ansible
//! 2.19; any other template gives text. Lists and mappings are rendered item by item. Vars that
//! read each other in a loop are an error naming the loop and where each var is defined.
//! Registered results, facts and tandem's names are data and never rendered (a command's output
//! holding `{{` stays as it is).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value as Json;

use super::{TemplateError, Templates, has_template_syntax};

/// A declared var: its value as written and where it is defined (`inventory.yml:12`,
/// `site.yml:30 (vars of step 'x')`), for errors.
#[derive(Debug, Clone)]
pub struct Declared {
    pub value: Json,
    pub origin: Arc<str>,
}

impl Declared {
    /// Every var of a map (playbook vars, a step's vars, -e), all declared at one origin.
    pub fn all<'a>(
        vars: impl IntoIterator<Item = (&'a String, &'a Json)>,
        origin: &Arc<str>,
    ) -> indexmap::IndexMap<String, Declared> {
        vars.into_iter()
            .map(|(k, v)| {
                let declared = Declared {
                    value: v.clone(),
                    origin: origin.clone(),
                };
                (k.clone(), declared)
            })
            .collect()
    }
}

/// The names of one step on one host, in precedence order (see [`LazyVars::lookup`]).
pub struct Scope {
    /// Playbook defaults and inventory vars, merged (a later level replaces a whole key).
    pub base: Arc<indexmap::IndexMap<String, Declared>>,
    /// Results of `register`, as data.
    pub registered: serde_json::Map<String, Json>,
    /// The step's own vars (enclosing includes' included).
    pub step: indexmap::IndexMap<String, Declared>,
    /// tandem's names and `facts`: nothing overrides them.
    pub fixed: serde_json::Map<String, Json>,
}

/// The context object; see the module docs.
pub struct LazyVars {
    templates: Templates,
    scope: Scope,
    /// Vars rendered so far in this step.
    rendered: Mutex<HashMap<String, Value>>,
    /// The vars being rendered, outermost first: reading one of them again is a loop.
    resolving: Mutex<Vec<String>>,
    /// The first var that could not be rendered, worded for the user. Lookups cannot return an
    /// error, so the template that read the var fails on an undefined value, and every render
    /// with this context reports this root cause instead ([`Templates`] checks it).
    error: Mutex<Option<TemplateError>>,
}

impl fmt::Debug for LazyVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyVars").finish_non_exhaustive()
    }
}

impl LazyVars {
    pub fn new(templates: &Templates, scope: Scope) -> LazyVars {
        LazyVars {
            templates: templates.clone(),
            scope,
            rendered: Mutex::new(HashMap::new()),
            resolving: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        }
    }

    /// The minijinja context.
    pub fn into_context(self) -> Value {
        Value::from_object(self)
    }

    /// Why a var read in this context could not be rendered, if one could not.
    pub fn failure(&self) -> Option<TemplateError> {
        lock(&self.error).clone()
    }

    /// `fixed` (tandem's names, facts) > step vars > registered results > defaults and
    /// inventory vars.
    fn lookup(self: &Arc<Self>, name: &str) -> Option<Value> {
        if let Some(value) = self.scope.fixed.get(name) {
            return Some(json_value(value));
        }
        if let Some(declared) = self.scope.step.get(name) {
            return self.render(name, declared);
        }
        if let Some(value) = self.scope.registered.get(name) {
            return Some(json_value(value));
        }
        let declared = self.scope.base.get(name)?;
        self.render(name, declared)
    }

    fn render(self: &Arc<Self>, name: &str, declared: &Declared) -> Option<Value> {
        if !holds_template(&declared.value) {
            return Some(json_value(&declared.value));
        }
        if let Some(done) = lock(&self.rendered).get(name) {
            return Some(done.clone());
        }
        {
            let mut resolving = lock(&self.resolving);
            if let Some(start) = resolving.iter().position(|n| n == name) {
                let cycle: Vec<String> = resolving[start..].to_vec();
                drop(resolving);
                self.fail(TemplateError::VarLoop(self.cycle_message(&cycle, name)));
                return None;
            }
            resolving.push(name.to_string());
        }
        let context = Value::from_dyn_object(self.clone());
        let origin = format!("{} (var `{name}`)", declared.origin);
        let result = self
            .templates
            .render_args_unchecked(&declared.value, &context, &origin);
        lock(&self.resolving).retain(|n| n != name);
        match result {
            Ok(json) => {
                let value = json_value(&json);
                lock(&self.rendered).insert(name.to_string(), value.clone());
                Some(value)
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn fail(&self, cause: TemplateError) {
        let mut error = lock(&self.error);
        if error.is_none() {
            *error = Some(cause);
        }
    }

    fn cycle_message(&self, cycle: &[String], _again: &str) -> String {
        let places: Vec<(String, String)> = cycle
            .iter()
            .map(|n| (n.clone(), self.origin_of(n)))
            .collect();
        loop_message(&places)
    }

    fn origin_of(&self, name: &str) -> String {
        self.scope
            .step
            .get(name)
            .or_else(|| self.scope.base.get(name))
            .map(|d| d.origin.to_string())
            .unwrap_or_else(|| "?".to_string())
    }

    /// Every name this context answers to.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scope.base.keys().cloned().collect();
        for name in self
            .scope
            .registered
            .keys()
            .chain(self.scope.step.keys())
            .chain(self.scope.fixed.keys())
        {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}

impl Object for LazyVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.names().into_iter().map(Value::from).collect())
    }
}

/// Vars that read each other in a loop (each with where it is defined, in reading order): the
/// message says where, which and what to do.
pub fn loop_message(cycle: &[(String, String)]) -> String {
    let path: Vec<&str> = cycle
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(cycle.first().map(|(name, _)| name.as_str()))
        .collect();
    let places: Vec<String> = cycle
        .iter()
        .map(|(name, origin)| format!("`{name}` at {origin}"))
        .collect();
    format!(
        "{}: vars read each other in a loop: {} ({}): one of them must not read the others",
        cycle.first().map_or("?", |(_, origin)| origin.as_str()),
        path.join(" -> "),
        places.join(", ")
    )
}

/// Whether any string inside `value` is a template.
pub fn holds_template(value: &Json) -> bool {
    match value {
        Json::String(text) => has_template_syntax(text),
        Json::Array(items) => items.iter().any(holds_template),
        Json::Object(map) => map.values().any(holds_template),
        _ => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn json_value(json: &Json) -> Value {
    Value::from(minijinja::value::Serde(json))
}
