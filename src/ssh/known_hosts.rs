//! known_hosts, parsed once per run and shared by every connection.
//!
//! Entry syntax comes from ssh-key (markers, hashed names, key types); host matching follows
//! OpenSSH's sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": comma-separated patterns with `*`/`?`,
//! `!` negation, `[host]:port` for non-default ports, and `|1|salt|hash` HMAC-SHA1 names.
//! Lines that do not parse are skipped, as OpenSSH does, but remembered so an "unknown host"
//! error can point at them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{HashAlg, PublicKey};

use super::error::SshError;

/// What known_hosts says about the key a server offered.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No entry for this host with this key type. `other_types` lists key types recorded for the host.
    Unknown {
        other_types: Vec<String>,
    },
    Changed {
        line: usize,
    },
    Revoked {
        line: usize,
    },
}

#[derive(Debug)]
struct Line {
    number: usize,
    entry: Entry,
}

#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    lines: Mutex<Vec<Line>>,
    unparsable: Vec<usize>,
}

impl KnownHosts {
    /// Reads and parses the file. A missing file is an empty database (every host unknown).
    pub fn load(path: &Path) -> Result<KnownHosts, SshError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(SshError::KnownHosts {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                });
            }
        };
        Ok(Self::parse(&text, path))
    }

    pub fn parse(text: &str, path: &Path) -> KnownHosts {
        let mut lines = Vec::new();
        let mut unparsable = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if content.is_empty() {
                continue;
            }
            match content.parse::<Entry>() {
                Ok(entry) => lines.push(Line {
                    number: index + 1,
                    entry,
                }),
                Err(_) => unparsable.push(index + 1),
            }
        }
        KnownHosts {
            path: path.to_path_buf(),
            lines: Mutex::new(lines),
            unparsable,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Line numbers that could not be parsed (skipped, as OpenSSH does).
    pub fn unparsable_lines(&self) -> &[usize] {
        &self.unparsable
    }

    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = lookup_name(host, port);
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut changed = None;
        let mut other_types = Vec::new();
        let mut known = false;
        for line in lines
            .iter()
            .filter(|l| host_matches(l.entry.host_patterns(), &name))
        {
            let recorded = line.entry.public_key();
            match line.entry.marker() {
                Some(Marker::Revoked) if recorded.key_data() == key.key_data() => {
                    return Verdict::Revoked { line: line.number };
                }
                Some(_) => continue,
                None => {}
            }
            if recorded.key_data() == key.key_data() {
                known = true;
            } else if recorded.algorithm() == key.algorithm() {
                changed.get_or_insert(line.number);
            } else {
                other_types.push(recorded.algorithm().to_string());
            }
        }
        // A stale entry of the same type next to a matching one is not a change: OpenSSH accepts
        // the host when any entry matches.
        match (known, changed) {
            (true, _) => Verdict::Known,
            (false, Some(line)) => Verdict::Changed { line },
            (false, None) => Verdict::Unknown { other_types },
        }
    }

    /// Appends the key for `--accept-new`, like OpenSSH's `StrictHostKeyChecking=accept-new`.
    /// One `write` of a whole line under a lock, so concurrent connections never interleave.
    pub fn learn(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), SshError> {
        let name = lookup_name(host, port);
        let openssh = key.to_openssh().map_err(|e| SshError::KnownHosts {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        // Drop the key's comment: known_hosts lines are "names type base64".
        let mut fields = openssh.split_whitespace();
        let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
            return Err(SshError::KnownHosts {
                path: self.path.clone(),
                detail: "cannot encode key".into(),
            });
        };
        let text = format!("{name} {kind} {data}\n");
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let io_err = |e: std::io::Error| SshError::KnownHosts {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io_err)?;
        file.write_all(text.as_bytes()).map_err(io_err)?;
        if let Ok(entry) = text.trim_end().parse::<Entry>() {
            let number = lines.iter().map(|l| l.number).max().unwrap_or(0) + 1;
            lines.push(Line { number, entry });
        }
        Ok(())
    }
}

