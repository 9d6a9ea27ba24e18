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

use base64::Engine as _;
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

mod lazy_vars;

pub use lazy_vars::{Declared, LazyVars, Scope as VarScope, holds_template, loop_message};

/// The template engine of a run. Cheap to share (`Send + Sync`) and to clone (one environment
/// and its cache behind the clones); see the module docs.
#[derive(Clone)]
pub struct Templates {
    env: std::sync::Arc<Environment<'static>>,
}

/// A template that failed to parse or render; `Display` is one line naming where and what
/// (the undefined variable, the syntax error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl TemplateError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

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
        add_filters(&mut env);
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
                TemplateError(place.format(
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
            Ok(_) => Err(TemplateError(place.format(
                &format!("`{}` holds an undefined value", expr.trim()),
                None,
            ))),
        }
    }

    /// Renders a template file (cached by path for the run). Errors name the file, the line in
    /// it and the undefined variable: `templates/interfaces.j2:7: undefined variable `x``.
    pub fn render_file(&self, path: &Path, ctx: &Value) -> Result<String, TemplateError> {
        let shown = path.display().to_string();
        let Some(name) = path.to_str() else {
            return Err(TemplateError(format!(
                "{shown}: the template's path is not valid UTF-8: rename it"
            )));
        };
        if name.is_empty() {
            return Err(TemplateError("empty template path".to_string()));
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
    pub fn check_file(&self, path: &Path) -> Result<(), String> {
        let Some(name) = path.to_str() else {
            return Err(format!(
                "{}: the template's path is not valid UTF-8: rename it",
                path.display()
            ));
        };
        self.env
            .get_template(name)
            .map(|_| ())
            .map_err(|err| Place::File(name).message(&err))
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
    pub fn check_str(&self, text: &str) -> Result<(), String> {
        if !has_template_syntax(text) {
            return Ok(());
        }
        let name = inline_name(KIND_STR, text);
        self.env
            .get_template(&name)
            .map(|_| ())
            .map_err(|err| Place::Bare.message(&err))
    }

    /// A syntax check for an expression (`when`, `changed_when`).
    pub fn check_expr(&self, expr: &str) -> Result<(), String> {
        check_expression(expr).map_err(|err| Place::Bare.message(&err))
    }
}

/// `result`, unless a var read in `ctx` could not be rendered: that is the cause to report (the
/// template that read it only saw an undefined value), even when the template got by without it.
fn checked<T>(ctx: &Value, result: Result<T, TemplateError>) -> Result<T, TemplateError> {
    match ctx
        .downcast_object_ref::<LazyVars>()
        .and_then(LazyVars::failure)
    {
        Some(cause) => Err(TemplateError(cause)),
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
        let text = err.to_string();
        let text = text
            .split(" (os error ")
            .next()
            .unwrap_or_default()
            .to_string();
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

/// Where a template came from, to word its errors.
enum Place<'a> {
    /// A string from the playbook; `arg` is the argument's path (`content`, `lines[2]`).
    Inline {
        origin: &'a str,
        arg: Option<&'a str>,
    },
    /// A template file, by the path it was asked for.
    File(&'a str),
    /// No location: the caller adds its own.
    Bare,
}

impl Place<'_> {
    fn error(&self, err: &minijinja::Error) -> TemplateError {
        TemplateError(self.message(err))
    }

    fn message(&self, err: &minijinja::Error) -> String {
        let err = innermost(err);
        let text = describe(err);
        // The file the error is in, when it is one (the template or a file it includes).
        let file_at = err
            .name()
            .filter(|name| is_file_name(name))
            .map(|name| match err.line() {
                Some(line) => format!("{name}:{line}"),
                None => name.to_string(),
            });
        match (self, file_at) {
            (Place::File(_) | Place::Bare, Some(at)) => one_line(&format!("{at}: {text}")),
            (Place::File(file), None) if text.contains(&format!("`{file}`")) => one_line(&text),
            (Place::File(file), None) => match err.line() {
                Some(line) => one_line(&format!("{file}:{line}: {text}")),
                None => one_line(&format!("{file}: {text}")),
            },
            (Place::Inline { .. }, Some(at)) => self.format(&format!("{at}: {text}"), None),
            (_, None) => self.format(&text, err.line().filter(|&line| line > 1)),
        }
    }

    /// `ORIGIN: text (in `arg`, template line N)`.
    fn format(&self, text: &str, line: Option<usize>) -> String {
        let mut out = String::new();
        let mut parts = Vec::new();
        match self {
            Place::Inline { origin, arg } => {
                if !origin.is_empty() {
                    out.push_str(origin);
                    out.push_str(": ");
                }
                if let Some(arg) = arg {
                    parts.push(format!("in `{arg}`"));
                }
            }
            Place::File(file) => {
                out.push_str(file);
                out.push_str(": ");
            }
            Place::Bare => {}
        }
        out.push_str(text);
        if let Some(line) = line {
            parts.push(format!("template line {line}"));
        }
        if !parts.is_empty() {
            out.push_str(&format!(" ({})", parts.join(", ")));
        }
        one_line(&out)
    }
}

/// An error inside an included template comes wrapped ("could not render include"): the
/// cause is what the user must fix, in the file it names.
fn innermost(mut err: &minijinja::Error) -> &minijinja::Error {
    while let Some(inner) =
        std::error::Error::source(err).and_then(|source| source.downcast_ref::<minijinja::Error>())
    {
        err = inner;
    }
    err
}

/// Whether an error's template name is a file (not one of our inline names, not minijinja's
/// placeholder names).
fn is_file_name(name: &str) -> bool {
    !name.starts_with(INLINE) && name != "<expression>" && name != "<string>"
}

/// minijinja's message without its `(in NAME:LINE)` suffix (the caller places it), with the
/// undefined value first: "undefined variable `foo`".
fn describe(err: &minijinja::Error) -> String {
    let kind = err.kind();
    let Some(detail) = err.detail() else {
        return kind.to_string();
    };
    if let Some((start, tail, end)) = undefined_mention(detail) {
        let what = &detail[start + 1..tail];
        let noun = if is_identifier(what) {
            "undefined variable"
        } else {
            "undefined value"
        };
        // What follows the mention: "(from line 3)" or the rest of a parenthetical.
        let before = detail[..start].trim_end().trim_end_matches('(').trim_end();
        let after = detail[end..].trim_start_matches(',').trim();
        let after = after.trim_end_matches(')').trim();
        let after = after.trim_start_matches('(').trim();
        let mut out = format!("{noun} `{what}`");
        if !after.is_empty() {
            out.push_str(&format!(" ({after})"));
        }
        if kind != ErrorKind::UndefinedError && !before.is_empty() {
            out.push_str(&format!(": {kind}: {before}"));
        }
        return out;
    }
    if kind == ErrorKind::TemplateNotFound {
        return detail.to_string();
    }
    format!("{kind}: {detail}")
}

/// Where "`NAME` is undefined" is in minijinja's detail: the opening backtick, the closing one,
/// and just after "undefined".
fn undefined_mention(detail: &str) -> Option<(usize, usize, usize)> {
    const TAIL: &str = "` is undefined";
    let tail = detail.find(TAIL)?;
    let start = detail[..tail].rfind('`')?;
    Some((start, tail, tail + TAIL.len()))
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Messages are printed as one line whatever the template holds.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The filters Ansible users reach for that minijinja lacks (or means differently).
fn add_filters(env: &mut Environment<'static>) {
    env.add_filter("b64encode", |value: &str| {
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    });
    env.add_filter(
        "b64decode",
        |value: &str| -> Result<String, minijinja::Error> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|err| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("b64decode: {err}"))
                })?;
            String::from_utf8(bytes).map_err(|_| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "b64decode: the decoded bytes are not UTF-8 text",
                )
            })
        },
    );
    env.add_filter("to_json", to_json);
    env.add_filter("tojson", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("bool", ansible_bool);
    env.add_filter(
        "ternary",
        |value: &Value, yes: Value, no: Value| {
            if value.is_true() { yes } else { no }
        },
    );
    // Ansible's `quote`: the crate's one sh quoting function.
    env.add_filter("quote", |value: &Value| {
        crate::sh::ShellWord::quote(&value.to_string()).into_string()
    });
}

