//! The HTML report: escaping, structure, and that big game days stay small pages.

use std::time::Duration;

use super::*;
use crate::failover::clock::Clock;
use crate::failover::probe::{ProbeOutcome, ProbeResult};
use crate::failover::timeline::{EventKind, Timeline};
use crate::report::failover_timeline_svg::tick_step;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// node1 answers, then nothing, then node2; the task is created at 1.1 s and done at 4 s.
fn game_day(node1: &str, probes: u64, every_ms: u64) -> GameDayReport {
    let mut t = Timeline::new("web", "203.0.113.10", &Clock::start());
    let third = probes / 3;
    for seq in 1..=probes {
        let (outcome, node) = match seq {
            s if s <= third => (ProbeOutcome::Ok, Some(node1.to_string())),
            s if s <= 2 * third => (ProbeOutcome::Timeout, None),
            _ => (ProbeOutcome::Ok, Some("node2".to_string())),
        };
        t.add_probe(ProbeResult {
            seq,
            at: ms((seq - 1) * every_ms),
            unix_ms: 0,
            latency: ms(1),
            outcome,
            node,
        });
    }
    let flip = EventKind::FlipStarted {
        label: "switch".into(),
        from: node1.into(),
        to: "node2".into(),
    };
    t.record(ms(10), flip);
    t.record(
        ms(20),
        EventKind::TaskStatus {
            task_id: 42,
            status: "todo".into(),
        },
    );
    t.record(
        ms(third * every_ms * 2),
        EventKind::TaskStatus {
            task_id: 42,
            status: "done".into(),
        },
    );
    GameDayReport::measure(t, Duration::from_secs(3600))
}

#[test]
fn escape_covers_markup_and_quotes() {
    assert_eq!(
        escape(r#"<script>alert("x & 'y'")</script>"#),
        "&lt;script&gt;alert(&quot;x &amp; &#39;y&#39;&quot;)&lt;/script&gt;"
    );
    assert_eq!(escape("node1 → node2"), "node1 → node2");
}

#[test]
fn hostile_names_never_reach_the_page_unescaped() {
    let evil = "<img src=x onerror=alert(1)>";
    let report = game_day(evil, 30, 100);
    let page = render(&report);
    assert!(!page.contains(evil), "raw markup in the page");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("<script"), "the page needs no script");
    assert!(
        !page.contains("src=\"http") && !page.contains("href="),
        "no external resource"
    );
}

#[test]
fn the_page_has_the_verdict_the_figures_and_the_drawing() {
    let report = game_day("node1", 30, 100);
    let page = render(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<div class=\"verdict pass\">PASS</div>"));
    assert!(page.contains("Game day: cluster web, node1 → node2"));
    for label in [
        "Downtime",
        "OVH task",
        "tandem&#39;s reaction",
        "Probes ok",
        "Longest failed run",
    ] {
        assert!(page.contains(label), "no {label}");
    }
    assert_eq!(page.matches("class=\"probe ok\"").count(), 20);
    assert_eq!(page.matches("class=\"probe failed\"").count(), 10);
    assert_eq!(page.matches("<g class=\"marker\">").count(), 4);
    for label in [
        "switch start",
        "first failed probe",
        "task done",
        "first answer from node2",
    ] {
        assert!(
            page.contains(&format!(">{label}</text>")),
            "no marker {label}"
        );
    }
    assert_eq!(page.matches("<g class=\"downtime\">").count(), 1);
    assert_eq!(
        page.matches("<g class=\"task\" data-status=\"done\">")
            .count(),
        1
    );
    // Every event, milestones included, is a table row.
    assert_eq!(
        page.matches("<tr class=").count(),
        report.events_with_milestones().len()
    );
}

#[test]
fn thousands_of_probes_are_drawn_as_runs() {
    let report = game_day("node1", 9000, 20);
    let page = render(&report);
    assert_eq!(page.matches("class=\"probe ok\"").count(), 0);
    let runs = page.matches("class=\"probes ").count();
    assert!((3..100).contains(&runs), "{runs} runs");
    assert_eq!(page.matches("data-probes=\"3000\"").count(), 3);
    assert!(page.len() < 200_000, "{} bytes", page.len());
}

#[test]
fn tick_steps_are_round() {
    assert_eq!(tick_step(ms(900)), ms(100));
    assert_eq!(tick_step(ms(12_000)), ms(1000));
    assert_eq!(tick_step(ms(70_000)), ms(5000));
    assert_eq!(tick_step(ms(150_000)), ms(15_000));
}

#[test]
fn a_failed_game_day_says_why() {
    let mut t = Timeline::new("web", "203.0.113.10", &Clock::start());
    for seq in 1..=20u64 {
        let ok = seq <= 5;
        t.add_probe(ProbeResult {
            seq,
            at: ms((seq - 1) * 100),
            unix_ms: 0,
            latency: ms(1),
            outcome: if ok {
                ProbeOutcome::Ok
            } else {
                ProbeOutcome::Refused
            },
            node: ok.then(|| "node1".to_string()),
        });
    }
    let flip = EventKind::FlipStarted {
        label: "switch".into(),
        from: "node1".into(),
        to: "node2".into(),
    };
    t.record(ms(100), flip);
    t.record(
        ms(200),
        EventKind::TaskStatus {
            task_id: 7,
            status: "todo".into(),
        },
    );
    t.record(
        ms(1500),
        EventKind::TaskStatus {
            task_id: 7,
            status: "ovhError".into(),
        },
    );
    let page = render(&GameDayReport::measure(t, Duration::from_secs(60)));
    assert!(page.contains("<div class=\"verdict fail\">FAIL</div>"));
    assert!(page.contains("Failed. switch: node2 never answered."));
    // Last ok probe at 0.4 s, last failure at 1.9 s.
    assert!(page.contains(">down ≥ 1500 ms</text>"));
    assert!(page.contains("<g class=\"task\" data-status=\"ovhError\">"));
    assert!(page.contains(">task ovhError</text>"));
    assert_eq!(
        page.matches("<g class=\"marker\">").count(),
        3,
        "no first answer marker"
    );
}
