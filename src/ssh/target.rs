//! Where and as whom to connect: the inventory's values merged with `~/.ssh/config`.
//!
//! Precedence, as Ansible users expect: what the inventory says explicitly wins, then
//! `~/.ssh/config` (matched on the address, as `ssh ADDRESS` would), then OpenSSH's defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{ParseRule, SshConfig};

use super::error::SshError;

/// One SSH destination, fully resolved.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node's name, for messages.
    pub label: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Identity files to offer, in order (before ssh-agent's keys).
    pub identities: Vec<Identity>,
    /// Hop through this host first (`ProxyJump`), as OpenSSH does with `-J`.
    pub jump: Option<Box<Target>>,
    /// `ProxyCommand` from ~/.ssh/config, its tokens filled: a command whose stdin and stdout
    /// carry the connection (run by `sh -c`, as OpenSSH runs it with the user's shell).
    pub proxy_command: Option<String>,
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
}

impl Target {
    /// `user@host:port` for messages.
    pub fn addr(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One identity file and whether someone asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub path: PathBuf,
    /// Named by the inventory or by IdentityFile in ~/.ssh/config: it must work, and one that
    /// cannot be used is bad input. OpenSSH's default keys (`false`) are opportunistic, as in
    /// `ssh`: one that does not load is left out, since nobody asked for that file.
    pub explicit: bool,
}

impl Identity {
    pub fn explicit(path: PathBuf) -> Identity {
        Identity {
            path,
            explicit: true,
        }
    }

    pub fn default_key(path: PathBuf) -> Identity {
        Identity {
            path,
            explicit: false,
        }
    }
}

/// What the inventory says about a destination; `None` means "not set, ask ~/.ssh/config".
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub label: String,
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    /// Seconds of silence before a keepalive (OpenSSH's ServerAliveInterval).
    pub keepalive_interval: Option<Duration>,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);

/// `~/.ssh/config`, parsed once per run.
pub struct SshConfigFile {
    config: Option<SshConfig>,
    home: Option<PathBuf>,
    /// The file, for messages.
    path: Option<PathBuf>,
}

impl SshConfigFile {
    /// Reads `~/.ssh/config` when it exists; a broken file is reported, not ignored.
    pub fn load_default() -> Result<SshConfigFile, SshError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let path = home.as_ref().map(|h| h.join(".ssh").join("config"));
        match path {
            Some(p) if p.is_file() => Self::load(&p, home),
            _ => Ok(SshConfigFile {
                config: None,
                home,
                path: None,
            }),
        }
    }

    pub fn load(path: &Path, home: Option<PathBuf>) -> Result<SshConfigFile, SshError> {
        let file = std::fs::File::open(path).map_err(|e| SshError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut reader = std::io::BufReader::new(file);
        let mut config = SshConfig::default();
        if let Some(home) = &home {
            config = config.home_dir(home.clone());
        }
        let config = config
            .parse(
                &mut reader,
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .map_err(|e| SshError::Config {
                path: path.to_path_buf(),
                detail: format!("cannot parse: {e}"),
            })?;
        Ok(SshConfigFile {
            config: Some(config),
            home,
            path: Some(path.to_path_buf()),
        })
    }

    /// An empty configuration (tests, or `-F none`).
    pub fn none() -> SshConfigFile {
        SshConfigFile {
            config: None,
            home: std::env::var_os("HOME").map(PathBuf::from),
            path: None,
        }
    }

    pub fn resolve(&self, wanted: &Wanted) -> Result<Target, SshError> {
        self.resolve_depth(wanted, 0)
    }

    fn resolve_depth(&self, wanted: &Wanted, depth: usize) -> Result<Target, SshError> {
        let params = self.config.as_ref().map(|c| c.query(&wanted.address));
        let params = params.as_ref();
        let host = params
            .and_then(|p| p.host_name.clone())
            .unwrap_or_else(|| wanted.address.clone());
        let port = wanted.port.or(params.and_then(|p| p.port)).unwrap_or(22);
        let user = wanted
            .user
            .clone()
            .or(params.and_then(|p| p.user.clone()))
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".to_string());
        let identities = match &wanted.identity {
            Some(path) => vec![Identity::explicit(path.clone())],
            None => match params.and_then(|p| p.identity_file.clone()) {
                Some(files) if !files.is_empty() => files
                    .iter()
                    .map(|f| Identity::explicit(self.expand(f)))
                    .collect(),
                _ => self.default_identities(),
            },
        };
        let connect_timeout = wanted
            .connect_timeout
            .or(params.and_then(|p| p.connect_timeout))
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let keepalive_interval = wanted
            .keepalive_interval
            .or(params.and_then(|p| p.server_alive_interval))
            .unwrap_or(DEFAULT_KEEPALIVE);
        let proxy_command = params
            .and_then(|p| p.unsupported_fields.get("proxycommand"))
            .map(|words| words.join(" "))
            .filter(|command| !command.trim().eq_ignore_ascii_case("none"));
        let has_jump = params
            .and_then(|p| p.proxy_jump.as_ref())
            .is_some_and(|hops| !hops.is_empty() && !hops[0].eq_ignore_ascii_case("none"));
        let proxy_command = match proxy_command {
            None => None,
            // OpenSSH takes whichever of the two comes first in the file; the parser does not
            // say which that is, so a guess could route the connection the wrong way.
            Some(_) if has_jump => {
                return Err(self.config_error(format!(
                    "both ProxyCommand and ProxyJump apply to {}: keep only one for this host",
                    wanted.address
                )));
            }
            Some(command) => Some(
                expand_proxy_command(&command, &host, port, &user, &wanted.address).map_err(
                    |why| self.config_error(format!("ProxyCommand for {}: {why}", wanted.address)),
                )?,
            ),
        };
        let jump = match params.and_then(|p| p.proxy_jump.clone()) {
            Some(hops) if !hops.is_empty() && !hops[0].eq_ignore_ascii_case("none") => {
                if depth >= 4 {
                    return Err(SshError::Protocol {
                        addr: wanted.address.clone(),
                        detail: "ProxyJump chain is longer than 4 hops (a loop in ~/.ssh/config?)"
                            .into(),
                    });
                }
                // `a,b` means: reach a, then b from a, then the target from b.
                let mut previous: Option<Box<Target>> = None;
                for hop in &hops {
                    let mut target = self.resolve_depth(&parse_jump(hop, wanted), depth + 1)?;
                    target.jump = previous.take();
                    previous = Some(Box::new(target));
                }
                previous
            }
            _ => None,
        };
        Ok(Target {
            label: wanted.label.clone(),
            host,
            port,
            user,
            identities,
            jump,
            proxy_command,
            connect_timeout,
            keepalive_interval,
        })
    }

    fn config_error(&self, detail: String) -> SshError {
        SshError::Config {
            path: self
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from("~/.ssh/config")),
            detail,
        }
    }

    fn expand(&self, path: &Path) -> PathBuf {
        match (path.strip_prefix("~"), &self.home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => path.to_path_buf(),
        }
    }

    /// OpenSSH's default identity files, those that exist.
    fn default_identities(&self) -> Vec<Identity> {
        let Some(home) = &self.home else {
            return Vec::new();
        };
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|name| home.join(".ssh").join(name))
            .filter(|p| p.is_file())
            .map(Identity::default_key)
            .collect()
    }
}

