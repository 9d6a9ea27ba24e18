//! One connection per jump host for the whole run, shared by every node reached through it.
//!
//! OpenSSH's `ssh -J` opens a new connection to the bastion for every node; 100 nodes behind one
//! bastion would mean 100 logins to it at once, far past its MaxStartups. Here the first node to
//! need the bastion logs in, and every other node opens its tunnel (a `direct-tcpip` channel,
//! which OpenSSH's MaxSessions does not count) over that same connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::SshError;
use super::session::Session;
use super::target::Target;

/// A jump host's connection, or why there is none and since when: a bastion that failed is not
/// tried again by each of its nodes in turn (that would be one connect timeout per node), but
/// it is after [`RETRY_FAILED_AFTER`] (a rollout's later batch, a bastion back from a reboot).
type Slot = Arc<tokio::sync::Mutex<Option<Result<Arc<Session>, (Instant, SshError)>>>>;

pub(super) const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct JumpSessions {
    slots: Mutex<HashMap<String, Slot>>,
}

impl JumpSessions {
    /// The session to `jump`, opened with `open` by the first caller; later callers wait for it
    /// and share it. A session that has since closed (the bastion's sshd restarted) is opened anew.
    pub async fn get<F, Fut>(&self, jump: &Target, open: F) -> Result<Arc<Session>, SshError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Session, SshError>>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(chain_key(jump))
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        match slot.as_ref() {
            Some(Ok(session)) if !session.is_closed() => return Ok(session.clone()),
            Some(Err((when, e))) if when.elapsed() < RETRY_FAILED_AFTER => return Err(e.clone()),
            _ => {}
        }
        let opened = open().await.map(Arc::new);
        *slot = Some(opened.clone().map_err(|e| (Instant::now(), e)));
        opened
    }
}

/// Who logs in where, through which hops: two nodes share a jump session only when all of it
/// matches.
fn chain_key(target: &Target) -> String {
    let mut key = format!("{}@{}:{}", target.user, target.host, target.port);
    let mut hop = Some(target);
    while let Some(current) = hop {
        if current.jump.is_none()
            && let Some(command) = &current.proxy_command
        {
            key.push_str(&format!(" via ProxyCommand {command}"));
        }
        if let Some(jump) = current.jump.as_deref() {
            key.push_str(&format!(" via {}@{}:{}", jump.user, jump.host, jump.port));
        }
        hop = current.jump.as_deref();
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: &str, host: &str, jump: Option<Target>) -> Target {
        Target {
            label: host.into(),
            host: host.into(),
            port: 22,
            user: user.into(),
            identities: vec![],
            jump: jump.map(Box::new),
            proxy_command: None,
            connect_timeout: Duration::from_secs(1),
            keepalive_interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_key_names_user_host_port_and_every_hop() {
        let bastion = target("jump", "bastion", None);
        let via = target("root", "inner", Some(bastion.clone()));
        assert_eq!(chain_key(&bastion), "jump@bastion:22");
        assert_eq!(chain_key(&via), "root@inner:22 via jump@bastion:22");
        assert_ne!(
            chain_key(&target("other", "bastion", None)),
            chain_key(&bastion)
        );
    }

    #[tokio::test]
    async fn a_failed_bastion_is_not_retried_by_each_node() {
        let jumps = JumpSessions::default();
        let bastion = target("jump", "bastion", None);
        let mut tries = 0;
        for _ in 0..3 {
            let got = jumps
                .get(&bastion, || {
                    tries += 1;
                    async {
                        Err(SshError::Refused {
                            addr: "bastion".into(),
                        })
                    }
                })
                .await;
            assert!(matches!(got, Err(SshError::Refused { .. })));
        }
        assert_eq!(tries, 1);
        // Once the failure is old enough (a later batch), it is tried again.
        let key = chain_key(&bastion);
        let slot = jumps.slots.lock().unwrap().get(&key).unwrap().clone();
        *slot.lock().await = Some(Err((
            Instant::now() - RETRY_FAILED_AFTER,
            SshError::Refused {
                addr: "bastion".into(),
            },
        )));
        let _ = jumps
            .get(&bastion, || {
                tries += 1;
                async {
                    Err(SshError::Refused {
                        addr: "bastion".into(),
                    })
                }
            })
            .await;
        assert_eq!(tries, 2);
    }
}
