//! Opening one authenticated SSH connection per node: TCP (or a ProxyJump tunnel), key
//! exchange, host-key verification against known_hosts, then public-key authentication.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use russh::client::{self, DisconnectReason};
use russh::kex;
use russh::keys::PublicKeyOrCertificate;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use super::auth::{self, KeyCache};
use super::error::SshError;
use super::jumps::JumpSessions;
use super::known_hosts::{KnownHosts, Verdict, fingerprint};
use super::proxy_command;
use super::session::Session;
use super::startups::{self, Startups};
use super::stream::QuickAckStream;
use super::target::Target;

/// What to do with a host whose key is not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse (the default), with the command that adds the key.
    Strict,
    /// Record it and go on, like OpenSSH's `StrictHostKeyChecking=accept-new`. A changed key is
    /// still refused.
    AcceptNew,
}

/// A host key recorded in known_hosts under [`HostKeyPolicy::AcceptNew`]. The SSH layer never
/// prints: whoever drives it is told through [`OnHostKeyLearned`] and says it to the user
/// (OpenSSH's "Permanently added ..."); `Display` is that sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedHostKey {
    /// As known_hosts names it: `host`, or `[host]:port` off port 22.
    pub host: String,
    pub fingerprint: String,
    pub known_hosts: PathBuf,
}

impl fmt::Display for LearnedHostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "permanently added {} ({}) to {}",
            self.host,
            self.fingerprint,
            self.known_hosts.display()
        )
    }
}

/// Called from the connection's task each time a host key is learned.
#[derive(Clone)]
pub struct OnHostKeyLearned(Arc<dyn Fn(&LearnedHostKey) + Send + Sync>);

impl OnHostKeyLearned {
    pub fn new(callback: impl Fn(&LearnedHostKey) + Send + Sync + 'static) -> OnHostKeyLearned {
        OnHostKeyLearned(Arc::new(callback))
    }
}

impl fmt::Debug for OnHostKeyLearned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnHostKeyLearned(..)")
    }
}

/// Our key-exchange preference (DESIGN.md section 2): post-quantum hybrid where the server has
/// it (OpenSSH >= 9.9), else curve25519, which is 2.6x cheaper on the server than OpenSSH's
/// default sntrup761 hybrid when 100 nodes log in at once.
pub const DEFAULT_KEX: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group14-sha256",
];

/// Protocol extensions that must stay in the kex list whatever order the user picks.
const KEX_EXTENSIONS: &[kex::Name] = &[
    kex::EXTENSION_SUPPORT_AS_CLIENT,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
];

/// Keepalives sent unanswered before the node is declared lost: russh gives up when the next
/// interval passes, so a silent node is lost after `lost_after` (4 intervals).
const KEEPALIVE_MAX: usize = 3;

/// How long a node may stay silent before its connection is declared lost.
pub fn lost_after(keepalive_interval: Duration) -> Duration {
    keepalive_interval * (KEEPALIVE_MAX as u32 + 1)
}

/// Most channels open at once on one connection: OpenSSH's MaxSessions defaults to 10.
pub const MAX_CHANNELS: usize = 8;

/// Shared by every connection of a run.
pub struct Connector {
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
    on_learned: Option<OnHostKeyLearned>,
    kex: Vec<kex::Name>,
    keys: KeyCache,
    startups: Startups,
    jumps: JumpSessions,
}

/// A `--kex` name russh does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "--kex: unknown key-exchange algorithm '{name}' (supported: {})",
    DEFAULT_KEX.join(", ")
)]
pub struct UnknownKex {
    pub name: String,
}

impl Connector {
    pub fn new(known_hosts: KnownHosts, policy: HostKeyPolicy) -> Connector {
        let kex = DEFAULT_KEX
            .iter()
            .filter_map(|n| kex::Name::try_from(*n).ok())
            .collect();
        Connector {
            known_hosts: Arc::new(known_hosts),
            policy,
            on_learned: None,
            kex,
            keys: KeyCache::default(),
            startups: Startups::default(),
            jumps: JumpSessions::default(),
        }
    }

    /// Tells `callback` of every host key recorded under [`HostKeyPolicy::AcceptNew`].
    pub fn on_host_key_learned(mut self, callback: OnHostKeyLearned) -> Connector {
        self.on_learned = Some(callback);
        self
    }

