//! A long-lived `sh` on one channel that runs framed scripts in order and answers each one.
//!
//! Why: a fresh channel + exec per step costs two round trips and a server-side session setup
//! (~50 ms on the lab); one `sh` reading frames from stdin costs none of that, and frames can be
//! written back to back without waiting (pipelining), so a converged playbook costs about one
//! round trip per host (DESIGN.md section 2).
//!
//! Wire format. Request frame: a header line `ID SCRIPT_LEN PAYLOAD_LEN MODE LIMIT\n`, then exactly
//! SCRIPT_LEN bytes of script and PAYLOAD_LEN bytes of payload (binary-safe: `head -c` reads an
//! exact count from the pipe), then the trailer line `.`, without which nothing runs. The loop stores the payload in a file named by `$TANDEM_PAYLOAD`
//! and also feeds it to the script's stdin. Answer: the script's stdout, then
//! `\nTOKEN ID STATUS\n` on stdout and `\nTOKEN ID\n` on stderr, where TOKEN is a random
//! per-shell string and STATUS the exit code, `skip` or `timeout`. LIMIT is the frame's time
//! limit in seconds (0: none); a limited frame runs under `setsid` (its own process group) with
//! a watchdog that stops the whole group past the limit (TERM, then KILL 5 s later), and the
//! frame is answered `timeout`, as a failure; the loop itself goes on with the next frame. MODE is `i` (run in the loop's own
//! shell: definitions persist), `s` (run in a subshell; a failure halts the shell, so frames
//! already sent behind it are skipped, not run) or `c` (subshell; a failure does not halt).
//! Frames are answered in the order they were sent. `RemoteShell::halt` makes the loop skip
//! every frame it has not started yet (a `halt` directory made inside the loop's own temporary
//! directory, which the loop names in an answer with id 0 before any other, tells it so).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::ChannelMsg;
use russh::client::Msg;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::demux::Demux;
use super::error::SshError;
use super::session::Session;
use super::sudo::Sudo;
use crate::sh::ShellWord;

/// How a frame is run, see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameMode {
    /// In the loop's shell itself: for definitions (functions, variables) later frames use.
    Init,
    /// In a subshell; a non-zero exit halts the shell: later frames are answered `Skipped`.
    StopOnFailure,
    /// In a subshell; failures do not halt.
    Continue,
}

impl FrameMode {
    fn letter(self) -> char {
        match self {
            FrameMode::Init => 'i',
            FrameMode::StopOnFailure => 's',
            FrameMode::Continue => 'c',
        }
    }
}

/// What one frame produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStatus {
    Exited(i32),
    /// Not run: an earlier `StopOnFailure` frame failed.
    Skipped,
    /// Stopped past its time limit: its process group was killed on the node.
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: FrameStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// How long the frame ran on the node, as seen from here: from when it started there
    /// (the loop runs frames in order, so when the answer before it arrived, or when it was
    /// sent if that was later) to when its own answer arrived. A frame pipelined behind a slow
    /// one does not count the wait: its time is its own (plus at most a round trip).
    pub ran_for: Duration,
}

