//! The one error type of the lab. Every message is a single line that tells the user what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum LabError {
    /// The lab creates network namespaces, interfaces and mounts.
    NotRoot,
    /// A program the lab runs is not installed.
    MissingProgram {
        program: &'static str,
        package: &'static str,
    },
    /// A bad value on the command line or in the API call.
    Usage(String),
    /// `up` on a directory whose lab still runs.
    AlreadyRunning { dir: PathBuf, slot: u16 },
    /// `load`/`status` on a directory that holds no (complete) lab.
    NoLab { dir: PathBuf, why: String },
    /// All 511 slots are taken by running labs.
    NoFreeSlot,
    /// A file system operation failed.
    Io { what: String, source: io::Error },
    /// A program the lab ran failed.
    Command { what: String, detail: String },
    /// A node did not come up (its sshd never answered, its init died, ...).
    Node { node: String, detail: String },
    /// The lab does not know this node name.
    UnknownNode(String),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> LabError {
        LabError::Io {
            what: what.into(),
            source,
        }
    }

    /// Exit status for the CLI: 2 for every lab error (clap uses 2 for usage errors too).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::NotRoot => write!(
                f,
                "tandem-lab needs root: it creates network namespaces and mounts"
            ),
            LabError::MissingProgram { program, package } => write!(
                f,
                "`{program}` is not installed: run `apt-get install {package}`"
            ),
            LabError::Usage(msg) => write!(f, "{msg}"),
            LabError::AlreadyRunning { dir, slot } => write!(
                f,
                "{} already holds a running lab (slot {slot}): run `tandem-lab down --dir {}` first",
                dir.display(),
                dir.display()
            ),
            LabError::NoLab { dir, why } => {
                write!(f, "no usable lab in {}: {why}", dir.display())
            }
            LabError::NoFreeSlot => write!(
                f,
                "all 511 lab slots are in use: take some labs down (`tandem-lab down --dir DIR`)"
            ),
            LabError::Io { what, source } => write!(f, "{what}: {source}"),
            LabError::Command { what, detail } => {
                write!(f, "{what} failed: {}", one_line(detail))
            }
            LabError::Node { node, detail } => write!(f, "node {node}: {}", one_line(detail)),
            LabError::UnknownNode(name) => write!(f, "the lab has no node named {name:?}"),
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Folds a multi-line detail (a command's stderr, a log tail) into one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}
