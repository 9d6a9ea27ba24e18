//! What `tandem failover-test` prints: a live line per event while the game day runs, a line
//! when the probes change state (not one per probe: ten a second would bury the events), and a
//! summary table at the end. Pure functions returning strings; escape codes only when the
//! caller says the output is a terminal (`color`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use super::human_duration;
use crate::failover::measurement::{Baseline, FlipMeasurement, GameDayReport, Verdict};
use crate::failover::probe::{ProbeOutcome, ProbeResult};
use crate::failover::recorder::LiveView;
use crate::failover::run_info::RunInfo;
use crate::failover::timeline::{Event, EventKind};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// `+12.345s`: an offset from the game day's start, to the millisecond.
pub fn offset(at: Duration) -> String {
    format!("+{}.{:03}s", at.as_secs(), at.subsec_millis())
}

/// One line for the live view: `   +2.100s  task     task 42: todo`.
pub fn live_event_line(event: &Event, color: bool) -> String {
    let line = format!(
        "{:>10}  {:<8} {}",
        offset(event.at),
        event.kind.tag(),
        event.kind.describe()
    );
    if event.kind.is_problem() {
        paint(&line, RED, color)
    } else if matches!(
        event.kind,
        EventKind::FlipStarted { .. } | EventKind::Phase { .. }
    ) {
        paint(&line, BOLD, color)
    } else {
        line
    }
}

