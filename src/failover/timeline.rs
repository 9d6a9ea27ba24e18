//! What happened during one game day, in order: the command's events (phases, API calls, OVH
//! task states, commands on nodes, restore actions, notes) and every probe result, all stamped
//! from one [`Clock`]. The figures are computed from it afterwards ([`super::measurement`]),
//! never accumulated on the fly, so they can be tested on hand-built timelines and recomputed
//! from a saved JSON report.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::millis;
use super::probe::{ProbeConfig, ProbeMode, ProbeResult};

/// One thing the command did or saw, at a time offset from the game day's clock origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "at_ms", with = "millis::fine")]
    pub at: Duration,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of events. Plain strings and numbers only: the timeline knows neither SSH nor
/// the OVH client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A stage of the game day, e.g. `preflight`, `restore`, `finished`.
    Phase { name: String },
    /// The VIP is about to move from `from` to `to`; `label` names the flip (`switch`,
    /// `flip-back`). Each flip is measured from here, so record it before the move is asked.
    FlipStarted {
        label: String,
        from: String,
        to: String,
    },
    /// An API request left (`POST`, `/ip/203.0.113.10/move`).
    ApiRequest { method: String, path: String },
    /// Its answer: the HTTP status, or none with an error when no answer came.
    ApiResponse {
        method: String,
        path: String,
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The OVH task's status as tandem saw it (`init`, `todo`, `doing`, `done`, `cancelled`,
    /// `customerError`, `ovhError`). The first status seen for a task id counts as its
    /// creation: record the status the move's answer carried, then each change seen by polling.
    TaskStatus { task_id: u64, status: String },
    /// A command began on a node (`stop web` on the source, `start web` on the target).
    CommandStarted { node: String, command: String },
    /// It ended; `detail` says why it failed (or what it printed, briefly).
    CommandFinished {
        node: String,
        command: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The first failed probe of a flip's outage. Derived from the probes by the measurement:
    /// the command does not record it.
    FirstFailedProbe { seq: u64, reason: String },
    /// The first ok probe answered by the flip's target. Derived, like the first failure.
    FirstAnswer { node: String, seq: u64 },
    /// Something done to put things back (after a failure, or `--flip-back`'s undo of a stop).
    Restore {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<bool>,
    },
    /// A stretch of the OpenSVC agent's own work on a node (`stop: container#1`, `start:
    /// trigger ovh_failover`), read from its service log after the switch and recorded at the
    /// time it began: where a switch through the agent spent its time.
    AgentPhase {
        node: String,
        name: String,
        #[serde(rename = "duration_ms", with = "millis::whole")]
        duration: Duration,
        ok: bool,
    },
    /// Free text for the report.
    Note { level: NoteLevel, text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteLevel {
    Info,
    Warning,
}

impl EventKind {
    /// A short lowercase tag for tables and the live view.
    pub fn tag(&self) -> &'static str {
        match self {
            EventKind::Phase { .. } => "phase",
            EventKind::FlipStarted { .. } => "flip",
            EventKind::ApiRequest { .. } => "api",
            EventKind::ApiResponse { .. } => "api",
            EventKind::TaskStatus { .. } => "task",
            EventKind::CommandStarted { .. } => "node",
            EventKind::CommandFinished { .. } => "node",
            EventKind::FirstFailedProbe { .. } => "probe",
            EventKind::FirstAnswer { .. } => "probe",
            EventKind::Restore { .. } => "restore",
            EventKind::AgentPhase { .. } => "agent",
            EventKind::Note {
                level: NoteLevel::Info,
                ..
            } => "note",
            EventKind::Note {
                level: NoteLevel::Warning,
                ..
            } => "warning",
        }
    }

    /// One line for people: `POST /ip/203.0.113.10/move -> 200`, `task 42: done`, ...
    pub fn describe(&self) -> String {
        match self {
            EventKind::Phase { name } => name.clone(),
            EventKind::FlipStarted { label, from, to } => format!("{label}: {from} -> {to}"),
            EventKind::ApiRequest { method, path } => format!("{method} {path}"),
            EventKind::ApiResponse {
                method,
                path,
                status,
                error,
            } => {
                let status = status.map_or("no answer".to_string(), |s| s.to_string());
                match error {
                    Some(e) => format!("{method} {path} -> {status}: {e}"),
                    None => format!("{method} {path} -> {status}"),
                }
            }
            EventKind::TaskStatus { task_id, status } => format!("task {task_id}: {status}"),
            EventKind::CommandStarted { node, command } => format!("{node}: {command}"),
            EventKind::CommandFinished {
                node,
                command,
                ok,
                detail,
            } => {
                let result = if *ok { "ok" } else { "FAILED" };
                match detail {
                    Some(d) => format!("{node}: {command}: {result} ({d})"),
                    None => format!("{node}: {command}: {result}"),
                }
            }
            EventKind::FirstFailedProbe { seq, reason } => {
                format!("first failed probe #{seq} ({reason})")
            }
            EventKind::FirstAnswer { node, seq } => format!("first answer from {node} (#{seq})"),
            EventKind::Restore { action, ok } => match ok {
                Some(true) => format!("{action}: ok"),
                Some(false) => format!("{action}: FAILED"),
                None => action.clone(),
            },
            EventKind::AgentPhase {
                node,
                name,
                duration,
                ok,
            } => format!(
                "{node}: agent {name}, {:.1} s{}",
                duration.as_secs_f64(),
                if *ok { "" } else { ": ERROR" }
            ),
            EventKind::Note { text, .. } => text.clone(),
        }
    }

    /// Whether this event says something went wrong (shown in red).
    pub fn is_problem(&self) -> bool {
        match self {
            EventKind::ApiResponse { status, .. } => status.is_none_or(|s| s >= 400),
            EventKind::TaskStatus { status, .. } => is_task_failure(status),
            EventKind::CommandFinished { ok, .. } => !ok,
            EventKind::Restore { ok, .. } => *ok == Some(false),
            EventKind::AgentPhase { ok, .. } => !ok,
            EventKind::Note { level, .. } => *level == NoteLevel::Warning,
            _ => false,
        }
    }
}

/// OVH's final task states other than `done`.
pub fn is_task_failure(status: &str) -> bool {
    matches!(status, "cancelled" | "customerError" | "ovhError")
}

/// How the service was probed, for the report's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// `http GET /` or `tcp`.
    pub mode: String,
    /// `203.0.113.10:80`.
    pub target: String,
    #[serde(rename = "interval_ms", with = "millis::whole")]
    pub interval: Duration,
    #[serde(rename = "timeout_ms", with = "millis::whole")]
    pub timeout: Duration,
}

impl ProbeSettings {
    pub fn from_config(config: &ProbeConfig) -> ProbeSettings {
        ProbeSettings {
            mode: match &config.mode {
                ProbeMode::Tcp => "tcp".to_string(),
                ProbeMode::Http(check) => format!("http GET {}", check.path),
            },
            target: config.target.to_string(),
            interval: config.effective_interval(),
            timeout: config.timeout,
        }
    }
}

/// One game day: who, when, and everything that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub cluster: String,
    /// `switch`, `node-crash` (a timeline from before scenarios existed is a switch).
    #[serde(default = "switch")]
    pub scenario: String,
    /// The failover IP.
    pub vip: String,
    /// Wall clock at the clock origin (ms since the Unix epoch).
    pub started_unix_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeSettings>,
    /// What fails the verdict whatever the downtime: two nodes serving at once, a VIP that
    /// flapped (a network split's findings), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// The RPO budget the game day holds each flip to (`rpo_seconds`, `--rpo`), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_budget_ms: Option<u64>,
    /// The last completed syncs, read on each flip's target after it took over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_syncs: Vec<super::rpo::TargetSyncs>,
    /// In time order.
    pub events: Vec<Event>,
    /// In start order (`seq`).
    pub probes: Vec<ProbeResult>,
}

