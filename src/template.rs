//! Templates: minijinja with the habits an Ansible user brings.
//!
//! One [`Templates`] per run, shared by every host: strict undefined (a typo in a variable name
//! is an error, never an empty string), no auto-escaping whatever the file name, trailing
//! newlines kept. Compiled templates and expressions are cached inside the environment (its
//! loader keeps what it loaded), so a step's arguments are parsed once, not once per host.
//!
//! A string argument that is exactly one `{{ expr }}` keeps the type of the expression (a list
//! stays a list, a number a number), as in Ansible; any other string renders to a string.
//!
//! Errors are one line: `ORIGIN: message (where)` for strings from the playbook (ORIGIN is what
//! the caller passes, e.g. `playbooks/site.yml:12`) and `FILE:LINE: message` for template files,
//! with minijinja's own description of the undefined value (`undefined variable `foo``).

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

/// Template files larger than this are refused: a template is a config file, not a disk image.
pub const MAX_TEMPLATE_BYTES: u64 = 16 * 1024 * 1024;

/// Names of templates that are not files start with this byte (a path never holds a NUL), then
/// one byte for the kind, then the text.
const INLINE: char = '\0';
/// Kinds of inline templates: a template string, an expression whose value is captured, an
/// expression tested for truth.
const KIND_STR: char = 's';
const KIND_VALUE: char = 'v';
const KIND_BOOL: char = 'b';
/// Where a captured expression's value is stored (see [`capture_source`]).
const VALUE_VAR: &str = "__tandem_value";

mod errors;
mod filters;
mod lazy_vars;

use errors::Place;
pub use errors::TemplateError;
pub use lazy_vars::{Declared, LazyVars, Scope as VarScope, holds_template, loop_message};

