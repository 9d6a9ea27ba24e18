//! A secret kept in a local file on the controller (root only), created once with a random
//! value the first time a step asks for it: the OpenSVC cluster's secret. Its value is only ever
//! rendered into a file's payload (which travels on the ssh channel's stdin): never on a command
//! line, never in the inventory, never in a diff (a step that reads one shows no diff).

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A secret file tandem will not use (or could not make); `Display` says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("secret file {} is not an absolute path", .path.display())]
    NotAbsolute { path: PathBuf },
    /// Its metadata could not be read (other than "missing", which makes a new one).
    #[error("cannot read the secret file {}: {source}", .path.display())]
    Inspect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the secret file {} is not a regular file: remove it (tandem makes a new one) or put the secret there",
        .path.display()
    )]
    NotAFile { path: PathBuf },
    #[error(
        "refusing the secret file {shown}: others can read it (mode {mode:o}): chmod 600 {shown}",
        shown = .path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "the secret file {} must hold one word (the secret) on one line: remove it to have tandem make a new one",
        .path.display()
    )]
    NotOneWord { path: PathBuf },
    #[error("cannot create the secret file {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The secret in PATH, or a new one (32 hex digits, as OpenSVC makes them) written there first.
/// Two steps creating it at once agree: the file appears whole under its name (a hard link of a
/// complete temporary file), and the one that loses reads the winner's.
pub fn load_or_create(path: &Path) -> Result<String, SecretFileError> {
    if !path.is_absolute() {
        return Err(SecretFileError::NotAbsolute { path: path.into() });
    }
    match fs::symlink_metadata(path) {
        Ok(_) => read(path),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            create(path)?;
            read(path)
        }
        Err(source) => Err(SecretFileError::Inspect {
            path: path.into(),
            source,
        }),
    }
}

fn read(path: &Path) -> Result<String, SecretFileError> {
    let unreadable = |source| SecretFileError::Read {
        path: path.into(),
        source,
    };
    let meta = fs::symlink_metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile { path: path.into() });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(SecretFileError::Exposed {
            path: path.into(),
            mode: meta.mode() & 0o777,
        });
    }
    let text = fs::read_to_string(path).map_err(unreadable)?;
    let secret = text.trim();
    if secret.is_empty() || secret.contains(char::is_whitespace) {
        return Err(SecretFileError::NotOneWord { path: path.into() });
    }
    Ok(secret.to_string())
}

fn create(path: &Path) -> Result<(), SecretFileError> {
    let secret = format!("{:032x}", rand::random::<u128>());
    // Unique per call, not per process: both nodes' steps run in this one process, and a shared
    // temporary name let one remove or link the other's half-written file.
    let tmp = path.with_file_name(format!(
        ".{}.{}.{:016x}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{secret}\n").as_bytes())?;
        f.sync_all()
    };
    let _ = fs::remove_file(&tmp);
    let made = write().and_then(|()| match fs::hard_link(&tmp, path) {
        // Another step made it first: theirs is the secret.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&tmp);
    made.map_err(|source| SecretFileError::Create {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testing::Local;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_root_only_then_read_back() {
        let t = Local::new();
        let path = t.path("pair1.opensvc-secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "kept, not made again"
        );
        let dir = path.parent().unwrap();
        assert_eq!(
            fs::read_dir(dir).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_readable_or_empty_file_is_refused_with_what_to_do() {
        let t = Local::new();
        let path = t.path("s");
        fs::write(&path, "abc\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "refusing the secret file {p}: others can read it (mode 644): chmod 600 {p}",
                p = path.display()
            )
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), "abc");
        fs::write(&path, "\n").unwrap();
        assert!(
            load_or_create(&path)
                .unwrap_err()
                .to_string()
                .contains("one word")
        );
        assert!(load_or_create(Path::new("rel")).is_err());
    }
}
