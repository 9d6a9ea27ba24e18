//! The measurement on hand-built game days: a normal flip, probes that never fail, a target
//! that never answers, a flip-back, TCP probes, and the `--json` contract.

use std::time::Duration;

use super::*;
use crate::failover::clock::Clock;
use crate::failover::probe::{ProbeOutcome, ProbeResult};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

enum Answer {
    Ok(Option<&'static str>),
    Fails(ProbeOutcome),
}

/// A game day written by hand: probes every `every` ms over ranges, events at given times.
struct Day {
    timeline: Timeline,
    seq: u64,
}

impl Day {
    fn new() -> Day {
        Day {
            timeline: Timeline::new("web", "203.0.113.10", &Clock::start()),
            seq: 0,
        }
    }

    fn probes(mut self, from: u64, until: u64, answer: Answer) -> Day {
        for at in (from..until).step_by(100) {
            self.seq += 1;
            let (outcome, node) = match &answer {
                Answer::Ok(node) => (ProbeOutcome::Ok, node.map(str::to_string)),
                Answer::Fails(outcome) => (outcome.clone(), None),
            };
            self.timeline.add_probe(ProbeResult {
                seq: self.seq,
                at: ms(at),
                unix_ms: 1_700_000_000_000 + at,
                latency: ms(2),
                outcome,
                node,
            });
        }
        self
    }

    fn node(self, from: u64, until: u64, node: &'static str) -> Day {
        self.probes(from, until, Answer::Ok(Some(node)))
    }

    fn refused(self, from: u64, until: u64) -> Day {
        self.probes(from, until, Answer::Fails(ProbeOutcome::Refused))
    }

    fn flip(mut self, at: u64, label: &str, from: &str, to: &str) -> Day {
        let kind = EventKind::FlipStarted {
            label: label.into(),
            from: from.into(),
            to: to.into(),
        };
        self.timeline.record(ms(at), kind);
        self
    }

    fn task(mut self, at: u64, task_id: u64, status: &str) -> Day {
        let kind = EventKind::TaskStatus {
            task_id,
            status: status.into(),
        };
        self.timeline.record(ms(at), kind);
        self
    }

    fn restore(mut self, at: u64) -> Day {
        let kind = EventKind::Restore {
            action: "service back on node2, where OVH routes the VIP".into(),
            ok: Some(true),
        };
        self.timeline.record(ms(at), kind);
        self
    }

