//! Errors of the playbook layer.
//!
//! Every message is one line that starts with `PATH:LINE:COL: ` (or `PATH: ` when no position
//! applies), PATH being the file the problem is in (an included file, not the playbook that
//! includes it), and says what to fix.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::source_file::{self, NotUtf8, ReadError};

/// A playbook (or a file it includes) that could not be read or is not valid.
#[derive(Debug)]
pub struct PlaybookError {
    path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    position: Option<(usize, usize)>,
    kind: PlaybookErrorKind,
}

/// What went wrong; the `Display` of [`PlaybookError`] is the message for the user.
#[derive(Debug)]
#[non_exhaustive]
pub enum PlaybookErrorKind {
    /// The file could not be read (missing, permissions, ...).
    Read(io::Error),
    /// The file is larger than [`super::MAX_PLAYBOOK_BYTES`].
    TooLarge { len: u64 },
    /// The file is not UTF-8; `byte` is the offset of the first bad byte.
    NotUtf8 { byte: usize },
    /// The YAML parser or the deserializer refused the file (syntax, wrong type, duplicate key,
    /// budget): serde-saphyr's own message.
    Yaml(String),
    /// Valid YAML that breaks one of tandem's rules (unknown key, module arguments, includes,
    /// handlers, templates, ...).
    Invalid(String),
}

impl PlaybookError {
    pub(crate) fn new(
        path: &Path,
        position: Option<(usize, usize)>,
        kind: PlaybookErrorKind,
    ) -> Self {
        PlaybookError {
            path: path.to_path_buf(),
            position,
            kind,
        }
    }

    /// A rule broken at `position`.
    pub(crate) fn invalid(path: &Path, position: (usize, usize), message: String) -> Self {
        Self::new(
            path,
            Some(position),
            PlaybookErrorKind::Invalid(one_line(&message)),
        )
    }

    /// A rule broken by the file as a whole.
    pub(crate) fn whole(path: &Path, message: String) -> Self {
        Self::new(path, None, PlaybookErrorKind::Invalid(one_line(&message)))
    }

    /// A serde-saphyr error reduced to one line: location in front, snippet dropped.
    pub(crate) fn from_yaml(path: &Path, err: &serde_saphyr::Error) -> Self {
        Self::new(
            path,
            source_file::error_position(err),
            PlaybookErrorKind::Yaml(source_file::yaml_message(err, "a playbook")),
        )
    }

    /// The file could not be read, or is too large.
    pub(crate) fn from_read(path: &Path, err: ReadError) -> Self {
        let kind = match err {
            ReadError::Io(err) => PlaybookErrorKind::Read(err),
            ReadError::TooLarge { len } => PlaybookErrorKind::TooLarge { len },
        };
        Self::new(path, None, kind)
    }

    /// The file is not UTF-8.
    pub(crate) fn not_utf8(path: &Path, err: NotUtf8) -> Self {
        Self::new(
            path,
            Some(err.position),
            PlaybookErrorKind::NotUtf8 { byte: err.byte },
        )
    }

    /// The file the error is about (the playbook or an included file).
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

    pub fn kind(&self) -> &PlaybookErrorKind {
        &self.kind
    }
}

/// Values quoted in messages come from the file: keep the promise of one line.
pub(crate) use crate::source_file::one_line;

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, column)) => write!(f, "{path}:{line}:{column}: ")?,
            None => write!(f, "{path}: ")?,
        }
        match &self.kind {
            PlaybookErrorKind::Read(err) => {
                let text = source_file::io_message(err);
                write!(
                    f,
                    "cannot read playbook {path}: {text}: give the path of a playbook file"
                )
            }
            PlaybookErrorKind::TooLarge { len } => write!(
                f,
                "playbook is {len} bytes, more than the {} MiB limit: is this the right file?",
                super::MAX_PLAYBOOK_BYTES / (1024 * 1024)
            ),
            PlaybookErrorKind::NotUtf8 { byte } => write!(
                f,
                "not valid UTF-8 at byte {byte}: save the playbook as UTF-8"
            ),
            PlaybookErrorKind::Yaml(message) | PlaybookErrorKind::Invalid(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for PlaybookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            PlaybookErrorKind::Read(err) => Some(err),
            _ => None,
        }
    }
}
