//! Output of `tandem run`: each node's block as it finishes, a one-line summary, or JSON.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{human_duration, json_bytes};
use crate::fleet::Outcome;
use crate::ssh::{ExecOutput, ExitStatus};

pub fn status_text(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit {code}"),
        ExitStatus::Signal(signal) => format!("killed by SIG{signal}"),
        ExitStatus::Unknown => "exit status unknown".to_string(),
    }
}

/// One node's block: a header line, its stdout on our stdout and its stderr on our stderr,
/// byte for byte (a newline is added after output that lacks one, so the next header starts
/// on its own line; --output-dir and --json keep the exact bytes).
pub fn print_block(outcome: &Outcome<ExecOutput>) {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let name = &outcome.host.name;
    let took = human_duration(outcome.elapsed);
    match &outcome.result {
        Ok(output) => {
            let _ = writeln!(out, "=== {name}: {} ({took})", status_text(&output.status));
            let _ = out.write_all(&output.stdout);
            if output.stdout.last().is_some_and(|b| *b != b'\n') {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
            if !output.stderr.is_empty() {
                let _ = err.write_all(&output.stderr);
                if output.stderr.last() != Some(&b'\n') {
                    let _ = err.write_all(b"\n");
                }
                let _ = err.flush();
            }
        }
        Err(e) => {
            let _ = writeln!(out, "=== {name}: UNREACHABLE ({took}): {e}");
        }
    }
}

/// Counts for the summary line and the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
}

impl Tally {
    pub fn add(&mut self, result: &Result<ExecOutput, crate::ssh::SshError>) {
        match result {
            Ok(output) if output.status.success() => self.ok += 1,
            Ok(_) => self.failed += 1,
            Err(_) => self.unreachable += 1,
        }
    }

    pub fn all_ok(&self) -> bool {
        self.failed == 0 && self.unreachable == 0
    }

    pub fn summary(&self, elapsed: Duration) -> String {
        let hosts = self.ok + self.failed + self.unreachable;
        format!(
            "{hosts} node{}: {} ok, {} failed, {} unreachable in {}",
            if hosts == 1 { "" } else { "s" },
            self.ok,
            self.failed,
            self.unreachable,
            human_duration(elapsed)
        )
    }
}

/// The `--json` document: `{"command", "hosts": {NODE: {...}}, "summary": {...}}`.
pub fn json_report(
    command: &str,
    outcomes: &[Outcome<ExecOutput>],
    tally: Tally,
    elapsed: Duration,
) -> Value {
    let mut hosts = Map::new();
    for outcome in outcomes {
        let mut host = Map::new();
        host.insert("cluster".into(), outcome.host.cluster.clone().into());
        host.insert("address".into(), outcome.host.target.addr().into());
        host.insert(
            "duration_ms".into(),
            (outcome.elapsed.as_millis() as u64).into(),
        );
        match &outcome.result {
            Ok(output) => {
                let (code, signal) = match &output.status {
                    ExitStatus::Code(c) => (Value::from(*c), Value::Null),
                    ExitStatus::Signal(s) => (Value::Null, Value::from(s.clone())),
                    ExitStatus::Unknown => (Value::Null, Value::Null),
                };
                host.insert("unreachable".into(), false.into());
                host.insert("failed".into(), (!output.status.success()).into());
                host.insert("exit_status".into(), code);
                host.insert("signal".into(), signal);
                json_bytes(&mut host, "stdout", &output.stdout);
                json_bytes(&mut host, "stderr", &output.stderr);
            }
            Err(e) => {
                host.insert("unreachable".into(), true.into());
                host.insert("failed".into(), false.into());
                host.insert("error_kind".into(), e.kind().into());
                host.insert("error".into(), e.to_string().into());
            }
        }
        hosts.insert(outcome.host.name.clone(), Value::Object(host));
    }
    json!({
        "command": command,
        "hosts": hosts,
        "summary": {
            "ok": tally.ok,
            "failed": tally.failed,
            "unreachable": tally.unreachable,
            "duration_ms": elapsed.as_millis() as u64,
        },
    })
}

/// `--output-dir`: the exact bytes, one file per stream, like pssh's --outdir.
pub fn write_output_files(dir: &Path, outcome: &Outcome<ExecOutput>) -> std::io::Result<()> {
    let name = &outcome.host.name;
    match &outcome.result {
        Ok(output) => {
            std::fs::write(dir.join(format!("{name}.stdout")), &output.stdout)?;
            std::fs::write(dir.join(format!("{name}.stderr")), &output.stderr)?;
            std::fs::write(
                dir.join(format!("{name}.status")),
                format!("{}\n", status_text(&output.status)),
            )
        }
        Err(e) => std::fs::write(
            dir.join(format!("{name}.status")),
            format!("unreachable: {e}\n"),
        ),
    }
}
