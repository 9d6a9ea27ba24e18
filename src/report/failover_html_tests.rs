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

/// The base64 of the page's embedded JSON document.
fn embedded(page: &str) -> &str {
    let start = page
        .find("data:application/json;base64,")
        .expect("no embedded JSON")
        + "data:application/json;base64,".len();
    let len = page[start..].find('"').expect("unterminated link");
    &page[start..start + len]
}

/// A kept run whose name and phase are `name`.
fn past_run(name: &str) -> PastRun {
    PastRun {
        file: std::path::PathBuf::from("/h/run.json"),
        cluster: name.into(),
        scenario: name.into(),
        started_at: name.into(),
        verdict: "fail".into(),
        downtime_ms: 4600,
        flips: 1,
        phases: vec![(name.into(), 4000), ("other".into(), 600)],
    }
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
fn hostile_text_everywhere_is_escaped() {
    // Node names, the cluster, task statuses, notes and API paths all come from outside.
    let evil = "<script>'x'</script>";
    let mut report = game_day(evil, 30, 100);
    report.cluster = evil.into();
    report.vip = evil.into();
    report.timeline.record(
        ms(500),
        EventKind::Note {
            level: crate::failover::timeline::NoteLevel::Warning,
            text: evil.into(),
        },
    );
    report.timeline.record(
        ms(600),
        EventKind::TaskStatus {
            task_id: 42,
            status: evil.into(),
        },
    );
    let earlier = [past_run(evil)];
    let page = render_with_history(&report, Some(&past_run(evil)), &earlier).unwrap();
    assert!(!page.contains("<script"), "raw markup in the page");
    assert!(!page.contains("'x'"), "raw quotes in the page");
    assert!(page.contains("&lt;script&gt;"));
}

#[test]
fn hostile_names_never_reach_the_page_unescaped() {
    let evil = "<img src=x onerror=alert(1)>";
    let report = game_day(evil, 30, 100);
    let page = render(&report).unwrap();
    assert!(!page.contains(evil), "raw markup in the page");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("<script"), "the page needs no script");
    // The only link is the embedded JSON document.
    assert!(
        !page.contains("src=\"http")
            && page.matches("href=").count() == 1
            && page.contains("href=\"data:application/json;base64,"),
        "no external resource"
    );
}

#[test]
fn the_page_has_the_verdict_the_figures_and_the_drawing() {
    let report = game_day("node1", 30, 100);
    let page = render(&report).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<div class=\"verdict pass\">PASS</div>"));
    assert!(page.contains("Game day: cluster web, switch, node1 → node2"));
    for label in [
        "Downtime",
        "OVH task",
        "s reaction",
        "Probes ok",
        "Longest failed run",
    ] {
        assert!(page.contains(label), "no {label}");
    }
    // Failures told apart by kind (refused is not timeout).
    assert!(page.contains("<div class=\"hint\">66.7% success · 10 timeout</div>"));
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
    let page = render(&report).unwrap();
    assert_eq!(page.matches("class=\"probe ok\"").count(), 0);
    let runs = page.matches("class=\"probes ").count();
    assert!((3..100).contains(&runs), "{runs} runs");
    assert_eq!(page.matches("data-probes=\"3000\"").count(), 3);
    // The drawing stays small; the embedded JSON document has every probe, as --json does.
    let drawn = page.len() - embedded(&page).len();
    assert!(drawn < 200_000, "{drawn} bytes");
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
    let page = render(&GameDayReport::measure(t, Duration::from_secs(60))).unwrap();
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