fn json_of(value: &Value) -> Result<serde_json::Value, minijinja::Error> {
    if contains_undefined(value) {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "to_json: the value is undefined",
        ));
    }
    serde_json::to_value(value)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))
}

/// Compact JSON (keys in their order), not HTML-escaped: the output goes into config files.
fn to_json(value: &Value) -> Result<String, minijinja::Error> {
    let json = json_of(value)?;
    serde_json::to_string(&json)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))
}

/// Indented JSON (4 spaces, as Ansible's `to_nice_json`).
fn to_nice_json(value: &Value) -> Result<String, minijinja::Error> {
    use serde::Serialize;
    let json = json_of(value)?;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    json.serialize(&mut serializer)
        .map_err(|err| minijinja::Error::new(ErrorKind::BadSerialization, err.to_string()))?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Ansible's `bool`: the strings `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0` (any case)
/// mean what they say (minijinja's `bool` would call the string "false" true); other strings
/// are an error rather than a guess; other values use their truth.
fn ansible_bool(value: &Value) -> Result<bool, minijinja::Error> {
    if let Some(text) = value.as_str() {
        return match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "t" | "on" | "1" => Ok(true),
            "no" | "n" | "false" | "f" | "off" | "0" | "" => Ok(false),
            _ => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("bool: '{text}' is not a boolean (use yes/no, true/false, on/off, 1/0)"),
            )),
        };
    }
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "bool: the value is undefined",
        ));
    }
    Ok(value.is_true())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use minijinja::context;
    use serde_json::json;

    use super::*;

    trait FromSerde {
        fn from_serde(value: serde_json::Value) -> Value;
    }

    impl FromSerde for Value {
        fn from_serde(value: serde_json::Value) -> Value {
            Value::from(minijinja::value::Serde(value))
        }
    }

    fn ctx() -> Value {
        Value::from_serde(json!({
            "name": "web",
            "port": 8080,
            "enabled": true,
            "packages": ["lxc", "rsync"],
            "net": {"bridge": "br0", "addrs": ["192.168.0.1/24"]},
            "flag": "no",
        }))
    }

    fn scratch(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tandem-template-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let t = Templates::new();
        let args = json!({
            "list": "{{ packages }}",
            "number": "  {{ port }} ",
            "bool": "{{- enabled -}}",
            "map": "{{ net }}",
            "text": "port {{ port }}",
            "plain": "no template here",
            "computed": "{{ port + 1 }}",
            "string": "{{ name }}",
            "kept": 12,
            "nested": {"deep": ["{{ net.bridge }}", "x-{{ name }}", false]},
        });
        let out = t.render_args(&args, &ctx(), "site.yml:3").unwrap();
        assert_eq!(
            out,
            json!({
                "list": ["lxc", "rsync"],
                "number": 8080,
                "bool": true,
                "map": {"bridge": "br0", "addrs": ["192.168.0.1/24"]},
                "text": "port 8080",
                "plain": "no template here",
                "computed": 8081,
                "string": "web",
                "kept": 12,
                "nested": {"deep": ["br0", "x-web", false]},
            })
        );
    }

    #[test]
    fn two_expressions_render_to_a_string() {
        let t = Templates::new();
        let out = t
            .render_args(&json!("{{ name }}:{{ port }}"), &ctx(), "x")
            .unwrap();
        assert_eq!(out, json!("web:8080"));
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression("  {{ a }} "), Some(" a "));
        // A trailing newline (a YAML block scalar) makes it text: the newline is kept.
        assert_eq!(single_expression("{{ a }}\n"), None);
        let out = t.render_args(&json!("{{ port }}\n"), &ctx(), "x").unwrap();
        assert_eq!(out, json!("8080\n"));
        assert_eq!(single_expression("{{ }}"), None);
    }

    #[test]
    fn render_str_keeps_trailing_newline_and_does_not_escape() {
        let t = Templates::new();
        let out = t
            .render_str("<{{ name }}> & \"{{ port }}\"\n", &ctx(), "x")
            .unwrap();
        assert_eq!(out, "<web> & \"8080\"\n");
    }

    #[test]
    fn undefined_variable_in_an_argument() {
        let t = Templates::new();
        let err = t
            .render_args(
                &json!({"content": "a {{ nmae }} b"}),
                &ctx(),
                "playbooks/x.yml:12",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "playbooks/x.yml:12: undefined variable `nmae` (in `content`)"
        );
        let err = t
            .render_args(
                &json!({"lines": ["ok", "{{ missing }}"]}),
                &ctx(),
                "p.yml:3",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yml:3: undefined variable `missing` (in `lines[1]`)"
        );
        let err = t
            .render_args(&json!({"x": "{{ net.brige }}"}), &ctx(), "p.yml:3")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yml:3: undefined value `net.brige` (in `x`)"
        );
        let err = t
            .render_args(&json!({"x": "{{ [name, nope] }}"}), &ctx(), "p.yml:3")
            .unwrap_err();
        assert!(err.to_string().starts_with("p.yml:3: "), "{err}");
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn undefined_variable_on_a_later_line_of_a_string() {
        let t = Templates::new();
        let err = t
            .render_str(
                "a\nb\n{{ port }} {{ bridge_addres }}\n",
                &ctx(),
                "site.yml:4",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "site.yml:4: undefined variable `bridge_addres` (template line 3)"
        );
    }

    #[test]
    fn undefined_inside_an_operation_names_the_variable() {
        let t = Templates::new();
        let err = t
            .render_str("{{ nope + 1 }}", &ctx(), "s.yml:1")
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("s.yml:1: undefined variable `nope`: invalid operation: "),
            "{message}"
        );
    }

    #[test]
    fn syntax_errors_have_the_line() {
        let t = Templates::new();
        let err = t
            .render_str("ok\n{{ name ) }}", &ctx(), "s.yml:9")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.yml:9: syntax error: unexpected `)`, expected end of variable block (template line 2)"
        );
        assert_eq!(
            t.check_str("a\n\n{% if %}").unwrap_err(),
            "syntax error: unexpected end of block (template line 3)"
        );
        assert!(t.check_str("{{ a }} {% if b %}x{% endif %}").is_ok());
        assert!(t.check_str("no template").is_ok());
        assert_eq!(
            t.check_expr("x ==").unwrap_err(),
            "syntax error: unexpected end of input, expected expression"
        );
        assert!(t.check_expr("x == 1 and y is defined").is_ok());
    }

    #[test]
    fn eval_bool() {
        let t = Templates::new();
        let c = ctx();
        assert!(t.eval_bool("port == 8080", &c, "o").unwrap());
        assert!(!t.eval_bool("name != 'web'", &c, "o").unwrap());
        assert!(t.eval_bool("'lxc' in packages", &c, "o").unwrap());
        assert!(!t.eval_bool("missing is defined", &c, "o").unwrap());
        assert!(t.eval_bool("missing | default(true)", &c, "o").unwrap());
        assert!(!t.eval_bool("flag | bool", &c, "o").unwrap());
        assert!(
            t.eval_bool("enabled and port > 1 if name else false", &c, "o")
                .unwrap()
        );
        assert!(!t.eval_bool("false", &c, "o").unwrap());
        // Short-circuit: the undefined side is never looked at.
        assert!(!t.eval_bool("port == 1 and missing", &c, "o").unwrap());
        let err = t
            .eval_bool("port == 8080 and missing", &c, "site.yml:7")
            .unwrap_err();
        assert_eq!(err.to_string(), "site.yml:7: undefined variable `missing`");
        let err = t
            .eval_bool("cluster == 'pair1'", &c, "site.yml:7")
            .unwrap_err();
        assert_eq!(err.to_string(), "site.yml:7: undefined variable `cluster`");
        let err = t.eval_bool("port ==", &c, "site.yml:7").unwrap_err();
        assert_eq!(
            err.to_string(),
            "site.yml:7: syntax error: unexpected end of input, expected expression"
        );
        // An expression cannot close the block it is wrapped in.
        assert!(t.eval_bool("1 %}x{% if 1", &c, "o").is_err());
        assert!(t.eval_bool("", &c, "o").is_err());
    }

    #[test]
    fn render_file_names_file_line_and_variable() {
        let t = Templates::new();
        let path = scratch(
            "interfaces.j2",
            "auto lo\niface lo inet loopback\n\nauto br0\niface br0 inet static\n  bridge_ports none\n  address {{ bridge_addres }}\n",
        );
        let err = t.render_file(&path, &ctx()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:7: undefined variable `bridge_addres`", path.display())
        );
        let ok = t
            .render_file(
                &path,
                &Value::from_serde(json!({"bridge_addres": "10.0.0.1/24"})),
            )
            .unwrap();
        assert!(ok.ends_with("address 10.0.0.1/24\n"), "{ok:?}");
    }

    #[test]
    fn render_file_syntax_error_and_missing_file() {
        let t = Templates::new();
        let path = scratch("broken.j2", "one\ntwo {% for x in %}\n");
        let err = t.render_file(&path, &ctx()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: syntax error: ", path.display())),
            "{err}"
        );
        let missing = path.with_file_name("missing.j2");
        let err = t.render_file(&missing, &ctx()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read template `{}`: No such file or directory",
                missing.display()
            )
        );
        let bad = std::env::temp_dir()
            .join(format!("tandem-template-{}", std::process::id()))
            .join("latin1.j2");
        fs::write(&bad, b"ok\ncaf\xe9\n").unwrap();
        let err = t.render_file(&bad, &ctx()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not valid UTF-8 at byte 6 (line 2)"),
            "{err}"
        );
    }

    #[test]
    fn autoescape_is_off_for_json_and_html_files() {
        let t = Templates::new();
        let c = Value::from_serde(json!({"v": "<a href=\"x\">&'</a>"}));
        for name in ["page.html", "config.json", "data.yaml", "x.xml"] {
            let path = scratch(name, "{{ v }}\n");
            assert_eq!(
                t.render_file(&path, &c).unwrap(),
                "<a href=\"x\">&'</a>\n",
                "{name}"
            );
        }
    }

    #[test]
    fn includes_are_relative_to_the_including_file() {
        let t = Templates::new();
        scratch("part.j2", "part {{ name }}\nline {{ nope }}\n");
        let main = scratch("main.j2", "main\n{% include 'part.j2' %}");
        let err = t.render_file(&main, &ctx()).unwrap_err();
        let part = main.with_file_name("part.j2");
        assert_eq!(
            err.to_string(),
            format!("{}:2: undefined variable `nope`", part.display())
        );
        let c = Value::from_serde(json!({"name": "n", "nope": 1}));
        assert_eq!(t.render_file(&main, &c).unwrap(), "main\npart n\nline 1\n");
    }

    #[test]
    fn rendering_is_cached_and_fast() {
        let t = Templates::new();
        let args =
            json!({"name": ["{{ packages }}"], "dest": "/etc/{{ name }}.conf", "x": "{{ port }}"});
        let start = std::time::Instant::now();
        for i in 0..2000 {
            let c = Value::from_serde(json!({"packages": [i], "name": "n", "port": i}));
            t.render_args(&args, &c, "o").unwrap();
        }
        // 100 hosts x 20 steps; generous for a debug build on a busy machine.
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    }

    #[test]
    fn references() {
        let t = Templates::new();
        let names = |set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(t.references_in_str("{{ a.b }} {% if c %}{{ d | default(e) }}{% endif %}")),
            ["a", "c", "d", "e"]
        );
        assert_eq!(names(t.references_in_str("{% set x = y %}{{ x }}")), ["y"]);
        assert!(t.references_in_str("plain").is_empty());
        assert!(t.references_in_str("{{ broken").is_empty());
        assert_eq!(
            names(t.references_in_expr("pkgs.changed and cluster == 'pair1'")),
            ["cluster", "pkgs"]
        );
        assert_eq!(
            names(t.references_in_args(
                &json!({"a": ["{{ x }}", {"b": "{{ y.z }}-{{ w }}"}], "n": 1})
            )),
            ["w", "x", "y"]
        );
    }

    #[test]
    fn filters() {
        let t = Templates::new();
        let c = context! { m => context! { b => 1, a => "x<y" }, s => "it's", t => "hello" };
        let r = |text: &str| t.render_str(text, &c, "o").unwrap();
        assert_eq!(r("{{ t | b64encode }}"), "aGVsbG8=");
        assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}"), "hello");
        assert_eq!(r("{{ m | to_json }}"), r#"{"a":"x<y","b":1}"#);
        assert_eq!(r("{{ m | tojson }}"), r#"{"a":"x<y","b":1}"#);
        assert_eq!(
            r("{{ m | to_nice_json }}"),
            "{\n    \"a\": \"x<y\",\n    \"b\": 1\n}"
        );
        assert_eq!(r("{{ s | quote }}"), r"'it'\''s'");
        assert_eq!(r("{{ '/etc/x.conf' | quote }}"), "/etc/x.conf");
        assert_eq!(r("{{ (1 == 1) | ternary('yes', 'no') }}"), "yes");
        assert_eq!(
            r("{{ 'Off' | bool }} {{ 'yes' | bool }} {{ 0 | bool }}"),
            "False True False"
        );
        let err = t.render_str("{{ 'maybe' | bool }}", &c, "o").unwrap_err();
        assert!(
            err.to_string().contains("'maybe' is not a boolean"),
            "{err}"
        );
    }

    #[test]
    fn templates_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Templates>();
    }
}
