//! Public-key authentication: identity files first, then ssh-agent.
//!
//! Identity files are read and decrypted once per run and shared by every connection
//! (100 nodes must not mean 100 passphrase prompts or 100 decryptions). The passphrase comes
//! from `TANDEM_KEY_PASSPHRASE` or a prompt on the terminal, never from a command line.
//! Files named by the inventory or ~/.ssh/config must work; OpenSSH's default keys are used
//! when they load and silently left out when they do not, as `ssh` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::Mutex;

use super::error::SshError;
use super::target::Identity;

pub const PASSPHRASE_ENV: &str = "TANDEM_KEY_PASSPHRASE";

/// Decrypted identity files, shared by all connections of a run.
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<PathBuf, Slot>>,
}

/// What became of one identity file.
enum Slot {
    Loaded(Arc<PrivateKey>),
    /// A default key that needs a passphrase nobody gave: not offered.
    Encrypted,
    /// A default key that cannot be read or parsed: not offered.
    Unusable,
}

impl KeyCache {
    /// Loads (once) the private key at `path`, asking for its passphrase if needed.
    pub async fn get(&self, path: &Path) -> Result<Arc<PrivateKey>, SshError> {
        // Holding the lock while loading serialises prompts: one question per key, not per host.
        let mut keys = self.keys.lock().await;
        if let Some(Slot::Loaded(key)) = keys.get(path) {
            return Ok(key.clone());
        }
        let owned = path.to_path_buf();
        let key = tokio::task::spawn_blocking(move || load_identity(&owned))
            .await
            .map_err(|e| SshError::Identity {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })??;
        let key = Arc::new(key);
        keys.insert(path.to_path_buf(), Slot::Loaded(key.clone()));
        Ok(key)
    }

    /// The default key at `path` if it loads without asking anyone, else `None`. Normally
    /// settled by [`KeyCache::preload_default`]; loaded here when nothing was preloaded.
    pub async fn get_default(&self, path: &Path) -> Option<Arc<PrivateKey>> {
        let mut keys = self.keys.lock().await;
        if !keys.contains_key(path) {
            let owned = path.to_path_buf();
            let slot = tokio::task::spawn_blocking(move || load_default_identity(&owned))
                .await
                .unwrap_or(Slot::Unusable);
            keys.insert(path.to_path_buf(), slot);
        }
        match keys.get(path) {
            Some(Slot::Loaded(key)) => Some(key.clone()),
            _ => None,
        }
    }
}

impl KeyCache {
    /// Loads `path` before any connection, so an identity file that cannot be used is bad
    /// input (exit 2, nothing sent to any node) instead of the same failure found on every node
    /// after its key exchange. An encrypted key with no passphrase at hand is left for later
    /// when ssh-agent runs: the agent may hold it.
    pub fn preload(&mut self, path: &Path) -> Result<(), SshError> {
        let keys = self.keys.get_mut();
        if let Some(Slot::Loaded(_)) = keys.get(path) {
            return Ok(());
        }
        if agent_runs()
            && std::env::var_os(PASSPHRASE_ENV).is_none()
            && !std::io::IsTerminal::is_terminal(&std::io::stdin())
            && matches!(
                russh::keys::load_secret_key(path, None),
                Err(russh::keys::Error::KeyIsEncrypted)
            )
        {
            return Ok(());
        }
        let key = load_identity(path)?;
        keys.insert(path.to_path_buf(), Slot::Loaded(Arc::new(key)));
        Ok(())
    }

    /// Loads an OpenSSH default key if it can be without asking anyone (no passphrase, or
    /// `TANDEM_KEY_PASSPHRASE` opens it); otherwise it is left out, as `ssh` leaves out a
    /// default key it cannot use. Never an error: nobody named this file.
    pub fn preload_default(&mut self, path: &Path) {
        let keys = self.keys.get_mut();
        if !keys.contains_key(path) {
            keys.insert(path.to_path_buf(), load_default_identity(path));
        }
    }

    pub fn is_loaded(&mut self, path: &Path) -> bool {
        matches!(self.keys.get_mut().get(path), Some(Slot::Loaded(_)))
    }

    /// A default key left out only for want of its passphrase.
    pub fn is_encrypted(&mut self, path: &Path) -> bool {
        matches!(self.keys.get_mut().get(path), Some(Slot::Encrypted))
    }
}

