//! Errors of the inventory layer.
//!
//! Every message is one line that starts with `PATH:LINE:COL: ` (or `PATH: ` when no position
//! applies), so editors and terminals can jump to the spot, and says what to fix.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::settings::SettingError;
use crate::source_file::{self, NotUtf8, ReadError};

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
    /// A cluster setting with a value tandem's commands cannot use.
    Setting(SettingError),
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

    /// A cluster setting refused at `position` (its value).
    pub(crate) fn setting(path: &Path, position: (usize, usize), error: SettingError) -> Self {
        Self::new(path, Some(position), InventoryErrorKind::Setting(error))
    }

    /// A serde-saphyr error, reduced to one line: the location goes in front (as for every other
    /// inventory error) and the multi-line source snippet is dropped, because callers print
    /// errors as single lines and the location is enough to find the spot.
    pub(crate) fn from_yaml(path: &Path, err: &serde_saphyr::Error) -> Self {
        Self::new(
            path,
            source_file::error_position(err),
            InventoryErrorKind::Yaml(source_file::yaml_message(err, "an inventory")),
        )
    }

    /// The file could not be read, or is too large.
    pub(crate) fn from_read(path: &Path, err: ReadError) -> Self {
        let kind = match err {
            ReadError::Io(err) => InventoryErrorKind::Read(err),
            ReadError::TooLarge { len } => InventoryErrorKind::TooLarge { len },
        };
        Self::new(path, None, kind)
    }

    /// The file is not UTF-8.
    pub(crate) fn not_utf8(path: &Path, err: NotUtf8) -> Self {
        Self::new(
            path,
            Some(err.position),
            InventoryErrorKind::NotUtf8 { byte: err.byte },
        )
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

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, column)) => write!(f, "{path}:{line}:{column}: ")?,
            None => write!(f, "{path}: ")?,
        }
        match &self.kind {
            InventoryErrorKind::Read(err) => {
                let text = source_file::io_message(err);
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
            InventoryErrorKind::Setting(error) => error.fmt(f),
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
