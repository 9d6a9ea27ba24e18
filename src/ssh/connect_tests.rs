//! Tests of the connector: host-key policies, kex names, handshake errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::ssh::target::Identity;

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

/// A handler for `host:port` checking against a known_hosts file in `dir`, telling `heard` of
/// every key it learns.
fn handler(
    dir: &Path,
    port: u16,
    policy: HostKeyPolicy,
    heard: &Arc<Mutex<Vec<LearnedHostKey>>>,
) -> ClientHandler {
    let heard = heard.clone();
    ClientHandler {
        host: "192.0.2.10".into(),
        port,
        known_hosts: Arc::new(KnownHosts::load(&dir.join("known_hosts")).unwrap()),
        policy,
        on_learned: Some(OnHostKeyLearned::new(move |learned| {
            heard.lock().unwrap().push(learned.clone())
        })),
        disconnect: Arc::new(Mutex::new(None)),
    }
}

fn offered(dir: &Path, name: &str) -> PublicKeyOrCertificate {
    let path = keygen(dir, name, "");
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    PublicKeyOrCertificate::PublicKey {
        key: russh::keys::PublicKey::from_openssh(&text).unwrap(),
        hash_alg: None,
    }
}

#[tokio::test]
async fn a_learned_host_key_is_told_to_the_caller_never_printed_here() {
    use client::Handler;
    let dir = scratch("learned");
    let heard = Arc::new(Mutex::new(Vec::new()));
    let key = offered(&dir, "host_key");
    let PublicKeyOrCertificate::PublicKey { key: public, .. } = &key else {
        unreachable!()
    };
    let print = fingerprint(public);
    let mut learning = handler(&dir, 2222, HostKeyPolicy::AcceptNew, &heard);
    assert!(learning.check_server_key(&key).await.unwrap());
    let learned = heard.lock().unwrap().clone();
    assert_eq!(
        learned,
        vec![LearnedHostKey {
            host: "[192.0.2.10]:2222".into(),
            fingerprint: print.clone(),
            known_hosts: dir.join("known_hosts"),
        }]
    );
    assert_eq!(
        learned[0].to_string(),
        format!(
            "permanently added [192.0.2.10]:2222 ({print}) to {}",
            dir.join("known_hosts").display()
        )
    );
    // Known now: nothing more to tell, under either policy.
    for policy in [HostKeyPolicy::AcceptNew, HostKeyPolicy::Strict] {
        let mut again = handler(&dir, 2222, policy, &heard);
        assert!(again.check_server_key(&key).await.unwrap());
    }
    assert_eq!(heard.lock().unwrap().len(), 1);
    // Refused under strict checking: nothing learned, nothing told.
    let mut strict = handler(&dir, 22, HostKeyPolicy::Strict, &heard);
    assert!(strict.check_server_key(&key).await.is_err());
    assert_eq!(heard.lock().unwrap().len(), 1);
}
