//! The figures of a game day and its verdict, computed from a [`Timeline`] by pure functions.
//!
//! A game day holds one flip (`switch`) or two (`--flip-back`), each opened by an
//! [`EventKind::FlipStarted`] event. Each flip is measured on its own window of probes:
//!
//! - the **window** of flip k starts where the previous flip's target first answered (or at the
//!   flip's own start if it never did; at 0 for the first flip), so the source's last answers
//!   before the move are in it, and ends where the next flip starts (or never);
//! - the **first answer from the target** is the first ok probe that started at or after the
//!   flip's start and was answered by the target node (see [`Attribution`] for TCP probes);
//! - the **outage start** is the last ok probe (from any node, in practice the source) that
//!   started before that first answer; if the target never answered, the last ok probe of the
//!   window; if no probe of the window was ever ok, the window's first probe.
//!
//! **Downtime** is `first answer from the target - outage start`, both probe start times, when
//! at least one probe failed in between; it overestimates the real outage by less than one
//! probe interval (the outage began after the last ok probe started). When no probe failed in
//! between (the handover fell between two probes), the downtime is 0. When the target never
//! answered, the downtime runs to the last failed probe's start: a lower bound of an outage that
//! had not ended when probing stopped, and the flip fails whatever the budget.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::utc_datetime;
use super::millis;
use super::phases::PhaseFigure;
use super::probe::ProbeResult;
use super::run_info::RunInfo;
use super::timeline::{Event, EventKind, Timeline};

pub use super::figures::{
    AgentPhaseFigure, Baseline, FailedRun, ProbeCounts, ProbeMark, Span, TaskFigures,
    longest_failed_run, task_figures,
};

/// Pass or fail, against the RTO budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// How the target's answers were told apart from the source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Ok probes name the node that answered (HTTP with a node marker).
    ByNode,
    /// No ok probe of the window named a node (TCP probes, or no marker in the body): the
    /// target is taken to answer from the first ok probe after the first failure that followed
    /// the flip's start; if no probe failed, from the first ok probe after the task's `done`.
    ByTiming,
}

/// Everything measured about one flip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlipMeasurement {
    /// `switch`, `flip-back`.
    pub label: String,
    pub from: String,
    pub to: String,
    pub verdict: Verdict,
    /// When the flip started (its `FlipStarted` event).
    #[serde(rename = "started_at_ms", with = "millis::whole")]
    pub started_at: Duration,
    /// See the module documentation for the exact definition.
    #[serde(rename = "downtime_ms", with = "millis::whole")]
    pub downtime: Duration,
    /// False when the target never answered: the downtime is then a lower bound.
    pub target_answered: bool,
    /// Outage start to first answer from the target (or to the last failure): the shaded span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok_before_outage: Option<ProbeMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failed_probe: Option<ProbeMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_target_answer: Option<ProbeMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_failed_run: Option<FailedRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskFigures>,
    /// "tandem's reaction": first answer from the target minus the task's `done`, in ms.
    /// Negative when the target answered before tandem saw `done` (polling lags the route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_ms: Option<i64>,
    /// Probes started from this flip's start (0 for the first flip) to the next flip's start.
    pub probes: ProbeCounts,
    pub attribution: Attribution,
    /// Facts worth a sentence in the report (e.g. "the target never answered").
    pub notes: Vec<String>,
    /// How old the data was on the target when it took over (where rsync resources sync it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<super::rpo::RpoFigures>,
    /// A crash's detection (`node-crash` only): from the last answer before the outage to the
    /// survivor's agent's first action on the service, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_ms: Option<u64>,
    /// The OpenSVC agent's phases during this flip, in time order: where a switch through
    /// the agent spent its time (none for `--direct`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_phases: Vec<AgentPhaseFigure>,
    /// The flip cut into its phases (stop, OVH task, start, first answer): [`super::phases`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseFigure>,
    /// The phase that took most of the outage, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_path: Option<String>,
}

