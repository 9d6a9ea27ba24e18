//! A flip cut into its phases, and the one that cost most of the outage: where the downtime
//! went. Pure functions over a measured flip and its timeline, like the measurement.
//!
//! The phases of a planned switch, each a span on the game day's clock (a crash has no stop on
//! the source but a **detection**: from the last answer to the survivor's agent acting):
//!
//! - **stop** on the source: through the agent, from its first `stop: ...` step on the source
//!   to its last (its own log, [`EventKind::AgentPhase`]); with `--direct`, tandem's stop
//!   command ([`EventKind::CommandStarted`] to [`EventKind::CommandFinished`]);
//! - **OVH task**: the move's task, created to `done` (or to its last status);
//! - **start** on the target, like the stop;
//! - **first answer**: from the end of the phases before to the target's first answer (the
//!   route reaching the target, the service warming up, a probe interval).
//!
//! They may overlap (through the agent, the OVH move is asked by a trigger of the start; with
//! `--direct` the move runs beside the stop and start), so the outage is shared out instant by
//! instant: each instant of it goes to the running phase that ends last, the one the outage
//! was still waiting for. An instant no phase covers is nobody's (`outage_ms` sums to at most
//! the downtime).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::measurement::{AgentPhaseFigure, FlipMeasurement, Span};
use super::millis;
use super::timeline::{Event, EventKind, Timeline};

/// tandem's own handover commands, as `game_day`'s `--direct` switch names them.
const DIRECT_STOP: &str = "stop the service";
const DIRECT_START: &str = "start the service";

/// A crash's: from the last answer to the survivor's agent acting.
pub const DETECTION: &str = "detection";
pub const STOP: &str = "stop";
pub const TASK: &str = "OVH task";
pub const START: &str = "start";
pub const FIRST_ANSWER: &str = "first answer";

/// One phase of a flip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseFigure {
    /// [`DETECTION`], [`STOP`], [`TASK`], [`START`] or [`FIRST_ANSWER`].
    pub name: String,
    /// The node it ran on; for the OVH task, the node the VIP was moved to.
    pub node: String,
    #[serde(rename = "start_ms", with = "millis::whole")]
    pub start: Duration,
    #[serde(rename = "duration_ms", with = "millis::whole")]
    pub duration: Duration,
    /// Its share of the outage (see the module documentation).
    #[serde(rename = "outage_ms", with = "millis::whole", default)]
    pub outage: Duration,
}

impl PhaseFigure {
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }

    fn new(name: &str, node: &str, start: Duration, end: Duration) -> PhaseFigure {
        PhaseFigure {
            name: name.to_string(),
            node: node.to_string(),
            start,
            duration: end.saturating_sub(start),
            outage: Duration::ZERO,
        }
    }
}

/// The phases of `flip` in start order, and the sentence naming the one that took most of
/// its outage (none without an outage or a phase in it).
pub fn of(timeline: &Timeline, flip: &FlipMeasurement) -> (Vec<PhaseFigure>, Option<String>) {
    let events = flip_events(timeline, flip.started_at);
    let agent = !flip.agent_phases.is_empty();
    let handover = |name: &str, node: &str, command: &str| {
        if agent {
            let prefix = format!("{name}:");
            agent_span(&flip.agent_phases, node, &prefix)
        } else {
            command_span(&events, node, command)
        }
        .map(|s| PhaseFigure::new(name, node, s.start, s.end))
    };
    let mut phases: Vec<PhaseFigure> = Vec::new();
    if let Some(ms) = flip.detection_ms {
        let from = flip
            .last_ok_before_outage
            .as_ref()
            .map_or(flip.started_at, |p| p.at);
        let end = from + Duration::from_millis(ms);
        phases.push(PhaseFigure::new(DETECTION, &flip.from, from, end));
    }
    phases.extend(handover(STOP, &flip.from, DIRECT_STOP));
    if let Some(task) = &flip.task {
        let end = task.done_at.unwrap_or(task.final_at);
        phases.push(PhaseFigure::new(TASK, &flip.to, task.created_at, end));
    }
    phases.extend(handover(START, &flip.to, DIRECT_START));
    if let Some(answer) = &flip.first_target_answer {
        let ready = phases.iter().map(PhaseFigure::end).max();
        let from = ready.unwrap_or(flip.started_at);
        if answer.at > from {
            phases.push(PhaseFigure::new(FIRST_ANSWER, &flip.to, from, answer.at));
        }
    }
    phases.sort_by_key(|p| p.start);
    let Some(outage) = flip.outage.filter(|o| o.end > o.start) else {
        return (phases, None);
    };
    share_out(&mut phases, outage);
    let sentence = critical_path(&phases, flip, outage);
    (phases, sentence)
}

