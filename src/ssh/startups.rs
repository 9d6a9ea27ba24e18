//! Spreading connection set-up over time, so that no sshd sees more connections in key exchange
//! or authentication than it accepts.
//!
//! OpenSSH's MaxStartups (default `10:30:100`) counts connections that are not yet authenticated:
//! past 10, sshd drops 30% of new ones at random, past 100 all of them. With `--forks 50` and
//! one sshd per node that never matters, but several inventory entries can share one sshd (nodes
//! behind one address on different names, or containers reached through their host), and then 50
//! handshakes at once would see a third of them dropped. So handshakes to the same endpoint wait
//! their turn here, and a connection that sshd drops before the key exchange is tried again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::SshError;

/// Handshakes in flight to one sshd. OpenSSH's default MaxStartups starts dropping at 10, but sshd
/// counts a connection until a moment after the client sees it authenticated, so with 8 in flight
/// the lab's sshd still saw an 11th now and then (e2e `startups` test); 4 never did.
pub const HANDSHAKES_PER_SSHD: usize = 4;

/// How many times one connection is tried when sshd drops it before the key exchange.
pub const ATTEMPTS: u32 = 3;

/// One gate per endpoint (`host:port` as dialled; through a jump host, as the jump host dials it).
#[derive(Default)]
pub(super) struct Startups {
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Startups {
    /// Waits for a handshake slot at `endpoint`; the slot is free again when the permit drops
    /// (once authenticated, or failed).
    pub async fn enter(&self, endpoint: &str) -> OwnedSemaphorePermit {
        let gate = self
            .gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(HANDSHAKES_PER_SSHD)))
            .clone();
        gate.acquire_owned()
            .await
            .expect("the gate's semaphore is never closed")
    }
}

/// True for what a MaxStartups drop (or an sshd restarting) looks like from the client: the
/// connection closed before the key exchange finished. A refused host key, a failed
/// authentication or a timeout are not retried: trying again would not change them.
pub(super) fn dropped_before_kex(error: &SshError) -> bool {
    matches!(error, SshError::Disconnected { detail, .. } if detail.starts_with("during key exchange")
        || detail.starts_with("the server closed the connection during key exchange"))
}

/// The pause before attempt `attempt` (2, 3, ...): growing, and jittered so that the connections
/// sshd dropped together do not come back together.
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = 100 * u64::from(attempt.saturating_sub(1));
    Duration::from_millis(base + rand::random_range(0..=base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_endpoint_admits_at_most_its_quota_at_once() {
        let startups = Startups::default();
        let mut held = Vec::new();
        for _ in 0..HANDSHAKES_PER_SSHD {
            held.push(startups.enter("198.18.0.2:22").await);
        }
        let next = tokio::time::timeout(Duration::from_millis(50), startups.enter("198.18.0.2:22"));
        assert!(next.await.is_err(), "a ninth handshake must wait");
        // Another sshd is not held up by the first one's queue.
        let other =
            tokio::time::timeout(Duration::from_millis(50), startups.enter("198.18.0.3:22"));
        assert!(other.await.is_ok());
        held.pop();
        let freed =
            tokio::time::timeout(Duration::from_millis(50), startups.enter("198.18.0.2:22"));
        assert!(freed.await.is_ok(), "a finished handshake frees its slot");
    }

    #[test]
    fn only_early_drops_are_retried() {
        let dropped = SshError::Disconnected {
            addr: "n1".into(),
            detail: "the server closed the connection during key exchange".into(),
        };
        let eof = SshError::Disconnected {
            addr: "n1".into(),
            detail: "during key exchange: unexpected end of file".into(),
        };
        let later = SshError::Disconnected {
            addr: "n1".into(),
            detail: "no answer to keepalives (node down or link cut)".into(),
        };
        let auth = SshError::AuthFailed {
            user: "root".into(),
            addr: "n1".into(),
            tried: vec![],
        };
        assert!(dropped_before_kex(&dropped));
        assert!(dropped_before_kex(&eof));
        assert!(!dropped_before_kex(&later));
        assert!(!dropped_before_kex(&auth));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for _ in 0..100 {
            let second = backoff(2);
            let third = backoff(3);
            assert!(
                (100..=200).contains(&(second.as_millis() as u64)),
                "{second:?}"
            );
            assert!(
                (200..=400).contains(&(third.as_millis() as u64)),
                "{third:?}"
            );
        }
    }
}
