//! Every way reaching a node can go wrong, each with a message that tells the user what to do.
//!
//! The variants are deliberately distinct (unreachable, refused, timeout, host key unknown or
//! changed, auth failed): an operator reacts differently to each, and tests assert on them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum SshError {
    /// No route, network down, or a name that does not resolve.
    Unreachable { addr: String, detail: String },
    /// The host answered with a TCP reset: nothing listens on that port.
    Refused { addr: String },
    /// A phase (connecting, key exchange, authentication, command) took longer than allowed.
    Timeout {
        addr: String,
        phase: &'static str,
        after: Duration,
    },
    /// The host's key is not in known_hosts and the policy is strict.
    HostKeyUnknown {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
        note: Option<String>,
    },
    /// known_hosts holds another key of the same type for this host: always refused.
    HostKeyChanged {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    /// The key is marked @revoked in known_hosts.
    HostKeyRevoked {
        host: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    /// Every identity was refused by the server.
    AuthFailed {
        user: String,
        addr: String,
        tried: Vec<String>,
    },
    /// An identity file could not be used (missing, unreadable, wrong passphrase).
    Identity { path: PathBuf, detail: String },
    /// known_hosts could not be read or written.
    KnownHosts { path: PathBuf, detail: String },
    /// `~/.ssh/config` could not be read or parsed.
    Config { path: PathBuf, detail: String },
    /// The connection broke after it was established (keepalive timeout, sshd killed, link down).
    Disconnected { addr: String, detail: String },
    /// The server refused a channel or a request on it.
    Channel { addr: String, detail: String },
    /// Anything else the protocol layer reported.
    Protocol { addr: String, detail: String },
}

impl SshError {
    /// A short stable name for the kind of failure, used in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            SshError::Unreachable { .. } => "unreachable",
            SshError::Refused { .. } => "connection_refused",
            SshError::Timeout { .. } => "timeout",
            SshError::HostKeyUnknown { .. } => "host_key_unknown",
            SshError::HostKeyChanged { .. } => "host_key_changed",
            SshError::HostKeyRevoked { .. } => "host_key_revoked",
            SshError::AuthFailed { .. } => "auth_failed",
            SshError::Identity { .. } => "identity",
            SshError::KnownHosts { .. } => "known_hosts",
            SshError::Config { .. } => "ssh_config",
            SshError::Disconnected { .. } => "disconnected",
            SshError::Channel { .. } => "channel",
            SshError::Protocol { .. } => "protocol",
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshError::Unreachable { addr, detail } => write!(f, "{addr} is unreachable: {detail}"),
            SshError::Refused { addr } => {
                write!(
                    f,
                    "connection refused by {addr}: is sshd running and listening on that port?"
                )
            }
            SshError::Timeout { addr, phase, after } => {
                write!(
                    f,
                    "timed out after {:.1}s {phase} {addr}",
                    after.as_secs_f64()
                )
            }
            SshError::HostKeyUnknown {
                host,
                port,
                fingerprint,
                known_hosts,
                note,
            } => {
                let kh = known_hosts.display();
                let p = if *port == 22 {
                    String::new()
                } else {
                    format!("-p {port} ")
                };
                write!(
                    f,
                    "host key for {} is not in {kh} (server offered {fingerprint}); check the fingerprint \
                     out of band, then add it with `ssh-keyscan {p}{host} >> {kh}` or rerun with --accept-new",
                    host_port(host, *port)
                )?;
                if let Some(note) = note {
                    write!(f, " ({note})")?;
                }
                Ok(())
            }
            SshError::HostKeyChanged {
                host,
                port,
                fingerprint,
                known_hosts,
                line,
            } => write!(
                f,
                "HOST KEY CHANGED for {}: the server offered {fingerprint}, which does not match {}:{line}; \
                 refusing to connect (possible man-in-the-middle). If the node was reinstalled, remove the old \
                 key with `ssh-keygen -R {} -f {}` and add the new one",
                host_port(host, *port),
                known_hosts.display(),
                host_port(host, *port),
                known_hosts.display()
            ),
            SshError::HostKeyRevoked {
                host,
                fingerprint,
                known_hosts,
                line,
            } => write!(
                f,
                "host key {fingerprint} of {host} is marked @revoked in {}:{line}; refusing to connect",
                known_hosts.display()
            ),
            SshError::AuthFailed { user, addr, tried } => {
                if tried.is_empty() {
                    write!(
                        f,
                        "authentication failed for {user}@{addr}: no identity to offer (set `identity` in the \
                         inventory, IdentityFile in ~/.ssh/config, or start ssh-agent)"
                    )
                } else {
                    write!(
                        f,
                        "authentication failed for {user}@{addr}: the server refused {}; is the public key in \
                         ~{user}/.ssh/authorized_keys on the node?",
                        tried.join(", ")
                    )
                }
            }
            SshError::Identity { path, detail } => {
                write!(f, "cannot use identity file {}: {detail}", path.display())
            }
            SshError::KnownHosts { path, detail } => {
                write!(f, "known_hosts {}: {detail}", path.display())
            }
            SshError::Config { path, detail } => write!(f, "{}: {detail}", path.display()),
            SshError::Disconnected { addr, detail } => {
                write!(f, "connection to {addr} lost: {detail}")
            }
            SshError::Channel { addr, detail } => write!(f, "{addr}: {detail}"),
            SshError::Protocol { addr, detail } => write!(f, "ssh error with {addr}: {detail}"),
        }
    }
}

impl std::error::Error for SshError {}