/// The events of the flip starting at `start`: up to the next flip, and before any restore
/// (its commands are not the switch's).
fn flip_events(timeline: &Timeline, start: Duration) -> Vec<&Event> {
    let events = &timeline.events;
    let after_flip = events
        .iter()
        .position(|e| e.at >= start && matches!(e.kind, EventKind::FlipStarted { .. }))
        .map_or(events.len(), |i| i + 1);
    events[after_flip..]
        .iter()
        .take_while(|e| match &e.kind {
            EventKind::FlipStarted { .. } | EventKind::Restore { .. } => false,
            EventKind::Phase { name } => name != "restore",
            _ => true,
        })
        .collect()
}

/// From the first to the last end of the agent's steps on `node` named `prefix ...`.
fn agent_span(steps: &[AgentPhaseFigure], node: &str, prefix: &str) -> Option<Span> {
    let mine = || {
        steps
            .iter()
            .filter(move |s| s.node == node && s.name.starts_with(prefix))
    };
    Some(Span {
        start: mine().map(|s| s.span.start).min()?,
        end: mine().map(|s| s.span.end).max()?,
    })
}

/// The first run of `command` on `node`, started to finished.
fn command_span(events: &[&Event], node: &str, command: &str) -> Option<Span> {
    let is = |n: &str, c: &str| n == node && c == command;
    let start = events.iter().find_map(|e| match &e.kind {
        EventKind::CommandStarted {
            node: n,
            command: c,
        } if is(n, c) => Some(e.at),
        _ => None,
    })?;
    let end = events.iter().find_map(|e| match &e.kind {
        EventKind::CommandFinished {
            node: n,
            command: c,
            ..
        } if is(n, c) && e.at >= start => Some(e.at),
        _ => None,
    })?;
    Some(Span { start, end })
}

/// Gives each instant of `outage` to the running phase that ends last (the later one in
/// `phases` on a tie).
fn share_out(phases: &mut [PhaseFigure], outage: Span) {
    let mut cuts: Vec<Duration> = phases
        .iter()
        .flat_map(|p| [p.start, p.end()])
        .chain([outage.start, outage.end])
        .filter(|t| *t >= outage.start && *t <= outage.end)
        .collect();
    cuts.sort();
    cuts.dedup();
    for piece in cuts.windows(2) {
        let (from, to) = (piece[0], piece[1]);
        let running = phases
            .iter_mut()
            .filter(|p| p.start <= from && p.end() >= to)
            .max_by_key(|p| p.end());
        if let Some(phase) = running {
            phase.outage += to - from;
        }
    }
}

/// "2.1 s of the 2.3 s outage was stopping the service on node1 (mostly the agent's
/// `stop: container#1`)".
fn critical_path(phases: &[PhaseFigure], flip: &FlipMeasurement, outage: Span) -> Option<String> {
    let total = outage.end - outage.start;
    let top = phases
        .iter()
        .filter(|p| !p.outage.is_zero())
        .reduce(|best, p| if p.outage > best.outage { p } else { best })?;
    let what = match top.name.as_str() {
        STOP => format!("stopping the service on {}", top.node),
        START => format!("starting the service on {}", top.node),
        TASK => format!("the OVH task moving the VIP to {}", top.node),
        DETECTION => format!("the survivor noticing that {} was gone", top.node),
        _ => format!("waiting for the first answer from {}", top.node),
    };
    let step = [STOP, START]
        .contains(&top.name.as_str())
        .then(|| longest_step(&flip.agent_phases, top, outage))
        .flatten()
        .map_or(String::new(), |s| format!(" (mostly the agent's `{s}`)"));
    Some(format!(
        "{} of the {} outage was {what}{step}",
        seconds(top.outage),
        seconds(total)
    ))
}

/// The agent's step of `phase` that overlaps the outage most, when it covers at least half of
/// the phase's share.
fn longest_step<'a>(
    steps: &'a [AgentPhaseFigure],
    phase: &PhaseFigure,
    outage: Span,
) -> Option<&'a str> {
    let overlap = |s: &Span| {
        s.end
            .min(outage.end)
            .saturating_sub(s.start.max(outage.start))
    };
    let prefix = format!("{}:", phase.name);
    steps
        .iter()
        .filter(|s| s.node == phase.node && s.name.starts_with(&prefix))
        .map(|s| (overlap(&s.span), s.name.as_str()))
        .filter(|(d, _)| *d * 2 >= phase.outage && !d.is_zero())
        .max_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// `2.1 s`, or `450 ms` under a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
#[path = "phases_tests.rs"]
mod tests;
