//! The game-day HTML report in a real browser: headless Chromium (installed by
//! `integration/scripts/setup.sh`) renders a synthetic game day with a flip-back to a PNG, kept
//! at `target/failover-report.png` for a person to look at, and dumps the DOM it built, where
//! the drawing's elements must all be. Needs no lab and no network: the page is a local file
//! with nothing external, and Chromium runs with its background networking off.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tandem::failover::clock::Clock;
use tandem::failover::history::PastRun;
use tandem::failover::measurement::GameDayReport;
use tandem::failover::probe::{ProbeOutcome, ProbeResult};
use tandem::failover::rpo::{LastSync, TargetSyncs};
use tandem::failover::timeline::{EventKind, NoteLevel, ProbeSettings, Timeline};
use tandem::report::failover_html;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const WINDOW: (u32, u32) = (1400, 1000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What answers the probe sent at `at_ms` in the synthetic game day (matching its events):
/// node1 until its service stops, refusals while the task runs, timeouts while the route moves
/// and the target starts, then node2; the same way back for the flip-back.
fn answer(at_ms: u64) -> (ProbeOutcome, Option<&'static str>) {
    match at_ms {
        0..3100 => (ProbeOutcome::Ok, Some("node1")),
        3100..50_000 => (ProbeOutcome::Refused, None),
        50_000..53_900 => (ProbeOutcome::Timeout, None),
        53_900..81_100 => (ProbeOutcome::Ok, Some("node2")),
        81_100..128_000 => (ProbeOutcome::Refused, None),
        128_000..131_900 => (ProbeOutcome::Timeout, None),
        _ => (ProbeOutcome::Ok, Some("node1")),
    }
}

/// A game day the way `tandem failover-test --flip-back` would record it: 1,400 probes every
/// 100 ms, the API calls, the OVH task states, the commands on the nodes.
fn synthetic_report() -> GameDayReport {
    let clock = Clock::start();
    let mut t = Timeline::new("web", "203.0.113.10", &clock);
    t.probe = Some(ProbeSettings {
        mode: "http GET /".into(),
        target: "203.0.113.10:80".into(),
        interval: ms(100),
        timeout: ms(300),
    });
    for seq in 1..=1400u64 {
        let at = (seq - 1) * 100;
        let (outcome, node) = answer(at);
        let latency = if outcome == ProbeOutcome::Timeout {
            ms(300)
        } else {
            ms(2)
        };
        t.add_probe(ProbeResult {
            seq,
            at: ms(at),
            unix_ms: clock.unix_ms_at(ms(at)),
            latency,
            outcome,
            node: node.map(str::to_string),
        });
    }
    let flip = |t: &mut Timeline, start: u64, label: &str, from: &str, to: &str, task: u64| {
        let move_path = "/ip/203.0.113.10%2F32/move".to_string();
        let task_path = format!("/ip/203.0.113.10%2F32/task/{task}");
        let events = [
            (
                start,
                EventKind::FlipStarted {
                    label: label.into(),
                    from: from.into(),
                    to: to.into(),
                },
            ),
            (
                start + 100,
                EventKind::CommandStarted {
                    node: from.into(),
                    command: "lxc-stop -n web".into(),
                },
            ),
            (
                start + 1100,
                EventKind::CommandFinished {
                    node: from.into(),
                    command: "lxc-stop -n web".into(),
                    ok: true,
                    detail: None,
                },
            ),
            (
                start + 1150,
                EventKind::ApiRequest {
                    method: "POST".into(),
                    path: move_path.clone(),
                },
            ),
            (
                start + 1420,
                EventKind::ApiResponse {
                    method: "POST".into(),
                    path: move_path,
                    status: Some(200),
                    error: None,
                },
            ),
            (
                start + 1420,
                EventKind::TaskStatus {
                    task_id: task,
                    status: "todo".into(),
                },
            ),
            (
                start + 6000,
                EventKind::TaskStatus {
                    task_id: task,
                    status: "doing".into(),
                },
            ),
            (
                start + 50_400,
                EventKind::ApiResponse {
                    method: "GET".into(),
                    path: task_path,
                    status: Some(200),
                    error: None,
                },
            ),
            (
                start + 50_400,
                EventKind::TaskStatus {
                    task_id: task,
                    status: "done".into(),
                },
            ),
            (
                start + 50_500,
                EventKind::CommandStarted {
                    node: to.into(),
                    command: "lxc-start -n web".into(),
                },
            ),
            (
                start + 51_900,
                EventKind::CommandFinished {
                    node: to.into(),
                    command: "lxc-start -n web".into(),
                    ok: true,
                    detail: None,
                },
            ),
        ];
        for (at, kind) in events {
            t.record(ms(at), kind);
        }
    };
    t.record(
        ms(0),
        EventKind::Phase {
            name: "preflight".into(),
        },
    );
    // The probes before anything moved, and the last sync node2 had when it took over (30 s
    // before the game day started, held to a 600 s RPO budget).
    t.record(
        ms(0),
        EventKind::Phase {
            name: "baseline".into(),
        },
    );
    t.rpo_budget_ms = Some(600_000);
    t.last_syncs.push(TargetSyncs {
        flip: "switch".into(),
        node: "node2".into(),
        syncs: vec![LastSync {
            rid: "sync#1".into(),
            unix_ms: Some(clock.unix_ms_at(ms(0)) - 30_000),
        }],
    });
    flip(&mut t, 2000, "switch", "node1", "node2", 4_211_871);
    flip(&mut t, 80_000, "flip-back", "node2", "node1", 4_211_902);
    t.record(
        ms(130_000),
        EventKind::Note {
            level: NoteLevel::Warning,
            text: "<node1> answered with a stale `Server:` header & no cache".into(),
        },
    );
    t.record(
        ms(139_950),
        EventKind::Phase {
            name: "finished".into(),
        },
    );
    GameDayReport::measure(t, Duration::from_secs(60))
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .map(move |dir| dir.join(name))
        })
        .find(|p| p.is_file())
        .expect("chromium is not installed: run integration/scripts/setup.sh (Debian package `chromium`)")
}

