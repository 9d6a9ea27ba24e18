//! The OpenSVC agent (v2) as a switch sees it: the scripts that ask it things, and pure readers
//! of what it answers. A switch through the agent (`om SVC switch --to NODE`) returns at once
//! while the daemons go on orchestrating, so the caller polls the agent's own status until the
//! service is up on the target with nothing left to do ([`judge_switch`]), or until an instance
//! reports a failed action. Its service log then says where the time went ([`phases`]).
//!
//! Nothing here runs anything: the game day and `deploy --rolling` ship the scripts over their
//! sessions and feed the answers back in, so all of this is tested on recorded answers.

use std::time::Duration;

use serde_json::Value;

use crate::sh::{Script, ShellWord};

/// Where the agent writes a root-namespace service's log (its own packaging's layout).
pub const LOG_DIR: &str = "/var/log/opensvc";

/// The status of a service's instance on one node, as the daemons share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub node: String,
    /// `up`, `down`, `stdby up`, `warn`, `n/a`, ...
    pub avail: String,
    pub frozen: bool,
    /// The monitor's state: `idle`, `stopping`, `starting`, `wait parents`, `start failed`, ...
    pub status: String,
    /// What the orchestrator aims at (`placed@node2`, `started`, ...); `None` when unset.
    pub global_expect: Option<String>,
    /// The service's `orchestrate` keyword: `ha` when the daemons fail it over by themselves,
    /// `no` (what the agent omits from its status) when only a person switches it.
    pub orchestrate: String,
}

impl Instance {
    fn failed(&self) -> bool {
        self.status.ends_with("failed")
    }

    fn expecting(&self) -> bool {
        self.global_expect
            .as_deref()
            .is_some_and(|e| !matches!(e, "aborted"))
    }

    /// `node2 stdby up idle frozen`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {} {}", self.node, self.avail, self.status);
        if let Some(expect) = &self.global_expect {
            text.push_str(&format!(" (expect {expect})"));
        }
        if self.frozen {
            text.push_str(" frozen");
        }
        text
    }
}

/// A daemon status that is not the document the agent writes.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// `head`: the text's first 120 characters (what the node printed instead).
    #[error("the agent's status is not JSON ({error}): {head}")]
    NotJson {
        error: serde_json::Error,
        head: String,
    },
    #[error("the agent's status has no monitor.nodes: is its daemon running?")]
    NoMonitor,
}

/// The instances of `service` in the daemon status (`om daemon status --format json`), in
/// node-name order. `Err` when the text is not that document.
pub fn instances(status_json: &str, service: &str) -> Result<Vec<Instance>, StatusError> {
    let doc: Value =
        serde_json::from_str(status_json.trim()).map_err(|error| StatusError::NotJson {
            error,
            head: status_json.chars().take(120).collect(),
        })?;
    let Some(nodes) = doc.pointer("/monitor/nodes").and_then(Value::as_object) else {
        return Err(StatusError::NoMonitor);
    };
    let mut out = Vec::new();
    for (node, data) in nodes {
        let Some(inst) = data
            .pointer("/services/status")
            .and_then(|s| s.get(service))
        else {
            continue;
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let global_expect = text(inst.pointer("/monitor/global_expect"));
        out.push(Instance {
            node: node.clone(),
            avail: text(inst.get("avail")),
            frozen: match inst.get("frozen") {
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f > 0.0),
                _ => false,
            },
            status: text(inst.pointer("/monitor/status")),
            global_expect: match global_expect.as_str() {
                "" | "unset" | "none" => None,
                _ => Some(global_expect),
            },
            orchestrate: inst
                .get("orchestrate")
                .and_then(Value::as_str)
                .unwrap_or("no")
                .to_string(),
        });
    }
    Ok(out)
}

