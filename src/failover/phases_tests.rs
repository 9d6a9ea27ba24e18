//! Phases on hand-built game days: a `--direct` switch, a switch through the agent, a flip
//! without outage, a restore's commands left out, and reports kept before phases existed.

use std::time::Duration;

use super::*;
use crate::failover::clock::Clock;
use crate::failover::measurement::GameDayReport;
use crate::failover::probe::{ProbeOutcome, ProbeResult};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Probes every 100 ms: node1 answers until `down`, refusals until `up`, then node2; a
/// switch node1 -> node2 at 1 s and `events` at their times.
fn day(down: u64, up: u64, events: Vec<(u64, EventKind)>) -> GameDayReport {
    let mut t = Timeline::new("web", "203.0.113.10", &Clock::start());
    for (i, at) in (0..up + 1000).step_by(100).enumerate() {
        let (outcome, node) = match at {
            a if a < down => (ProbeOutcome::Ok, Some("node1".to_string())),
            a if a < up => (ProbeOutcome::Refused, None),
            _ => (ProbeOutcome::Ok, Some("node2".to_string())),
        };
        t.add_probe(ProbeResult {
            seq: i as u64 + 1,
            at: ms(at),
            unix_ms: 0,
            latency: ms(1),
            outcome,
            node,
        });
    }
    t.record(
        ms(1000),
        EventKind::FlipStarted {
            label: "switch".into(),
            from: "node1".into(),
            to: "node2".into(),
        },
    );
    for (at, kind) in events {
        t.record(ms(at), kind);
    }
    GameDayReport::measure(t, Duration::from_secs(60))
}

fn command(node: &str, command: &str, started: u64, finished: u64) -> Vec<(u64, EventKind)> {
    vec![
        (
            started,
            EventKind::CommandStarted {
                node: node.into(),
                command: command.into(),
            },
        ),
        (
            finished,
            EventKind::CommandFinished {
                node: node.into(),
                command: command.into(),
                ok: true,
                detail: None,
            },
        ),
    ]
}

fn task(at: u64, status: &str) -> (u64, EventKind) {
    (
        at,
        EventKind::TaskStatus {
            task_id: 42,
            status: status.into(),
        },
    )
}

fn step(at: u64, node: &str, name: &str, duration: u64) -> (u64, EventKind) {
    (
        at,
        EventKind::AgentPhase {
            node: node.into(),
            name: name.into(),
            duration: ms(duration),
            ok: true,
        },
    )
}

/// (name, node, start, duration, share of the outage), in ms.
fn table(phases: &[PhaseFigure]) -> Vec<(&str, &str, u64, u64, u64)> {
    phases
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.node.as_str(),
                p.start.as_millis() as u64,
                p.duration.as_millis() as u64,
                p.outage.as_millis() as u64,
            )
        })
        .collect()
}

#[test]
fn a_direct_switch_is_cut_at_its_commands_and_the_task() {
    let mut events = command("node1", DIRECT_STOP, 1100, 3100);
    events.extend(command("node2", DIRECT_START, 4100, 4600));
    events.extend([task(1200, "todo"), task(4000, "done")]);
    let report = day(2000, 5000, events);
    let flip = &report.flips[0];
    // Last answer from node1 at 1.9 s, first from node2 at 5 s.
    assert_eq!(flip.downtime, ms(3100));
    assert_eq!(
        table(&flip.phases),
        [
            ("stop", "node1", 1100, 2000, 0),
            // Running beside the stop and ending later: the outage waits for it.
            ("OVH task", "node2", 1200, 2800, 2100),
            ("start", "node2", 4100, 500, 500),
            ("first answer", "node2", 4600, 400, 400),
        ]
    );
    assert_eq!(
        flip.critical_path.as_deref(),
        Some("2.1 s of the 3.1 s outage was the OVH task moving the VIP to node2")
    );
}

#[test]
fn a_switch_through_the_agent_is_cut_at_its_own_steps() {
    let events = vec![
        step(1100, "node1", "stop: ip#1", 100),
        step(1200, "node1", "stop: container#1", 2100),
        step(3400, "node2", "start: container#1", 200),
        step(3600, "node2", "start: trigger ovh_failover", 300),
        task(3700, "todo"),
        task(4000, "done"),
    ];
    let report = day(1200, 4200, events);
    let flip = &report.flips[0];
    assert_eq!(flip.downtime, ms(3100));
    assert_eq!(
        table(&flip.phases),
        [
            ("stop", "node1", 1100, 2200, 2200),
            ("start", "node2", 3400, 500, 300),
            ("OVH task", "node2", 3700, 300, 300),
            ("first answer", "node2", 4000, 200, 200),
        ]
    );
    assert_eq!(
        flip.critical_path.as_deref(),
        Some(
            "2.2 s of the 3.1 s outage was stopping the service on node1 (mostly the agent's \
             `stop: container#1`)"
        )
    );
}

#[test]
fn a_flip_without_outage_has_phases_but_no_critical_path() {
    let mut events = command("node1", DIRECT_STOP, 1100, 1150);
    events.extend(command("node2", DIRECT_START, 1200, 1250));
    // No probe fails: node1 answers until 1.3 s, node2 from then on.
    let report = day(1300, 1300, events);
    let flip = &report.flips[0];
    assert_eq!(flip.downtime, Duration::ZERO);
    assert_eq!(
        table(&flip.phases),
        [
            ("stop", "node1", 1100, 50, 0),
            ("start", "node2", 1200, 50, 0),
            ("first answer", "node2", 1250, 50, 0),
        ]
    );
    assert_eq!(flip.critical_path, None);
}

#[test]
fn a_restore_is_not_a_phase_of_the_switch() {
    // The stop failed to finish before the restore; the restore's own stop is not the switch's.
    let mut events = vec![(
        1100,
        EventKind::CommandStarted {
            node: "node1".into(),
            command: DIRECT_STOP.into(),
        },
    )];
    events.push((
        2500,
        EventKind::Restore {
            action: "service back on node1".into(),
            ok: Some(true),
        },
    ));
    events.extend(command("node1", DIRECT_STOP, 2600, 2700));
    let report = day(2000, 5000, events);
    assert!(
        report.flips[0].phases.iter().all(|p| p.name != STOP),
        "{:?}",
        report.flips[0].phases
    );
}

#[test]
fn phases_are_in_the_json_and_old_reports_without_them_still_load() {
    let mut events = command("node1", DIRECT_STOP, 1100, 3100);
    events.extend([task(1200, "todo"), task(4000, "done")]);
    let report = day(2000, 5000, events);
    let mut json = serde_json::to_value(&report).unwrap();
    let flip = &json["flips"][0];
    assert_eq!(
        flip["phases"][0],
        serde_json::json!({"name": "stop", "node": "node1", "start_ms": 1100, "duration_ms": 2000, "outage_ms": 0})
    );
    assert!(flip["critical_path"].as_str().unwrap().contains("OVH task"));
    let kept = json["flips"][0].as_object_mut().unwrap();
    kept.remove("phases");
    kept.remove("critical_path");
    let back: GameDayReport = serde_json::from_value(json).unwrap();
    assert!(back.flips[0].phases.is_empty());
    assert_eq!(back.flips[0].critical_path, None);
}