#[test]
fn the_history_chart_is_drawn_under_the_figures() {
    let report = game_day("node1", 30, 100);
    let run = |started: &str, task: u64, other: u64| PastRun {
        started_at: started.into(),
        verdict: "pass".into(),
        downtime_ms: task + other,
        phases: vec![("OVH task".into(), task), ("other".into(), other)],
        ..past_run("x")
    };
    let earlier = [run("a", 2000, 300), run("b", 1000, 0)];
    let now = PastRun {
        verdict: "fail".into(),
        ..run("c", 4000, 600)
    };
    let page = render_with_history(&report, Some(&now), &earlier).unwrap();
    assert_eq!(page.matches("<section id=\"history\">").count(), 1);
    assert_eq!(page.matches("<rect class=\"phase\"").count(), 6, "{page}");
    assert!(page.contains(">c (this run)</text>"));
    assert!(
        page.contains("data-ms=\"4000\" x=\"300.0\" y=\"48.0\" width=\"365.2\""),
        "{page}"
    );
    assert!(page.contains(">4.60 s ✗</text>"));
    assert!(page.contains("the 2 earlier game days of cluster web (x)"));
    assert!(!render(&report).unwrap().contains("id=\"history\""));
}

#[test]
fn the_phases_are_drawn_under_the_timeline_with_the_critical_path() {
    let mut timeline = game_day("node1", 30, 100).timeline;
    for (at, node, command, done) in [
        (30, "node1", "stop the service", 1500),
        (1600, "node2", "start the service", 1900),
    ] {
        timeline.record(
            ms(at),
            EventKind::CommandStarted {
                node: node.into(),
                command: command.into(),
            },
        );
        timeline.record(
            ms(done),
            EventKind::CommandFinished {
                node: node.into(),
                command: command.into(),
                ok: true,
                detail: None,
            },
        );
    }
    let page = render(&GameDayReport::measure(timeline, Duration::from_secs(60))).unwrap();
    assert_eq!(page.matches("<svg class=\"phases\"").count(), 1);
    for phase in ["stop", "OVH task", "start"] {
        assert_eq!(
            page.matches(&format!("<g class=\"flip-phase\" data-phase=\"{phase}\">"))
                .count(),
            1,
            "no {phase}"
        );
    }
    assert!(page.contains(
        "<p class=\"critical\">switch: 1.1 s of the 1.1 s outage was the OVH task moving the VIP to node2</p>"
    ));
    // Without a phase, no bar.
    let bare = render(&game_day("node1", 30, 100)).unwrap();
    assert!(bare.contains("data-phase=\"OVH task\""));
    let mut none = game_day("node1", 30, 100);
    none.flips[0].phases.clear();
    assert!(!render(&none).unwrap().contains("<svg class=\"phases\""));
}

#[test]
fn the_page_embeds_the_json_document_as_a_download() {
    use base64::Engine;
    let report = game_day("node1", 30, 100);
    let page = render(&report).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(embedded(&page))
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc, serde_json::to_value(&report).unwrap());
    let stamp: String = report
        .started_at
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert!(page.contains(&format!("download=\"game-day-web-{stamp}.json\"")));
}

#[test]
fn an_api_request_and_its_answer_take_one_line() {
    let mut timeline = game_day("node1", 30, 100).timeline;
    let (move_path, task_path) = (
        "/ip/203.0.113.10%2F32/move",
        "/ip/203.0.113.10%2F32/task/42",
    );
    let request = |path: &str| EventKind::ApiRequest {
        method: "POST".into(),
        path: path.into(),
    };
    let answer = |path: &str, status: Option<u16>| EventKind::ApiResponse {
        method: "POST".into(),
        path: path.into(),
        status,
        error: status.is_none().then(|| "connection reset".to_string()),
    };
    for (at, kind) in [
        (100, request(move_path)),
        // A retry: the first request never got its answer.
        (400, request(move_path)),
        (420, request(task_path)),
        (650, answer(move_path, None)),
        (700, answer(task_path, Some(200))),
        // An answer whose request was not recorded stays a line of its own.
        (800, answer(task_path, Some(200))),
    ] {
        timeline.record(ms(at), kind);
    }
    let report = GameDayReport::measure(timeline, Duration::from_secs(60));
    let page = render(&report).unwrap();
    let rows = |what: &str| page.matches(what).count();
    assert_eq!(
        rows("<tr class="),
        report.events_with_milestones().len() - 2,
        "two pairs joined"
    );
    // Texts are escaped (minijinja writes / as &#x2f;): compare on the unescaped text.
    let text = page.replace("&#x2f;", "/").replace("&gt;", ">");
    assert!(
        text.contains(
            "<td>+0.100s</td>"
                .replace("<td>", "<td class=\"num\">")
                .as_str()
        )
    );
    assert!(text.contains("<td>api</td><td>POST /ip/203.0.113.10%2F32/move</td>"));
    assert!(text.contains("<tr class=\"problem\"><td class=\"num\">+0.400s</td>"));
    assert!(text.contains(
        "<td>POST /ip/203.0.113.10%2F32/move -> no answer: connection reset (250 ms)</td>"
    ));
    assert!(text.contains("<td>POST /ip/203.0.113.10%2F32/task/42 -> 200 (280 ms)</td>"));
    assert!(text.contains("<td>POST /ip/203.0.113.10%2F32/task/42 -> 200</td>"));
}