/// One line for the timeline: `node1 down idle; node2 up idle`.
pub fn describe(instances: &[Instance]) -> String {
    if instances.is_empty() {
        return "no instance of the service".into();
    }
    instances
        .iter()
        .map(Instance::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where a switch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Up on the target, every monitor idle, no orchestration pending.
    Done,
    /// Still moving (what the instances say).
    Working(String),
    /// An instance reports a failed action (`node2: start failed`).
    Failed(String),
}

/// Judges a switch to `target` from the instances' status. A standby resource makes a node
/// `stdby up`, which is not `up`: only the real end of the switch is `Done`.
pub fn judge_switch(instances: &[Instance], target: &str) -> Progress {
    let failed: Vec<String> = instances
        .iter()
        .filter(|i| i.failed())
        .map(|i| format!("{}: {}", i.node, i.status))
        .collect();
    if !failed.is_empty() {
        return Progress::Failed(failed.join(", "));
    }
    let up_on_target = instances
        .iter()
        .any(|i| i.node == target && i.avail == "up");
    let settled = instances
        .iter()
        .all(|i| i.status == "idle" && !i.expecting());
    if up_on_target && settled {
        Progress::Done
    } else {
        Progress::Working(describe(instances))
    }
}

/// Whether the agent has stopped working on the service: every monitor idle or failed, no
/// orchestration under way. A restore waits for this before it acts.
pub fn is_quiet(instances: &[Instance]) -> bool {
    instances
        .iter()
        .all(|i| (i.status == "idle" || i.failed()) && !i.expecting())
}

/// The `om node wait` filter that holds once `service` is up on `node`.
pub fn up_filter(service: &str, node: &str) -> String {
    format!("monitor.nodes.'{node}'.services.status.'{service}'.avail=up")
}

const POLL: &str = r#"om node wait --filter {filter} --duration {secs} >/dev/null 2>&1
om daemon status --format json
"#;

/// One round of waiting: returns as soon as the service is up on `node` (or after `chunk`),
/// then prints the daemon status for [`instances`]. Waiting in the daemon reacts at once; the
/// status after it says whether the agent is done, still working, or failed.
pub fn poll_script(service: &str, node: &str, chunk: Duration) -> Script {
    Script::fill(
        POLL,
        &[
            ("filter", &ShellWord::quote(&up_filter(service, node))),
            ("secs", &ShellWord::number(chunk.as_secs().max(1))),
        ],
    )
}

/// The daemon status, at once.
pub fn status_script() -> Script {
    Script::code("om daemon status --format json\n")
}

const CLEAR: &str = r#"if [ {abort} = yes ]; then timeout 60 om {svc} abort >/dev/null 2>&1 || true; fi
timeout 60 om {svc} clear
"#;

/// Cancels what the orchestrator still aims at (`abort`, when `abort`), then clears the failed
/// monitor states on every node (`clear`): the agent refuses new orders until then.
pub fn clear_script(service: &str, abort: bool) -> Script {
    Script::fill(
        CLEAR,
        &[
            ("svc", &ShellWord::quote(service)),
            ("abort", &ShellWord::quote(if abort { "yes" } else { "no" })),
        ],
    )
}

const STOP_LOCAL: &str = r#"timeout 180 om {svc} stop --local || exit 1
timeout 60 om {svc} thaw --local
"#;

/// Stops the service's instance on this node, through the agent (its triggers run), then thaws
/// it: the agent freezes an instance stopped by hand, and a frozen standby is one the
/// orchestrator could not fail over to later.
pub fn stop_local_script(service: &str) -> Script {
    Script::fill(STOP_LOCAL, &[("svc", &ShellWord::quote(service))])
}

const THAW_LOCAL: &str = "timeout 60 om {svc} thaw --local\n";

/// Thaws the service's instance on this node (the agent freezes one it found in a state it did
/// not make, e.g. after a crash).
pub fn thaw_local_script(service: &str) -> Script {
    Script::fill(THAW_LOCAL, &[("svc", &ShellWord::quote(service))])
}

const START_LOCAL: &str = r#"if [ {thaw} = yes ]; then timeout 60 om {svc} thaw --local || exit 1; fi
timeout 180 om {svc} start --local
"#;

/// Starts it here, through the agent (the failover trigger moves the VIP here first), thawing
/// the instance first when it is frozen (a frozen instance is left alone by the orchestrator).
pub fn start_local_script(service: &str, thaw: bool) -> Script {
    Script::fill(
        START_LOCAL,
        &[
            ("svc", &ShellWord::quote(service)),
            ("thaw", &ShellWord::quote(if thaw { "yes" } else { "no" })),
        ],
    )
}

const LOGS: &str = r#"date +%z
tail -n 600 {log} 2>/dev/null
exit 0
"#;

/// The node's UTC offset (`+0000`), then the end of the service's log.
pub fn logs_script(service: &str) -> Script {
    Script::fill(
        LOGS,
        &[(
            "log",
            &ShellWord::quote(&format!("{LOG_DIR}/{service}.log")),
        )],
    )
}

/// One line of the service's log:
/// `2026-12-02 06:50:06,123 INFO sid:UUID n:node1 o:web r:ip#1 sc:n | message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub unix_ms: u64,
    pub level: String,
    /// The agent's session (`sid:`): one per action it runs.
    pub sid: String,
    /// The resource (`r:`), if the line is a resource's.
    pub rid: Option<String>,
    pub message: String,
}

/// The lines of [`logs_script`]'s output (its first line is the node's UTC offset). Lines
/// that do not parse (a message's continuation lines) are skipped.
pub fn parse_log(text: &str) -> Vec<LogLine> {
    let mut lines = text.lines();
    let offset_s = lines.next().and_then(utc_offset_seconds).unwrap_or(0);
    lines.filter_map(|l| parse_line(l, offset_s)).collect()
}

