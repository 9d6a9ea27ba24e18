//! `tandem failover-test --report FILE.html`: one self-contained page (inline CSS and SVG, no
//! script, no external resource) that a person can open from a mail or a ticket years later:
//! the verdict, the figures, the timeline drawn on a time axis, every event in a table, and
//! the `--json` document itself as a download link (a `data:` URL: no file to keep beside it).
//!
//! The page is the template `failover_report.html`, rendered by its own small minijinja
//! environment with HTML auto-escaping on: node names, API paths and error messages come from
//! outside, and no text reaches the page without being escaped. This file only turns the
//! report into the template's context (texts and figures); the drawings' geometry comes from
//! [`super::failover_timeline_svg`], [`super::failover_phase_bar`] and
//! [`super::failover_history`]. The playbook's template
//! engine (`crate::template`) is not used: its rules (no escaping, Ansible's filters) are for
//! files on nodes, not for a page.

use std::time::Duration;

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::failover_history::{Chart, chart};
use super::failover_phase_bar::{PhaseBar, phase_bar};
use super::failover_text::{baseline_line, failure_kinds, offset, signed_ms};
use super::failover_timeline_svg::{Drawing, drawing};
use super::human_duration;
use crate::failover::clock::utc_time_of_day;
use crate::failover::history::{self, DEFAULT_SCENARIO, PastRun};
use crate::failover::measurement::{GameDayReport, Verdict};
use crate::failover::timeline::{Event, EventKind};

const TEMPLATE: &str = include_str!("failover_report.html");
const TEMPLATE_NAME: &str = "failover_report.html";

