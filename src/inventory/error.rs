//! Errors of the inventory layer.
//!
//! Every message is one line that starts with `PATH:LINE:COL: ` (or `PATH: ` when no position
//! applies), so editors and terminals can jump to the spot, and says what to fix.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// An inventory that could not be read or is not valid.
#[derive(Debug)]
pub struct InventoryError {
    path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    position: Option<(usize, usize)>,
    kind: InventoryErrorKind,
}

/// What went wrong; the `Display` of [`InventoryError`] is the message for the user.
#[derive(Debug)]
#[non_exhaustive]
pub enum InventoryErrorKind {
    /// The file could not be read (missing, permissions, ...).
    Read(io::Error),
    /// The file is larger than [`super::MAX_INVENTORY_BYTES`].
    TooLarge { len: u64 },
    /// The file is not UTF-8; `byte` is the offset of the first bad byte.
    NotUtf8 { byte: usize },
    /// The YAML parser or the deserializer refused the file (syntax, unknown key, wrong type,
    /// duplicate key, budget): the text is serde-saphyr's own message, kept as is.
    Yaml(String),
    /// Valid YAML that breaks one of tandem's rules (names, ports, missing address, ...).
    Invalid(String),
}

impl InventoryError {
    pub(crate) fn new(
        path: &Path,
        position: Option<(usize, usize)>,
        kind: InventoryErrorKind,
    ) -> Self {
        InventoryError {
            path: path.to_path_buf(),
            position,
            kind,
        }
    }

    /// A rule broken at `position`.
    pub(crate) fn invalid(path: &Path, position: (usize, usize), message: String) -> Self {
        Self::new(path, Some(position), InventoryErrorKind::Invalid(message))
    }

    /// A serde-saphyr error, reduced to one line: the location goes in front (as for every other
    /// inventory error) and the multi-line source snippet is dropped, because callers print
    /// errors as single lines and the location is enough to find the spot.
    pub(crate) fn from_yaml(path: &Path, err: &serde_saphyr::Error) -> Self {
        let position = err.location().and_then(|loc| {
            let (line, column) = (loc.line(), loc.column());
            // serde-saphyr uses line 0 for "unknown".
            (line > 0).then(|| (line as usize, column.max(1) as usize))
        });
        Self::new(path, position, InventoryErrorKind::Yaml(yaml_message(err)))
    }

    /// The inventory file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line, when the error has a place in the file.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// 1-based column, when the error has a place in the file.
    pub fn column(&self) -> Option<usize> {
        self.position.map(|(_, column)| column)
    }

    pub fn kind(&self) -> &InventoryErrorKind {
        &self.kind
    }
}

/// The message of a serde-saphyr error without location suffix and snippet.
fn yaml_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    // The wrappers only add a snippet or the place of an alias; the message is in the original.
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let message = match inner {
        // The library's text is a Debug dump of the breach; say what it means for an inventory.
        E::Budget { breach, .. } => budget_message(breach),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => format!(
            "{}: refused to expand so many aliases (a YAML bomb?); an inventory needs only a \
             few anchors and aliases",
            UserMessageFormatter.format_message(inner)
        ),
        // "invalid i64" alone does not say what was expected.
        E::InvalidScalar { ty, .. } if ty.starts_with(['i', 'u']) => {
            format!("invalid {ty}: expected a whole number here")
        }
        // The user-facing formatter: the developer one suggests changing parser options.
        _ => {
            let text = UserMessageFormatter.format_message(inner).into_owned();
            // The parser's own guard against deep nesting (brackets) says nothing of the fix.
            if let Some(plain) = plain_yaml_message(&text) {
                plain
            } else if text.starts_with("value `") && text.ends_with("` is not a finite number") {
                // NaN and infinities are refused by the parser; say what to write instead.
                format!("{text}: give a number, or quote it to make it text")
            } else if text == "recursion limit exceeded" {
                "YAML nested too deeply (brackets or indentation hundreds of levels deep), \
                 refused before parsing further: an inventory needs only a few nesting levels"
                    .to_string()
            } else {
                text
            }
        }
    };
    one_line(&message)
}