/// Chromium headless on a local file, bounded by `timeout(1)`: never more than a minute.
fn headless(page: &Path, mode: &[&str], profile: &Path) -> Output {
    let out = Command::new("timeout")
        .args(["--kill-after=5", "60"])
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh browser profile per run, so no state from another run (or a person's) leaks in.
fn fresh_profile(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(format!("profile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("profile dir");
    dir
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(PNG_SIGNATURE),
        "not a PNG"
    );
    assert_eq!(&png[12..16], b"IHDR");
    let word = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    (word(16), word(20))
}

fn screenshot(page: &Path, png: &Path, work: &Path, name: &str) -> Vec<u8> {
    let _ = std::fs::remove_file(png);
    let profile = fresh_profile(work, name);
    headless(
        page,
        &[&format!("--screenshot={}", png.display())],
        &profile,
    );
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()))
}

#[test]
fn html_report_renders_its_timeline_in_headless_chromium() {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let work =
        std::env::temp_dir().join(format!("tandem-report-html-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();

    let report = synthetic_report();
    assert_eq!(report.flips.len(), 2);
    assert_eq!(report.verdict.as_str(), "pass", "{:?}", report.flips);
    let page = work.join("failover-report.html");
    std::fs::write(&page, failover_html::render(&report).unwrap()).unwrap();
    let blank = work.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();

    // The picture: a real PNG of the window's size, far richer than an empty page's.
    let png_path = target_dir().join("failover-report.png");
    let png = screenshot(&page, &png_path, &work, "report");
    assert_eq!(png_size(&png), WINDOW);
    let empty = screenshot(&blank, &work.join("blank.png"), &work, "blank");
    assert_eq!(png_size(&empty), WINDOW);
    assert!(
        png.len() > 30_000 && png.len() > 8 * empty.len(),
        "the report's screenshot ({} bytes) looks blank next to an empty page's ({} bytes)",
        png.len(),
        empty.len()
    );

    // The DOM the browser built: the drawing is there, element by element.
    let profile = fresh_profile(&work, "dom");
    let dom = String::from_utf8(headless(&page, &["--dump-dom"], &profile).stdout).unwrap();
    let count = |needle: &str| dom.matches(needle).count();
    let ok = report.timeline.probes.iter().filter(|p| p.is_ok()).count();
    let failed = report.timeline.probes.len() - ok;
    assert_eq!(count("<svg class=\"timeline\""), 1);
    assert_eq!(count("class=\"probe ok\""), ok);
    assert_eq!(count("class=\"probe failed\""), failed);
    assert_eq!(count("<g class=\"strip ok\" data-node=\"node1\""), 1);
    assert_eq!(count("<g class=\"strip ok\" data-node=\"node2\""), 1);
    assert_eq!(
        count("<g class=\"marker\">"),
        9,
        "4 markers per flip, and the baseline's"
    );
    assert_eq!(count("<g class=\"downtime\">"), 2);
    assert_eq!(count(">downtime 50.9 s</text>"), 2, "both outages labelled");
    assert_eq!(count("<g class=\"task\" data-status=\"done\">"), 2);
    assert!(dom.contains("first answer from node2"));
    assert!(dom.contains("first answer from node1"));
    // The phases of each flip under the timeline, and where the outage went.
    assert_eq!(count("<svg class=\"phases\""), 1);
    assert_eq!(count("<g class=\"flip-phase\" data-phase=\"OVH task\""), 2);
    assert!(
        dom.contains("outage was the OVH task moving the VIP to node2"),
        "no critical path"
    );
    // The baseline, and the switch's RPO against its budget.
    assert!(
        dom.contains("<p class=\"sub baseline\">baseline: 20 probes"),
        "no baseline"
    );
    assert!(
        dom.contains(
            "RPO: the data on node2 was 32.0 s old when it took over (RPO budget 600.0 s)"
        ),
        "no RPO"
    );
    // The hostile note arrived as text, not markup.
    assert!(dom.contains("&lt;node1&gt; answered with a stale `Server:` header &amp; no cache"));
    assert!(!dom.contains("<node1>"));
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("screenshot: {}", png_path.display());
}

/// A kept run, as `failover::history` reads it back: `task` ms of OVH task, then `other`.
fn past_run(started: &str, verdict: &str, task: u64, other: u64) -> PastRun {
    PastRun {
        file: PathBuf::from(format!("/history/{started}.json")),
        cluster: "web".into(),
        scenario: "switch".into(),
        started_at: started.into(),
        verdict: verdict.into(),
        downtime_ms: task + other,
        flips: 2,
        phases: vec![("OVH task".into(), task), ("other".into(), other)],
    }
}

#[test]
fn html_report_history_chart_renders_in_headless_chromium() {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let work = std::env::temp_dir().join(format!(
        "tandem-report-history-{}-{stamp}",
        std::process::id()
    ));
    std::fs::create_dir_all(&work).unwrap();
    let report = synthetic_report();
    let earlier = [
        past_run("2026-11-02 10:00:00 UTC", "pass", 46_000, 4_900),
        past_run("2026-11-16 10:00:00 UTC", "fail", 58_000, 12_000),
        past_run("2026-11-30 10:00:00 UTC", "pass", 44_000, 3_000),
    ];
    let now = past_run("2026-12-02 10:00:00 UTC", "pass", 46_900, 4_000);
    let page = work.join("failover-report-history.html");
    std::fs::write(
        &page,
        failover_html::render_with_history(&report, Some(&now), &earlier).unwrap(),
    )
    .unwrap();

    let png_path = target_dir().join("failover-report-history.png");
    let png = screenshot(&page, &png_path, &work, "history");
    assert_eq!(png_size(&png), WINDOW);

    let profile = fresh_profile(&work, "history-dom");
    let dom = String::from_utf8(headless(&page, &["--dump-dom"], &profile).stdout).unwrap();
    assert_eq!(dom.matches("<section id=\"history\">").count(), 1);
    assert_eq!(dom.matches("<svg class=\"history\"").count(), 1);
    // Two phases per run, four runs; the longest (70 s) sets the scale.
    assert_eq!(dom.matches("<rect class=\"phase\"").count(), 8);
    assert!(dom.contains("2026-12-02 10:00:00 UTC (this run)"));
    assert!(dom.contains("70.00 s ✗"), "the failed run is marked");
    assert!(dom.contains("the 3 earlier game days of cluster web"));
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("screenshot: {}", png_path.display());
}
