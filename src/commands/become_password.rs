//! The become password, from `--become-password-file` or `-K`, read once before connecting.

use std::path::{Path, PathBuf};

use crate::cli::BecomePasswordArgs;
use crate::ssh::BecomePassword;

/// Why no become password could be had; each message names the flag or the file.
#[derive(Debug, thiserror::Error)]
pub enum BecomePasswordError {
    /// `reason` is the I/O error's text without its `(os error N)`.
    #[error("{}: cannot read the become password file: {reason}; check --become-password-file", .path.display())]
    Missing { path: PathBuf, reason: String },
    #[error(
        "{}: not a become password file (a regular file of at most {MAX_FILE} bytes whose first \
         line is the password)",
        .path.display()
    )]
    NotAPasswordFile { path: PathBuf },
    #[error("{}: cannot read the become password file: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{}:1:1: the become password file's first line is empty: write the password there",
        .path.display()
    )]
    EmptyFirstLine { path: PathBuf },
    #[error("-K: cannot ask on a terminal ({0}); use --become-password-file FILE")]
    NoTerminal(std::io::Error),
    #[error("-K: the password is empty")]
    EmptyPrompt,
}

/// Files over this are not a password file (a wrong path, most likely).
const MAX_FILE: u64 = 4096;

pub fn read(args: &BecomePasswordArgs) -> Result<Option<BecomePassword>, BecomePasswordError> {
    read_from(args.become_password_file.as_deref(), args.ask_become_pass)
}

fn read_from(
    file: Option<&Path>,
    ask: bool,
) -> Result<Option<BecomePassword>, BecomePasswordError> {
    if let Some(path) = file {
        return from_file(path).map(Some);
    }
    if !ask {
        return Ok(None);
    }
    let password =
        rpassword::prompt_password("BECOME password: ").map_err(BecomePasswordError::NoTerminal)?;
    if password.is_empty() {
        return Err(BecomePasswordError::EmptyPrompt);
    }
    Ok(Some(BecomePassword::new(password)))
}

/// The first line of the file, without its line ending.
fn from_file(path: &Path) -> Result<BecomePassword, BecomePasswordError> {
    let reason = |e: std::io::Error| {
        e.to_string()
            .split(" (os error ")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let path_buf = || path.to_path_buf();
    let meta = std::fs::metadata(path).map_err(|e| BecomePasswordError::Missing {
        path: path_buf(),
        reason: reason(e),
    })?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(BecomePasswordError::NotAPasswordFile { path: path_buf() });
    }
    let text = std::fs::read_to_string(path).map_err(|e| BecomePasswordError::Unreadable {
        path: path_buf(),
        reason: reason(e),
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(BecomePasswordError::EmptyFirstLine { path: path_buf() });
    }
    Ok(BecomePassword::new(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password_and_an_empty_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("tandem-become-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret word\r\nignored\n").unwrap();
        let got = read_from(Some(&file), false).unwrap().unwrap();
        assert_eq!(got.as_str(), "s3cret word");
        assert_eq!(format!("{got:?}"), "BecomePassword(hidden)");
        std::fs::write(&file, "\nx\n").unwrap();
        let err = read_from(Some(&file), false).unwrap_err().to_string();
        assert!(
            err.contains(":1:1: the become password file's first line is empty"),
            "{err}"
        );
        let err = read_from(Some(&dir.join("missing")), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read the become password file"),
            "{err}"
        );
        assert!(read_from(None, false).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
