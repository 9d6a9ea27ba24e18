//! Scripts run on a node of the pair, as root: the game day's commands (lock, stop, start,
//! `om` calls) and the rolling deploy's agent calls. A command run through [`command`] is also
//! on the timeline (started, then finished with its outcome).

use super::game_day::Side;
use super::recorder::Sink;
use super::timeline::EventKind;
use crate::sh::{Script, ShellWord};
use crate::ssh::Session;

/// A script that failed on a node: its exit code, if it ended with one, and the last lines it
/// printed (or the ssh error when it never ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ExecError {
    pub code: Option<u32>,
    pub detail: String,
}

/// A command of the game day that failed: what it was, on which node, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} on {node}: {detail}")]
pub struct CommandError {
    pub what: String,
    pub node: String,
    pub detail: String,
}

/// Runs a script on a node, as root; `Err` carries the last lines it printed.
pub(super) async fn exec(side: &Side, script: &Script) -> Result<String, ExecError> {
    exec_as_root(&side.session, side.sudo, script).await
}

/// Runs a script as root over `session` (through `sudo -n` when `sudo`); `Err` carries the
/// exit code, if any, and the last lines it printed.
pub async fn exec_as_root(
    session: &Session,
    sudo: bool,
    script: &Script,
) -> Result<String, ExecError> {
    let script = ShellWord::quote(script);
    let command = if sudo {
        format!("sudo -n sh -c {script}")
    } else {
        format!("sh -c {script}")
    };
    match session.exec(&command, b"").await {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match out.status {
                crate::ssh::ExitStatus::Code(0) => Ok(stdout),
                crate::ssh::ExitStatus::Code(code) => Err(ExecError {
                    code: Some(code),
                    detail: last_words(&out.stderr, &stdout),
                }),
                _ => Err(ExecError {
                    code: None,
                    detail: last_words(&out.stderr, &stdout),
                }),
            }
        }
        Err(e) => Err(ExecError {
            code: None,
            detail: e.to_string(),
        }),
    }
}

fn last_words(stderr: &[u8], stdout: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = if text.trim().is_empty() {
        stdout
    } else {
        text.trim()
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

/// A command on a node, on the timeline: started, then finished with its outcome.
pub(super) async fn command(
    side: &Side,
    what: &str,
    script: &Script,
    sink: &Sink,
) -> Result<(), CommandError> {
    let _ = sink.send((
        std::time::Instant::now(),
        EventKind::CommandStarted {
            node: side.name.clone(),
            command: what.to_string(),
        },
    ));
    let result = exec(side, script).await;
    let (ok, detail) = match &result {
        Ok(_) => (true, None),
        Err(e) => (false, Some(e.detail.clone())),
    };
    let _ = sink.send((
        std::time::Instant::now(),
        EventKind::CommandFinished {
            node: side.name.clone(),
            command: what.to_string(),
            ok,
            detail: detail.clone(),
        },
    ));
    result.map(|_| ()).map_err(|e| CommandError {
        what: what.to_string(),
        node: side.name.clone(),
        detail: e.detail,
    })
}