    fn measure(self, budget_ms: u64) -> GameDayReport {
        GameDayReport::measure(self.timeline, ms(budget_ms))
    }
}

/// node1 answers, the flip starts at 2 s, node1's service stops at 3 s, the task is done at
/// 6.5 s and node2 answers from 7 s.
fn normal_flip() -> Day {
    Day::new()
        .node(0, 3000, "node1")
        .refused(3000, 7000)
        .node(7000, 10_000, "node2")
        .flip(2000, "switch", "node1", "node2")
        .task(2100, 42, "todo")
        .task(2500, 42, "doing")
        .task(6500, 42, "done")
}

/// Issue 13: a switch the agent failed, restored on the source, reported "node2 never
/// answered (outage of at least 0 ms)": the source's answers after the restore hid the outage.
#[test]
fn a_flip_restored_on_its_source_counts_its_outage() {
    let report = Day::new()
        .node(0, 3000, "node1")
        .refused(3000, 9000)
        .node(9000, 12_000, "node1")
        .flip(2000, "switch", "node1", "node2")
        .restore(8500)
        .measure(5000);
    let flip = &report.flips[0];
    assert_eq!(flip.verdict, Verdict::Fail);
    assert!(!flip.target_answered);
    assert_eq!(flip.downtime, ms(5902), "{flip:?}");
    assert!(
        flip.notes[0].contains("longest run of failed probes"),
        "{:?}",
        flip.notes
    );
    assert_eq!(agent_phases_of(&report), 0);
}

fn agent_phases_of(report: &GameDayReport) -> usize {
    report.flips.iter().map(|f| f.agent_phases.len()).sum()
}

/// The agent's phases recorded during a flip are the flip's, in time order, with their spans.
#[test]
fn agent_phases_belong_to_their_flip() {
    let mut day =
        normal_flip()
            .node(10_000, 12_000, "node2")
            .flip(11_000, "flip-back", "node2", "node1");
    for (at, node, name) in [
        (2300, "node1", "stop: container#1"),
        (11_500, "node2", "stop: trigger ovh_routes"),
    ] {
        day.timeline.record(
            ms(at),
            EventKind::AgentPhase {
                node: node.into(),
                name: name.into(),
                duration: ms(700),
                ok: true,
            },
        );
    }
    let report = day.measure(5000);
    assert_eq!(report.flips[0].agent_phases.len(), 1);
    assert_eq!(report.flips[0].agent_phases[0].name, "stop: container#1");
    assert_eq!(
        report.flips[0].agent_phases[0].span,
        Span {
            start: ms(2300),
            end: ms(3000)
        }
    );
    assert_eq!(report.flips[1].agent_phases[0].node, "node2");
}

#[test]
fn a_flip_that_needed_a_restore_fails_even_when_the_target_answers() {
    let report = normal_flip().restore(6800).measure(5000);
    assert_eq!(report.flips[0].verdict, Verdict::Fail);
    assert_eq!(report.verdict, Verdict::Fail);
    assert!(
        report.flips[0]
            .notes
            .iter()
            .any(|n| n.contains("the switch failed and the service was restored")),
        "{:?}",
        report.flips[0].notes
    );
    assert_eq!(normal_flip().measure(5000).verdict, Verdict::Pass);
}

#[test]
fn a_normal_flip_is_measured_from_the_last_source_answer_to_the_first_target_answer() {
    let report = normal_flip().measure(5000);
    let flip = &report.flips[0];
    assert_eq!(flip.last_ok_before_outage.as_ref().unwrap().at, ms(2900));
    assert_eq!(flip.first_failed_probe.as_ref().unwrap().at, ms(3000));
    assert_eq!(flip.first_target_answer.as_ref().unwrap().at, ms(7000));
    assert_eq!(flip.downtime, ms(4100));
    assert_eq!(
        flip.outage,
        Some(Span {
            start: ms(2900),
            end: ms(7000)
        })
    );
    let task = flip.task.as_ref().unwrap();
    assert_eq!(
        (task.task_id, task.created_at, task.done_at),
        (42, ms(2100), Some(ms(6500)))
    );
    assert_eq!(task.duration, Some(ms(4400)));
    assert_eq!(flip.reaction_ms, Some(500));
    let run = flip.longest_failed_run.unwrap();
    assert_eq!(
        (run.count, run.span.start, run.span.end),
        (40, ms(3000), ms(6902))
    );
    assert_eq!(
        (flip.probes.sent, flip.probes.ok, flip.probes.failed),
        (100, 60, 40)
    );
    assert!((flip.probes.success_ratio - 0.6).abs() < 1e-9);
    assert_eq!(flip.attribution, Attribution::ByNode);
    assert!(flip.target_answered);
    assert_eq!(
        (report.verdict, flip.verdict),
        (Verdict::Pass, Verdict::Pass)
    );
    assert!(flip.notes.is_empty(), "{:?}", flip.notes);

    // The same day against a tighter budget fails.
    assert_eq!(normal_flip().measure(4000).verdict, Verdict::Fail);
    // Exactly the budget passes.
    assert_eq!(normal_flip().measure(4100).verdict, Verdict::Pass);
}

#[test]
fn milestones_join_the_event_table_in_time_order() {
    let report = normal_flip().measure(5000);
    let table: Vec<(u64, String)> = report
        .events_with_milestones()
        .iter()
        .map(|e| (e.at.as_millis() as u64, e.kind.describe()))
        .collect();
    assert_eq!(
        table,
        [
            (2000, "switch: node1 -> node2".to_string()),
            (2100, "task 42: todo".to_string()),
            (2500, "task 42: doing".to_string()),
            (3000, "first failed probe #31 (refused)".to_string()),
            (6500, "task 42: done".to_string()),
            (7000, "first answer from node2 (#71)".to_string()),
        ]
    );
}

#[test]
fn probes_that_never_fail_mean_zero_downtime() {
    let report = Day::new()
        .node(0, 3000, "node1")
        .node(3000, 6000, "node2")
        .flip(1000, "switch", "node1", "node2")
        .task(1100, 7, "todo")
        .task(2900, 7, "done")
        .measure(1000);
    let flip = &report.flips[0];
    assert_eq!(flip.downtime, Duration::ZERO);
    assert!(flip.target_answered);
    assert_eq!(flip.first_failed_probe, None);
    assert_eq!(flip.outage, None);
    assert_eq!(flip.longest_failed_run, None);
    assert_eq!(flip.first_target_answer.as_ref().unwrap().at, ms(3000));
    assert_eq!(flip.reaction_ms, Some(100));
    assert_eq!(report.verdict, Verdict::Pass);
    assert!(flip.notes.iter().any(|n| n.contains("no probe failed")));
}

#[test]
fn a_target_that_never_answers_fails_with_a_lower_bound() {
    let report = Day::new()
        .node(0, 2000, "node1")
        .probes(2000, 6000, Answer::Fails(ProbeOutcome::Timeout))
        .flip(1000, "switch", "node1", "node2")
        .task(1100, 9, "todo")
        .task(5000, 9, "ovhError")
        .measure(3_600_000);
    let flip = &report.flips[0];
    assert!(!flip.target_answered);
    assert_eq!(flip.first_target_answer, None);
    // Last ok at 1.9 s, last failure at 5.9 s: at least 4 s, and still going.
    assert_eq!(flip.downtime, ms(4000));
    assert_eq!(flip.verdict, Verdict::Fail, "fails whatever the budget");
    assert_eq!(flip.reaction_ms, None);
    let task = flip.task.as_ref().unwrap();
    assert_eq!(
        (task.final_status.as_str(), task.done_at, task.duration),
        ("ovhError", None, None)
    );
    assert!(
        flip.notes
            .iter()
            .any(|n| n.contains("node2 never answered"))
    );
    assert!(flip.notes.iter().any(|n| n.contains("ovhError")));
    assert_eq!(report.verdict, Verdict::Fail);
    assert!(!report.target_answered);
}

#[test]
fn a_flip_back_is_measured_as_a_second_flip() {
    let report = Day::new()
        .node(0, 2000, "node1")
        .refused(2000, 3000)
        .node(3000, 6000, "node2")
        .refused(6000, 6500)
        .node(6500, 9000, "node1")
        .flip(1000, "switch", "node1", "node2")
        .task(1100, 1, "todo")
        .task(2800, 1, "done")
        .flip(4000, "flip-back", "node2", "node1")
        .task(4100, 2, "todo")
        .task(6400, 2, "done")
        .measure(2000);
    assert_eq!(report.flips.len(), 2);
    let (there, back) = (&report.flips[0], &report.flips[1]);
    assert_eq!((there.from.as_str(), there.to.as_str()), ("node1", "node2"));
    assert_eq!(there.downtime, ms(1100));
    assert_eq!(there.task.as_ref().unwrap().task_id, 1);
    assert_eq!(there.probes.sent, 40, "probes before the flip-back's start");
    assert_eq!((back.from.as_str(), back.to.as_str()), ("node2", "node1"));
    // node1 answered before the switch, but only answers after the flip-back's start count.
    assert_eq!(back.first_target_answer.as_ref().unwrap().at, ms(6500));
    assert_eq!(
        back.last_ok_before_outage.as_ref().unwrap().node.as_deref(),
        Some("node2")
    );
    assert_eq!(back.downtime, ms(600));
    assert_eq!(back.task.as_ref().unwrap().task_id, 2);
    assert_eq!(back.reaction_ms, Some(100));
    assert_eq!(back.probes.sent, 50);
    assert_eq!(report.verdict, Verdict::Pass);
    // The top level is the switch that was asked for.
    assert_eq!(
        (report.from.as_str(), report.to.as_str(), report.downtime),
        ("node1", "node2", ms(1100))
    );
    assert_eq!(report.probes.sent, 90);
    assert_eq!(report.nodes(), ["node1", "node2"]);
}

#[test]
fn a_failed_flip_back_fails_the_game_day() {
    let report = Day::new()
        .node(0, 2000, "node1")
        .node(2000, 4000, "node2")
        .refused(4000, 5000)
        .flip(1000, "switch", "node1", "node2")
        .flip(3000, "flip-back", "node2", "node1")
        .measure(2000);
    assert_eq!(report.flips[0].verdict, Verdict::Pass);
    assert_eq!(report.flips[1].verdict, Verdict::Fail);
    assert_eq!(report.verdict, Verdict::Fail);
}

#[test]
fn tcp_probes_are_measured_by_timing() {
    let report = Day::new()
        .probes(0, 2000, Answer::Ok(None))
        .refused(2000, 2500)
        .probes(2500, 4000, Answer::Ok(None))
        .flip(1000, "switch", "node1", "node2")
        .measure(1000);
    let flip = &report.flips[0];
    assert_eq!(flip.attribution, Attribution::ByTiming);
    assert_eq!(flip.first_target_answer.as_ref().unwrap().at, ms(2500));
    assert_eq!(flip.downtime, ms(600));
    assert_eq!(report.verdict, Verdict::Pass);
}

#[test]
fn a_blip_before_the_outage_counts_as_failures_but_not_as_downtime() {
    let report = Day::new()
        .node(0, 500, "node1")
        .refused(500, 600)
        .node(600, 2000, "node1")
        .refused(2000, 2300)
        .node(2300, 3000, "node2")
        .flip(1000, "switch", "node1", "node2")
        .measure(1000);
    let flip = &report.flips[0];
    assert_eq!(flip.downtime, ms(400));
    assert_eq!(flip.first_failed_probe.as_ref().unwrap().at, ms(2000));
    assert_eq!(flip.longest_failed_run.unwrap().count, 3);
    assert_eq!(flip.probes.failed, 4);
}

#[test]
fn a_service_down_from_the_start_is_measured_from_the_first_probe() {
    let report = Day::new()
        .refused(0, 1500)
        .node(1500, 2000, "node2")
        .flip(500, "switch", "node1", "node2")
        .measure(10_000);
    let flip = &report.flips[0];
    assert_eq!(flip.last_ok_before_outage, None);
    assert_eq!(flip.downtime, ms(1500));
    assert!(
        flip.notes
            .iter()
            .any(|n| n.contains("never answered before"))
    );
}

#[test]
fn a_game_day_without_a_flip_fails() {
    let report = Day::new().node(0, 1000, "node1").measure(1000);
    assert_eq!(report.verdict, Verdict::Fail);
    assert!(report.flips.is_empty());
    assert_eq!(report.probes.sent, 10);
}

#[test]
fn the_json_document_keeps_the_command_line_contract() {
    let report = normal_flip().measure(5000);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["from"], "node1");
    assert_eq!(json["to"], "node2");
    assert_eq!(json["downtime_ms"], 4100);
    assert_eq!(json["probes"]["sent"], 100);
    assert_eq!(json["probes"]["ok"], 60);
    assert_eq!(json["rto_budget_ms"], 5000);
    assert_eq!(json["flips"][0]["task"]["duration_ms"], 4400);
    assert_eq!(json["flips"][0]["reaction_ms"], 500);
    assert_eq!(json["flips"][0]["longest_failed_run"]["count"], 40);
    assert_eq!(json["timeline"]["probes"].as_array().unwrap().len(), 100);
    assert_eq!(json["timeline"]["events"][0]["kind"], "flip_started");
    // A saved report reads back (to re-render it later).
    let back: GameDayReport = serde_json::from_value(json).unwrap();
    assert_eq!(back.flips[0].downtime, report.flips[0].downtime);
    assert_eq!(back.timeline, report.timeline);
}

