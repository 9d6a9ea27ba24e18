//! Running the remote shell as another user through sudo, with or without a password.
//!
//! Without a password, `sudo -n` (never waits for one: a missing sudo rule fails at once).
//! With one, `sudo -S` reads it from its stdin, the shell's own channel: it is never on a
//! command line or in an environment on the node, where any local user could read it in
//! /proc. tandem writes it only after sudo has asked (its prompt is a per-shell token on
//! stderr): sudo that does not ask (a NOPASSWD rule, a cached login) goes straight to the
//! loop, which must not read the password as a frame. A second prompt means the password was
//! refused: the shell fails at once, in bounded time, instead of waiting for a third try.

use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Msg;

use super::error::SshError;
use crate::sh::ShellWord;

/// How long sudo may take to ask for the password or start the shell.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// A become password. Its `Debug` does not show it.
#[derive(Clone)]
pub struct BecomePassword(Arc<String>);

impl BecomePassword {
    pub fn new(password: String) -> BecomePassword {
        BecomePassword(Arc::new(password))
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// What sudo reads: the password and a newline.
    fn line(&self) -> Vec<u8> {
        let mut line = self.0.as_bytes().to_vec();
        line.push(b'\n');
        line
    }
}

impl std::fmt::Debug for BecomePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BecomePassword(hidden)")
    }
}

/// Whom a remote shell runs as, and how sudo is told the password.
#[derive(Debug, Clone)]
pub struct Sudo {
    /// `None`: root.
    pub user: Option<String>,
    pub password: Option<BecomePassword>,
}

impl Sudo {
    pub fn root() -> Sudo {
        Sudo {
            user: None,
            password: None,
        }
    }

    /// `sudo OPTIONS --` for the loop; `prompt` is what sudo prints when it wants the password.
    pub(super) fn command(&self, prompt: &str) -> String {
        let mut words = match self.password {
            Some(_) => format!("sudo -S -p {}", ShellWord::quote(prompt)),
            None => "sudo -n".to_string(),
        };
        if let Some(user) = &self.user {
            words.push_str(&format!(" -u {}", ShellWord::quote(user)));
        }
        words.push_str(" --");
        words
    }

    /// `sudo OPTIONS --` for a one-shot command whose stdin is [`Sudo::stdin`]: `-k` makes sudo
    /// always ask (a command that does not read its stdin, such as the halt script, is given
    /// the password only through sudo).
    pub(super) fn one_shot_command(&self) -> String {
        let mut words = match self.password {
            Some(_) => "sudo -S -k -p ''".to_string(),
            None => "sudo -n".to_string(),
        };
        if let Some(user) = &self.user {
            words.push_str(&format!(" -u {}", ShellWord::quote(user)));
        }
        words.push_str(" --");
        words
    }

    pub(super) fn stdin(&self) -> Vec<u8> {
        self.password.as_ref().map(|p| p.line()).unwrap_or_default()
    }

    fn who(&self) -> &str {
        self.user.as_deref().unwrap_or("root")
    }
}

/// After `exec` of [`Sudo::command`], before the frame loop is used: answers sudo's prompt
/// with the password (once). Returns what the loop already wrote on stdout, which belongs to
/// its first answer.
pub(super) async fn handshake(
    channel: &mut russh::Channel<Msg>,
    sudo: &Sudo,
    prompt: &str,
    addr: &str,
) -> Result<Vec<u8>, SshError> {
    let Some(password) = &sudo.password else {
        return Ok(Vec::new());
    };
    let failed = |detail: String| SshError::Channel {
        addr: addr.to_string(),
        detail,
    };
    let deadline = tokio::time::Instant::now() + HANDSHAKE;
    let mut stderr: Vec<u8> = Vec::new();
    let mut sent = false;
    loop {
        let msg = match tokio::time::timeout_at(deadline, channel.wait()).await {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                return Err(failed(format!(
                    "sudo to {} ended before the shell started: {}",
                    sudo.who(),
                    tail(&stderr, prompt)
                )));
            }
            Err(_) => {
                return Err(failed(format!(
                    "sudo to {} neither asked for the password nor started the shell in {} s",
                    sudo.who(),
                    HANDSHAKE.as_secs()
                )));
            }
        };
        match msg {
            // The loop's first bytes: sudo is done with stdin.
            ChannelMsg::Data { data } => return Ok(data.to_vec()),
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                stderr.extend_from_slice(&data);
                let prompts = String::from_utf8_lossy(&stderr).matches(prompt).count();
                if prompts >= 2 {
                    return Err(failed(format!(
                        "sudo to {} refused the become password (check --become-password-file \
                         or what -K was given)",
                        sudo.who()
                    )));
                }
                if prompts == 1 && !sent {
                    channel
                        .data(&password.line()[..])
                        .await
                        .map_err(|e| failed(format!("writing to sudo: {e}")))?;
                    sent = true;
                }
            }
            ChannelMsg::ExitStatus { exit_status } => {
                return Err(failed(format!(
                    "sudo to {} failed (status {exit_status}; may this login run commands as {} \
                     with sudo?): {}",
                    sudo.who(),
                    sudo.who(),
                    tail(&stderr, prompt)
                )));
            }
            _ => {}
        }
    }
}

/// What sudo said, prompts left out, at most 300 characters.
fn tail(stderr: &[u8], prompt: &str) -> String {
    String::from_utf8_lossy(stderr)
        .replace(prompt, "")
        .trim()
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_in_a_command_and_not_shown_by_debug() {
        let sudo = Sudo {
            user: Some("app user".into()),
            password: Some(BecomePassword::new("s3cret-pw".into())),
        };
        let command = sudo.command("[tandem sudo x]");
        assert_eq!(command, "sudo -S -p '[tandem sudo x]' -u 'app user' --");
        assert!(!sudo.one_shot_command().contains("s3cret"));
        assert_eq!(sudo.stdin(), b"s3cret-pw\n");
        assert!(!format!("{sudo:?}").contains("s3cret"));
        assert_eq!(Sudo::root().command("p"), "sudo -n --");
        assert!(Sudo::root().stdin().is_empty());
    }
}
