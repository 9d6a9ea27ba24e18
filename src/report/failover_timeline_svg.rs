//! The geometry of the game-day report's timeline drawing: where the probes per node, the
//! failed probes, the OVH task bars, the markers and the downtime go on one time axis. Only
//! numbers and plain texts are computed here; the SVG markup is in the page's template
//! (`failover_report.html`), which escapes every text.

use std::time::Duration;

use serde::Serialize;

use super::failover_text::offset;
use super::human_duration;
use crate::failover::measurement::GameDayReport;
use crate::failover::probe::ProbeResult;
use crate::failover::timeline::{EventKind, is_task_failure};

/// Above this many probes, marks are merged per pixel column: a page of a few thousand
/// `<rect>`s with tooltips is fine, an hour of probes at 20 ms is not.
const MAX_SINGLE_MARKS: usize = 2000;

/// A coordinate to 0.1 user unit: the template prints it as `{:.1}` would (`300.0`, `365.2`).
pub(super) fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Geometry of the drawing, in SVG user units (the SVG scales to the page width).
pub(super) struct Frame {
    pub(super) width: f64,
    pub(super) left: f64,
    pub(super) right: f64,
    span: Duration,
}

impl Frame {
    /// The time axis of `report`'s drawings: the timeline and the phase bar under it.
    pub(super) fn of(report: &GameDayReport) -> Frame {
        let end = report.timeline.end().max(Duration::from_secs(1));
        // A little air after the last probe.
        Frame {
            width: 1320.0,
            left: 130.0,
            right: 24.0,
            span: end + end / 40,
        }
    }

    pub(super) fn x(&self, at: Duration) -> f64 {
        let ratio = at.as_secs_f64() / self.span.as_secs_f64().max(0.001);
        self.left + ratio.clamp(0.0, 1.0) * (self.width - self.left - self.right)
    }

    fn px_per_sec(&self) -> f64 {
        (self.width - self.left - self.right) / self.span.as_secs_f64().max(0.001)
    }
}

/// A vertical marker with a label above the strips.
struct Marker {
    at: Duration,
    label: String,
    color: &'static str,
}

const STRIP_HEIGHT: f64 = 26.0;
const STRIP_GAP: f64 = 8.0;
const LABEL_ROW: f64 = 17.0;

/// The whole drawing, as the template draws it, back to front.
#[derive(Debug, Serialize)]
pub struct Drawing {
    pub width: f64,
    /// Whole units, for the `viewBox`.
    pub height: u64,
    /// The strip backgrounds and their names, left of the plot.
    pub rows: Vec<RowBackground>,
    pub plot: Plot,
    pub axis: Axis,
    pub downtimes: Vec<DowntimeSpan>,
    pub strips: Vec<ProbeStrip>,
    pub tasks: Vec<TaskBar>,
    pub markers: Vec<MarkerLine>,
}

/// Where the strips are drawn: `left` to `left + width`.
#[derive(Debug, Serialize)]
pub struct Plot {
    pub left: f64,
    pub right: f64,
    pub width: f64,
    pub label_x: f64,
    pub strip_height: f64,
}

#[derive(Debug, Serialize)]
pub struct RowBackground {
    pub y: f64,
    pub label: String,
    pub label_y: f64,
}

