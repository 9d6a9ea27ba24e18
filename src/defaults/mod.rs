//! Standing defaults for the flags: `tandem.toml` and `TANDEM_<KEY>` variables.
//!
//! Precedence, highest first: the command line, then the environment, then the file, then the
//! built-in default. Both sources become clap defaults of the flag of the same name (see
//! `keys`), so a flag given on the command line always wins and `--help` stays the one place
//! a flag is described. Values are checked here, by the flag's own parser, so a bad one is
//! refused naming the file's line:col or the variable, not a flag the user never typed.

mod apply;
mod error;
mod file;
mod keys;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use error::DefaultsError;
pub use keys::{KEYS, env_name};

/// Where a default came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File {
        name: String,
        line: usize,
        col: usize,
    },
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { name, line, col } => write!(f, "{name}:{line}:{col}"),
            Origin::Env(var) => write!(f, "{var} (environment)"),
        }
    }
}

/// One key's default, after precedence between the environment and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Default {
    pub key: &'static str,
    pub values: Vec<String>,
    pub origin: Origin,
}

/// What the defaults are read from; `from_process` for the real run, made by hand in tests.
pub struct Sources {
    /// The file's path and text, if one was found.
    pub file: Option<(PathBuf, String)>,
    /// `TANDEM_<KEY>` variables that are set (others are ignored: TANDEM_CONFIG, TANDEM_KEX's
    /// older siblings are handled by the flags themselves).
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// The file named by `--config` (in `args`), else `TANDEM_CONFIG`, else the first of
    /// `./tandem.toml` and `~/.config/tandem/tandem.toml`; and the process's `TANDEM_*`.
    pub fn from_process(args: &[OsString]) -> Result<Sources, DefaultsError> {
        let explicit = config_flag(args)?.or_else(|| {
            std::env::var_os("TANDEM_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let file = match file::locate(explicit, home.as_deref())? {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| DefaultsError::Read {
                        path: path.clone(),
                        source,
                    })?;
                Some((path, text))
            }
            None => None,
        };
        let env = KEYS
            .iter()
            .filter_map(|(key, _)| {
                let name = env_name(key);
                std::env::var(&name).ok().map(|v| (name, v))
            })
            .collect();
        Ok(Sources { file, env })
    }
}

/// `--config PATH` or `--config=PATH` before any `--` (clap defines the flag too, for --help;
/// it must be known before clap runs, as it changes clap's defaults).
fn config_flag(args: &[OsString]) -> Result<Option<PathBuf>, DefaultsError> {
    let mut found = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            match iter.next() {
                Some(path) => found = Some(PathBuf::from(path)),
                None => return Err(DefaultsError::ConfigWithoutPath),
            }
        } else if let Some(path) = text.strip_prefix("--config=") {
            found = Some(PathBuf::from(path));
        }
    }
    Ok(found)
}

/// The defaults the sources give, environment over file, each checked against the flag(s)
/// it sets in `command` (unknown keys and bad values are refused with file:line:col or the
/// variable's name).
pub fn resolve(command: &clap::Command, sources: &Sources) -> Result<Vec<Default>, DefaultsError> {
    let mut chosen: Vec<Default> = Vec::new();
    if let Some((path, text)) = &sources.file {
        let name = path.display().to_string();
        let dir = path.parent().unwrap_or(Path::new(""));
        for entry in file::parse(&name, text)? {
            let origin = Origin::File {
                name: name.clone(),
                line: entry.line,
                col: entry.col,
            };
            let Some((key, kind)) = KEYS.iter().find(|(k, _)| *k == entry.key) else {
                let hint = match keys::closest(&entry.key) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => "the keys are the README's (tandem.toml)".to_string(),
                };
                let (line, col) = entry.key_at;
                return Err(DefaultsError::UnknownKey {
                    name,
                    line,
                    col,
                    key: entry.key,
                    hint,
                });
            };
            let values = match kind {
                keys::Kind::Path => entry.values.iter().map(|v| relative_to(dir, v)).collect(),
                keys::Kind::Value => entry.values.clone(),
            };
            chosen.retain(|d| d.key != *key);
            chosen.push(Default {
                key,
                values,
                origin,
            });
        }
    }
    for (name, value) in &sources.env {
        let Some((key, _)) = KEYS.iter().find(|(k, _)| env_name(k) == *name) else {
            continue;
        };
        chosen.retain(|d| d.key != *key);
        chosen.push(Default {
            key,
            values: vec![value.clone()],
            origin: Origin::Env(name.clone()),
        });
    }
    // Built: each flag's value parser is then the one its action really uses.
    let mut built = command.clone();
    built.build();
    for default in &mut chosen {
        apply::check(&built, default)?;
    }
    Ok(chosen)
}

/// `value` as written in a file in `dir`: `~/` is the home directory, a relative path is
/// relative to `dir`.
fn relative_to(dir: &Path, value: &str) -> String {
    if let Some(rest) = value.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return Path::new(&home).join(rest).display().to_string();
    }
    let path = Path::new(value);
    if path.is_absolute() || dir.as_os_str().is_empty() {
        value.to_string()
    } else {
        dir.join(path).display().to_string()
    }
}

/// `command` with the defaults in place (see the module docs).
pub fn apply(command: clap::Command, defaults: &[Default]) -> clap::Command {
    apply::apply(command, defaults)
}
