//! Checks of command-line values that clap runs while parsing, so a bad one is a usage error
//! (exit 2) naming the flag before anything is loaded or connected.

use std::path::PathBuf;

/// `-u/--user`: a login name as OpenSSH takes it (no spaces, controls or leading `-`, which
/// would read as an option or split a word).
pub fn login_user(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '$'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(
            "not a login name: letters, digits, '_', '-', '.', '@', at most 64, not starting \
             with '-'"
                .to_string(),
        )
    }
}

/// `--private-key`: a file that can be read now (a missing key found at the first login would
/// fail every node the same way).
pub fn private_key(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err("not a regular file: give the path of a private key file".to_string()),
        Err(e) => {
            let text = e.to_string();
            Err(format!(
                "cannot read it: {}",
                text.split(" (os error ").next().unwrap_or_default()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_that_could_be_options_or_split_are_refused() {
        for good in ["root", "deploy", "ops.team", "svc_1", "ad@corp"] {
            assert_eq!(login_user(good).as_deref(), Ok(good));
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
        assert!(
            private_key("/nonexistent/id_ed25519")
                .unwrap_err()
                .starts_with("cannot read it: No such file")
        );
        assert!(
            private_key("/")
                .unwrap_err()
                .starts_with("not a regular file")
        );
    }
}