/// The page could not be rendered: a bug in the template or its context, never bad input.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the HTML report's template: {0:#}")]
    Template(#[from] minijinja::Error),
    #[error("the HTML report's JSON document: {0}")]
    Json(#[from] serde_json::Error),
}

/// The whole page.
pub fn render(report: &GameDayReport) -> Result<String, RenderError> {
    render_with_history(report, None, &[])
}

/// The page, with a "History" section when earlier runs of the same cluster and scenario were
/// kept: this run (`this_run`, as kept) against them, downtime per phase.
pub fn render_with_history(
    report: &GameDayReport,
    this_run: Option<&PastRun>,
    earlier: &[PastRun],
) -> Result<String, RenderError> {
    let mut env = Environment::new();
    // Whatever the template's name says: this page is HTML.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // A misspelt field is an error in the tests, not an empty spot in someone's report.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    let page = Page::of(report, this_run, earlier, embedded_json(report)?);
    Ok(env.get_template(TEMPLATE_NAME)?.render(Serde(&page))?)
}

/// The template's context: plain texts (escaped by the template) and figures.
#[derive(Serialize)]
struct Page {
    /// `pass` or `fail`: a CSS class, upper-cased for the badge.
    verdict: &'static str,
    cluster: String,
    /// `switch`, `node-crash`, `network-split`.
    scenario: String,
    /// What failed the verdict beyond the downtime (two nodes serving at once, ...).
    violations: Vec<String>,
    /// `node1 → node2`, or `no flip`.
    route: String,
    started_at: String,
    vip: String,
    /// ` · probes: http GET / to 203.0.113.10:80 every 100 ms (timeout 300 ms)`, or empty.
    probe: String,
    budget: String,
    because: String,
    /// What was run; none in reports from before it was kept.
    run: Option<RunView>,
    /// `baseline: 20 probes in 2.0 s, 20 ok, latency p50 1.2 ms p95 3.4 ms`, or none.
    baseline: Option<String>,
    /// The `--json` document, base64, for the page's download link: marked safe, as base64's
    /// alphabet has no character that means anything inside a quoted attribute (escaped,
    /// each `/` would take six bytes).
    json: Value,
    /// `pair1-20261202110000.json`.
    json_file: String,
    flips: Vec<FlipView>,
    history: Option<History>,
    timeline: Drawing,
    phase_bar: Option<PhaseBar>,
    notes: Vec<String>,
    events: Vec<EventRow>,
}

#[derive(Serialize)]
struct RunView {
    version: String,
    command_line: String,
    inventory: String,
    switched_by: &'static str,
}

#[derive(Serialize)]
struct FlipView {
    label: String,
    from: String,
    to: String,
    verdict: &'static str,
    cards: Vec<Card>,
}

#[derive(Serialize)]
struct Card {
    label: &'static str,
    value: String,
    hint: String,
    /// `good`, `bad` or empty: the value's colour.
    mood: &'static str,
}

#[derive(Serialize)]
struct History {
    earlier: usize,
    scenario: String,
    chart: Chart,
}

#[derive(Serialize)]
struct EventRow {
    class: &'static str,
    offset: String,
    utc: String,
    tag: &'static str,
    what: String,
}

impl Page {
    fn of(
        report: &GameDayReport,
        this_run: Option<&PastRun>,
        earlier: &[PastRun],
        json: Value,
    ) -> Page {
        let route = if report.flips.is_empty() {
            "no flip".to_string()
        } else {
            format!("{} → {}", report.from, report.to)
        };
        let probe = report.timeline.probe.as_ref().map_or(String::new(), |p| {
            format!(
                " · probes: {} to {} every {} (timeout {})",
                p.mode,
                p.target,
                human_duration(p.interval),
                human_duration(p.timeout)
            )
        });
        let history = (!earlier.is_empty()).then(|| History {
            earlier: earlier.len(),
            scenario: this_run
                .map_or(DEFAULT_SCENARIO, |r| r.scenario.as_str())
                .to_string(),
            chart: chart(this_run, earlier),
        });
        Page {
            verdict: report.verdict.as_str(),
            cluster: report.cluster.clone(),
            scenario: report.scenario.clone(),
            violations: report.timeline.violations.clone(),
            route,
            started_at: report.started_at.clone(),
            vip: report.vip.clone(),
            probe,
            budget: human_duration(report.rto_budget),
            because: because(report),
            run: report.run.as_ref().map(|r| RunView {
                version: r.tandem_version.clone(),
                command_line: r.command_line.clone(),
                inventory: r.inventory.clone(),
                switched_by: r.switched_by.as_str(),
            }),
            baseline: report.baseline.as_ref().map(baseline_line),
            json,
            json_file: json_file(report),
            flips: (0..report.flips.len())
                .map(|k| flip_view(report, k))
                .collect(),
            history,
            timeline: drawing(report),
            phase_bar: phase_bar(report),
            notes: report
                .flips
                .iter()
                .flat_map(|f| f.notes.iter().map(move |n| format!("{}: {n}", f.label)))
                .collect(),
            events: event_rows(report),
        }
    }
}

/// The report as `--json` prints it (and the history keeps it), in base64.
fn embedded_json(report: &GameDayReport) -> Result<Value, RenderError> {
    use base64::Engine;
    let doc = serde_json::to_vec(report)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(doc);
    Ok(Value::from_safe_string(encoded))
}

/// A file name from the cluster (letters, digits, `-`, `_` kept) and the start's digits.
fn json_file(report: &GameDayReport) -> String {
    format!(
        "game-day-{}-{}.json",
        history::file_safe(&report.cluster),
        history::stamp(&report.started_at)
    )
}

/// The sentence under the verdict.
fn because(report: &GameDayReport) -> String {
    match (report.flips.is_empty(), report.verdict) {
        (true, _) => "No flip was made: the game day stopped before moving the VIP.".to_string(),
        (false, Verdict::Pass) => format!(
            "Every flip answered from its target within the RTO budget of {}.",
            human_duration(report.rto_budget)
        ),
        (false, Verdict::Fail) => {
            let failed: Vec<String> = report
                .flips
                .iter()
                .filter(|f| f.verdict == Verdict::Fail)
                .map(|f| {
                    if f.target_answered {
                        format!(
                            "{}: downtime {} over the budget of {}",
                            f.label,
                            human_duration(f.downtime),
                            human_duration(report.rto_budget)
                        )
                    } else {
                        format!("{}: {} never answered", f.label, f.to)
                    }
                })
                .collect();
            format!("Failed. {}.", failed.join("; "))
        }
    }
}

/// Flip `k` as its section shows it.
fn flip_view(report: &GameDayReport, k: usize) -> FlipView {
    let flip = &report.flips[k];
    let downtime = if flip.target_answered {
        Card {
            label: "Downtime",
            value: human_duration(flip.downtime),
            hint: format!("budget {}", human_duration(report.rto_budget)),
            mood: if flip.downtime <= report.rto_budget {
                "good"
            } else {
                "bad"
            },
        }
    } else {
        Card {
            label: "Downtime",
            value: format!("≥ {}", human_duration(flip.downtime)),
            hint: format!("{} never answered", flip.to),
            mood: "bad",
        }
    };
    let task = match &flip.task {
        Some(t) => {
            let (value, mood) = match t.duration {
                Some(d) => (human_duration(d), ""),
                None => (t.final_status.clone(), "bad"),
            };
            Card {
                label: "OVH task",
                value,
                hint: format!("task {}, created to {}", t.task_id, t.final_status),
                mood,
            }
        }
        None => Card {
            label: "OVH task",
            value: "–".to_string(),
            hint: "no task seen".to_string(),
            mood: "",
        },
    };
    let (run, run_hint) =
        flip.longest_failed_run
            .map_or(("0".to_string(), "no probe failed".to_string()), |r| {
                (
                    format!("{} probes", r.count),
                    human_duration(r.span.end - r.span.start),
                )
            });
    FlipView {
        label: flip.label.clone(),
        from: flip.from.clone(),
        to: flip.to.clone(),
        verdict: flip.verdict.as_str(),
        cards: vec![
            downtime,
            task,
            Card {
                label: "tandem's reaction",
                value: flip.reaction_ms.map_or("–".to_string(), signed_ms),
                hint: "task done to first answer from the target".to_string(),
                mood: "",
            },
            Card {
                label: "Probes ok",
                value: format!("{} / {}", flip.probes.ok, flip.probes.sent),
                hint: probes_hint(report, k),
                mood: "",
            },
            Card {
                label: "Longest failed run",
                value: run,
                hint: run_hint,
                mood: "",
            },
        ],
    }
}

/// `66.7% success · 10 timeout`: the failed probes by kind, over the probes the flip counts
/// (from its start, the first flip's from the game day's, to the next flip's start).
fn probes_hint(report: &GameDayReport, k: usize) -> String {
    let flip = &report.flips[k];
    let from = if k == 0 {
        Duration::ZERO
    } else {
        flip.started_at
    };
    let until = report
        .flips
        .get(k + 1)
        .map_or(Duration::MAX, |f| f.started_at);
    let mine = report
        .timeline
        .probes
        .iter()
        .filter(|p| p.at >= from && p.at < until);
    let failed = failure_kinds(mine);
    let ratio = format!("{:.1}% success", flip.probes.success_ratio * 100.0);
    if failed.is_empty() {
        ratio
    } else {
        format!("{ratio} · {failed}")
    }
}

/// The event table's rows: every event and milestone in time order, except that an API
/// request and its answer take one line (at the request's time, with the answer and how long
/// it took): a move polled for a minute is otherwise two lines per poll.
fn event_rows(report: &GameDayReport) -> Vec<EventRow> {
    let events = report.events_with_milestones();
    let answers = answers(&events);
    let answered: Vec<bool> = (0..events.len())
        .map(|i| answers.contains(&Some(i)))
        .collect();
    events
        .iter()
        .zip(&answers)
        .zip(answered)
        .filter(|(_, answered)| !answered)
        .map(|((event, answer), _)| {
            let answer = answer.map(|j| &events[j]);
            let shown = answer.unwrap_or(event);
            EventRow {
                class: match &shown.kind {
                    EventKind::FirstFailedProbe { .. } | EventKind::FirstAnswer { .. } => {
                        "milestone"
                    }
                    EventKind::FlipStarted { .. } => "flip",
                    kind if kind.is_problem() => "problem",
                    _ => "",
                },
                offset: offset(event.at),
                utc: utc_time_of_day(report.timeline.started_unix_ms + event.at.as_millis() as u64),
                tag: event.kind.tag(),
                what: match answer {
                    Some(a) => format!(
                        "{} ({} ms)",
                        a.kind.describe(),
                        (a.at - event.at).as_millis()
                    ),
                    None => event.kind.describe(),
                },
            }
        })
        .collect()
}

/// For each API request in `events`, the index of its answer: the first later answer to the
/// same method and path, unless the same request is sent again before it (a retry: the
/// answer is the retry's).
fn answers(events: &[Event]) -> Vec<Option<usize>> {
    let mut taken = vec![false; events.len()];
    let mut answers = vec![None; events.len()];
    for (i, e) in events.iter().enumerate() {
        let EventKind::ApiRequest { method, path } = &e.kind else {
            continue;
        };
        let same = |m: &String, p: &String| m == method && p == path;
        for (j, later) in events.iter().enumerate().skip(i + 1) {
            match &later.kind {
                EventKind::ApiRequest { method: m, path: p } if same(m, p) => break,
                EventKind::ApiResponse {
                    method: m, path: p, ..
                } if same(m, p) && !taken[j] => {
                    taken[j] = true;
                    answers[i] = Some(j);
                    break;
                }
                _ => {}
            }
        }
    }
    answers
}

#[cfg(test)]
#[path = "failover_html_tests.rs"]
mod tests;
