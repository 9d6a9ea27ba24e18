//! How template failures are worded: where (the playbook string, its argument, the file and
//! line) and what (minijinja's description, the undefined variable first).

use minijinja::ErrorKind;

use super::INLINE;

/// A template that failed to parse or render; `Display` is one line naming where and what
/// (the undefined variable, the syntax error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template (or expression, or a file it includes) does not parse: minijinja's
    /// description, placed.
    #[error("{0}")]
    Syntax(String),
    /// A template file could not be read (missing, too large, not UTF-8), placed.
    #[error("{0}")]
    Unreadable(String),
    /// Rendering failed (an undefined value, a filter refusing its input), placed.
    #[error("{0}")]
    Render(String),
    /// A template file's path that minijinja cannot name.
    #[error("{path}: the template's path is not valid UTF-8: rename it")]
    PathNotUtf8 { path: String },
    #[error("empty template path")]
    EmptyPath,
    /// Vars that read each other in a loop (see [`super::loop_message`]).
    #[error("{0}")]
    VarLoop(String),
    /// A var read while rendering could not be rendered itself: the root cause, reported in
    /// place of the undefined value the reader saw.
    #[error("{0}")]
    Var(Box<TemplateError>),
}

/// Where a template came from, to word its errors.
pub(super) enum Place<'a> {
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
    pub(super) fn error(&self, err: &minijinja::Error) -> TemplateError {
        let message = self.message(err);
        match innermost(err).kind() {
            ErrorKind::SyntaxError => TemplateError::Syntax(message),
            ErrorKind::TemplateNotFound => TemplateError::Unreadable(message),
            _ => TemplateError::Render(message),
        }
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
    pub(super) fn format(&self, text: &str, line: Option<usize>) -> String {
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
        let noun = if super::is_variable_name(what) {
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

/// Messages are printed as one line whatever the template holds.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