/// A `ProxyCommand` that cannot be filled in; the caller names the host it is for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyCommandError {
    /// `what` is "host" or "user".
    #[error(
        "the {what} '{value}' has characters a shell would read (ProxyCommand fills it in \
         unquoted): use a plain name or address"
    )]
    NotPlain { what: &'static str, value: String },
    #[error("unknown token %{0} (ProxyCommand takes %h, %p, %r, %n and %%)")]
    UnknownToken(char),
    #[error("ends with a lone %: write %% for a percent sign")]
    LonePercent,
}

/// `ProxyCommand`'s tokens, as OpenSSH fills them: `%h` the host (after `HostName`), `%p` the
/// port, `%r` the user, `%n` the name as given, `%%` a percent sign. The values go into a shell
/// command unquoted (as in OpenSSH), so each must be a plain host or user name: anything a shell
/// would read as syntax is refused, as OpenSSH refuses such names.
pub fn expand_proxy_command(
    command: &str,
    host: &str,
    port: u16,
    user: &str,
    original: &str,
) -> Result<String, ProxyCommandError> {
    let plain = |what: &'static str, value: &str| -> Result<String, ProxyCommandError> {
        let ok = !value.is_empty()
            && !value.starts_with('-')
            && value.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '@' | '[' | ']')
            });
        if ok {
            Ok(value.to_string())
        } else {
            Err(ProxyCommandError::NotPlain {
                what,
                value: value.to_string(),
            })
        }
    };
    let mut out = String::with_capacity(command.len() + host.len());
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(&plain("host", host)?),
            Some('n') => out.push_str(&plain("host", original)?),
            Some('r') => out.push_str(&plain("user", user)?),
            Some('p') => out.push_str(&port.to_string()),
            Some(other) => return Err(ProxyCommandError::UnknownToken(other)),
            None => return Err(ProxyCommandError::LonePercent),
        }
    }
    Ok(out)
}

