//! Tests of the connector: host-key policies, kex names, handshake errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::ssh::Identity;

/// A key pair made by ssh-keygen in `dir`; `passphrase` empty for none.
fn keygen(dir: &Path, name: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", name, "-N", passphrase, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    path
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-keys-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn target(identities: Vec<Identity>) -> Target {
    Target {
        label: "n1".into(),
        host: "192.0.2.10".into(),
        port: 22,
        user: "root".into(),
        identities,
        jump: None,
        proxy_command: None,
        connect_timeout: Duration::from_secs(1),
        keepalive_interval: Duration::from_secs(1),
    }
}

fn connector() -> Connector {
    let known = KnownHosts::parse("", Path::new("known_hosts"));
    Connector::new(known, HostKeyPolicy::Strict)
}

#[test]
fn default_keys_that_do_not_load_are_left_out_silently() {
    let dir = scratch("defaults");
    let good = keygen(&dir, "id_ed25519", "");
    let encrypted = keygen(&dir, "id_rsa", "an old passphrase nobody gave");
    let garbage = dir.join("id_ecdsa");
    std::fs::write(&garbage, "-----BEGIN NONSENSE-----\n").unwrap();
    let target = target(vec![
        Identity::default_key(good.clone()),
        Identity::default_key(garbage.clone()),
        Identity::default_key(encrypted.clone()),
    ]);
    let mut connector = connector();
    connector.preload_identities([&target]).unwrap();
    assert!(connector.keys.is_loaded(&good));
    assert!(!connector.keys.is_loaded(&garbage));
    assert!(!connector.keys.is_loaded(&encrypted));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_explicit_key_that_does_not_load_is_bad_input() {
    let dir = scratch("explicit");
    let good = keygen(&dir, "id_ed25519", "");
    let garbage = dir.join("deploy_key");
    std::fs::write(&garbage, "-----BEGIN NONSENSE-----\n").unwrap();
    // A working default key does not excuse a broken file the inventory named.
    let target = target(vec![
        Identity::explicit(garbage.clone()),
        Identity::default_key(good),
    ]);
    let err = connector().preload_identities([&target]).unwrap_err();
    match err {
        SshError::Identity { path, .. } => assert_eq!(path, garbage),
        other => panic!("expected an identity error, got {other}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_jump_host_explicit_key_is_checked_too() {
    let dir = scratch("jump");
    let good = keygen(&dir, "id_ed25519", "");
    let missing = dir.join("bastion_key");
    let mut via = target(vec![Identity::default_key(good)]);
    via.jump = Some(Box::new(target(vec![Identity::explicit(missing.clone())])));
    let err = connector().preload_identities([&via]).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