/// A whole game day: the `--json` document (DESIGN.md section 7 fixes `verdict`, `from`, `to`,
/// `downtime_ms`, `probes.sent`, `probes.ok`) and what the renderers draw.
///
/// The top-level `from`, `to`, `downtime_ms` and `target_answered` are the first flip's (the
/// switch that was asked for); `verdict` passes only when every flip passed; `probes` counts
/// the whole game day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameDayReport {
    pub verdict: Verdict,
    pub from: String,
    pub to: String,
    #[serde(rename = "downtime_ms", with = "millis::whole")]
    pub downtime: Duration,
    pub target_answered: bool,
    pub probes: ProbeCounts,
    #[serde(rename = "rto_budget_ms", with = "millis::whole")]
    pub rto_budget: Duration,
    pub cluster: String,
    /// `switch`, `node-crash`: what was played.
    #[serde(default = "switch")]
    pub scenario: String,
    pub vip: String,
    /// `2024-05-06 07:08:09 UTC`.
    pub started_at: String,
    pub flips: Vec<FlipMeasurement>,
    /// The probes before anything moved (none in a report from before baselines existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// What was run (version, command line, inventory, agent or `--direct`): set by the
    /// command, which alone knows them; none in reports from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    pub timeline: Timeline,
}

fn switch() -> String {
    "switch".into()
}

impl GameDayReport {
    /// Measures every flip of `timeline` against `rto_budget` (the longest acceptable downtime).
    /// A game day without a flip (it stopped in preflight) fails, with empty `from`/`to`.
    pub fn measure(timeline: Timeline, rto_budget: Duration) -> GameDayReport {
        let flips = measure_flips(&timeline, rto_budget);
        let first = flips.first();
        let verdict = if !flips.is_empty()
            && flips.iter().all(|f| f.verdict == Verdict::Pass)
            && timeline.violations.is_empty()
        {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        GameDayReport {
            verdict,
            from: first.map(|f| f.from.clone()).unwrap_or_default(),
            to: first.map(|f| f.to.clone()).unwrap_or_default(),
            downtime: first.map(|f| f.downtime).unwrap_or_default(),
            target_answered: first.is_some_and(|f| f.target_answered),
            probes: ProbeCounts::of(&timeline.probes),
            rto_budget,
            cluster: timeline.cluster.clone(),
            scenario: timeline.scenario.clone(),
            vip: timeline.vip.clone(),
            started_at: utc_datetime(timeline.started_unix_ms),
            flips,
            baseline: super::figures::baseline(&timeline, super::game_day::BASELINE_PHASE),
            run: None,
            timeline,
        }
    }

    /// The timeline's events with each flip's derived milestones (first failed probe, first
    /// answer from the target) slotted in, in time order: the report's event table.
    pub fn events_with_milestones(&self) -> Vec<Event> {
        let mut events = self.timeline.events.clone();
        for flip in &self.flips {
            events.extend(flip.milestones());
        }
        // Stable: a milestone lands after events recorded at the same instant.
        events.sort_by_key(|e| e.at);
        events
    }

    /// The nodes that answered probes, the flips' nodes first (source, then target), then any
    /// other in order of first answer: one probe strip each in the timeline drawing.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = Vec::new();
        let flip_nodes = self.flips.iter().flat_map(|f| [&f.from, &f.to]);
        let answering = self.timeline.probes.iter().filter_map(|p| p.node.as_ref());
        for node in flip_nodes.chain(answering) {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        }
        nodes
    }
}

impl FlipMeasurement {
    /// The derived events of this flip, for event tables.
    pub fn milestones(&self) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(p) = &self.first_failed_probe {
            let reason = p.reason.clone().unwrap_or_else(|| "failed".to_string());
            events.push(Event {
                at: p.at,
                kind: EventKind::FirstFailedProbe { seq: p.seq, reason },
            });
        }
        if let Some(p) = &self.first_target_answer {
            events.push(Event {
                at: p.at,
                kind: EventKind::FirstAnswer {
                    node: self.to.clone(),
                    seq: p.seq,
                },
            });
        }
        events
    }
}

/// Where each flip starts, in time order.
struct FlipStart<'a> {
    at: Duration,
    label: &'a str,
    from: &'a str,
    to: &'a str,
}

fn flip_starts(timeline: &Timeline) -> Vec<FlipStart<'_>> {
    timeline
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FlipStarted { label, from, to } => Some(FlipStart {
                at: e.at,
                label,
                from,
                to,
            }),
            _ => None,
        })
        .collect()
}