/// The loop, as the `sh -c` argument. `$1` is the boundary token.
///
/// Everything it writes (script, payload, halt marker) lives in its own `mktemp -d` directory
/// (0700), never under a shared name another user could plant a symlink at, and the directory
/// goes however the loop ends: tandem gone mid-step closes the pipes, and the `printf` after
/// the step would otherwise die of SIGPIPE without running the EXIT trap, leaving the payload
/// (possibly rendered secrets) on the node.
pub(crate) const LOOP: &str = r#"T=$(mktemp -d "${TMPDIR:-/tmp}/tandem.XXXXXXXX") || exit 97
trap 'rm -rf "$T"' EXIT
trap 'rm -rf "$T"; exit 129' HUP
trap 'rm -rf "$T"; exit 141' PIPE
trap 'rm -rf "$T"; exit 143' TERM
R=$(cd -P -- "$T" && pwd -P) || exit 97
T=$R
tk=$1 halted=
export TANDEM_PAYLOAD="$T/payload" TANDEM_TMP="$T"
: >"$T/init"
# The watchdog of a step with a time limit: $1 seconds, $2 the step's process group, $3 the
# marker it leaves once the limit is reached. TERM, then KILL if the group is still there 5 s
# later (looked at every 0.1 s: a step that goes at once costs no wait).
# shellcheck disable=SC2016 # expanded by the watchdog's own shell, from its arguments
W='sleep "$1"; : >"$3"; kill -s TERM -- "-$2" 2>/dev/null || exit 0
i=0; while [ "$i" -lt 50 ] && kill -s 0 -- "-$2" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -s KILL -- "-$2" 2>/dev/null; exit 0'
# Answer 0 names the directory: `halt` puts its marker there (see HALT).
printf '\n%s 0 %s\n' "$tk" "$T"
while IFS=' ' read -r id slen plen mode limit; do
  head -c "$slen" >"$T/script"
  if [ "$plen" -gt 0 ]; then head -c "$plen" >"$T/payload"; else : >"$T/payload"; fi
  # The trailer proves the frame arrived whole: a connection cut mid-frame leaves a short
  # script or payload, which must never run. `read` is a builtin: no process spent on it.
  IFS= read -r trailer && [ "$trailer" = . ] || exit 98
  # Frames already sent cannot be taken back: a halt marker (see `halt`) skips them instead.
  # `[` is a builtin: checking costs no process.
  [ -n "$halted" ] || [ ! -e "$T/halt" ] || halted=1
  if [ -n "$halted" ] && [ "$mode" != i ]; then
    rc=skip
  elif [ "$mode" = i ]; then
    # Kept for the steps with a time limit, which run in a shell of their own.
    . "$T/script" <"$T/payload"; rc=$?
    cat "$T/script" >>"$T/init"
  elif [ "${limit:-0}" -gt 0 ]; then
    # A step with a time limit runs in a session of its own (its pid is its process group),
    # so the watchdog can stop all it started: TERM (its EXIT traps remove their temporary
    # files), then KILL 5 s later for whatever outlived TERM.
    rm -f "$T/timedout"
    # shellcheck disable=SC2016 # expanded by the step's own shell, from its arguments
    setsid sh -c 'trap "exit 143" TERM; . "$1"; . "$2"' tandem-step "$T/init" "$T/script" <"$T/payload" &
    pid=$!
    setsid sh -c "$W" tandem-watchdog "$limit" "$pid" "$T/timedout" </dev/null >/dev/null 2>&1 &
    dog=$!
    # The shell's own notes on how a job ended ("Killed") would land in the step's stderr.
    wait "$pid" 2>/dev/null; rc=$?
    if [ -e "$T/timedout" ]; then
      # Fired: let it finish (KILL for whatever outlived TERM) before the next frame starts.
      wait "$dog" 2>/dev/null; rc=timeout
    else
      # By its pid when it has not made its own group yet (just started: nothing to leave).
      kill -s KILL -- "-$dog" 2>/dev/null || kill -s KILL "$dog" 2>/dev/null
      wait "$dog" 2>/dev/null
      # It may have fired between the two checks.
      [ ! -e "$T/timedout" ] || rc=timeout
    fi
    [ "$rc" = 0 ] || [ "$mode" = c ] || halted=1
  else
    ( . "$T/script" ) <"$T/payload"; rc=$?
    [ "$rc" -eq 0 ] || [ "$mode" = c ] || halted=1
  fi
  printf '\n%s %s %s\n' "$tk" "$id" "$rc"
  printf '\n%s %s\n' "$tk" "$id" >&2
done"#;

/// Creates the halt marker in the loop's directory `$1` (physical path, as the loop reported
/// it). The checks run from inside the directory, so the path cannot be swapped under them:
/// once the loop has ended and removed it, another user could create that name again (as a
/// directory of theirs, or a symlink to one of root's), and nothing may be created there.
/// `mkdir` never follows a symlink at its last component and never recreates a removed parent.
pub(crate) const HALT: &str = r#"cd -P -- "$1" 2>/dev/null || exit 0
if [ "$(pwd -P)" != "$1" ] || [ ! -O . ]; then
  echo "$1 is no longer the remote shell's own directory" >&2; exit 1
fi
[ -d halt ] || mkdir halt"#;

/// A running remote shell; cheap to share behind an `Arc`.
pub struct RemoteShell {
    writer: tokio::sync::Mutex<russh::ChannelWriteHalf<Msg>>,
    demux: Arc<Mutex<Demux>>,
    /// True once the channel is gone (set by the reader): a write waiting for window space
    /// would otherwise wait forever, as russh never wakes it when the connection dies.
    gone: tokio::sync::watch::Receiver<bool>,
    next_id: AtomicU64,
    addr: String,
    /// The loop's private directory (where `halt` leaves its marker), once it has said.
    loop_dir: tokio::sync::watch::Receiver<Option<String>>,
    sudo: Option<Sudo>,
    reader: tokio::task::JoinHandle<()>,
    _permit: OwnedSemaphorePermit,
}

/// An answer that will arrive; frames sent before it are answered first.
pub struct PendingAnswer(oneshot::Receiver<Result<Answer, SshError>>, String);

