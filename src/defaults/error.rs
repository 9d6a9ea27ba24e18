//! What can be wrong with the standing defaults (`--config`, `tandem.toml`, `TANDEM_*`); each
//! message names the file's line:col or the variable.

use std::path::PathBuf;

use super::Origin;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefaultsError {
    #[error("--config needs a PATH (a tandem.toml file)")]
    ConfigWithoutPath,
    #[error("{}: not a file (from --config or TANDEM_CONFIG)", .path.display())]
    NotAFile { path: PathBuf },
    /// The file named by `--config` or `TANDEM_CONFIG` is not there (or not readable).
    #[error("{}: cannot read it: {reason} (from --config or TANDEM_CONFIG)", .path.display())]
    Missing { path: PathBuf, reason: String },
    #[error("{}: cannot read it: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{name}:{line}:{col}: not valid TOML: {reason}; fix the file or name another with --config"
    )]
    NotToml {
        name: String,
        line: usize,
        col: usize,
        reason: String,
    },
    #[error("{name}:{line}:{col}: `{key}`: a list holds only text, numbers or true/false")]
    ListOfScalars {
        name: String,
        line: usize,
        col: usize,
        key: String,
    },
    #[error(
        "{name}:{line}:{col}: `{key}`: a table or date is not a flag's value: write `key = value` \
         at the top level"
    )]
    NotAScalar {
        name: String,
        line: usize,
        col: usize,
        key: String,
    },
    /// `hint` is "did you mean `forks`?" or where the keys are listed.
    #[error("{name}:{line}:{col}: unknown key `{key}`; {hint}")]
    UnknownKey {
        name: String,
        line: usize,
        col: usize,
        key: String,
        hint: String,
    },
    #[error("{origin}: `{key}` is a key no subcommand of this tandem takes")]
    NoSuchFlag { origin: Origin, key: &'static str },
    #[error("{origin}: `{key}` takes one value, not a list")]
    OneValue { origin: Origin, key: &'static str },
    /// The flag's own parser refused the value; `reason` is clap's.
    #[error("{origin}: `{key}` = {values}: {reason}")]
    BadValue {
        origin: Origin,
        key: &'static str,
        values: String,
        reason: String,
    },
}
