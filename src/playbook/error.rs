//! Errors of the playbook layer.
//!
//! Every message is one line that starts with `PATH:LINE:COL: ` (or `PATH: ` when no position
//! applies), PATH being the file the problem is in (an included file, not the playbook that
//! includes it), and says what to fix.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

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
        let position = err.location().and_then(|loc| {
            let (line, column) = (loc.line(), loc.column());
            // serde-saphyr uses line 0 for "unknown".
            (line > 0).then(|| (line as usize, column.max(1) as usize))
        });
        Self::new(path, position, PlaybookErrorKind::Yaml(yaml_message(err)))
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

/// The message of a serde-saphyr error without location suffix and snippet.
fn yaml_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    // The wrappers only add a snippet or the place of an alias; the message is in the original.
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let message = match inner {
        E::Budget { breach, .. } => budget_message(breach),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => format!(
            "{}: refused to expand so many aliases (a YAML bomb?); a playbook needs only a few \
             anchors and aliases",
            UserMessageFormatter.format_message(inner)
        ),
        _ => {
            let text = UserMessageFormatter.format_message(inner).into_owned();
            // The parser's own guard against deep nesting (brackets) says nothing of the fix.
            if let Some(plain) = crate::inventory::plain_yaml_message(&text) {
                plain
            } else if text == "recursion limit exceeded" {
                "YAML nested too deeply (brackets or indentation hundreds of levels deep), \
                 refused before parsing further: a playbook needs only a few nesting levels"
                    .to_string()
            } else {
                text
            }
        }
    };
    one_line(&message)
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
         a playbook needs only a few anchors, aliases and nesting levels"
    )
}

/// Values quoted in messages come from the file: keep the promise of one line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, column)) => write!(f, "{path}:{line}:{column}: ")?,
            None => write!(f, "{path}: ")?,
        }
        match &self.kind {
            PlaybookErrorKind::Read(err) => {
                let text = err.to_string();
                let text = text.split(" (os error ").next().unwrap_or_default();
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
