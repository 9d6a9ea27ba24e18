//! The figures a game day's measurement is made of: the probes it points at, spans, the agent's
//! phases, failed runs, probe counts, the OVH task's figures, and the two pure readers that find
//! the longest failed run and the task of a flip.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::millis;
use super::probe::ProbeResult;
use super::timeline::{EventKind, Timeline};

/// A probe the measurement points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeMark {
    pub seq: u64,
    #[serde(rename = "at_ms", with = "millis::whole")]
    pub at: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why it failed, for a failed probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ProbeMark {
    pub(super) fn of(p: &ProbeResult) -> ProbeMark {
        ProbeMark {
            seq: p.seq,
            at: p.at,
            node: p.node.clone(),
            reason: (!p.is_ok()).then(|| p.outcome.describe()),
        }
    }
}

/// A stretch of time (e.g. the shaded outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    #[serde(rename = "start_ms", with = "millis::whole")]
    pub start: Duration,
    #[serde(rename = "end_ms", with = "millis::whole")]
    pub end: Duration,
}

/// A phase of the OpenSVC agent's work during a flip (from its log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPhaseFigure {
    pub node: String,
    /// `stop: container#1`, `start: trigger ovh_failover`, ...
    pub name: String,
    /// When it began and ended, on the game day's clock.
    pub span: Span,
    pub ok: bool,
}

/// The longest run of consecutive failed probes (in start order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRun {
    pub count: u64,
    /// From the first failed probe's start to the last one's end (start + latency).
    #[serde(flatten)]
    pub span: Span,
}

/// Probe counts over a set of probes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeCounts {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// `ok / sent`, 0 when nothing was sent.
    pub success_ratio: f64,
}

impl ProbeCounts {
    pub fn of<'a>(probes: impl IntoIterator<Item = &'a ProbeResult>) -> ProbeCounts {
        let (mut sent, mut ok) = (0u64, 0u64);
        for p in probes {
            sent += 1;
            ok += u64::from(p.is_ok());
        }
        ProbeCounts {
            sent,
            ok,
            failed: sent - ok,
            success_ratio: if sent == 0 {
                0.0
            } else {
                ok as f64 / sent as f64
            },
        }
    }
}

/// The OVH task of a flip, as tandem saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFigures {
    pub task_id: u64,
    /// The first status seen for this task.
    #[serde(rename = "created_at_ms", with = "millis::whole")]
    pub created_at: Duration,
    /// When `done` was first seen.
    #[serde(rename = "done_at_ms", with = "millis::optional")]
    pub done_at: Option<Duration>,
    /// The last status seen, and when.
    pub final_status: String,
    #[serde(rename = "final_at_ms", with = "millis::whole")]
    pub final_at: Duration,
    /// `done_at - created_at`; none when the task never reached `done`.
    #[serde(rename = "duration_ms", with = "millis::optional")]
    pub duration: Option<Duration>,
}

/// The longest run of consecutive failed probes among `probes` (in start order); the first
/// such run on a tie.
pub fn longest_failed_run(probes: &[&ProbeResult]) -> Option<FailedRun> {
    let mut best: Option<FailedRun> = None;
    let mut current: Option<FailedRun> = None;
    for p in probes {
        if p.is_ok() {
            current = None;
            continue;
        }
        let end = p.at + p.latency;
        let run = match current {
            Some(mut run) => {
                run.count += 1;
                run.span.end = run.span.end.max(end);
                run
            }
            None => FailedRun {
                count: 1,
                span: Span { start: p.at, end },
            },
        };
        current = Some(run);
        if best.is_none_or(|b| run.count > b.count) {
            best = Some(run);
        }
    }
    best
}

/// The first task whose status was seen in `[from, until)`: created at its first status,
/// done at its first `done`, final at its last status.
pub fn task_figures(timeline: &Timeline, from: Duration, until: Duration) -> Option<TaskFigures> {
    let statuses: Vec<(Duration, u64, &str)> = timeline
        .events
        .iter()
        .filter(|e| e.at >= from && e.at < until)
        .filter_map(|e| match &e.kind {
            EventKind::TaskStatus { task_id, status } => Some((e.at, *task_id, status.as_str())),
            _ => None,
        })
        .collect();
    let &(created_at, task_id, _) = statuses.first()?;
    let mine = || statuses.iter().filter(|s| s.1 == task_id);
    let done_at = mine().find(|s| s.2 == "done").map(|s| s.0);
    let &(final_at, _, final_status) = mine().next_back()?;
    Some(TaskFigures {
        task_id,
        created_at,
        done_at,
        final_status: final_status.to_string(),
        final_at,
        duration: done_at.map(|d| d - created_at),
    })
}

/// The probes of the baseline (before anything moved): how the service answers when all is well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub sent: u64,
    pub ok: u64,
    #[serde(rename = "from_ms", with = "millis::whole")]
    pub from: Duration,
    #[serde(rename = "until_ms", with = "millis::whole")]
    pub until: Duration,
    /// Latency of the ok probes: median and 95th percentile (nearest rank).
    #[serde(rename = "latency_p50_ms", with = "millis::fine")]
    pub latency_p50: Duration,
    #[serde(rename = "latency_p95_ms", with = "millis::fine")]
    pub latency_p95: Duration,
}

/// The baseline: the probes started from the `baseline` phase to the first flip.
pub fn baseline(timeline: &Timeline, phase: &str) -> Option<Baseline> {
    let from = timeline.events.iter().find_map(|e| match &e.kind {
        EventKind::Phase { name } if name == phase => Some(e.at),
        _ => None,
    })?;
    let until = timeline
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FlipStarted { .. } if e.at >= from => Some(e.at),
            _ => None,
        })
        .unwrap_or(Duration::MAX);
    let probes: Vec<&ProbeResult> = timeline
        .probes
        .iter()
        .filter(|p| p.at >= from && p.at < until)
        .collect();
    let mut latencies: Vec<Duration> = probes
        .iter()
        .filter(|p| p.is_ok())
        .map(|p| p.latency)
        .collect();
    latencies.sort();
    let rank = |q: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[i - 1]
    };
    Some(Baseline {
        sent: probes.len() as u64,
        ok: latencies.len() as u64,
        from,
        until: probes.last().map_or(from, |p| p.at),
        latency_p50: rank(0.5),
        latency_p95: rank(0.95),
    })
}