/// Turns the stream of probe results into a line each time the service's state changes (ok
/// from a node, or failing for a reason), with how long the previous state lasted.
#[derive(Debug, Default)]
pub struct ProbeStateLines {
    current: Option<(ProbeState, ProbeResult, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ProbeState {
    Ok(Option<String>),
    Failing(String),
}

impl ProbeState {
    fn describe(&self) -> String {
        match self {
            ProbeState::Ok(Some(node)) => format!("ok from {node}"),
            ProbeState::Ok(None) => "ok".to_string(),
            ProbeState::Failing(reason) => format!("failing: {reason}"),
        }
    }
}

impl ProbeStateLines {
    pub fn new() -> ProbeStateLines {
        ProbeStateLines::default()
    }

    /// Feed every result as it arrives; returns a line when the state changed.
    pub fn observe(&mut self, result: &ProbeResult, color: bool) -> Option<String> {
        let state = if result.is_ok() {
            ProbeState::Ok(result.node.clone())
        } else {
            ProbeState::Failing(result.outcome.describe())
        };
        if let Some((current, _, count)) = &mut self.current
            && *current == state
        {
            *count += 1;
            return None;
        }
        let previous = self
            .current
            .replace((state.clone(), result.clone(), 1))
            .map(|(state, first, count)| {
                let lasted = human_duration(result.at.saturating_sub(first.at));
                format!(", after {lasted} {} ({count} probes)", state.describe())
            })
            .unwrap_or_default();
        let what = state.describe();
        let code = if result.is_ok() { GREEN } else { RED };
        let line = format!(
            "{:>10}  {:<8} #{} {what}{previous}",
            offset(result.at),
            "probe",
            result.seq
        );
        Some(paint(&line, code, color))
    }
}

/// The live view of a game day on stderr (stdout may carry JSON): a line per event, a line per
/// change of the probes' state; in colour when stderr is a terminal.
pub struct LiveLines {
    color: bool,
    probe_lines: ProbeStateLines,
}

impl LiveLines {
    pub fn on_stderr() -> LiveLines {
        LiveLines {
            color: super::color::stderr(),
            probe_lines: ProbeStateLines::new(),
        }
    }
}

impl LiveView for LiveLines {
    fn event(&mut self, event: &Event) {
        let _ = writeln!(std::io::stderr(), "{}", live_event_line(event, self.color));
    }

    fn probe(&mut self, result: &ProbeResult) {
        if let Some(line) = self.probe_lines.observe(result, self.color) {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// The end-of-game-day summary: verdict, one row per flip, notes.
pub fn summary(report: &GameDayReport, color: bool) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "game day: cluster {}, scenario {}, VIP {}, {}",
        report.cluster, report.scenario, report.vip, report.started_at
    );
    if let Some(run) = &report.run {
        text.push_str(&run_lines(run));
    }
    let verdict = match report.verdict {
        Verdict::Pass => paint("PASS", GREEN, color),
        Verdict::Fail => paint("FAIL", RED, color),
    };
    let headline = if report.flips.is_empty() {
        "no flip was made".to_string()
    } else if report.target_answered {
        format!(
            "{} -> {}: downtime {} (RTO budget {})",
            report.from,
            report.to,
            human_duration(report.downtime),
            human_duration(report.rto_budget)
        )
    } else {
        format!(
            "{} -> {}: {} never answered (outage of at least {})",
            report.from,
            report.to,
            report.to,
            human_duration(report.downtime)
        )
    };
    let _ = writeln!(text, "{verdict}  {headline}");
    // What failed the verdict beyond the downtime (a network split's findings).
    for violation in &report.timeline.violations {
        let _ = writeln!(text, "  {} {violation}", paint("!", RED, color));
    }
    let failed = failure_kinds(&report.timeline.probes);
    let _ = writeln!(
        text,
        "probes: {}/{} ok ({:.1}%){}",
        report.probes.ok,
        report.probes.sent,
        report.probes.success_ratio * 100.0,
        if failed.is_empty() {
            String::new()
        } else {
            format!(", failed: {failed}")
        }
    );
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(text, "{}", baseline_line(baseline));
    }
    if report.flips.is_empty() {
        return text;
    }
    text.push('\n');
    let mut rows = vec![
        [
            "FLIP",
            "FROM",
            "TO",
            "VERDICT",
            "DOWNTIME",
            "TASK",
            "REACTION",
            "PROBES OK",
            "LONGEST FAILED RUN",
        ]
        .map(String::from)
        .to_vec(),
    ];
    rows.extend(report.flips.iter().map(flip_row));
    text.push_str(&align(&rows));
    text.push_str(&phases(report));
    let phases: Vec<Vec<String>> = report
        .flips
        .iter()
        .flat_map(|f| {
            f.agent_phases.iter().map(move |p| {
                vec![
                    format!("  {}", f.label),
                    format!(
                        "+{:.1} s",
                        (p.span.start.saturating_sub(f.started_at)).as_secs_f64()
                    ),
                    p.node.clone(),
                    p.name.clone(),
                    format!(
                        "{}{}",
                        human_duration(p.span.end - p.span.start),
                        if p.ok { "" } else { " ERROR" }
                    ),
                ]
            })
        })
        .collect();
    if !phases.is_empty() {
        text.push_str("\nthe OpenSVC agent's phases (from its log; the rest is its daemons' orchestration):\n");
        text.push_str(&align(&phases));
    }
    let notes: Vec<String> = report
        .flips
        .iter()
        .flat_map(|f| f.notes.iter().map(move |n| format!("  {}: {n}", f.label)))
        .collect();
    if !notes.is_empty() {
        text.push_str("\nnotes:\n");
        for n in notes {
            text.push_str(&n);
            text.push('\n');
        }
    }
    text
}

/// `run: tandem 0.4.0, switched by the OpenSVC agent, inventory inv.yml` and the command line:
/// what measured, so the run can be trusted and redone.
pub fn run_lines(run: &RunInfo) -> String {
    format!(
        "run: tandem {}, switched by {}, inventory {}\n  $ {}\n",
        run.tandem_version,
        run.switched_by.as_str(),
        run.inventory,
        run.command_line
    )
}

/// `baseline: 20 probes in 2.0 s, 20 ok, latency p50 1.2 ms p95 3.4 ms`: how the service
/// answered before anything moved, the yardstick for the rest.
pub fn baseline_line(b: &Baseline) -> String {
    format!(
        "baseline: {} probes in {:.1} s, {} ok, latency p50 {} p95 {}",
        b.sent,
        b.until.saturating_sub(b.from).as_secs_f64(),
        b.ok,
        fine_ms(b.latency_p50),
        fine_ms(b.latency_p95)
    )
}

/// `1.2 ms`: a probe's latency, to a tenth of a millisecond.
pub fn fine_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Each flip's phases (from its start) with their share of the outage, and the sentence naming
/// the one that cost most of it: where the downtime went.
fn phases(report: &GameDayReport) -> String {
    let mut rows = vec![
        ["  FLIP", "PHASE", "NODE", "START", "TOOK", "OF THE OUTAGE"]
            .map(String::from)
            .to_vec(),
    ];
    for f in &report.flips {
        rows.extend(f.phases.iter().map(|p| {
            vec![
                format!("  {}", f.label),
                p.name.clone(),
                p.node.clone(),
                format!(
                    "+{:.1} s",
                    p.start.saturating_sub(f.started_at).as_secs_f64()
                ),
                human_duration(p.duration),
                human_duration(p.outage),
            ]
        }));
    }
    if rows.len() == 1 {
        return String::new();
    }
    let mut text = format!("\nphases:\n{}", align(&rows));
    for f in &report.flips {
        if let Some(sentence) = &f.critical_path {
            let _ = writeln!(text, "  {}: {sentence}", f.label);
        }
    }
    text
}

fn flip_row(f: &FlipMeasurement) -> Vec<String> {
    let downtime = if f.target_answered {
        human_duration(f.downtime)
    } else {
        format!(">= {}", human_duration(f.downtime))
    };
    let task = match &f.task {
        Some(t) => match t.duration {
            Some(d) => human_duration(d),
            None => t.final_status.clone(),
        },
        None => "-".to_string(),
    };
    let reaction = f.reaction_ms.map_or("-".to_string(), signed_ms);
    let probes = format!(
        "{}/{} ({:.1}%)",
        f.probes.ok,
        f.probes.sent,
        f.probes.success_ratio * 100.0
    );
    let run = f.longest_failed_run.map_or("-".to_string(), |r| {
        format!(
            "{} probes, {}",
            r.count,
            human_duration(r.span.end - r.span.start)
        )
    });
    vec![
        f.label.clone(),
        f.from.clone(),
        f.to.clone(),
        f.verdict.as_str().to_string(),
        downtime,
        task,
        reaction,
        probes,
        run,
    ]
}

/// `30 refused, 12 timeout`: the failed probes by kind, most frequent first; empty when none
/// failed. The kinds tell different stories: refused is nothing listening where the VIP points
/// (the service is down there), timeout is no answer at all (typically the route moving).
pub fn failure_kinds<'a>(probes: impl IntoIterator<Item = &'a ProbeResult>) -> String {
    let mut kinds: Vec<(String, u64)> = Vec::new();
    for p in probes.into_iter().filter(|p| !p.is_ok()) {
        // An OS error's message varies from probe to probe: counted as one kind.
        let kind = match &p.outcome {
            ProbeOutcome::Error { .. } => "other error".to_string(),
            outcome => outcome.describe(),
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    // Stable: equal counts keep the order they first failed in.
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

/// `+500 ms`, `-1200 ms`.
pub fn signed_ms(ms: i64) -> String {
    format!("{ms:+} ms")
}

fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::clock::Clock;
    use crate::failover::timeline::Timeline;

    fn probe(seq: u64, at_ms: u64, ok: bool, node: Option<&str>) -> ProbeResult {
        ProbeResult {
            seq,
            at: Duration::from_millis(at_ms),
            unix_ms: 0,
            latency: Duration::from_millis(1),
            outcome: if ok {
                ProbeOutcome::Ok
            } else {
                ProbeOutcome::Refused
            },
            node: node.map(str::to_string),
        }
    }

    #[test]
    fn live_lines_are_plain_unless_asked() {
        let event = Event {
            at: Duration::from_millis(2100),
            kind: EventKind::ApiResponse {
                method: "POST".into(),
                path: "/ip/203.0.113.10/move".into(),
                status: Some(500),
                error: Some("busy".into()),
            },
        };
        let plain = live_event_line(&event, false);
        assert_eq!(
            plain,
            "   +2.100s  api      POST /ip/203.0.113.10/move -> 500: busy"
        );
        assert!(!plain.contains('\x1b'));
        assert!(live_event_line(&event, true).starts_with(RED));
    }

    #[test]
    fn probe_lines_come_only_on_state_changes() {
        let mut lines = ProbeStateLines::new();
        let results = [
            probe(1, 0, true, Some("node1")),
            probe(2, 100, true, Some("node1")),
            probe(3, 200, false, None),
            probe(4, 300, false, None),
            probe(5, 400, true, Some("node2")),
        ];
        let out: Vec<String> = results
            .iter()
            .filter_map(|r| lines.observe(r, false))
            .collect();
        assert_eq!(
            out,
            [
                "   +0.000s  probe    #1 ok from node1",
                "   +0.200s  probe    #3 failing: refused, after 200 ms ok from node1 (2 probes)",
                "   +0.400s  probe    #5 ok from node2, after 200 ms failing: refused (2 probes)",
            ]
        );
    }

    #[test]
    fn the_summary_has_the_verdict_and_a_row_per_flip() {
        let clock = Clock::start();
        let mut timeline = Timeline::new("web", "203.0.113.10", &clock);
        timeline.record(
            Duration::from_millis(50),
            EventKind::FlipStarted {
                label: "switch".into(),
                from: "node1".into(),
                to: "node2".into(),
            },
        );
        for (seq, at, ok, node) in [
            (1, 0, true, Some("node1")),
            (2, 100, false, None),
            (3, 200, true, Some("node2")),
        ] {
            timeline.add_probe(probe(seq, at, ok, node));
        }
        let report = GameDayReport::measure(timeline, Duration::from_secs(1));
        let text = summary(&report, false);
        assert!(
            text.contains("PASS  node1 -> node2: downtime 200 ms (RTO budget 1000 ms)"),
            "{text}"
        );
        assert!(
            text.contains("\nprobes: 2/3 ok (66.7%), failed: 1 refused\n"),
            "{text}"
        );
        assert!(
            text.contains("switch  node1  node2  pass     200 ms    -     -         2/3 (66.7%)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn the_summary_names_the_run_and_shows_the_baseline() {
        use crate::failover::run_info::SwitchedBy;
        let clock = Clock::start();
        let mut timeline = Timeline::new("web", "203.0.113.10", &clock);
        timeline.record(
            Duration::ZERO,
            EventKind::Phase {
                name: "baseline".into(),
            },
        );
        for seq in 1..=21 {
            let latency = Duration::from_micros(1000 + 100 * seq);
            timeline.add_probe(ProbeResult {
                latency,
                ..probe(seq, (seq - 1) * 100, true, Some("node1"))
            });
        }
        timeline.record(
            Duration::from_millis(2050),
            EventKind::FlipStarted {
                label: "switch".into(),
                from: "node1".into(),
                to: "node2".into(),
            },
        );
        let mut report = GameDayReport::measure(timeline, Duration::from_secs(1));
        report.run = Some(RunInfo {
            tandem_version: "9.8.7".into(),
            command_line: "tandem failover-test -i inv.yml --cluster web".into(),
            inventory: "inv.yml".into(),
            switched_by: SwitchedBy::Agent,
        });
        let text = summary(&report, false);
        assert!(
            text.contains("\nrun: tandem 9.8.7, switched by the OpenSVC agent, inventory inv.yml\n  $ tandem failover-test -i inv.yml --cluster web\n"),
            "{text}"
        );
        assert!(
            text.contains("\nbaseline: 21 probes in 2.0 s, 21 ok, latency p50 2.1 ms p95 3.0 ms\n"),
            "{text}"
        );
    }

    #[test]
    fn failed_probes_are_counted_by_kind_most_frequent_first() {
        let failing = |seq: u64, outcome: ProbeOutcome| ProbeResult {
            outcome,
            ..probe(seq, seq * 100, false, None)
        };
        let probes = [
            probe(1, 0, true, Some("node1")),
            failing(2, ProbeOutcome::Refused),
            failing(3, ProbeOutcome::Timeout),
            failing(4, ProbeOutcome::Timeout),
            failing(
                5,
                ProbeOutcome::Error {
                    message: "os error 99".into(),
                },
            ),
            failing(
                6,
                ProbeOutcome::Error {
                    message: "os error 98".into(),
                },
            ),
            failing(7, ProbeOutcome::Refused),
            failing(8, ProbeOutcome::Reset),
        ];
        assert_eq!(
            failure_kinds(&probes),
            "2 refused, 2 timeout, 2 other error, 1 reset"
        );
        assert_eq!(failure_kinds(&probes[..1]), "");
    }

    #[test]
    fn the_summary_lists_the_agent_phases_under_their_flip() {
        let clock = Clock::start();
        let mut timeline = Timeline::new("web", "203.0.113.10", &clock);
        timeline.record(
            Duration::from_millis(50),
            EventKind::FlipStarted {
                label: "switch".into(),
                from: "node1".into(),
                to: "node2".into(),
            },
        );
        timeline.record(
            Duration::from_millis(150),
            EventKind::AgentPhase {
                node: "node1".into(),
                name: "stop: container#1".into(),
                duration: Duration::from_millis(100),
                ok: true,
            },
        );
        for (seq, at, ok, node) in [
            (1, 0, true, Some("node1")),
            (2, 100, false, None),
            (3, 200, true, Some("node2")),
        ] {
            timeline.add_probe(probe(seq, at, ok, node));
        }
        let report = GameDayReport::measure(timeline, Duration::from_secs(1));
        let text = summary(&report, false);
        assert!(text.contains("node1  stop: container#1"), "{text}");
        // The agent's stop is the flip's stop phase, and most of the outage it saw.
        assert!(
            text.contains("\nphases:\n  FLIP    PHASE  NODE   START   TOOK    OF THE OUTAGE\n  switch  stop   node1  +0.1 s  100 ms  50 ms\n"),
            "{text}"
        );
        assert!(
            text.contains("  switch: 50 ms of the 200 ms outage was stopping the service on node1 (mostly the agent's `stop: container#1`)\n"),
            "{text}"
        );
    }
}