/// The string OpenSSH looks up: the bare host on port 22, `[host]:port` otherwise.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn host_matches(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let mut matched = false;
            for pattern in list {
                if let Some(negated) = pattern.strip_prefix('!') {
                    if wildcard_match(negated, name) {
                        return false;
                    }
                } else if wildcard_match(pattern, name) {
                    matched = true;
                }
            }
            matched
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, case-insensitive for host names.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `SHA256:...` as ssh-keygen -l prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEYtep+kj9Tw7fFj9jvLvFbVMrLq1A2OcpVzKcM8H056";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFe49MceCjM6qmMIfabXHXVoq/KpXV0Kk64Haw/IQESc";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn db(text: &str) -> KnownHosts {
        KnownHosts::parse(text, Path::new("/kh"))
    }

    #[test]
    fn plain_host_matches_and_changed_key_is_detected() {
        let kh = db(&format!("# comment\n\n10.0.0.1 {KEY_A}\n"));
        assert_eq!(kh.check("10.0.0.1", 22, &key(KEY_A)), Verdict::Known);
        assert_eq!(
            kh.check("10.0.0.1", 22, &key(KEY_B)),
            Verdict::Changed { line: 3 }
        );
        assert_eq!(
            kh.check("10.0.0.2", 22, &key(KEY_A)),
            Verdict::Unknown {
                other_types: vec![]
            }
        );
    }

    #[test]
    fn non_default_port_needs_bracketed_entry() {
        let kh = db(&format!("[10.0.0.1]:2222 {KEY_A}\n"));
        assert_eq!(kh.check("10.0.0.1", 2222, &key(KEY_A)), Verdict::Known);
        assert!(matches!(
            kh.check("10.0.0.1", 22, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn wildcards_and_negation() {
        let kh = db(&format!("*.lab,!bad.lab {KEY_A}\n"));
        assert_eq!(kh.check("n1.lab", 22, &key(KEY_A)), Verdict::Known);
        assert!(matches!(
            kh.check("bad.lab", 22, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_names_match() {
        // Made with `ssh-keygen -H` for the name "node1".
        let salt = [7u8; 20];
        let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&salt).unwrap();
        mac.update(b"node1");
        let hash = mac.finalize().into_bytes();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let line = format!("|1|{}|{} {KEY_A}\n", b64.encode(salt), b64.encode(hash));
        let kh = db(&line);
        assert_eq!(kh.check("node1", 22, &key(KEY_A)), Verdict::Known);
        assert!(matches!(
            kh.check("node2", 22, &key(KEY_A)),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn revoked_key_is_refused_even_if_listed() {
        let kh = db(&format!("h {KEY_A}\n@revoked * {KEY_A}\n"));
        assert_eq!(kh.check("h", 22, &key(KEY_A)), Verdict::Revoked { line: 2 });
    }

    #[test]
    fn unparsable_lines_are_skipped_and_remembered() {
        let kh = db(&format!("garbage line here\nh {KEY_A}\n"));
        assert_eq!(kh.unparsable_lines(), &[1]);
        assert_eq!(kh.check("h", 22, &key(KEY_A)), Verdict::Known);
    }

    #[test]
    fn learn_appends_a_line_that_then_matches() {
        let dir = std::env::temp_dir().join(format!("tandem-kh-{}", std::process::id()));
        let path = dir.join("known_hosts");
        let _ = std::fs::remove_dir_all(&dir);
        let kh = KnownHosts::load(&path).unwrap();
        kh.learn("10.1.1.1", 2200, &key(KEY_A)).unwrap();
        assert_eq!(kh.check("10.1.1.1", 2200, &key(KEY_A)), Verdict::Known);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            KnownHosts::parse(&text, &path).check("10.1.1.1", 2200, &key(KEY_A)),
            Verdict::Known
        );
        assert!(text.starts_with("[10.1.1.1]:2200 ssh-ed25519 "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