impl PendingAnswer {
    pub async fn wait(self) -> Result<Answer, SshError> {
        match self.0.await {
            Ok(Ok(answer)) => {
                tracing::trace!(
                    target: "tandem::ssh",
                    status = ?answer.status,
                    "answer: stdout {:?}, stderr {:?}",
                    String::from_utf8_lossy(&answer.stdout),
                    String::from_utf8_lossy(&answer.stderr)
                );
                Ok(answer)
            }
            Ok(result) => result,
            Err(_) => Err(SshError::Disconnected {
                addr: self.1,
                detail: "the remote shell went away".into(),
            }),
        }
    }
}

impl Session {
    /// Starts the frame loop under `sh` (under `sudo -n` when `sudo`, for non-root logins).
    pub async fn shell(&self, sudo: bool) -> Result<RemoteShell, SshError> {
        self.shell_as(sudo.then(Sudo::root)).await
    }

    /// Starts the frame loop under `sh`, as `sudo` says (see `sudo`): `None` as the login user.
    pub async fn shell_as(&self, sudo: Option<Sudo>) -> Result<RemoteShell, SshError> {
        let permit = self.channel_permit().await?;
        let mut channel = self.open_channel().await?;
        let token = format!("@tandem-{:032x}", rand::random::<u128>());
        let quoted_loop = ShellWord::quote(LOOP);
        // What sudo prints when it wants the password: unique to this shell, so nothing else
        // on stderr can pass for it.
        let prompt = format!("[tandem become {token}]");
        let command = match &sudo {
            Some(s) => format!("{} sh -c {quoted_loop} tandem {token}", s.command(&prompt)),
            None => format!("sh -c {quoted_loop} tandem {token}"),
        };
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.channel_failed(e))?;
        let first_bytes = match &sudo {
            Some(s) => super::sudo::handshake(&mut channel, s, &prompt, self.addr()).await?,
            None => Vec::new(),
        };
        let with_password = sudo.as_ref().is_some_and(|s| s.password.is_some());
        let (mut read, write) = channel.split();
        let demux = Arc::new(Mutex::new(Demux::default()));
        let reader_demux = demux.clone();
        let (gone_tx, gone) = tokio::sync::watch::channel(false);
        let (loop_dir_tx, loop_dir) = tokio::sync::watch::channel(None);
        let addr = self.addr().to_string();
        let reader_addr = addr.clone();
        let reader_token = token.clone();
        let why_lost = self.disconnect_note();
        let is_sudo = sudo.is_some();
        let reader = tokio::spawn(async move {
            let token = reader_token;
            let marker = format!("\n{token} ").into_bytes();
            let mut exit = None;
            if !first_bytes.is_empty() {
                let mut d = reader_demux.lock().unwrap_or_else(|p| p.into_inner());
                d.stdout.extend_from_slice(&first_bytes);
                d.split_stdout(&marker);
                if let Some(dir) = d.loop_dir.take() {
                    let _ = loop_dir_tx.send(Some(dir));
                }
                d.deliver();
            }
            while let Some(msg) = read.wait().await {
                let mut d = reader_demux.lock().unwrap_or_else(|p| p.into_inner());
                match msg {
                    ChannelMsg::Data { data } => {
                        d.stdout.extend_from_slice(&data);
                        d.split_stdout(&marker);
                        if let Some(dir) = d.loop_dir.take() {
                            let _ = loop_dir_tx.send(Some(dir));
                        }
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        d.stderr.extend_from_slice(&data);
                        d.split_stderr(&marker);
                    }
                    ChannelMsg::ExitStatus { exit_status } => exit = Some(exit_status),
                    ChannelMsg::Close => break,
                    _ => {}
                }
                d.deliver();
            }
            let lost = match exit {
                None => Some(connection_lost(&why_lost).await),
                Some(_) => None,
            };
            let mut d = reader_demux.lock().unwrap_or_else(|p| p.into_inner());
            let tail = String::from_utf8_lossy(&d.stderr)
                .trim()
                .chars()
                .take(300)
                .collect::<String>();
            let detail = match exit {
                Some(97) => {
                    "cannot create a temporary directory on the node (is /tmp full or read-only?)"
                        .to_string()
                }
                Some(1) if with_password => format!("sudo failed: {tail}"),
                Some(1) if is_sudo => {
                    format!("sudo refused (is passwordless sudo configured for this user?): {tail}")
                }
                Some(code) => format!("the remote shell exited with status {code}: {tail}"),
                None => lost.unwrap_or_default(),
            };
            d.fail_all(SshError::Disconnected {
                addr: reader_addr,
                detail,
            });
            let _ = gone_tx.send(true);
        });
        Ok(RemoteShell {
            writer: tokio::sync::Mutex::new(write),
            demux,
            gone,
            next_id: AtomicU64::new(1),
            addr,
            loop_dir,
            sudo,
            reader,
            _permit: permit,
        })
    }
}

