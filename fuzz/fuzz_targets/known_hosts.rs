//! known_hosts text (`src/ssh/known_hosts.rs`), hand-edited and appended to by OpenSSH: parsed
//! and then asked about a few hosts with a fixed key, as a connection does. No panic; every
//! line is either an entry or remembered as unparsable, and the verdict's line exists.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use russh::keys::PublicKey;
use tandem::ssh::{KnownHosts, Verdict, fingerprint};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let db = KnownHosts::parse(&text, Path::new("/fuzz/known_hosts"));
    let line_count = text.lines().count();
    assert!(
        db.unparsable_lines()
            .iter()
            .all(|n| *n >= 1 && *n <= line_count)
    );
    let key = PublicKey::from_openssh(KEY).expect("the fixed key parses");
    // The first word of the input is a host name too, so matching sees hosts the file names.
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .take(255)
        .collect::<String>();
    for (host, port) in [("198.18.0.11", 22), ("node1", 2222), (first.as_str(), 22)] {
        match db.check(host, port, &key) {
            Verdict::Changed { line } | Verdict::Revoked { line } => {
                assert!(
                    line >= 1 && line <= line_count,
                    "line {line} of {line_count}"
                );
            }
            Verdict::Known | Verdict::Unknown { .. } => {}
        }
    }
    let _ = fingerprint(&key);
});
