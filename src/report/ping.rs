//! Output of `tandem ping`: an aligned table in inventory order, or JSON.

use serde_json::{Map, Value, json};

use super::human_duration;
use crate::fleet::Outcome;

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
}

impl NodeFacts {
    /// Parses the three lines the ping script prints (see commands/ping.rs).
    pub fn parse(stdout: &[u8]) -> NodeFacts {
        let text = String::from_utf8_lossy(stdout);
        let mut lines = text.lines().map(str::trim);
        let mut next = || {
            lines
                .next()
                .filter(|l| !l.is_empty())
                .unwrap_or("?")
                .to_string()
        };
        let hostname = next();
        let kernel = next();
        let os = next();
        NodeFacts {
            hostname,
            os,
            kernel,
        }
    }
}

pub fn table(outcomes: &[Outcome<NodeFacts>]) -> String {
    let mut rows = vec![
        ["NODE", "ADDRESS", "HOSTNAME", "OS", "KERNEL", "TIME"]
            .map(String::from)
            .to_vec(),
    ];
    let mut errors = Vec::new();
    for o in outcomes {
        match &o.result {
            Ok(f) => rows.push(vec![
                o.host.name.clone(),
                o.host.target.addr(),
                f.hostname.clone(),
                f.os.clone(),
                f.kernel.clone(),
                human_duration(o.elapsed),
            ]),
            Err(e) => errors.push(format!("{}: UNREACHABLE: {e}", o.host.name)),
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    for e in errors {
        text.push_str(&e);
        text.push('\n');
    }
    text
}

pub fn json_report(outcomes: &[Outcome<NodeFacts>]) -> Value {
    let mut hosts = Map::new();
    for o in outcomes {
        let value = match &o.result {
            Ok(f) => json!({
                "unreachable": false, "address": o.host.target.addr(), "hostname": f.hostname, "os": f.os,
                "kernel": f.kernel, "duration_ms": o.elapsed.as_millis() as u64,
            }),
            Err(e) => json!({
                "unreachable": true, "address": o.host.target.addr(), "error_kind": e.kind(),
                "error": e.to_string(), "duration_ms": o.elapsed.as_millis() as u64,
            }),
        };
        hosts.insert(o.host.name.clone(), value);
    }
    json!({ "hosts": hosts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_the_ping_script_output() {
        let f = NodeFacts::parse(b"node1\nLinux 6.1.0-18-amd64\nDebian GNU/Linux 12 (bookworm)\n");
        assert_eq!(f.hostname, "node1");
        assert_eq!(f.kernel, "Linux 6.1.0-18-amd64");
        assert_eq!(f.os, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(NodeFacts::parse(b"").os, "?");
    }
}
