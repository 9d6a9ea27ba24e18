//! `tandem failover-test --report FILE.html`: one self-contained page (inline CSS and SVG, no
//! script, no external resource) that a person can open from a mail or a ticket years later:
//! the verdict, the figures, the timeline drawn on a time axis, and every event in a table.
//!
//! The page is the template `failover_report.html`, rendered by its own small minijinja
//! environment with HTML auto-escaping on: node names, API paths and error messages come from
//! outside, and no text reaches the page without being escaped. This file only turns the
//! report into the template's context (texts and figures); the drawings' geometry comes from
//! [`super::failover_timeline_svg`], [`super::failover_phase_bar`] and
//! [`super::failover_history`]. The playbook's template
//! engine (`crate::template`) is not used: its rules (no escaping, Ansible's filters) are for
//! files on nodes, not for a page.

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::failover_history::{Chart, chart};
use super::failover_phase_bar::{PhaseBar, phase_bar};
use super::failover_text::{offset, signed_ms};
use super::failover_timeline_svg::{Drawing, drawing};
use super::human_duration;
use crate::failover::clock::utc_time_of_day;
use crate::failover::history::{DEFAULT_SCENARIO, PastRun};
use crate::failover::measurement::{FlipMeasurement, GameDayReport, Verdict};
use crate::failover::timeline::EventKind;

const TEMPLATE: &str = include_str!("failover_report.html");
const TEMPLATE_NAME: &str = "failover_report.html";

/// The page could not be rendered: a bug in the template or its context, never bad input.
#[derive(Debug, thiserror::Error)]
#[error("the HTML report's template: {0:#}")]
pub struct RenderError(#[from] minijinja::Error);

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
    let page = Page::of(report, this_run, earlier);
    Ok(env.get_template(TEMPLATE_NAME)?.render(Serde(&page))?)
}

/// The template's context: plain texts (escaped by the template) and figures.
#[derive(Serialize)]
struct Page {
    /// `pass` or `fail`: a CSS class, upper-cased for the badge.
    verdict: &'static str,
    cluster: String,
    /// `node1 → node2`, or `no flip`.
    route: String,
    started_at: String,
    vip: String,
    /// ` · probes: http GET / to 203.0.113.10:80 every 100 ms (timeout 300 ms)`, or empty.
    probe: String,
    budget: String,
    because: String,
    flips: Vec<FlipView>,
    history: Option<History>,
    timeline: Drawing,
    phase_bar: Option<PhaseBar>,
    notes: Vec<String>,
    events: Vec<EventRow>,
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
    fn of(report: &GameDayReport, this_run: Option<&PastRun>, earlier: &[PastRun]) -> Page {
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
            route,
            started_at: report.started_at.clone(),
            vip: report.vip.clone(),
            probe,
            budget: human_duration(report.rto_budget),
            because: because(report),
            flips: report.flips.iter().map(|f| flip_view(report, f)).collect(),
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

fn flip_view(report: &GameDayReport, flip: &FlipMeasurement) -> FlipView {
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
                hint: format!("{:.1}% success", flip.probes.success_ratio * 100.0),
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

fn event_rows(report: &GameDayReport) -> Vec<EventRow> {
    report
        .events_with_milestones()
        .iter()
        .map(|event| EventRow {
            class: match &event.kind {
                EventKind::FirstFailedProbe { .. } | EventKind::FirstAnswer { .. } => "milestone",
                EventKind::FlipStarted { .. } => "flip",
                kind if kind.is_problem() => "problem",
                _ => "",
            },
            offset: offset(event.at),
            utc: utc_time_of_day(report.timeline.started_unix_ms + event.at.as_millis() as u64),
            tag: event.kind.tag(),
            what: event.kind.describe(),
        })
        .collect()
}

#[cfg(test)]
#[path = "failover_html_tests.rs"]
mod tests;