/// ssh-agent is there to ask (whether it holds a key is only known by asking).
pub fn agent_runs() -> bool {
    std::env::var_os("SSH_AUTH_SOCK").is_some()
}

fn load_default_identity(path: &Path) -> Slot {
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => Slot::Loaded(Arc::new(key)),
        Err(russh::keys::Error::KeyIsEncrypted) => std::env::var(PASSPHRASE_ENV)
            .ok()
            .and_then(|passphrase| russh::keys::load_secret_key(path, Some(&passphrase)).ok())
            .map_or(Slot::Encrypted, |key| Slot::Loaded(Arc::new(key))),
        Err(_) => Slot::Unusable,
    }
}

fn load_identity(path: &Path) -> Result<PrivateKey, SshError> {
    let err = |detail: String| SshError::Identity {
        path: path.to_path_buf(),
        detail,
    };
    match russh::keys::load_secret_key(path, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let passphrase = match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => p,
                Err(_) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                    rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
                        .map_err(|e| err(format!("cannot read the passphrase: {e}")))?
                }
                Err(_) => {
                    return Err(err(format!(
                        "the key is encrypted; set {PASSPHRASE_ENV}, run tandem from a terminal, or add the key \
                         to ssh-agent"
                    )));
                }
            };
            russh::keys::load_secret_key(path, Some(&passphrase))
                .map_err(|_| err("wrong passphrase (or the key cannot be decrypted)".into()))
        }
        Err(russh::keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(err(format!(
                "no such file: fix the `identity` path in the inventory, or create the key with \
                 `ssh-keygen -t ed25519 -f {}`",
                path.display()
            )))
        }
        Err(russh::keys::Error::IO(e)) => Err(err(e.to_string())),
        Err(_) if is_public_key(path) => Err(err(format!(
            "this is a public key: point `identity` at the private key{}",
            path.to_str()
                .and_then(|p| p.strip_suffix(".pub"))
                .map(|private| format!(" ({private})"))
                .unwrap_or_default()
        ))),
        Err(e) => Err(err(format!(
            "not a private key OpenSSH can read ({e}): point `identity` at an OpenSSH or PEM \
             private key"
        ))),
    }
}

/// A file that starts like an OpenSSH public key line (`ssh-ed25519 AAAA...`).
fn is_public_key(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..read]);
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|prefix| head.starts_with(prefix))
}

/// Tries the agent's keys, then each identity file; `Ok(())` once the server accepts one.
pub async fn authenticate<H: russh::client::Handler>(
    handle: &mut Handle<H>,
    user: &str,
    addr: &str,
    identities: &[Identity],
    keys: &KeyCache,
) -> Result<(), SshError> {
    let mut tried = Vec::new();
    let protocol = |e: russh::Error| SshError::Protocol {
        addr: addr.to_string(),
        detail: e.to_string(),
    };

    // Identity files first: they are what the inventory asked for, and offering many
    // agent keys first can exhaust the server's MaxAuthTries before the right one comes.
    let mut identity_errors = Vec::new();
    for identity in identities {
        let path = &identity.path;
        let key = if identity.explicit {
            match keys.get(path).await {
                Ok(key) => key,
                Err(e) => {
                    identity_errors.push(e);
                    continue;
                }
            }
        } else {
            match keys.get_default(path).await {
                Some(key) => key,
                None => continue,
            }
        };
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(protocol)?
                .flatten()
        } else {
            None
        };
        let result = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(protocol)?;
        if result.success() {
            return Ok(());
        }
        tried.push(path.display().to_string());
    }

    if agent_runs()
        && let Ok(mut agent) = AgentClient::connect_env().await
        && let Ok(identities) = agent.request_identities().await
    {
        for identity in identities {
            let public = identity.public_key().into_owned();
            let hash = if public.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(protocol)?
                    .flatten()
            } else {
                None
            };
            let label = format!("agent key {}", public.fingerprint(Default::default()));
            match handle
                .authenticate_publickey_with(user, public, hash, &mut agent)
                .await
            {
                Ok(result) if result.success() => return Ok(()),
                Ok(_) | Err(_) => tried.push(label),
            }
        }
    }

    // A key we could not even load is the more useful thing to report than "refused".
    if tried.is_empty()
        && let Some(e) = identity_errors.into_iter().next()
    {
        return Err(e);
    }
    Err(SshError::AuthFailed {
        user: user.to_string(),
        addr: addr.to_string(),
        tried,
    })
}
