//! What `tandem keys` reads from each node before deciding anything: the node's root public
//! key (made on the node when missing: the private key never leaves it), its host keys, and
//! for each of the cluster's containers that exists there, its root file system and host keys.
//!
//! One script, one round trip per node. Its answer is plain lines `KIND WORDS...`, parsed by
//! [`parse`]; anything else it prints is ignored.

use crate::sh::{Script, ShellWord};

/// Where the node's root key pair lives: OpenSSH's default for ed25519, so `ssh` and `rsync`
/// on the node use it without options.
pub const ROOT_KEY: &str = "/root/.ssh/id_ed25519";

/// A public key: type and base64 blob (the comment is dropped: tandem writes its own tag).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublicKey {
    pub kind: String,
    pub blob: String,
}

impl PublicKey {
    /// DSA keys are skipped: OpenSSH has not offered them since 7.0, and its client's
    /// UpdateHostKeys removes a pinned key the server does not offer (tandem would put it
    /// back on every run).
    fn parse(words: &[&str]) -> Option<PublicKey> {
        match words {
            ["ssh-dss", ..] => None,
            [kind, blob, ..] if kind.starts_with("ssh-") || kind.starts_with("ecdsa-") => {
                Some(PublicKey {
                    kind: kind.to_string(),
                    blob: blob.to_string(),
                })
            }
            _ => None,
        }
    }

    pub fn line(&self) -> String {
        format!("{} {}", self.kind, self.blob)
    }
}

/// What one node said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeKeys {
    /// `None` in check mode when the node has no key yet (it would be generated).
    pub root_key: Option<PublicKey>,
    /// True when the key pair was made by this run, or would be (check mode).
    pub generated: bool,
    pub host_keys: Vec<PublicKey>,
    pub containers: Vec<ContainerKeys>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerKeys {
    pub name: String,
    /// The container's root file system as the node sees it.
    pub rootfs: String,
    pub host_keys: Vec<PublicKey>,
}

const SCRIPT: &str = r#"k={key}
if [ ! -s "$k.pub" ] && [ -s "$k" ]; then
  # A private key without its public half: derive it (read-only in check mode).
  if {check}; then p=$(ssh-keygen -y -f "$k") || exit 1; echo "rootkey $p"; k=
  else ssh-keygen -y -f "$k" >"$k.pub" || exit 1; fi
elif [ ! -s "$k" ]; then
  if {check}; then echo generated; k=
  else
    [ -d /root/.ssh ] || mkdir -m 700 /root/.ssh || exit 1
    ssh-keygen -q -t ed25519 -N '' -C "root@$(hostname) tandem" -f "$k" </dev/null >/dev/null || exit 1
    echo generated
  fi
fi
[ -z "$k" ] || echo "rootkey $(cat "$k.pub")"
for f in /etc/ssh/ssh_host_*_key.pub; do [ -s "$f" ] && echo "hostkey $(cat "$f")"; done
lxcpath=$(lxc-config lxc.lxcpath 2>/dev/null) || lxcpath=/var/lib/lxc
# The names as positional parameters: a list of data, not words of code.
set -- {names}
for c in "$@"; do
  cfg="$lxcpath/$c/config"
  [ -f "$cfg" ] || continue
  r=$(sed -n 's/^[[:space:]]*lxc\.rootfs\.path[[:space:]]*=[[:space:]]*//p' "$cfg" | tail -n 1)
  r=${r#dir:}
  [ -n "$r" ] || r="$lxcpath/$c/rootfs"
  echo "container $c $r"
  # The container's root owns these: a link there could lead this read to the node's files.
  for f in "$r"/etc/ssh/ssh_host_*_key.pub; do [ -s "$f" ] && [ ! -L "$f" ] && echo "containerkey $c $(cat "$f")"; done
done
exit 0
"#;

/// The script: run as root, in check mode (`check`) it generates nothing.
pub fn script(containers: &[String], check: bool) -> Script {
    let names: Vec<ShellWord> = containers.iter().map(|c| ShellWord::quote(c)).collect();
    Script::fill(
        SCRIPT,
        &[
            ("key", &ShellWord::quote(ROOT_KEY)),
            (
                "check",
                &ShellWord::quote(if check { "true" } else { "false" }),
            ),
            ("names", &names),
        ],
    )
}

/// Reads the script's answer.
pub fn parse(stdout: &str) -> NodeKeys {
    let mut keys = NodeKeys::default();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["generated"] => keys.generated = true,
            ["rootkey", rest @ ..] => keys.root_key = PublicKey::parse(rest),
            ["hostkey", rest @ ..] => keys.host_keys.extend(PublicKey::parse(rest)),
            ["container", name, rootfs] => keys.containers.push(ContainerKeys {
                name: name.to_string(),
                rootfs: rootfs.to_string(),
                host_keys: Vec::new(),
            }),
            ["containerkey", name, rest @ ..] => {
                if let (Some(c), Some(key)) = (
                    keys.containers.iter_mut().find(|c| c.name == *name),
                    PublicKey::parse(rest),
                ) {
                    c.host_keys.push(key);
                }
            }
            _ => {}
        }
    }
    keys.host_keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn parses_keys_and_containers() {
        let keys = parse(
            "generated\nrootkey ssh-ed25519 AAAAroot root@n1 tandem\nhostkey ssh-rsa AAAArsa root@n1\nhostkey ssh-dss AAAAdsa\n\
             hostkey ssh-ed25519 AAAAhost root@n1\nnoise\ncontainer web /srv/web/rootfs\n\
             containerkey web ssh-ed25519 AAAAc root@web\ncontainerkey nope ssh-ed25519 AAAAx\n",
        );
        assert!(keys.generated);
        assert_eq!(keys.root_key.unwrap().line(), "ssh-ed25519 AAAAroot");
        assert_eq!(keys.host_keys.len(), 2);
        assert_eq!(keys.host_keys[0].kind, "ssh-ed25519");
        assert_eq!(keys.containers.len(), 1);
        assert_eq!(keys.containers[0].rootfs, "/srv/web/rootfs");
        assert_eq!(keys.containers[0].host_keys[0].blob, "AAAAc");
    }

    #[test]
    fn the_script_is_valid_sh_and_check_mode_generates_nothing() {
        let script = script(&["web".into(), "it's".into()], true);
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(script.contains("set -- web 'it'\\''s'\n"));
    }
}