/// A network split's findings fail the verdict and head the page, escaped like every text.
#[test]
fn violations_are_shown_under_the_verdict() {
    let mut report = game_day("node1", 50, 100);
    report.timeline.violations = vec!["node1 and node2 both ran <web> (split brain)".into()];
    let report = GameDayReport::measure(report.timeline, report.rto_budget);
    assert_eq!(report.verdict, Verdict::Fail);
    let page = render(&report).unwrap();
    assert!(
        page.contains(
            r#"<p class="because violation">node1 and node2 both ran &lt;web&gt; (split brain)</p>"#
        ),
        "{page}"
    );
    let text = crate::report::failover_text::summary(&report, false);
    assert!(
        text.contains("  ! node1 and node2 both ran <web> (split brain)\n"),
        "{text}"
    );
}

/// The page names what was run (escaped: the command line comes from a person's shell) and the
/// baseline the outage is measured against.
#[test]
fn the_page_names_the_run_and_shows_the_baseline() {
    use crate::failover::run_info::{RunInfo, SwitchedBy};
    let mut t = game_day("node1", 30, 100).timeline;
    t.record(
        ms(0),
        EventKind::Phase {
            name: "baseline".into(),
        },
    );
    let mut report = GameDayReport::measure(t, Duration::from_secs(3600));
    report.run = Some(RunInfo {
        tandem_version: "9.8.7".into(),
        command_line: "tandem failover-test --cluster '<b>web</b>' --direct".into(),
        inventory: "inv/<prod>.yml".into(),
        switched_by: SwitchedBy::Direct,
    });
    let page = render(&report).unwrap();
    assert!(
        page.contains(
            "tandem 9.8.7 · switched by tandem directly (--direct) · inventory <code>inv&#x2f;&lt;prod&gt;.yml</code>"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "<pre class=\"cmd\">$ tandem failover-test --cluster &#x27;&lt;b&gt;web&lt;&#x2f;b&gt;&#x27; --direct</pre>"
        ),
        "{page}"
    );
    assert!(!page.contains("<b>web"), "raw markup in the page");
    assert!(
        page.contains("baseline: 1 probes in 0.0 s, 1 ok, latency p50 1.0 ms p95 1.0 ms"),
        "{page}"
    );
    // Marked on the timeline where it was taken.
    assert!(page.contains(">baseline (p50 1.0 ms)</text></g>"), "{page}");
}

/// A report kept before `run` existed still loads (the history reads old files).
#[test]
fn a_report_without_run_loads() {
    let report = game_day("node1", 30, 100);
    assert!(report.run.is_none());
    let doc = serde_json::to_value(&report).unwrap();
    assert!(doc.get("run").is_none(), "absent, not null, when unknown");
    let back: GameDayReport = serde_json::from_value(doc).unwrap();
    assert_eq!(back, report);
}