/// A crash's detection runs from the last answer to the survivor's first agent phase; a
/// planned switch has none, even with the same phases.
#[test]
fn a_crash_is_detected_when_the_survivors_agent_first_acts() {
    let day = |label: &str| {
        let mut day = Day::new()
            .node(0, 3000, "node1")
            .refused(3000, 40_000)
            .node(40_000, 42_000, "node2")
            .flip(2000, label, "node1", "node2")
            .task(38_000, 7, "doing")
            .task(39_000, 7, "done");
        for (at, node, name) in [
            (2500, "node1", "stop: container#1"),
            (20_000, "node2", "start: ip#1 address check"),
            (30_000, "node2", "start: container#1"),
        ] {
            day.timeline.record(
                ms(at),
                EventKind::AgentPhase {
                    node: node.into(),
                    name: name.into(),
                    duration: ms(1000),
                    ok: true,
                },
            );
        }
        day.measure(60_000)
    };
    let crash = day(crate::failover::node_crash::LABEL);
    let flip = &crash.flips[0];
    // The last answer started at 2900 ms; node1's own phase (before it) does not count.
    assert_eq!(flip.detection_ms, Some(20_000 - 2900), "{flip:?}");
    assert!(
        flip.notes.iter().any(|n| n.contains("detected in 17.1 s")),
        "{:?}",
        flip.notes
    );
    assert_eq!(flip.reaction_ms, Some(1000));
    // The detection is a phase of the crash, and here the longest share of its outage.
    let detection = flip
        .phases
        .iter()
        .find(|p| p.name == crate::failover::phases::DETECTION)
        .expect("a detection phase");
    assert_eq!(
        (detection.start, detection.duration),
        (ms(2900), ms(17_100))
    );
    let sentence = flip.critical_path.as_deref().unwrap_or_default();
    assert!(
        sentence.contains("was the survivor noticing that node1 was gone"),
        "{sentence}"
    );
    assert_eq!(day("switch").flips[0].detection_ms, None);
}

