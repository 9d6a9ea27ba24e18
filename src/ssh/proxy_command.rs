//! `ProxyCommand` as the transport, as OpenSSH makes it: the command runs under `sh -c`
//! (`exec`ed, so the shell does not linger), its stdout is what the server sends and its stdin
//! what we send. The child belongs to the connection: it is killed when the connection's
//! stream is dropped (the session ended, or the handshake failed). What it writes on stderr is
//! kept (the last few KiB) to say why a connection through it failed.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How much of the proxy's stderr is kept for messages.
const STDERR_KEPT: usize = 4096;

/// The proxy's stdin and stdout as one byte stream; dropping it kills the proxy.
pub struct ProxyStream {
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// Killed on drop (`kill_on_drop`), and reaped by tokio.
    _child: Child,
}

/// What the proxy said on stderr, for messages.
#[derive(Clone, Default)]
pub struct ProxyStderr(Arc<Mutex<Vec<u8>>>);

impl ProxyStderr {
    /// Its last lines, on one line.
    pub fn tail(&self) -> Option<String> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return None;
        }
        let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
        Some(
            tail.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    }
}

/// Starts `command` (tokens already filled).
pub fn spawn(command: &str) -> io::Result<(ProxyStream, ProxyStderr)> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other(
            "the proxy command's pipes were not set up",
        ));
    };
    let said = ProxyStderr::default();
    let keep = said.clone();
    // Drained all along, so a chatty proxy never blocks on a full pipe; ends with the proxy.
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut kept = keep.0.lock().unwrap_or_else(|p| p.into_inner());
            kept.extend_from_slice(&buf[..n]);
            let excess = kept.len().saturating_sub(STDERR_KEPT);
            kept.drain(..excess);
        }
    });
    Ok((
        ProxyStream {
            stdin,
            stdout,
            _child: child,
        },
        said,
    ))
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn the_commands_stdin_and_stdout_are_the_stream_and_drop_kills_it() {
        let dir = std::env::temp_dir().join(format!("tandem-proxy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        // `cat` echoes what we send; its pid is the proxy's (exec).
        let (mut stream, said) = spawn(&format!(
            "sh -c 'echo $$ > {}; echo starting >&2; exec cat'",
            pid_file.display()
        ))
        .unwrap();
        stream.write_all(b"ping\n").await.unwrap();
        let mut got = [0u8; 5];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping\n");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_string();
        assert!(alive(&pid));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(said.tail().as_deref(), Some("starting"));
        drop(stream);
        gone(&pid).await;

        // A proxy that would not notice its stdin closing is killed all the same.
        let (stream, _) = spawn(&format!(
            "sh -c 'echo $$ > {}; exec sleep 60' </dev/null",
            pid_file.display()
        ))
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let pid = loop {
            let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
            let pid = pid.trim().to_string();
            if !pid.is_empty()
                && alive(&pid)
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            {
                break pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        drop(stream);
        gone(&pid).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    async fn gone(pid: &str) {
        // Killed: not running within a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "proxy {pid} outlived its stream"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Running (a zombie waiting to be reaped is not).
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    }
}
