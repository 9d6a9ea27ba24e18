//! Finding and reading `tandem.toml`: each key with its value(s) and where it was written.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::DefaultsError;
use crate::source_file;

/// One key of the file, its value(s) as the flag would take them, and the line:col of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub values: Vec<String>,
    pub line: usize,
    pub col: usize,
    /// Where the key itself is, for "unknown key".
    pub key_at: (usize, usize),
}

/// The file to read: `explicit` (from `--config` or `TANDEM_CONFIG`) must exist; otherwise
/// `./tandem.toml`, then `~/.config/tandem/tandem.toml`, whichever exists first (none: no file).
pub fn locate(
    explicit: Option<PathBuf>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, DefaultsError> {
    if let Some(path) = explicit {
        return match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(path)),
            Ok(_) => Err(DefaultsError::NotAFile { path }),
            Err(e) => Err(DefaultsError::Missing {
                path,
                reason: source_file::io_message(&e),
            }),
        };
    }
    let mut candidates = vec![PathBuf::from("tandem.toml")];
    if let Some(home) = home {
        candidates.push(home.join(".config/tandem/tandem.toml"));
    }
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// Every key of `text` with its value(s); `name` is how errors call the file. A table, a date
/// or a nested array is refused here: every key is a flag, and a flag takes text.
pub fn parse(name: &str, text: &str) -> Result<Vec<Entry>, DefaultsError> {
    let table = DeTable::parse(text).map_err(|e| {
        let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        DefaultsError::NotToml {
            name: name.to_string(),
            line,
            col,
            reason: e.message().trim().replace('\n', " "),
        }
    })?;
    let mut entries = Vec::new();
    for (key, value) in table.get_ref() {
        let (line, col) = line_col(text, value.span().start);
        let (name, key_name) = (name.to_string(), key.get_ref().to_string());
        let values = match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|item| scalar(text, item.get_ref(), item.span()))
                .collect::<Option<Vec<_>>>()
                .ok_or(DefaultsError::ListOfScalars {
                    name,
                    line,
                    col,
                    key: key_name,
                })?,
            other => vec![
                scalar(text, other, value.span()).ok_or(DefaultsError::NotAScalar {
                    name,
                    line,
                    col,
                    key: key_name,
                })?,
            ],
        };
        entries.push(Entry {
            key: key.get_ref().to_string(),
            values,
            line,
            col,
            key_at: line_col(text, key.span().start),
        });
    }
    Ok(entries)
}

/// A value as a flag takes it on the command line; numbers as written (`0x10` stays invalid
/// for a flag that wants decimal, like on the command line).
fn scalar(text: &str, value: &DeValue<'_>, span: Range<usize>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(_) | DeValue::Float(_) => text.get(span).map(|s| s.replace('_', "")),
        DeValue::Boolean(b) => Some(b.to_string()),
        DeValue::Datetime(_) | DeValue::Array(_) | DeValue::Table(_) => None,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, col)
}