/// `[user@]host[:port]` of a ProxyJump hop. The hop inherits the connect timeout and the
/// keepalive interval only.
fn parse_jump(hop: &str, target: &Wanted) -> Wanted {
    let (user, rest) = match hop.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, hop),
    };
    let (address, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (rest.to_string(), None),
    };
    Wanted {
        label: format!("{} (jump host of {})", address, target.label),
        address,
        port,
        user,
        identity: None,
        connect_timeout: target.connect_timeout,
        keepalive_interval: target.keepalive_interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfigFile {
        let dir = std::env::temp_dir().join(format!(
            "tandem-sshcfg-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, text).unwrap();
        let cfg = SshConfigFile::load(&path, Some(PathBuf::from("/home/op"))).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        cfg
    }

    fn wanted(address: &str) -> Wanted {
        Wanted {
            label: "n1".into(),
            address: address.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ssh_config_fills_what_the_inventory_leaves_open() {
        let cfg = config(
            "Host 192.0.2.*\n  User admin\n  Port 2222\n  IdentityFile ~/.ssh/ovh\n  ProxyJump jump@bastion:2200\n",
        );
        let t = cfg.resolve(&wanted("192.0.2.10")).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("192.0.2.10", 2222, "admin")
        );
        assert_eq!(
            t.identities,
            vec![Identity::explicit(PathBuf::from("/home/op/.ssh/ovh"))]
        );
        let jump = t.jump.expect("jump host");
        assert_eq!(
            (jump.host.as_str(), jump.port, jump.user.as_str()),
            ("bastion", 2200, "jump")
        );
    }

    #[test]
    fn inventory_values_win_over_ssh_config() {
        let cfg = config("Host *\n  User admin\n  Port 2222\n");
        let mut w = wanted("192.0.2.10");
        w.user = Some("root".into());
        w.port = Some(22);
        let t = cfg.resolve(&w).unwrap();
        assert_eq!((t.port, t.user.as_str()), (22, "root"));
    }

    #[test]
    fn host_name_replaces_the_address() {
        let cfg = config("Host web1\n  HostName 192.0.2.20\n");
        let t = cfg.resolve(&wanted("web1")).unwrap();
        assert_eq!(t.host, "192.0.2.20");
        assert!(t.jump.is_none());
    }

    #[test]
    fn named_identities_are_explicit_and_openssh_defaults_are_not() {
        let home = std::env::temp_dir().join(format!("tandem-home-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        for name in ["id_ed25519", "id_rsa"] {
            std::fs::write(home.join(".ssh").join(name), "not checked here").unwrap();
        }
        let cfg = SshConfigFile {
            config: None,
            home: Some(home.clone()),
            path: None,
        };
        // Nothing named: the default keys that exist (id_ecdsa does not), in OpenSSH's order.
        let t = cfg.resolve(&wanted("192.0.2.10")).unwrap();
        assert_eq!(
            t.identities,
            vec![
                Identity::default_key(home.join(".ssh/id_ed25519")),
                Identity::default_key(home.join(".ssh/id_rsa")),
            ]
        );
        // Named by the inventory: that file only, and it must work.
        let mut w = wanted("192.0.2.10");
        w.identity = Some(home.join(".ssh/id_rsa"));
        let t = cfg.resolve(&w).unwrap();
        assert_eq!(
            t.identities,
            vec![Identity::explicit(home.join(".ssh/id_rsa"))]
        );
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn proxy_command_is_resolved_with_its_tokens_filled() {
        let cfg = config(
            "Host web1\n  HostName 192.0.2.20\n  User admin\n  Port 2222\n  \
             ProxyCommand ssh -W %h:%p jump@bastion -l %r -o Tag=%n-100%%\n",
        );
        let t = cfg.resolve(&wanted("web1")).unwrap();
        assert_eq!(
            t.proxy_command.as_deref(),
            Some("ssh -W 192.0.2.20:2222 jump@bastion -l admin -o Tag=web1-100%")
        );
        assert!(t.jump.is_none());
        let none = config("Host *\n  ProxyCommand none\n");
        assert!(
            none.resolve(&wanted("192.0.2.10"))
                .unwrap()
                .proxy_command
                .is_none()
        );
        assert!(
            config("Host other\n  ProxyCommand nc %h %p\n")
                .resolve(&wanted("192.0.2.10"))
                .unwrap()
                .proxy_command
                .is_none()
        );
    }

    #[test]
    fn a_proxy_command_tandem_cannot_follow_exactly_is_refused_not_ignored() {
        let both = config("Host 192.0.2.*\n  ProxyJump bastion\n  ProxyCommand nc %h %p\n");
        let err = both.resolve(&wanted("192.0.2.10")).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "both ProxyCommand and ProxyJump apply to 192.0.2.10: keep only one for this host"
            ),
            "{err}"
        );
        let unknown = config("Host *\n  ProxyCommand nc %h %p %C\n");
        let err = unknown
            .resolve(&wanted("192.0.2.10"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("ProxyCommand for 192.0.2.10: unknown token %C (ProxyCommand takes %h, %p, %r, %n and %%)"),
            "{err}"
        );
        // An address that a shell would read as two commands never reaches `sh -c`.
        let err = config("Host *\n  ProxyCommand nc %h %p\n")
            .resolve(&wanted("a;reboot"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the host 'a;reboot' has characters a shell would read"),
            "{err}"
        );
    }

    #[test]
    fn tokens_are_expanded_as_openssh_does() {
        assert_eq!(
            expand_proxy_command("nc %h %p", "[2001:db8::1]", 22, "root", "n1").unwrap(),
            "nc [2001:db8::1] 22"
        );
        assert!(expand_proxy_command("nc %h %", "h", 22, "root", "n1").is_err());
        assert!(expand_proxy_command("nc %h %p", "-oProxyCommand=x", 22, "root", "n1").is_err());
        assert!(expand_proxy_command("nc %h %p -u %r", "h", 22, "r$(id)", "n1").is_err());
    }
}