/// `+0130` -> 5400, `-0500` -> -18000.
fn utc_offset_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, digits) = match text.split_at_checked(1)? {
        ("+", d) => (1, d),
        ("-", d) => (-1, d),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

fn parse_line(line: &str, offset_s: i64) -> Option<LogLine> {
    let (head, message) = line.split_once(" | ")?;
    let mut words = head.split_whitespace();
    let (date, time) = (words.next()?, words.next()?);
    let level = words.next()?.to_string();
    let context: Vec<&str> = words.collect();
    let tagged = |tag: &str| {
        context
            .iter()
            .find_map(|w| w.strip_prefix(tag))
            .map(String::from)
    };
    let (clock, millis) = time.split_once(',')?;
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{date} {clock}"), "%Y-%m-%d %H:%M:%S")
            .ok()?;
    let millis: i64 = millis.get(..3)?.parse().ok()?;
    let unix_ms = (naive.and_utc().timestamp() - offset_s) * 1000 + millis;
    Some(LogLine {
        unix_ms: u64::try_from(unix_ms).ok()?,
        level,
        sid: tagged("sid:").unwrap_or_default(),
        rid: tagged("r:"),
        message: message.trim_end().to_string(),
    })
}

/// A stretch of the agent's work on one node: `stop: container#1`, `start: ip#1 address
/// check`, `start: trigger ovh_failover`, from its first line to the next line of the same
/// action (or its own last line when the action ends there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    /// False when one of its lines is an error.
    pub ok: bool,
}

/// What a resource's line starts: a trigger's run (`blocking_pre_start: /etc/opensvc/web.d/
/// ovh_failover` — its output lines follow, prefixed `| `), the ip resource's check that
/// nobody answers on the address yet (`checking 203.0.113.10 availability (5s)`: a ping with a
/// timeout), or plain work on the resource.
fn label(rid: &str, message: &str, trigger_dir: &str) -> Option<String> {
    if message.starts_with("| ") {
        return None;
    }
    if let Some(at) = message.find(trigger_dir) {
        let name = message[at + trigger_dir.len()..]
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .next()
            .unwrap_or("");
        return Some(format!("trigger {name}"));
    }
    if message.starts_with("checking ") && message.contains(" availability") {
        return Some(format!("{rid} address check"));
    }
    Some(rid.to_string())
}

/// The phases of the log lines from `since_unix_ms` on: each action the agent ran (`do stop
/// ...`) cut into runs of one resource's work, a trigger's run or an address check each a phase
/// of its own (a trigger is where OVH's move happens). The action's own lines (without a
/// resource) are left out: the time between actions is the daemons' orchestration.
pub fn phases(lines: &[LogLine], since_unix_ms: u64, service: &str) -> Vec<Phase> {
    let lines: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.unix_ms >= since_unix_ms)
        .collect();
    let trigger_dir = format!("{service}.d/");
    let mut out: Vec<Phase> = Vec::new();
    let mut action = String::new();
    // The open phase: its label, and whether plain lines of its resource extend it.
    let mut open: Option<(String, bool, Phase)> = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.message.strip_prefix("do ") {
            action = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        // A phase lasts until the next line of the same action: its work is done then.
        let end = match lines.get(i + 1) {
            Some(next) if next.sid == line.sid => next.unix_ms,
            _ => line.unix_ms,
        };
        let error = line.level == "ERROR";
        let Some(rid) = &line.rid else {
            if let Some((_, _, phase)) = open.take() {
                out.push(phase);
            }
            continue;
        };
        let label = label(rid, &line.message, &trigger_dir);
        let extends = match (&open, &label) {
            // A trigger's output, or more plain work on the same resource.
            (Some((_, _, phase)), None) => phase.start_unix_ms <= line.unix_ms,
            (Some((open_label, plain, _)), Some(l)) => *plain && open_label == l,
            (None, _) => false,
        };
        if extends && let Some((_, _, phase)) = &mut open {
            phase.end_unix_ms = end;
            phase.ok &= !error;
            continue;
        }
        if let Some((_, _, phase)) = open.take() {
            out.push(phase);
        }
        let label = label.unwrap_or_else(|| rid.clone());
        let plain = label == *rid;
        let name = if action.is_empty() {
            label.clone()
        } else {
            format!("{action}: {label}")
        };
        open = Some((
            label,
            plain,
            Phase {
                name,
                start_unix_ms: line.unix_ms,
                end_unix_ms: end,
                ok: !error,
            },
        ));
    }
    if let Some((_, _, phase)) = open {
        out.push(phase);
    }
    out
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