impl RemoteShell {
    /// Sends a frame now and returns its answer-to-be; call again without waiting to pipeline.
    pub async fn send(
        &self,
        script: &str,
        payload: &[u8],
        mode: FrameMode,
    ) -> Result<PendingAnswer, SshError> {
        self.send_limited(script, payload, mode, None).await
    }

    /// `send`, with a time limit in seconds on the node (counted from when the frame starts
    /// there, not from when it is sent): past it, the frame's process group is killed and the
    /// answer is `FrameStatus::TimedOut`. Ignored for `FrameMode::Init` frames.
    pub async fn send_limited(
        &self,
        script: &str,
        payload: &[u8],
        mode: FrameMode,
        limit_secs: Option<u32>,
    ) -> Result<PendingAnswer, SshError> {
        let (reply, answer) = oneshot::channel();
        // The writer lock orders both the id and the bytes on the wire.
        let writer = self.writer.lock().await;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut d = self.demux.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &d.closed {
                return Err(e.clone());
            }
            d.waiting.push_back((id, Instant::now(), reply));
        }
        let mut frame = format!(
            "{id} {} {} {} {}\n",
            script.len(),
            payload.len(),
            mode.letter(),
            limit_secs.unwrap_or(0)
        )
        .into_bytes();
        frame.extend_from_slice(script.as_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b".\n");
        // -vv shows the scripts of steps; the prelude (the init frame) only at -vvv.
        if mode == FrameMode::Init {
            tracing::trace!(target: "tandem::ssh", frame = id, "init frame sent:\n{script}");
        } else {
            tracing::debug!(
                target: "tandem::script",
                frame = id,
                payload_bytes = payload.len(),
                "script sent:\n{script}"
            );
        }
        let mut gone = self.gone.clone();
        let sent = tokio::select! {
            sent = writer.data(&frame[..]) => sent.map_err(|e| e.to_string()),
            _ = gone.wait_for(|g| *g) => Err("the connection was lost".to_string()),
        };
        if let Err(e) = sent {
            let closed = self
                .demux
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .closed
                .clone();
            let error = closed.unwrap_or_else(|| SshError::Disconnected {
                addr: self.addr.clone(),
                detail: format!("sending a step: {e}"),
            });
            self.demux
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fail_all(error.clone());
            return Err(error);
        }
        Ok(PendingAnswer(answer, self.addr.clone()))
    }

    /// Sends and waits: one round trip.
    pub async fn run(
        &self,
        script: &str,
        payload: &[u8],
        mode: FrameMode,
    ) -> Result<Answer, SshError> {
        self.send(script, payload, mode).await?.wait().await
    }

    /// Makes the loop skip every frame it has not started yet (answered `Skipped`); the frame
    /// running now finishes. Goes over a channel of its own, as the same user as the loop: the
    /// loop's stdin is already queued with the frames to skip. The marker goes in the loop's
    /// own directory: a name in a shared one could be planted (a symlink, followed as root).
    pub async fn halt(&self, session: &Session) -> Result<(), SshError> {
        // The loop names its directory before anything else, one round trip after it starts.
        let mut named = self.loop_dir.clone();
        let mut gone = self.gone.clone();
        let dir = tokio::select! {
            dir = named.wait_for(Option::is_some) => dir.ok().and_then(|d| d.clone()),
            _ = gone.wait_for(|g| *g) => None,
        };
        // No directory: the loop has ended, and there is nothing left to halt.
        let Some(dir) = dir else { return Ok(()) };
        let script = format!(
            "{} tandem {}",
            ShellWord::quote(HALT),
            ShellWord::quote(&dir)
        );
        let (command, stdin) = match &self.sudo {
            Some(sudo) => (
                format!("{} sh -c {script}", sudo.one_shot_command()),
                sudo.stdin(),
            ),
            None => (format!("sh -c {script}"), Vec::new()),
        };
        let out = session.exec(&command, &stdin).await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SshError::Channel {
                addr: self.addr.clone(),
                detail: format!(
                    "could not halt the remote shell: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }

    /// Ends the loop (EOF on its stdin) and closes the channel.
    pub async fn close(self) {
        let writer = self.writer.lock().await;
        let _ = writer.eof().await;
        let _ = writer.close().await;
        drop(writer);
        self.reader.abort();
    }
}

/// Why the connection under a shell went away, as the connection's handler noted it: it may
/// note it a moment after the channel closes, so wait for it briefly (at most 200 ms).
async fn connection_lost(note: &Mutex<Option<String>>) -> String {
    for _ in 0..20 {
        if let Some(why) = note.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return format!("{why}, while steps were running");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    "the connection closed while steps were running".to_string()
}
