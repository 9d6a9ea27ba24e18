//! The become password, from `--become-password-file` or `-K`, read once before connecting.

use std::path::Path;

use crate::cli::BecomePasswordArgs;
use crate::error::Error;
use crate::ssh::BecomePassword;

/// Files over this are not a password file (a wrong path, most likely).
const MAX_FILE: u64 = 4096;

pub fn read(args: &BecomePasswordArgs) -> Result<Option<BecomePassword>, Error> {
    read_from(args.become_password_file.as_deref(), args.ask_become_pass)
}

fn read_from(file: Option<&Path>, ask: bool) -> Result<Option<BecomePassword>, Error> {
    if let Some(path) = file {
        return from_file(path).map(Some).map_err(Error::Usage);
    }
    if !ask {
        return Ok(None);
    }
    let password = rpassword::prompt_password("BECOME password: ").map_err(|e| {
        Error::Usage(format!(
            "-K: cannot ask on a terminal ({e}); use --become-password-file FILE"
        ))
    })?;
    if password.is_empty() {
        return Err(Error::Usage("-K: the password is empty".into()));
    }
    Ok(Some(BecomePassword::new(password)))
}

/// The first line of the file, without its line ending.
fn from_file(path: &Path) -> Result<BecomePassword, String> {
    let shown = path.display();
    let reason = |e: std::io::Error| {
        e.to_string()
            .split(" (os error ")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "{shown}: cannot read the become password file: {}; check --become-password-file",
            reason(e)
        )
    })?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(format!(
            "{shown}: not a become password file (a regular file of at most {MAX_FILE} bytes \
             whose first line is the password)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{shown}: cannot read the become password file: {}",
            reason(e)
        )
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(format!(
            "{shown}:1:1: the become password file's first line is empty: write the password there"
        ));
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