fn switch() -> String {
    "switch".into()
}

impl Timeline {
    /// An empty timeline whose times are offsets from `clock`'s origin.
    pub fn new(cluster: &str, vip: &str, clock: &Clock) -> Timeline {
        Timeline {
            cluster: cluster.to_string(),
            scenario: switch(),
            vip: vip.to_string(),
            started_unix_ms: clock.origin_unix_ms(),
            probe: None,
            violations: Vec::new(),
            rpo_budget_ms: None,
            last_syncs: Vec::new(),
            events: Vec::new(),
            probes: Vec::new(),
        }
    }

    /// Adds an event at `at`, keeping time order (events recorded late slot in place; equal
    /// times keep recording order).
    pub fn record(&mut self, at: Duration, kind: EventKind) {
        let position = self.events.partition_point(|e| e.at <= at);
        self.events.insert(position, Event { at, kind });
    }

    /// Adds an event stamped now.
    pub fn record_now(&mut self, clock: &Clock, kind: EventKind) {
        self.record(clock.offset(), kind);
    }

    /// Adds a probe result (they arrive in completion order), keeping start order.
    pub fn add_probe(&mut self, result: ProbeResult) {
        let position = self.probes.partition_point(|p| p.seq <= result.seq);
        self.probes.insert(position, result);
    }

    /// The last moment the timeline knows of: the latest event, or the end of the latest probe.
    pub fn end(&self) -> Duration {
        let events = self.events.last().map(|e| e.at);
        let probes = self.probes.iter().map(|p| p.at + p.latency).max();
        events.max(probes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::probe::ProbeOutcome;

    fn probe(seq: u64, at_ms: u64) -> ProbeResult {
        ProbeResult {
            seq,
            at: Duration::from_millis(at_ms),
            unix_ms: 0,
            latency: Duration::from_millis(1),
            outcome: ProbeOutcome::Ok,
            node: None,
        }
    }

    #[test]
    fn events_and_probes_stay_in_order_whatever_the_arrival_order() {
        let clock = Clock::start();
        let mut t = Timeline::new("web", "203.0.113.10", &clock);
        t.record(
            Duration::from_millis(50),
            EventKind::Phase { name: "b".into() },
        );
        t.record(
            Duration::from_millis(10),
            EventKind::Phase { name: "a".into() },
        );
        t.record(
            Duration::from_millis(50),
            EventKind::Phase { name: "c".into() },
        );
        let names: Vec<String> = t.events.iter().map(|e| e.kind.describe()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        for seq in [2, 3, 1] {
            t.add_probe(probe(seq, seq * 100));
        }
        assert_eq!(
            t.probes.iter().map(|p| p.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(t.end(), Duration::from_millis(301));
    }

    #[test]
    fn events_serialize_with_their_kind_inline() {
        let e = Event {
            at: Duration::from_millis(1500),
            kind: EventKind::TaskStatus {
                task_id: 42,
                status: "doing".into(),
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at_ms": 1500.0, "kind": "task_status", "task_id": 42, "status": "doing"})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
    }
}
