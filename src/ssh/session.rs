//! An authenticated connection to one node, and the one place where command bytes cross it.
//!
//! Channels are the scarce resource: OpenSSH allows 10 per connection (MaxSessions), so a
//! semaphore keeps us at 8, and every channel is closed explicitly when done (a dropped russh
//! `Channel` sends no CLOSE and would leak the server-side session).

use std::sync::{Arc, Mutex};

use russh::ChannelMsg;
use russh::client::Handle;
use tokio::sync::Semaphore;

use super::error::SshError;

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    Code(u32),
    /// Killed by a signal (`TERM`, `KILL`, ...).
    Signal(String),
    /// The server closed the channel without saying (rare; some servers on `exec` failure).
    Unknown,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

/// Everything a command sent back, byte for byte.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
}

pub struct Session {
    handle: Handle<super::connect::ClientHandler>,
    addr: String,
    channels: Arc<Semaphore>,
    disconnect: Arc<Mutex<Option<String>>>,
    /// The jump host's session (shared by every node behind it), kept alive as long as the
    /// tunnel through it.
    _via: Option<Arc<Session>>,
}

impl Session {
    pub(super) fn new(
        handle: Handle<super::connect::ClientHandler>,
        addr: String,
        channels: Arc<Semaphore>,
        disconnect: Arc<Mutex<Option<String>>>,
        via: Option<Arc<Session>>,
    ) -> Session {
        Session {
            handle,
            addr,
            channels,
            disconnect,
            _via: via,
        }
    }

    /// Where the connection's handler notes why it ended (set when it does).
    pub(super) fn disconnect_note(&self) -> Arc<Mutex<Option<String>>> {
        self.disconnect.clone()
    }

    pub(super) fn handle(&self) -> &Handle<super::connect::ClientHandler> {
        &self.handle
    }

    /// True once the connection is gone (closed by us, the server, or a dead link).
    pub(super) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Why the connection is gone, as best we know.
    fn lost(&self, fallback: impl std::fmt::Display) -> SshError {
        let why = self
            .disconnect
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        SshError::Disconnected {
            addr: self.addr.clone(),
            detail: why.unwrap_or_else(|| fallback.to_string()),
        }
    }

    /// Runs `command` with `stdin`, collecting stdout and stderr apart and binary-safe.
    pub async fn exec(&self, command: &str, stdin: &[u8]) -> Result<ExecOutput, SshError> {
        let _permit = self.channels.acquire().await.map_err(|e| self.lost(e))?;
        let mut channel = self.open_channel().await?;
        let result = self.drive(&mut channel, command, stdin).await;
        // Explicit CLOSE: the server frees its session only then. Errors here mean the
        // connection is already gone, which `result` reports.
        let _ = channel.close().await;
        result
    }

    async fn drive(
        &self,
        channel: &mut russh::Channel<russh::client::Msg>,
        command: &str,
        stdin: &[u8],
    ) -> Result<ExecOutput, SshError> {
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.channel_error(e))?;
        if !stdin.is_empty() {
            channel
                .data(stdin)
                .await
                .map_err(|e| self.channel_error(e))?;
        }
        channel.eof().await.map_err(|e| self.channel_error(e))?;
        let mut out = ExecOutput {
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: ExitStatus::Unknown,
        };
        let mut exited = false;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => {
                    out.status = ExitStatus::Code(exit_status);
                    exited = true;
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.status = ExitStatus::Signal(format!("{signal_name:?}"));
                    exited = true;
                }
                ChannelMsg::Failure => {
                    return Err(SshError::Channel {
                        addr: self.addr.clone(),
                        detail: "the server refused to run the command".into(),
                    });
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        if !exited && self.handle.is_closed() {
            return Err(self.lost("the connection closed while the command was running"));
        }
        Ok(out)
    }

    /// A slot among the MAX_CHANNELS this connection may have open at once.
    pub(super) async fn channel_permit(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, SshError> {
        self.channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| self.lost(e))
    }

    /// Opens a session channel. The server frees a closed channel's slot only once it has
    /// read our CLOSE, which can lag behind our semaphore: a refusal while our own channels
    /// are closing is retried briefly (bounded: about 2 s in all) instead of failing the step.
    pub(super) async fn open_channel(
        &self,
    ) -> Result<russh::Channel<russh::client::Msg>, SshError> {
        let mut delay = std::time::Duration::from_millis(5);
        for _ in 0..12 {
            match self.handle.channel_open_session().await {
                Err(russh::Error::ChannelOpenFailure(_)) if !self.handle.is_closed() => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_millis(400));
                }
                other => return other.map_err(|e| self.channel_error(e)),
            }
        }
        self.handle
            .channel_open_session()
            .await
            .map_err(|e| self.channel_error(e))
    }

    pub(super) fn channel_failed(&self, e: russh::Error) -> SshError {
        self.channel_error(e)
    }

    fn channel_error(&self, e: russh::Error) -> SshError {
        if self.handle.is_closed() {
            return self.lost(e);
        }
        SshError::Channel {
            addr: self.addr.clone(),
            detail: format!("channel failed: {e}"),
        }
    }

    /// Says goodbye politely so the server logs a clean disconnect.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}
