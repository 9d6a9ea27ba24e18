//! [`ModuleError`]: why a module's arguments were refused, with the data to say it. The caller
//! adds where (file:line, the host).

use std::fmt;

/// Arguments a module refuses. `Display` is one line starting with the module's name, e.g.
/// `file: mode '999' is not an octal mode like "0644" (quote it in YAML)`; a newline in a
/// quoted value is shown as `\n` so the message stays one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleError {
    /// No module has this name.
    Unknown { name: String },
    /// The arguments are not a mapping (`found` says what they are: "a list", ...).
    NotAMapping {
        module: &'static str,
        found: &'static str,
    },
    /// serde refused the arguments: an unknown key, a wrong type, a missing required key (its
    /// message names the field and what was expected).
    Fields {
        module: &'static str,
        detail: String,
    },
    /// A string argument (`field`, `field[2]`, `field.key`) holds a NUL byte.
    NulByte { module: &'static str, field: String },
    /// `mode` is not an octal mode.
    Mode { module: &'static str, mode: String },
    /// A path that must be absolute is not.
    NotAbsolute {
        module: &'static str,
        field: &'static str,
        path: String,
    },
    /// A value that must be one line holds a line break (or a NUL).
    NotOneLine {
        module: &'static str,
        field: &'static str,
    },
    /// A size that does not read as one ("512M", "20G").
    Size {
        module: &'static str,
        field: &'static str,
        size: String,
    },
    /// A value that breaks a rule of its field: `problem` is what the value must be, worded
    /// after `FIELD 'VALUE'`.
    Value {
        module: &'static str,
        field: String,
        value: String,
        problem: &'static str,
    },
    /// Arguments that do not go together, or a value's rule too particular for the variants
    /// above: `problem` is the sentence after `MODULE: `.
    Invalid {
        module: &'static str,
        problem: String,
    },
}

impl ModuleError {
    /// [`ModuleError::Invalid`].
    pub fn invalid(module: &'static str, problem: impl Into<String>) -> ModuleError {
        ModuleError::Invalid {
            module,
            problem: problem.into(),
        }
    }

    /// [`ModuleError::Value`].
    pub fn value(
        module: &'static str,
        field: impl Into<String>,
        value: impl Into<String>,
        problem: &'static str,
    ) -> ModuleError {
        ModuleError::Value {
            module,
            field: field.into(),
            value: value.into(),
            problem,
        }
    }

    /// The message before newlines are escaped.
    fn text(&self) -> String {
        match self {
            ModuleError::Unknown { name } => format!(
                "unknown module '{name}' (known: {})",
                super::NAMES.join(", ")
            ),
            ModuleError::NotAMapping { module, found } => format!(
                "{module}: the arguments are a mapping, e.g. `{module}: {{key: value, ...}}`, not {found}"
            ),
            ModuleError::Fields { module, detail } => format!("{module}: {detail}"),
            ModuleError::NulByte { module, field } => format!(
                "{module}: {field} holds a NUL byte, which no file name or shell word can carry"
            ),
            ModuleError::Mode { module, mode } => format!(
                "{module}: mode '{mode}' is not an octal mode like \"0644\" (quote it in YAML)"
            ),
            ModuleError::NotAbsolute {
                module,
                field,
                path,
            } => format!("{module}: {field} '{path}' must be an absolute path"),
            ModuleError::NotOneLine { module, field } => {
                format!("{module}: {field} must be a single line")
            }
            ModuleError::Size {
                module,
                field,
                size,
            } => format!(
                "{module}: {field} '{size}' is not a size like \"512M\" or \"20G\" (units K, M, G, T, P: powers of 1024)"
            ),
            ModuleError::Value {
                module,
                field,
                value,
                problem,
            } => format!("{module}: {field} '{value}' {problem}"),
            ModuleError::Invalid { module, problem } => format!("{module}: {problem}"),
        }
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the user's values; a newline in one must not split the one-line error.
        f.write_str(&self.text().replace('\n', "\\n").replace('\r', "\\r"))
    }
}

impl std::error::Error for ModuleError {}
