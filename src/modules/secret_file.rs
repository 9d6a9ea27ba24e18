//! A secret kept in a local file on the controller (root only), created once with a random
//! value the first time a step asks for it: the OpenSVC cluster's secret. Its value is only ever
//! rendered into a file's payload (which travels on the ssh channel's stdin): never on a command
//! line, never in the inventory, never in a diff (a step that reads one shows no diff).

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The secret in PATH, or a new one (32 hex digits, as OpenSVC makes them) written there first.
/// Two steps creating it at once agree: the file appears whole under its name (a hard link of a
/// complete temporary file), and the one that loses reads the winner's.
pub fn load_or_create(path: &Path) -> Result<String, String> {
    if !path.is_absolute() {
        return Err(format!(
            "secret file {} is not an absolute path",
            path.display()
        ));
    }
    match fs::symlink_metadata(path) {
        Ok(_) => read(path),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            create(path)?;
            read(path)
        }
        Err(e) => Err(format!(
            "cannot read the secret file {}: {e}",
            path.display()
        )),
    }
}

fn read(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = fs::symlink_metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "the secret file {shown} is not a regular file: remove it (tandem makes a new one) or put the secret there"
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "refusing the secret file {shown}: others can read it (mode {:o}): chmod 600 {shown}",
            meta.mode() & 0o777
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let secret = text.trim();
    if secret.is_empty() || secret.contains(char::is_whitespace) {
        return Err(format!(
            "the secret file {shown} must hold one word (the secret) on one line: remove it to have tandem make a new one"
        ));
    }
    Ok(secret.to_string())
}

fn create(path: &Path) -> Result<(), String> {
    let shown = path.display();
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
    made.map_err(|e| format!("cannot create the secret file {shown}: {e}"))
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
        let err = load_or_create(&path).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), "abc");
        fs::write(&path, "\n").unwrap();
        assert!(load_or_create(&path).unwrap_err().contains("one word"));
        assert!(load_or_create(Path::new("rel")).is_err());
    }
}