/// The baseline is the probes from the `baseline` phase to the first flip, with the latency
/// of the ok ones; a report without that phase (an older one) has none.
#[test]
fn the_baseline_is_the_probes_before_the_first_flip() {
    let mut day = Day::new()
        .node(0, 4000, "node1")
        .flip(3000, "switch", "node1", "node2");
    assert_eq!(day.timeline.probes.len(), 40);
    day.timeline.record(
        ms(1000),
        EventKind::Phase {
            name: crate::failover::game_day::BASELINE_PHASE.into(),
        },
    );
    // Latencies 1..=20 ms for the 20 probes of the baseline window (1000..3000 ms).
    for (i, p) in day.timeline.probes.iter_mut().enumerate() {
        p.latency = if (10..30).contains(&i) {
            ms(i as u64 - 9)
        } else {
            ms(500)
        };
    }
    let report = day.measure(5000);
    let baseline = report.baseline.expect("a baseline");
    assert_eq!((baseline.sent, baseline.ok), (20, 20));
    assert_eq!((baseline.from, baseline.until), (ms(1000), ms(2900)));
    assert_eq!(
        (baseline.latency_p50, baseline.latency_p95),
        (ms(10), ms(19))
    );
    assert!(
        Day::new()
            .node(0, 1000, "node1")
            .measure(5000)
            .baseline
            .is_none()
    );
}
