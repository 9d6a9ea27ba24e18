//! A lab node never waits on the outside world: apt and name lookups inside it fail at once,
//! saying why, instead of hanging on a mirror it cannot reach (issue 11: a cookbook step waited
//! ten minutes on `apt-get update`).
//!
//! What stops a node's traffic from leaving the machine: each node has a default route through
//! its lab bridge (`net::wire_node`), and the host does not forward packets from there
//! (`net.ipv4.ip_forward` is 0 on a machine that was not made a router, and the lab never
//! turns it on or adds NAT). So a node's packets to the outside are dropped at the host, silently:
//! a client inside would wait for its own timeout. What this module writes into the node's
//! overlay turns that wait into an immediate, explained failure:
//! - apt's network methods (http, https, ftp, mirror, tor, ssh/rsh) are replaced, for apt inside
//!   the node only, by a script that answers every fetch at once with a failure whose reason is
//!   [`MESSAGE`], so apt's own last lines (`E: Failed to fetch URL  MESSAGE`), which are what a
//!   failed `package` step shows, say why;
//! - `/etc/resolv.conf` names the node's own loopback, where nothing answers on port 53: a
//!   lookup is refused at once instead of waiting on an unreachable resolver.
//!
//! A package the cookbook needs therefore has to be installed on the host (the node's root is an
//! overlay of the host's): `integration/scripts/setup.sh` installs all of
//! `integration/scripts/packages.list`.

use std::fs;
use std::path::Path;

use super::error::LabError;
use super::sys;

/// What apt inside a node says instead of reaching for a mirror.
pub const MESSAGE: &str = "tandem-lab: the lab has no route out; install the package on the \
host: integration/scripts/setup.sh / packages.list";

/// Where the host's apt keeps its methods; the local ones are reused from there.
const HOST_METHODS: &str = "/usr/lib/apt/methods";

/// The node's own methods directory (inside its overlay).
const NODE_METHODS: &str = "etc/tandem-lab/apt-methods";

/// Methods that reach the network: replaced. Names are matched as prefixes (`mirror+http`).
const NETWORK_METHODS: &[&str] = &["http", "https", "ftp", "mirror", "tor", "ssh", "rsh"];

/// Methods that read local files or transform them, kept (`file:` sources still work).
const LOCAL_METHODS: &[&str] = &["cdrom", "copy", "file", "gpgv", "rred", "store"];

/// Writes the node's apt configuration, its apt methods and its resolv.conf into `upper`, the
/// node's overlay upper directory (what the node sees at `/`).
pub fn apply(upper: &Path) -> Result<(), LabError> {
    let etc = upper.join("etc");
    let methods = upper.join(NODE_METHODS);
    sys::mkdir(&methods, 0o755)?;
    let refuse = refusing_script();
    for name in NETWORK_METHODS {
        sys::write_file(&methods.join(name), refuse.as_bytes(), 0o755)?;
    }
    // The host's other network methods (mirror+https, tor+http, ...) by their own names.
    if let Ok(entries) = fs::read_dir(HOST_METHODS) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if NETWORK_METHODS.iter().any(|m| name.starts_with(m)) {
                sys::write_file(&methods.join(&name), refuse.as_bytes(), 0o755)?;
            }
        }
    }
    for name in LOCAL_METHODS {
        let target = Path::new(HOST_METHODS).join(name);
        let link = methods.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link)
            .map_err(|e| LabError::io(format!("linking {}", link.display()), e))?;
    }

    let apt_conf = etc.join("apt/apt.conf.d");
    sys::mkdir(&etc.join("apt"), 0o755)?;
    sys::mkdir(&apt_conf, 0o755)?;
    sys::write_file(
        &apt_conf.join("00tandem-lab-no-route"),
        apt_config().as_bytes(),
        0o644,
    )?;
    sys::write_file(&etc.join("resolv.conf"), RESOLV_CONF.as_bytes(), 0o644)
}

/// A stand-in apt method speaking apt's method protocol: it announces itself, then answers each
/// `600 URI Acquire` request with `400 URI Failure` and the reason, without touching the
/// network; it ends when apt closes its stdin.
fn refusing_script() -> String {
    format!(
        r#"#!/bin/sh
# Written by tandem-lab up (see integration/src/lab/no_route.rs): every fetch fails at once.
m='{MESSAGE}'
printf '100 Capabilities\nVersion: 1.2\nSingle-Instance: true\nSend-Config: false\n\n'
uri=
while IFS= read -r line; do
  case $line in
  'URI: '*) uri=${{line#URI: }} ;;
  '') [ -z "$uri" ] || printf '400 URI Failure\nURI: %s\nMessage: %s\n\n' "$uri" "$m"; uri= ;;
  esac
done
"#
    )
}

fn apt_config() -> String {
    format!(
        "// Written by tandem-lab up: the lab has no route out (see integration/src/lab/no_route.rs).\n\
         Dir::Bin::Methods \"/{NODE_METHODS}\";\n"
    )
}

/// Nothing listens on the node's loopback port 53: a lookup is refused at once.
const RESOLV_CONF: &str = "# Written by tandem-lab up: the lab has no route out, so no resolver \
is reachable; lookups fail at once.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_holds_no_quote_that_would_break_the_scripts() {
        assert!(!MESSAGE.contains('\''));
        assert!(!MESSAGE.contains('"'));
    }

    /// The method, fed what apt sends, answers each request with a failure and the reason.
    #[test]
    fn the_method_fails_each_fetch_with_the_reason() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(refusing_script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"600 URI Acquire\nURI: http://deb.example/a.deb\nFilename: /tmp/a\n\n\
                  600 URI Acquire\nURI: http://deb.example/b.deb\nFilename: /tmp/b\n\n",
            )
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success());
        assert!(text.starts_with("100 Capabilities\n"), "{text}");
        for uri in ["http://deb.example/a.deb", "http://deb.example/b.deb"] {
            assert!(
                text.contains(&format!(
                    "400 URI Failure\nURI: {uri}\nMessage: {MESSAGE}\n\n"
                )),
                "{text}"
            );
        }
    }
}
