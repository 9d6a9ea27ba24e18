//! Checks of command-line values that clap runs while parsing, so a bad one is a usage error
//! (exit 2) naming the flag before anything is loaded or connected.

use std::path::PathBuf;

/// A flag's value refused while parsing; clap puts the flag and the value before it.
#[derive(Debug, thiserror::Error)]
pub enum CliValueError {
    #[error(
        "not a login name: letters, digits, '_', '-', '.', '@', at most 64, not starting with '-'"
    )]
    NotALoginName,
    #[error("not a regular file: give the path of a private key file")]
    NotAFile,
    /// The io error's words without its "(os error N)": the flag's message stays readable.
    #[error("cannot read it: {}", crate::source_file::io_message(.0))]
    Unreadable(std::io::Error),
}

/// `-u/--user`: a login name as OpenSSH takes it (no spaces, controls or leading `-`, which
/// would read as an option or split a word).
pub fn login_user(value: &str) -> Result<String, CliValueError> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '$'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(CliValueError::NotALoginName)
    }
}

/// `--private-key`: a file that can be read now (a missing key found at the first login would
/// fail every node the same way).
pub fn private_key(value: &str) -> Result<PathBuf, CliValueError> {
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(CliValueError::NotAFile),
        Err(e) => Err(CliValueError::Unreadable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_that_could_be_options_or_split_are_refused() {
        for good in ["root", "deploy", "ops.team", "svc_1", "ad@corp"] {
            assert_eq!(login_user(good).unwrap(), good);
        }
        for bad in [
            "",
            "-oProxyCommand=x",
            "a b",
            "root\n",
            "é",
            &"x".repeat(65),
        ] {
            assert!(login_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_private_key_must_be_a_readable_file() {
        assert_eq!(
            private_key("/nonexistent/id_ed25519")
                .unwrap_err()
                .to_string(),
            "cannot read it: No such file or directory"
        );
        assert_eq!(
            private_key("/").unwrap_err().to_string(),
            "not a regular file: give the path of a private key file"
        );
    }
}