    /// Replaces the key-exchange preference. Unknown names are an error naming the valid ones.
    pub fn with_kex(mut self, names: &[String]) -> Result<Connector, UnknownKex> {
        let mut kex = Vec::new();
        for name in names {
            match kex::Name::try_from(name.as_str()) {
                Ok(n) => kex.push(n),
                Err(_) => return Err(UnknownKex { name: name.clone() }),
            }
        }
        self.kex = kex;
        Ok(self)
    }

    /// Loads every identity file the targets (and their jump hosts) will offer, before any
    /// connection. Explicit ones must load ([`KeyCache::preload`]); OpenSSH's default keys are
    /// kept when they load without asking anyone and left out otherwise. An encrypted default
    /// key is asked for (or, with no terminal, reported) only when a host has nothing else to
    /// offer: no explicit identity, no agent, no default key that loaded. `ssh` asks when it
    /// gets to that key; asking up front for keys that will never be needed would be worse.
    pub fn preload_identities<'t>(
        &mut self,
        targets: impl IntoIterator<Item = &'t Target>,
    ) -> Result<(), SshError> {
        let mut hops: Vec<&Target> = Vec::new();
        for target in targets {
            let mut hop = Some(target);
            while let Some(current) = hop {
                hops.push(current);
                hop = current.jump.as_deref();
            }
        }
        let all = || hops.iter().flat_map(|hop| &hop.identities);
        for identity in all().filter(|i| i.explicit) {
            self.keys.preload(&identity.path)?;
        }
        for identity in all().filter(|i| !i.explicit) {
            self.keys.preload_default(&identity.path);
        }
        if auth::agent_runs() {
            return Ok(());
        }
        for hop in &hops {
            let has_candidate = hop
                .identities
                .iter()
                .any(|i| i.explicit || self.keys.is_loaded(&i.path));
            if has_candidate {
                continue;
            }
            let last_resort = hop
                .identities
                .iter()
                .find(|i| self.keys.is_encrypted(&i.path));
            if let Some(identity) = last_resort {
                self.keys.preload(&identity.path)?;
            }
        }
        Ok(())
    }

    fn client_config(&self, target: &Target) -> Arc<client::Config> {
        let mut kex = self.kex.clone();
        kex.extend_from_slice(KEX_EXTENSIONS);
        let preferred = russh::Preferred {
            kex: kex.into(),
            ..Default::default()
        };
        Arc::new(client::Config {
            preferred,
            nodelay: true,
            // Never an inactivity timeout: it would cut a long-running command. Dead peers are
            // found by keepalives instead (interval x 3 unanswered).
            inactivity_timeout: None,
            keepalive_interval: Some(target.keepalive_interval),
            keepalive_max: KEEPALIVE_MAX,
            ..Default::default()
        })
    }

    /// Connects and authenticates; the session then lives for the whole run. Through a jump
    /// host, the tunnel rides the run's one connection to it ([`JumpSessions`]). The handshake
    /// waits for a slot at its sshd ([`Startups`]), and one that sshd drops before the key
    /// exchange is tried again, a bounded number of times within the connect timeout.
    pub fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Session, SshError>> {
        Box::pin(async move {
            let via = match &target.jump {
                None => None,
                Some(jump) => Some(self.jumps.get(jump, || self.connect(jump)).await?),
            };
            let started = Instant::now();
            let mut attempt = 1;
            loop {
                let result = {
                    let _slot = self.startups.enter(&target.addr()).await;
                    self.attempt(target, via.clone()).await
                };
                match result {
                    Err(e) if startups::dropped_before_kex(&e) && attempt < startups::ATTEMPTS => {
                        attempt += 1;
                        let pause = startups::backoff(attempt);
                        if started.elapsed() + pause >= target.connect_timeout {
                            return Err(e);
                        }
                        tokio::time::sleep(pause).await;
                    }
                    other => return other,
                }
            }
        })
    }

    /// One try: TCP (or a tunnel through `via`), key exchange, authentication.
    async fn attempt(
        &self,
        target: &Target,
        via: Option<Arc<Session>>,
    ) -> Result<Session, SshError> {
        if via.is_none()
            && let Some(command) = &target.proxy_command
        {
            return self.through_proxy_command(target, command).await;
        }
        let Some(via) = via else {
            let tcp = tcp_connect(&target.host, target.port, target.connect_timeout).await?;
            // russh checks keepalives only between writes: a write blocked on a peer that
            // stopped acknowledging (link cut or node frozen in the middle of a large file)
            // would wait for TCP's own give-up, about 15 minutes. The kernel's user timeout
            // ends it on the keepalives' bound instead. Best effort: without it only that
            // corner case is slower.
            let _ = socket2::SockRef::from(&tcp)
                .set_tcp_user_timeout(Some(lost_after(target.keepalive_interval)));
            return self.handshake(target, QuickAckStream::new(tcp), None).await;
        };
        let channel = via
            .handle()
            .channel_open_direct_tcpip(target.host.clone(), u32::from(target.port), "127.0.0.1", 0)
            .await
            .map_err(|e| SshError::Unreachable {
                addr: target.addr(),
                detail: format!("jump host {} could not open a tunnel: {e}", via.addr()),
            })?;
        self.handshake(target, channel.into_stream(), Some(via))
            .await
    }

    /// One try through `ProxyCommand`: the command is the transport, and what it said on
    /// stderr goes into the error when the connection fails.
    async fn through_proxy_command(
        &self,
        target: &Target,
        command: &str,
    ) -> Result<Session, SshError> {
        let addr = target.addr();
        let (stream, said) = proxy_command::spawn(command).map_err(|e| SshError::Unreachable {
            addr: addr.clone(),
            detail: format!("ProxyCommand `{command}` could not start: {e}"),
        })?;
        self.handshake(target, stream, None).await.map_err(|e| {
            let detail = match said.tail() {
                Some(text) => format!("through ProxyCommand `{command}`: {e} (it said: {text})"),
                None => format!("through ProxyCommand `{command}`: {e}"),
            };
            match e {
                // Refusals of ours (host key, authentication) are not about the transport.
                SshError::HostKeyUnknown { .. }
                | SshError::HostKeyChanged { .. }
                | SshError::HostKeyRevoked { .. }
                | SshError::AuthFailed { .. }
                | SshError::Identity { .. } => e,
                _ => SshError::Unreachable { addr, detail },
            }
        })
    }

    async fn handshake<S>(
        &self,
        target: &Target,
        stream: S,
        via: Option<Arc<Session>>,
    ) -> Result<Session, SshError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let addr = target.addr();
        let disconnect = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            host: target.host.clone(),
            port: target.port,
            known_hosts: self.known_hosts.clone(),
            policy: self.policy,
            on_learned: self.on_learned.clone(),
            disconnect: disconnect.clone(),
        };
        let connecting = client::connect_stream(self.client_config(target), stream, handler);
        let mut handle = match tokio::time::timeout(target.connect_timeout, connecting).await {
            Err(_) => {
                return Err(SshError::Timeout {
                    addr,
                    phase: "during key exchange with",
                    after: target.connect_timeout,
                });
            }
            Ok(Err(HandlerError::Refused(e))) => return Err(e),
            Ok(Err(HandlerError::Russh(e))) => return Err(handshake_error(&addr, e)),
            Ok(Ok(handle)) => handle,
        };
        let authenticating = auth::authenticate(
            &mut handle,
            &target.user,
            &addr,
            &target.identities,
            &self.keys,
        );
        match tokio::time::timeout(target.connect_timeout, authenticating).await {
            Err(_) => {
                return Err(SshError::Timeout {
                    addr,
                    phase: "authenticating to",
                    after: target.connect_timeout,
                });
            }
            Ok(result) => result?,
        }
        Ok(Session::new(
            handle,
            addr,
            Arc::new(Semaphore::new(MAX_CHANNELS)),
            disconnect,
            via,
        ))
    }
}

async fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, SshError> {
    let addr = if port == 22 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let attempt = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(SshError::Timeout {
            addr,
            phase: "connecting to",
            after: timeout,
        }),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => SshError::Refused { addr },
            std::io::ErrorKind::TimedOut => SshError::Timeout {
                addr,
                phase: "connecting to",
                after: timeout,
            },
            _ => SshError::Unreachable {
                addr,
                detail: e.to_string(),
            },
        }),
    }
}

fn handshake_error(addr: &str, e: russh::Error) -> SshError {
    let addr = addr.to_string();
    match e {
        russh::Error::IO(io) => SshError::Disconnected {
            addr,
            detail: format!("during key exchange: {io}"),
        },
        russh::Error::Disconnect | russh::Error::HUP => SshError::Disconnected {
            addr,
            detail: "the server closed the connection during key exchange".into(),
        },
        russh::Error::NoCommonAlgo { kind, ours, theirs } => SshError::Protocol {
            addr,
            detail: format!(
                "no common {kind:?} algorithm (ours: {ours:?}; the server's: {theirs:?}); see --kex"
            ),
        },
        other => SshError::Protocol {
            addr,
            detail: other.to_string(),
        },
    }
}

#[derive(Debug)]
pub(super) enum HandlerError {
    Russh(russh::Error),
    /// We refused the server (host key), with the exact reason.
    Refused(SshError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

/// russh's per-connection callbacks: host-key verification and noting why a connection ended.
pub(super) struct ClientHandler {
    host: String,
    port: u16,
    known_hosts: Arc<KnownHosts>,
    policy: HostKeyPolicy,
    on_learned: Option<OnHostKeyLearned>,
    disconnect: Arc<Mutex<Option<String>>>,
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // We advertise no certificate host-key algorithms, so the server sends none; if one
            // arrives anyway, verify the key inside it like a plain key.
            PublicKeyOrCertificate::Certificate(cert) => {
                russh::keys::PublicKey::new(cert.public_key().clone(), cert.comment())
            }
        };
        let kh = &self.known_hosts;
        let path = kh.path().to_path_buf();
        let (host, port) = (self.host.clone(), self.port);
        match kh.check(&host, port, &key) {
            Verdict::Known => Ok(true),
            Verdict::Changed { line } => Err(HandlerError::Refused(SshError::HostKeyChanged {
                host,
                port,
                fingerprint: fingerprint(&key),
                known_hosts: path,
                line,
            })),
            Verdict::Revoked { line } => Err(HandlerError::Refused(SshError::HostKeyRevoked {
                host,
                fingerprint: fingerprint(&key),
                known_hosts: path,
                line,
            })),
            Verdict::Unknown { other_types }
                if self.policy == HostKeyPolicy::AcceptNew && other_types.is_empty() =>
            {
                kh.learn(&host, port, &key).map_err(HandlerError::Refused)?;
                if let Some(OnHostKeyLearned(callback)) = &self.on_learned {
                    callback(&LearnedHostKey {
                        host: if port == 22 {
                            host
                        } else {
                            format!("[{host}]:{port}")
                        },
                        fingerprint: fingerprint(&key),
                        known_hosts: path,
                    });
                }
                Ok(true)
            }
            Verdict::Unknown { other_types } => {
                let mut notes = Vec::new();
                if !other_types.is_empty() {
                    notes.push(format!(
                        "known_hosts has a {} key for this host but the server offered {}; --accept-new will not \
                         replace it",
                        other_types.join("/"),
                        key.algorithm()
                    ));
                }
                if !kh.unparsable_lines().is_empty() {
                    notes.push(format!(
                        "lines {:?} of known_hosts could not be parsed",
                        kh.unparsable_lines()
                    ));
                }
                Err(HandlerError::Refused(SshError::HostKeyUnknown {
                    host,
                    port,
                    fingerprint: fingerprint(&key),
                    known_hosts: path,
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                }))
            }
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!("the server disconnected: {info:?}")
            }
            DisconnectReason::Error(HandlerError::Russh(russh::Error::KeepaliveTimeout)) => {
                "no answer to keepalives (node down or link cut)".to_string()
            }
            DisconnectReason::Error(HandlerError::Russh(
                russh::Error::HUP | russh::Error::IO(_) | russh::Error::Disconnect,
            )) => "the node closed the connection (sshd or the node went down)".to_string(),
            DisconnectReason::Error(e) => format!("{e:?}"),
        };
        *self.disconnect.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