/// The template engine of a run. Cheap to share (`Send + Sync`) and to clone (one environment
/// and its cache behind the clones); see the module docs.
#[derive(Clone)]
pub struct Templates {
    env: std::sync::Arc<Environment<'static>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Config files are not HTML: `.html`, `.xml` (and `.json`/`.yaml` with minijinja's json
        // feature) would otherwise be escaped.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Debug info is what names the undefined variable in errors.
        env.set_debug(true);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid");
        env.set_syntax(syntax);
        env.set_loader(load);
        // `{% include "x.j2" %}` in a template file is relative to that file.
        env.set_path_join_callback(|name, parent| {
            if parent.starts_with(INLINE) || Path::new(name).is_absolute() {
                return name.to_string().into();
            }
            match Path::new(parent).parent() {
                Some(dir) => dir.join(name).to_string_lossy().into_owned().into(),
                None => name.to_string().into(),
            }
        });
        filters::add(&mut env);
        Templates {
            env: std::sync::Arc::new(env),
        }
    }

    /// Renders every string leaf of `args`; maps keep their keys. A string that is exactly one
    /// `{{ expr }}` (spaces allowed around it, not a newline) becomes the expression's value
    /// with its type; a string without `{{`, `{%` or `{#` is kept as is.
    pub fn render_args(
        &self,
        args: &serde_json::Value,
        ctx: &Value,
        origin: &str,
    ) -> Result<serde_json::Value, TemplateError> {
        checked(ctx, self.render_args_unchecked(args, ctx, origin))
    }

    /// [`Templates::render_args`] without looking at the context's vars: for the vars
    /// themselves, whose failures the outermost render reports.
    fn render_args_unchecked(
        &self,
        args: &serde_json::Value,
        ctx: &Value,
        origin: &str,
    ) -> Result<serde_json::Value, TemplateError> {
        let mut path = String::new();
        self.render_value(args, ctx, origin, &mut path)
    }

    fn render_value(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
        origin: &str,
        path: &mut String,
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(text) => self.render_leaf(text, ctx, origin, path)?,
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{index}]"));
                    out.push(self.render_value(item, ctx, origin, path)?);
                    path.truncate(len);
                }
                J::Array(out)
            }
            J::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    out.insert(key.clone(), self.render_value(item, ctx, origin, path)?);
                    path.truncate(len);
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    fn render_leaf(
        &self,
        text: &str,
        ctx: &Value,
        origin: &str,
        path: &str,
    ) -> Result<serde_json::Value, TemplateError> {
        let place = Place::Inline {
            origin,
            arg: (!path.is_empty()).then_some(path),
        };
        if let Some(expr) = single_expression(text) {
            let value = self.capture(expr, ctx, &place)?;
            return serde_json::to_value(&value).map_err(|err| {
                TemplateError::Render(place.format(
                    &format!(
                        "the value of `{}` cannot be used as an argument: {err}",
                        expr.trim()
                    ),
                    None,
                ))
            });
        }
        if !has_template_syntax(text) {
            return Ok(serde_json::Value::String(text.to_string()));
        }
        self.render_inline(text, ctx, &place)
            .map(serde_json::Value::String)
    }

    /// Renders a template string to a string.
    pub fn render_str(
        &self,
        text: &str,
        ctx: &Value,
        origin: &str,
    ) -> Result<String, TemplateError> {
        if !has_template_syntax(text) {
            return Ok(text.to_string());
        }
        checked(
            ctx,
            self.render_inline(text, ctx, &Place::Inline { origin, arg: None }),
        )
    }

    fn render_inline(
        &self,
        text: &str,
        ctx: &Value,
        place: &Place,
    ) -> Result<String, TemplateError> {
        let name = inline_name(KIND_STR, text);
        let template = self
            .env
            .get_template(&name)
            .map_err(|err| place.error(&err))?;
        template.render(ctx).map_err(|err| place.error(&err))
    }

    /// The value of an expression, with its type; undefined (anywhere inside) is an error.
    fn capture(&self, expr: &str, ctx: &Value, place: &Place) -> Result<Value, TemplateError> {
        let name = inline_name(KIND_VALUE, expr);
        let template = self
            .env
            .get_template(&name)
            .map_err(|err| place.error(&err))?;
        let captured = template
            .render_captured(ctx)
            .map_err(|err| place.error(&err))?;
        let value = captured
            .state()
            .lookup(VALUE_VAR)
            .unwrap_or(Value::UNDEFINED);
        if !contains_undefined(&value) {
            return Ok(value);
        }
        // A plain lookup of a missing name is not an error by itself; testing it is, and that
        // error names the variable.
        match self.eval_bool_at(expr, ctx, place) {
            Err(err) => Err(err),
            Ok(_) => Err(TemplateError::Render(place.format(
                &format!("`{}` holds an undefined value", expr.trim()),
                None,
            ))),
        }
    }

    /// Renders a template file (cached by path for the run). Errors name the file, the line in
    /// it and the undefined variable: `templates/interfaces.j2:7: undefined variable `x``.
    pub fn render_file(&self, path: &Path, ctx: &Value) -> Result<String, TemplateError> {
        let Some(name) = path.to_str() else {
            return Err(TemplateError::PathNotUtf8 {
                path: path.display().to_string(),
            });
        };
        if name.is_empty() {
            return Err(TemplateError::EmptyPath);
        }
        let place = Place::File(name);
        let template = self
            .env
            .get_template(name)
            .map_err(|err| place.error(&err))?;
        checked(ctx, template.render(ctx).map_err(|err| place.error(&err)))
    }

    /// `render_file` with `extra` names on top of the context (they win over a variable of the
    /// same name): a template step's secrets, seen by this rendering only.
    pub fn render_file_with(
        &self,
        path: &Path,
        ctx: &Value,
        extra: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        let extra = Value::from_pairs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let merged = minijinja::context! { ..extra, ..ctx.clone() };
        // A lazily rendered var that failed is recorded in the original context.
        checked(ctx, self.render_file(path, &merged))
    }

    /// Reads and compiles a template file without rendering it: a missing file or a syntax
    /// error is known before any host is, so it is bad input rather than a failed step.
    /// Undefined variables can only be known per host (facts, registered results): see
    /// [`Templates::render_file`].
    pub fn check_file(&self, path: &Path) -> Result<(), TemplateError> {
        let Some(name) = path.to_str() else {
            return Err(TemplateError::PathNotUtf8 {
                path: path.display().to_string(),
            });
        };
        self.env
            .get_template(name)
            .map(|_| ())
            .map_err(|err| Place::File(name).error(&err))
    }

    /// `when` / `changed_when`: a minijinja expression (no braces) and its truth.
    pub fn eval_bool(&self, expr: &str, ctx: &Value, origin: &str) -> Result<bool, TemplateError> {
        checked(
            ctx,
            self.eval_bool_at(expr, ctx, &Place::Inline { origin, arg: None }),
        )
    }

    fn eval_bool_at(&self, expr: &str, ctx: &Value, place: &Place) -> Result<bool, TemplateError> {
        let name = inline_name(KIND_BOOL, expr);
        let template = self
            .env
            .get_template(&name)
            .map_err(|err| place.error(&err))?;
        let out = template.render(ctx).map_err(|err| place.error(&err))?;
        Ok(out == "1")
    }

    /// Top-level names a template string reads (a superset: global functions such as `range`
    /// and loop variables may appear). A string that does not parse reads nothing.
    pub fn references_in_str(&self, text: &str) -> BTreeSet<String> {
        if !has_template_syntax(text) {
            return BTreeSet::new();
        }
        match self.env.template_from_str(text) {
            Ok(template) => template.undeclared_variables(false).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Top-level names an expression (`when`, `changed_when`) reads.
    pub fn references_in_expr(&self, expr: &str) -> BTreeSet<String> {
        match self.env.compile_expression(expr) {
            Ok(compiled) => compiled.undeclared_variables(false).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Top-level names any string leaf of `args` reads.
    pub fn references_in_args(&self, args: &serde_json::Value) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        collect_references(self, args, &mut names);
        names
    }

    /// Dotted names a template string reads (`facts.memory_mb`, or `facts` when it is read as
    /// a whole): what [`Templates::references_in_str`] gives, with the attributes read.
    pub fn nested_references_in_str(&self, text: &str) -> BTreeSet<String> {
        if !has_template_syntax(text) {
            return BTreeSet::new();
        }
        match self.env.template_from_str(text) {
            Ok(template) => template.undeclared_variables(true).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Dotted names an expression reads.
    pub fn nested_references_in_expr(&self, expr: &str) -> BTreeSet<String> {
        match self.env.compile_expression(expr) {
            Ok(compiled) => compiled.undeclared_variables(true).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Dotted names any string leaf of `args` reads.
    pub fn nested_references_in_args(&self, args: &serde_json::Value) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut strings = Vec::new();
        collect_strings(args, &mut strings);
        for text in strings {
            names.extend(self.nested_references_in_str(text));
        }
        names
    }

    /// A syntax check for a template string from the playbook, without rendering. The message
    /// says where inside a multi-line string the error is (`... (template line 3)`).
    pub fn check_str(&self, text: &str) -> Result<(), TemplateError> {
        if !has_template_syntax(text) {
            return Ok(());
        }
        let name = inline_name(KIND_STR, text);
        self.env
            .get_template(&name)
            .map(|_| ())
            .map_err(|err| Place::Bare.error(&err))
    }

    /// A syntax check for an expression (`when`, `changed_when`).
    pub fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        check_expression(expr).map_err(|err| Place::Bare.error(&err))
    }
}

/// `result`, unless a var read in `ctx` could not be rendered: that is the cause to report (the
/// template that read it only saw an undefined value), even when the template got by without it.
fn checked<T>(ctx: &Value, result: Result<T, TemplateError>) -> Result<T, TemplateError> {
    match ctx
        .downcast_object_ref::<LazyVars>()
        .and_then(LazyVars::failure)
    {
        Some(cause) => Err(TemplateError::Var(Box::new(cause))),
        None => result,
    }
}

fn collect_strings<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    use serde_json::Value as J;
    match value {
        J::String(text) => out.push(text),
        J::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        J::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

fn collect_references(
    templates: &Templates,
    value: &serde_json::Value,
    names: &mut BTreeSet<String>,
) {
    use serde_json::Value as J;
    match value {
        J::String(text) => names.extend(templates.references_in_str(text)),
        J::Array(items) => items
            .iter()
            .for_each(|item| collect_references(templates, item, names)),
        J::Object(map) => map
            .values()
            .for_each(|item| collect_references(templates, item, names)),
        _ => {}
    }
}

/// Whether `name` can be read as a variable in templates: letters, digits and `_`, not starting
/// with a digit (the rule for `register:` names and `-e` names alike).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `text` may hold template code at all; most arguments are plain strings.
pub fn has_template_syntax(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The expression of a string that is exactly one `{{ expr }}` (spaces around it and `-` trim
/// markers allowed), else `None`.
pub fn single_expression(text: &str) -> Option<&str> {
    // Only spaces may surround it: "{{ x }}\n" is text ending in a newline, and must keep it.
    let inner = text
        .trim_matches(' ')
        .strip_prefix("{{")?
        .strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    if inner.trim().is_empty()
        || ["{{", "}}", "{%", "%}", "{#", "#}"]
            .iter()
            .any(|t| inner.contains(t))
    {
        return None;
    }
    Some(inner)
}

fn inline_name(kind: char, text: &str) -> String {
    let mut name = String::with_capacity(text.len() + 2);
    name.push(INLINE);
    name.push(kind);
    name.push_str(text);
    name
}

/// The environment's loader: inline names carry their source, other names are file paths.
/// Called once per name; the environment keeps the compiled result.
fn load(name: &str) -> Result<Option<String>, minijinja::Error> {
    if let Some(rest) = name.strip_prefix(INLINE) {
        let mut chars = rest.chars();
        let kind = chars.next();
        let text = chars.as_str();
        return match kind {
            Some(KIND_STR) => Ok(Some(text.to_string())),
            Some(KIND_VALUE) => {
                check_expression(text)?;
                Ok(Some(capture_source(text)))
            }
            Some(KIND_BOOL) => {
                check_expression(text)?;
                Ok(Some(format!("{{% if ({text}) %}}1{{% endif %}}")))
            }
            _ => Ok(None),
        };
    }
    read_template_file(Path::new(name)).map(Some)
}

/// A template that evaluates `expr` once and keeps its value in [`VALUE_VAR`].
fn capture_source(expr: &str) -> String {
    format!("{{% set {VALUE_VAR} = ({expr}) %}}")
}

/// Parses `expr` alone, so an expression cannot close the block it is wrapped in (and syntax
/// errors read as about the expression the user wrote).
fn check_expression(expr: &str) -> Result<(), minijinja::Error> {
    if expr.trim().is_empty() {
        return Err(minijinja::Error::new(
            ErrorKind::SyntaxError,
            "empty expression",
        ));
    }
    Environment::empty().compile_expression(expr).map(|_| ())
}

fn read_template_file(path: &Path) -> Result<String, minijinja::Error> {
    use std::io::Read;
    let fail = |what: String| minijinja::Error::new(ErrorKind::TemplateNotFound, what);
    let describe = |err: std::io::Error| {
        let text = crate::source_file::io_message(&err);
        fail(format!("cannot read template `{}`: {text}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(describe)?;
    let mut bytes = Vec::new();
    file.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(describe)?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(fail(format!(
            "template `{}` is larger than {} MiB: is this the right file?",
            path.display(),
            MAX_TEMPLATE_BYTES / (1024 * 1024)
        )));
    }
    String::from_utf8(bytes).map_err(|err| {
        let byte = err.utf8_error().valid_up_to();
        let line = err.as_bytes()[..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        fail(format!(
            "template `{}` is not valid UTF-8 at byte {byte} (line {line}): save it as UTF-8",
            path.display()
        ))
    })
}

/// Undefined anywhere in a list or map (`[a, missing]` is not an error by itself).
fn contains_undefined(value: &Value) -> bool {
    match value.kind() {
        ValueKind::Undefined => true,
        ValueKind::Seq => value
            .try_iter()
            .is_ok_and(|mut items| items.any(|item| contains_undefined(&item))),
        ValueKind::Map => value.try_iter().is_ok_and(|mut keys| {
            keys.any(|key| {
                value
                    .get_item(&key)
                    .is_ok_and(|item| contains_undefined(&item))
            })
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