/// serde-saphyr's words for a value of the wrong shape name parser events ("expected mapping
/// start"); say which shape was expected, in the words of the file.
pub fn plain_yaml_message(text: &str) -> Option<String> {
    let plain = match text {
        "expected mapping start" => {
            "wrong type: expected a mapping (`key: value` entries) here, not a list or a single \
             value"
        }
        "expected sequence start" => {
            "wrong type: expected a list (`- item` entries, or `[a, b]`) here, not a mapping or \
             a single value"
        }
        "expected string scalar" => {
            "wrong type: expected a single value here, not a list or a mapping"
        }
        _ if text.starts_with("unexpected character") => {
            return Some(format!(
                "{text}: control characters are not allowed in YAML; remove it (or write it as \
                 an escape in a double-quoted string)"
            ));
        }
        _ => return None,
    };
    Some(plain.to_string())
}

fn budget_message(breach: &BudgetBreach) -> String {
    let what = match breach {
        BudgetBreach::Aliases { aliases } => format!("{aliases} aliases"),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors")
        }
        BudgetBreach::Anchors { anchors } => format!("{anchors} anchors"),
        BudgetBreach::Depth { depth } => format!("nesting depth {depth}"),
        BudgetBreach::Events { events } => format!("{events} YAML events"),
        BudgetBreach::Nodes { nodes } => format!("{nodes} YAML nodes"),
        BudgetBreach::Documents { documents } => format!("{documents} documents"),
        other => format!("{other:?}"),
    };
    format!(
        "YAML too large or too complex ({what}), refused before expanding it (a YAML bomb?); \
         an inventory needs only a few anchors, aliases and nesting levels"
    )
}

/// serde-saphyr messages are one line already, but values quoted in them come from the file:
/// keep the promise of one line whatever the file holds.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, column)) => write!(f, "{path}:{line}:{column}: ")?,
            None => write!(f, "{path}: ")?,
        }
        match &self.kind {
            InventoryErrorKind::Read(err) => {
                // "(os error 2)" says nothing more to the user than the text before it.
                let text = err.to_string();
                let text = text.split(" (os error ").next().unwrap_or_default();
                write!(
                    f,
                    "cannot read inventory {path}: {text}: give the path of an inventory file (-i)"
                )
            }
            InventoryErrorKind::TooLarge { len } => write!(
                f,
                "inventory is {len} bytes, more than the {} MiB limit: is this the right file?",
                super::MAX_INVENTORY_BYTES / (1024 * 1024)
            ),
            InventoryErrorKind::NotUtf8 { byte } => write!(
                f,
                "not valid UTF-8 at byte {byte}: save the inventory as UTF-8"
            ),
            InventoryErrorKind::Yaml(message) | InventoryErrorKind::Invalid(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for InventoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            InventoryErrorKind::Read(err) => Some(err),
            _ => None,
        }
    }
}

/// A `--limit` pattern that cannot be used. Messages are one line and name the faulty term.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern has no terms at all (empty, or only separators).
    Empty,
    /// A term is only `!` or `&`.
    EmptyTerm { term: String },
    /// A term has glob characters but is not a valid glob.
    BadGlob { term: String, reason: String },
    /// A term matches no node and no cluster; `nodes` and `clusters` list some names (comma
    /// separated) to help fix a typo.
    NoMatch {
        term: String,
        nodes: String,
        clusters: String,
    },
    /// Every term matched something, but together they select no node.
    NothingSelected { pattern: String },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => f.write_str(
                "--limit: empty pattern: give node names, cluster names or globs separated by ','",
            ),
            PatternError::EmptyTerm { term } => write!(
                f,
                "--limit: '{term}' has nothing after '{term}': write '{term}NAME'"
            ),
            PatternError::BadGlob { term, reason } => {
                write!(f, "--limit: '{term}' is not a valid glob: {reason}")
            }
            PatternError::NoMatch {
                term,
                nodes,
                clusters,
            } => write!(
                f,
                "--limit: '{term}' matches no node or cluster (nodes: {nodes}; clusters: {clusters})"
            ),
            PatternError::NothingSelected { pattern } => write!(
                f,
                "--limit: '{pattern}' selects no node: the exclusions ('!') or intersections ('&') \
                 remove every node"
            ),
        }
    }
}

impl std::error::Error for PatternError {}