/// Measures each flip in order (a flip's window starts where the previous one recovered).
pub fn measure_flips(timeline: &Timeline, rto_budget: Duration) -> Vec<FlipMeasurement> {
    let starts = flip_starts(timeline);
    let mut flips: Vec<FlipMeasurement> = Vec::new();
    for (k, start) in starts.iter().enumerate() {
        let window_end = starts.get(k + 1).map_or(Duration::MAX, |next| next.at);
        let window_start = match flips.last() {
            None => Duration::ZERO,
            Some(previous) => previous
                .first_target_answer
                .as_ref()
                .map_or(start.at, |p| p.at.min(start.at)),
        };
        let counted_from = if k == 0 { Duration::ZERO } else { start.at };
        flips.push(measure_flip(
            timeline,
            start,
            (window_start, window_end),
            counted_from,
            rto_budget,
        ));
    }
    flips
}

fn measure_flip(
    timeline: &Timeline,
    start: &FlipStart<'_>,
    (window_start, window_end): (Duration, Duration),
    counted_from: Duration,
    rto_budget: Duration,
) -> FlipMeasurement {
    let window: Vec<&ProbeResult> = timeline
        .probes
        .iter()
        .filter(|p| p.at >= window_start && p.at < window_end)
        .collect();
    let task = task_figures(timeline, start.at, window_end);
    let attribution = if window.iter().any(|p| p.is_ok() && p.node.is_some()) {
        Attribution::ByNode
    } else {
        Attribution::ByTiming
    };
    let after_start = || window.iter().copied().filter(|p| p.at >= start.at);
    let first_target_answer: Option<&ProbeResult> = match attribution {
        Attribution::ByNode => after_start().find(|p| p.answered_by(start.to)),
        Attribution::ByTiming => match after_start().find(|p| !p.is_ok()) {
            Some(failure) => after_start().find(|p| p.is_ok() && p.seq > failure.seq),
            None => task
                .as_ref()
                .and_then(|t| t.done_at)
                .and_then(|done| after_start().find(|p| p.is_ok() && p.at >= done)),
        },
    };
    let before_answer: Vec<&ProbeResult> = match first_target_answer {
        Some(answer) => window
            .iter()
            .copied()
            .filter(|p| p.seq < answer.seq)
            .collect(),
        None => window.clone(),
    };
    let last_ok = before_answer.iter().copied().rfind(|p| p.is_ok());
    let failed_after_last_ok: Vec<&ProbeResult> = before_answer
        .iter()
        .copied()
        .filter(|p| !p.is_ok() && last_ok.is_none_or(|ok| p.seq > ok.seq))
        .collect();
    let first_failed = failed_after_last_ok.first().copied();
    let outage_start = last_ok.or(window.first().copied()).map(|p| p.at);
    let outage_end = match (first_target_answer, failed_after_last_ok.last()) {
        (Some(answer), _) => Some(answer.at),
        (None, Some(last_failure)) => Some(last_failure.at),
        (None, None) => None,
    };
    let outage = match (outage_start, outage_end) {
        (Some(start), Some(end)) if first_failed.is_some() => Some(Span {
            start,
            end: end.max(start),
        }),
        _ => None,
    };
    let longest = longest_failed_run(&window);
    // A flip restored on its source ends with the source answering again: the target never
    // answered and no probe failed after the last answer, yet the service was out; the
    // outage is then the longest run of failures, not nothing.
    let outage = match (outage, first_target_answer, longest) {
        (None, None, Some(run)) => Some(run.span),
        (outage, _, _) => outage,
    };
    let downtime = outage.map_or(Duration::ZERO, |s| s.end - s.start);

    let mut notes = Vec::new();
    let target_answered = first_target_answer.is_some();
    if !target_answered
        && last_ok.is_some_and(|ok| failed_after_last_ok.is_empty() && ok.at > start.at)
    {
        notes.push(format!(
            "{} never answered; the service answered again from {} (restored): the downtime is the longest run of failed probes",
            start.to, start.from
        ));
    } else if !target_answered {
        notes.push(format!(
            "{} never answered: the downtime is a lower bound (the outage had not ended when probing stopped)",
            start.to
        ));
    } else if first_failed.is_none() {
        notes.push(
            "no probe failed: the handover happened between two probes (downtime 0)".to_string(),
        );
    }
    if last_ok.is_none() && !window.is_empty() {
        notes.push(format!(
            "the service never answered before the outage: measured from the first probe (#{})",
            window[0].seq
        ));
    }
    if window.is_empty() {
        notes.push("no probe ran during this flip".to_string());
    }
    if attribution == Attribution::ByTiming && !window.is_empty() {
        notes.push(
            "probes do not name the answering node: the target's first answer is inferred from timing"
                .to_string(),
        );
    }
    if let Some(t) = &task
        && t.done_at.is_none()
    {
        notes.push(format!(
            "OVH task {} ended as `{}`, not done",
            t.task_id, t.final_status
        ));
    }
    // A flip whose switch failed ends in a restore: even when the service ends up answering on
    // the target (another move of the VIP got there first), the switch did not work.
    let restored = timeline.events.iter().any(|e| {
        e.at >= start.at && e.at < window_end && matches!(e.kind, EventKind::Restore { .. })
    });
    if restored {
        notes.push(
            "the switch failed and the service was restored (see the restore events)".to_string(),
        );
    }
    let verdict = if target_answered && downtime <= rto_budget && !restored {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let reaction_ms = match (first_target_answer, task.as_ref().and_then(|t| t.done_at)) {
        (Some(answer), Some(done)) => Some(answer.at.as_millis() as i64 - done.as_millis() as i64),
        _ => None,
    };
    let agent_phases: Vec<AgentPhaseFigure> = timeline
        .events
        .iter()
        .filter(|e| e.at >= start.at && e.at < window_end)
        .filter_map(|e| match &e.kind {
            EventKind::AgentPhase {
                node,
                name,
                duration,
                ok,
            } => Some(AgentPhaseFigure {
                node: node.clone(),
                name: name.clone(),
                span: Span {
                    start: e.at,
                    end: e.at + *duration,
                },
                ok: *ok,
            }),
            _ => None,
        })
        .collect();
    let rpo = rpo_of(timeline, start, &agent_phases);
    if let Some(rpo) = &rpo {
        notes.push(rpo.sentence(start.to));
    }
    let verdict = if rpo.as_ref().is_some_and(|r| !r.within_budget) {
        Verdict::Fail
    } else {
        verdict
    };
    let detection_ms = detection(&agent_phases, start, last_ok);
    if let Some(ms) = detection_ms {
        notes.push(format!(
            "the crash was detected in {:.1} s: from the last answer to {}'s agent acting",
            ms as f64 / 1000.0,
            start.to
        ));
    }
    let mut flip = FlipMeasurement {
        agent_phases,
        rpo,
        detection_ms,
        label: start.label.to_string(),
        from: start.from.to_string(),
        to: start.to.to_string(),
        verdict,
        started_at: start.at,
        downtime,
        target_answered,
        outage,
        last_ok_before_outage: last_ok.map(ProbeMark::of),
        first_failed_probe: first_failed.map(ProbeMark::of),
        first_target_answer: first_target_answer.map(ProbeMark::of),
        longest_failed_run: longest,
        task,
        reaction_ms,
        probes: ProbeCounts::of(window.iter().copied().filter(|p| p.at >= counted_from)),
        attribution,
        notes,
        phases: Vec::new(),
        critical_path: None,
    };
    (flip.phases, flip.critical_path) = super::phases::of(timeline, &flip);
    flip
}

/// The flip's RPO from the syncs read on its target: the target took over when its agent
/// started the service there (its first `start` phase), else when the flip started.
fn rpo_of(
    timeline: &Timeline,
    start: &FlipStart<'_>,
    phases: &[AgentPhaseFigure],
) -> Option<super::rpo::RpoFigures> {
    let read = timeline
        .last_syncs
        .iter()
        .find(|s| s.flip == start.label && s.node == start.to)?;
    let took_over = phases
        .iter()
        .filter(|p| p.node == start.to && p.name.starts_with("start"))
        .map(|p| p.span.start)
        .min()
        .unwrap_or(start.at);
    let took_over_unix_ms = timeline.started_unix_ms + took_over.as_millis() as u64;
    super::rpo::RpoFigures::of(&read.syncs, took_over_unix_ms, timeline.rpo_budget_ms)
}

/// For a crash: the survivor's first agent phase after the last answer (the agent noticed the
/// lost node and acted), measured from that answer.
fn detection(
    phases: &[AgentPhaseFigure],
    start: &FlipStart<'_>,
    last_ok: Option<&ProbeResult>,
) -> Option<u64> {
    if start.label != super::node_crash::LABEL {
        return None;
    }
    let since = last_ok.map_or(start.at, |p| p.at);
    let acted = phases
        .iter()
        .filter(|p| p.node == start.to && p.span.start >= since)
        .map(|p| p.span.start)
        .min()?;
    Some((acted - since).as_millis() as u64)
}

#[cfg(test)]
#[path = "measurement_tests.rs"]
mod tests;