#[derive(Debug, Serialize)]
pub struct Axis {
    pub y: f64,
    pub top: f64,
    pub strips_bottom: f64,
    pub tick_end: f64,
    pub text_y: f64,
    /// Clear of the "0 s" label centred on the axis' start.
    pub caption_x: f64,
    pub ticks: Vec<Tick>,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct DowntimeSpan {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The tooltip: `switch: downtime 2300 ms`.
    pub title: String,
    pub text: String,
    pub text_x: f64,
    pub text_y: f64,
    pub anchor: &'static str,
}

/// The probes of one strip: each as a mark with its tooltip, or, for big game days, merged
/// into runs.
#[derive(Debug, Serialize)]
pub struct ProbeStrip {
    /// `ok` or `failed`.
    pub class: &'static str,
    /// The node that answered; empty for the failed strip and for unattributed answers.
    pub node: String,
    pub count: usize,
    pub fill: &'static str,
    pub y: f64,
    pub height: f64,
    pub mark_width: f64,
    pub marks: Vec<ProbeMarkView>,
    pub runs: Vec<ProbeRun>,
}

#[derive(Debug, Serialize)]
pub struct ProbeMarkView {
    pub x: f64,
    /// `#12 +1.100s timeout from node1 (300.0 ms)`.
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct ProbeRun {
    pub x: f64,
    pub width: f64,
    pub count: usize,
}

#[derive(Debug, Serialize)]
pub struct TaskBar {
    pub status: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub color: &'static str,
    pub label: String,
    pub text_x: f64,
    pub text_y: f64,
    pub text_fill: &'static str,
    pub anchor: &'static str,
    /// A tick at each status change, with the status as tooltip.
    pub ticks: Vec<Tick>,
    pub tick_top: f64,
    pub tick_bottom: f64,
}

#[derive(Debug, Serialize)]
pub struct MarkerLine {
    pub x: f64,
    pub top: f64,
    pub bottom: f64,
    pub color: &'static str,
    pub label: String,
    pub label_x: f64,
    pub label_y: f64,
    pub anchor: &'static str,
}

/// The timeline drawing: marker labels on top, a probe strip per node, a strip of failed probes,
/// the OVH task bars, a time axis; the downtime shaded across the strips.
pub fn drawing(report: &GameDayReport) -> Drawing {
    let frame = Frame::of(report);
    let markers = markers(report);
    let (label_rows, rows) = place_labels(&markers, &frame);
    let top = 10.0 + label_rows as f64 * LABEL_ROW + 6.0;

    let unattributed = report
        .timeline
        .probes
        .iter()
        .any(|p| p.is_ok() && p.node.is_none());
    let mut strips: Vec<(String, String)> = report
        .nodes()
        .iter()
        .map(|n| (n.clone(), format!("ok from {n}")))
        .collect();
    if unattributed {
        strips.push((String::new(), "ok (no node named)".to_string()));
    }
    let failed_row = strips.len();
    let task_row = failed_row + 1;
    let row_y = |row: usize| top + row as f64 * (STRIP_HEIGHT + STRIP_GAP);
    let strips_bottom = row_y(task_row) + STRIP_HEIGHT;
    let axis_y = strips_bottom + 10.0;

    let names = strips
        .iter()
        .map(|(_, label)| label.clone())
        .chain(["failed probes".to_string(), "OVH task".to_string()]);
    let backgrounds = names
        .enumerate()
        .map(|(row, label)| RowBackground {
            y: r1(row_y(row)),
            label: shorten(&label, 18),
            label_y: r1(row_y(row) + STRIP_HEIGHT / 2.0 + 4.5),
        })
        .collect();

    // Downtime spans, labelled in the target's strip (empty during the outage).
    let downtimes = report
        .flips
        .iter()
        .filter_map(|flip| {
            let outage = flip.outage?;
            let (x0, x1) = (frame.x(outage.start), frame.x(outage.end));
            let text = if flip.target_answered {
                format!("downtime {}", human_duration(flip.downtime))
            } else {
                format!("down ≥ {}", human_duration(flip.downtime))
            };
            let target_row = strips.iter().position(|(n, _)| *n == flip.to).unwrap_or(0);
            let (text_x, anchor) = if label_width(&text) + 8.0 < x1 - x0 {
                ((x0 + x1) / 2.0, "middle")
            } else {
                (x1 + 4.0, "start")
            };
            Some(DowntimeSpan {
                x: r1(x0),
                y: r1(top - 3.0),
                width: r1((x1 - x0).max(1.0)),
                height: r1(strips_bottom - top + 6.0),
                title: format!("{}: downtime {}", flip.label, human_duration(flip.downtime)),
                text,
                text_x: r1(text_x),
                text_y: r1(row_y(target_row) + STRIP_HEIGHT / 2.0 + 4.5),
                anchor,
            })
        })
        .collect();

    // Markers last, over everything, labels in their rows.
    let marker_lines = markers
        .iter()
        .zip(rows)
        .map(|(marker, row)| {
            let x = frame.x(marker.at);
            let label_y = 10.0 + (row as f64 + 1.0) * LABEL_ROW - 4.0;
            let right_side = x > frame.width - frame.right - label_width(&marker.label);
            let (anchor, label_x) = if right_side {
                ("end", x - 4.0)
            } else {
                ("start", x + 4.0)
            };
            MarkerLine {
                x: r1(x),
                top: r1(label_y - 11.0),
                bottom: r1(strips_bottom),
                color: marker.color,
                label: marker.label.clone(),
                label_x: r1(label_x),
                label_y: r1(label_y),
                anchor,
            }
        })
        .collect();

    Drawing {
        width: frame.width,
        height: (axis_y + 34.0).round() as u64,
        rows: backgrounds,
        plot: Plot {
            left: frame.left,
            right: frame.width - frame.right,
            width: r1(frame.width - frame.left - frame.right),
            label_x: frame.left - 8.0,
            strip_height: STRIP_HEIGHT,
        },
        axis: axis(&frame, (top, strips_bottom), axis_y),
        downtimes,
        strips: probe_strips(report, &frame, &strips, failed_row, &row_y),
        tasks: task_bars(report, &frame, row_y(task_row)),
        markers: marker_lines,
    }
}

fn markers(report: &GameDayReport) -> Vec<Marker> {
    let mut markers = Vec::new();
    // Where the yardstick was taken: the probes from here to the first flip are the baseline.
    if let Some(b) = &report.baseline {
        markers.push(Marker {
            at: b.from,
            label: format!(
                "baseline (p50 {})",
                super::failover_text::fine_ms(b.latency_p50)
            ),
            color: "#57606a",
        });
    }
    for flip in &report.flips {
        markers.push(Marker {
            at: flip.started_at,
            label: format!("{} start", flip.label),
            color: "#0969da",
        });
        if let Some(p) = &flip.first_failed_probe {
            markers.push(Marker {
                at: p.at,
                label: "first failed probe".to_string(),
                color: "#cf222e",
            });
        }
        if let Some(t) = &flip.task {
            let (at, label, color) = match t.done_at {
                Some(done) => (done, "task done".to_string(), "#6639ba"),
                None => (t.final_at, format!("task {}", t.final_status), "#cf222e"),
            };
            markers.push(Marker { at, label, color });
        }
        if let Some(p) = &flip.first_target_answer {
            markers.push(Marker {
                at: p.at,
                label: format!("first answer from {}", flip.to),
                color: "#1a7f37",
            });
        }
    }
    markers.sort_by_key(|m| m.at);
    markers
}

/// Rough width of a 12px label: enough to keep labels from overlapping.
pub(super) fn label_width(label: &str) -> f64 {
    label.chars().count() as f64 * 7.0 + 8.0
}

/// Puts each label in the first row where it does not overlap the previous one; returns the
/// number of rows and each marker's row.
fn place_labels(markers: &[Marker], frame: &Frame) -> (usize, Vec<usize>) {
    let mut row_ends: Vec<f64> = Vec::new();
    let mut rows = Vec::new();
    for m in markers {
        let x = frame.x(m.at);
        let (start, end) = if x > frame.width - frame.right - label_width(&m.label) {
            (x - label_width(&m.label), x)
        } else {
            (x, x + label_width(&m.label))
        };
        let row = match row_ends.iter().position(|&e| e < start) {
            Some(row) => row,
            None => {
                row_ends.push(f64::MIN);
                row_ends.len() - 1
            }
        };
        row_ends[row] = end;
        rows.push(row);
    }
    (row_ends.len().max(1), rows)
}

fn probe_strips(
    report: &GameDayReport,
    frame: &Frame,
    strips: &[(String, String)],
    failed_row: usize,
    row_y: &dyn Fn(usize) -> f64,
) -> Vec<ProbeStrip> {
    let interval = report
        .timeline
        .probe
        .as_ref()
        .map_or(Duration::from_millis(100), |p| p.interval);
    let mark_w = (interval.as_secs_f64() * frame.px_per_sec() * 0.7).clamp(1.2, 6.0);
    let probes = &report.timeline.probes;
    let single = probes.len() <= MAX_SINGLE_MARKS;
    let rows = strips
        .iter()
        .enumerate()
        .map(|(row, (n, _))| (row, Some(n.as_str())))
        .chain([(failed_row, None)]);
    rows.map(|(row, node)| {
        let in_strip = |p: &&ProbeResult| match node {
            None => !p.is_ok(),
            Some("") => p.is_ok() && p.node.is_none(),
            Some(n) => p.answered_by(n),
        };
        let mine: Vec<&ProbeResult> = probes.iter().filter(in_strip).collect();
        let marks = if single {
            mine.iter()
                .map(|p| ProbeMarkView {
                    x: r1(frame.x(p.at)),
                    title: format!(
                        "#{} {} {}{} ({:.1} ms)",
                        p.seq,
                        offset(p.at),
                        p.outcome.describe(),
                        p.node
                            .as_deref()
                            .map_or(String::new(), |n| format!(" from {n}")),
                        p.latency.as_secs_f64() * 1000.0,
                    ),
                })
                .collect()
        } else {
            Vec::new()
        };
        let runs = if single {
            Vec::new()
        } else {
            pixel_runs(mine.iter().map(|p| frame.x(p.at)), mark_w)
                .into_iter()
                .map(|(x0, x1, count)| ProbeRun {
                    x: r1(x0),
                    width: r1(x1 - x0),
                    count,
                })
                .collect()
        };
        ProbeStrip {
            class: if node.is_some() { "ok" } else { "failed" },
            node: node.unwrap_or("").to_string(),
            count: mine.len(),
            fill: if node.is_some() { "#1a7f37" } else { "#cf222e" },
            y: r1(row_y(row) + 4.0),
            height: STRIP_HEIGHT - 8.0,
            mark_width: r1(mark_w),
            marks,
            runs,
        }
    })
    .collect()
}

/// Merges marks whose boxes touch into runs `(x_start, x_end, marks)`, so thousands of probes
/// draw as a few dozen rectangles.
fn pixel_runs(xs: impl Iterator<Item = f64>, mark_w: f64) -> Vec<(f64, f64, usize)> {
    let mut runs: Vec<(f64, f64, usize)> = Vec::new();
    for x in xs {
        match runs.last_mut() {
            Some(run) if x <= run.1 + 1.0 => {
                run.1 = run.1.max(x + mark_w);
                run.2 += 1;
            }
            _ => runs.push((x, x + mark_w, 1)),
        }
    }
    runs
}

fn task_bars(report: &GameDayReport, frame: &Frame, y: f64) -> Vec<TaskBar> {
    let mut bars = Vec::new();
    for flip in &report.flips {
        let Some(task) = &flip.task else { continue };
        let end = task.done_at.unwrap_or(task.final_at);
        let color = if task.done_at.is_some() {
            "#6639ba"
        } else if is_task_failure(&task.final_status) {
            "#cf222e"
        } else {
            "#bf8700"
        };
        let (x0, x1) = (frame.x(task.created_at), frame.x(end));
        let width = (x1 - x0).max(3.0);
        let label = match task.duration {
            Some(d) => format!("task {} done in {}", task.task_id, human_duration(d)),
            None => format!("task {}: {}", task.task_id, task.final_status),
        };
        let fits = label_width(&label) < width;
        let (text_x, text_fill, anchor) = if fits {
            (x0 + width / 2.0, "#ffffff", "middle")
        } else {
            (x0 + width + 4.0, color, "start")
        };
        let ticks = report
            .timeline
            .events
            .iter()
            .filter(|e| {
                matches!(&e.kind, EventKind::TaskStatus { task_id, .. } if *task_id == task.task_id)
            })
            .map(|e| Tick {
                x: r1(frame.x(e.at)),
                label: e.kind.describe(),
            })
            .collect();
        bars.push(TaskBar {
            status: task.final_status.clone(),
            x: r1(x0),
            y: r1(y + 3.0),
            width: r1(width),
            height: r1(STRIP_HEIGHT - 6.0),
            color,
            label,
            text_x: r1(text_x),
            text_y: r1(y + STRIP_HEIGHT / 2.0 + 4.0),
            text_fill,
            anchor,
            ticks,
            tick_top: r1(y + 3.0),
            tick_bottom: r1(y + STRIP_HEIGHT - 3.0),
        });
    }
    bars
}

/// The time axis under the strips, with a light grid line across them at each tick.
fn axis(frame: &Frame, (top, strips_bottom): (f64, f64), axis_y: f64) -> Axis {
    let step = tick_step(frame.span);
    let mut ticks = Vec::new();
    let mut t = Duration::ZERO;
    while t <= frame.span {
        let label = if step < Duration::from_secs(1) {
            format!("{:.1} s", t.as_secs_f64())
        } else {
            format!("{} s", t.as_secs())
        };
        ticks.push(Tick {
            x: r1(frame.x(t)),
            label,
        });
        t += step;
    }
    Axis {
        y: r1(axis_y),
        top: r1(top),
        strips_bottom: r1(strips_bottom),
        tick_end: r1(axis_y + 5.0),
        text_y: r1(axis_y + 19.0),
        caption_x: frame.left - 22.0,
        ticks,
    }
}

/// A round tick step giving at most about 14 ticks.
pub(super) fn tick_step(span: Duration) -> Duration {
    const STEPS_MS: [u64; 14] = [
        100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
        1_800_000,
    ];
    let span_ms = span.as_millis() as u64;
    let step = STEPS_MS
        .iter()
        .copied()
        .find(|s| span_ms / s <= 14)
        .unwrap_or(3_600_000);
    Duration::from_millis(step)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
