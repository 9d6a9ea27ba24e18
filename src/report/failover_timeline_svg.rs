//! The game-day report's timeline drawing: an inline SVG of the probes per node, the failed
//! probes, the OVH task bars, the markers and the downtime on one time axis.

use std::fmt::Write as _;
use std::time::Duration;

use super::failover_html::escape;
use super::failover_text::offset;
use super::human_duration;
use crate::failover::measurement::GameDayReport;
use crate::failover::probe::ProbeResult;
use crate::failover::timeline::{EventKind, is_task_failure};

/// Above this many probes, marks are merged per pixel column: a page of a few thousand
/// `<rect>`s with tooltips is fine, an hour of probes at 20 ms is not.
const MAX_SINGLE_MARKS: usize = 2000;

/// Geometry of the drawing, in SVG user units (the SVG scales to the page width).
struct Frame {
    width: f64,
    left: f64,
    right: f64,
    span: Duration,
}

impl Frame {
    fn x(&self, at: Duration) -> f64 {
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

/// The timeline drawing: marker labels on top, a probe strip per node, a strip of failed probes,
/// the OVH task bars, a time axis; the downtime shaded across the strips.
pub fn timeline_svg(report: &GameDayReport) -> String {
    let end = report.timeline.end().max(Duration::from_secs(1));
    // A little air after the last probe.
    let frame = Frame {
        width: 1320.0,
        left: 130.0,
        right: 24.0,
        span: end + end / 40,
    };
    let markers = markers(report);
    let (label_rows, rows) = place_labels(&markers, &frame);
    let top = 10.0 + label_rows as f64 * LABEL_ROW + 6.0;

    let nodes = report.nodes();
    let unattributed = report
        .timeline
        .probes
        .iter()
        .any(|p| p.is_ok() && p.node.is_none());
    let mut strips: Vec<(String, String)> = nodes
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
    let height = axis_y + 34.0;

    let mut svg = String::with_capacity(32 * 1024);
    let _ = writeln!(
        svg,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height:.0}\" \
         role=\"img\" aria-label=\"timeline of the game day\">\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{height:.0}\" fill=\"#ffffff\"/>",
        w = frame.width
    );

    // Strip backgrounds and names.
    let names = strips
        .iter()
        .map(|(_, label)| label.clone())
        .chain(["failed probes".to_string(), "OVH task".to_string()]);
    for (row, label) in names.enumerate() {
        let y = row_y(row);
        let _ = writeln!(
            svg,
            "<rect x=\"{l}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{STRIP_HEIGHT}\" fill=\"#f6f8fa\"/>\n\
             <text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"13\" text-anchor=\"end\" fill=\"#1f2328\">{}</text>",
            escape(&shorten(&label, 18)),
            l = frame.left,
            w = frame.width - frame.left - frame.right,
            tx = frame.left - 8.0,
            ty = y + STRIP_HEIGHT / 2.0 + 4.5,
        );
    }

    axis(&mut svg, &frame, (top, strips_bottom), axis_y);

    // Downtime spans, under the marks, labelled in the target's strip (empty during the outage).
    for flip in &report.flips {
        let Some(outage) = flip.outage else { continue };
        let (x0, x1) = (frame.x(outage.start), frame.x(outage.end));
        let text = if flip.target_answered {
            format!("downtime {}", human_duration(flip.downtime))
        } else {
            format!("down ≥ {}", human_duration(flip.downtime))
        };
        let target_row = strips.iter().position(|(n, _)| *n == flip.to).unwrap_or(0);
        let (tx, anchor) = if label_width(&text) + 8.0 < x1 - x0 {
            ((x0 + x1) / 2.0, "middle")
        } else {
            (x1 + 4.0, "start")
        };
        let _ = writeln!(
            svg,
            "<g class=\"downtime\"><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
             fill=\"rgba(207,34,46,0.14)\" stroke=\"rgba(207,34,46,0.5)\" stroke-dasharray=\"3 2\"/>\
             <title>{label}: downtime {d}</title>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"13\" font-weight=\"700\" fill=\"#cf222e\" \
             text-anchor=\"{anchor}\">{text}</text></g>",
            y = top - 3.0,
            w = (x1 - x0).max(1.0),
            h = strips_bottom - top + 6.0,
            label = escape(&flip.label),
            d = human_duration(flip.downtime),
            ty = row_y(target_row) + STRIP_HEIGHT / 2.0 + 4.5,
            text = escape(&text),
        );
    }

    probe_marks(&mut svg, report, &frame, &strips, failed_row, &row_y);
    task_bars(&mut svg, report, &frame, row_y(task_row));

    // Markers last, over everything, labels in their rows.
    for (marker, row) in markers.iter().zip(rows) {
        let x = frame.x(marker.at);
        let label_y = 10.0 + (row as f64 + 1.0) * LABEL_ROW - 4.0;
        let right_side = x > frame.width - frame.right - label_width(&marker.label);
        let (anchor, tx) = if right_side {
            ("end", x - 4.0)
        } else {
            ("start", x + 4.0)
        };
        let _ = writeln!(
            svg,
            "<g class=\"marker\"><line x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{strips_bottom:.1}\" \
             stroke=\"{c}\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\
             <text x=\"{tx:.1}\" y=\"{label_y:.1}\" font-size=\"12\" font-weight=\"600\" fill=\"{c}\" \
             text-anchor=\"{anchor}\">{label}</text></g>",
            y1 = label_y - 11.0,
            c = marker.color,
            label = escape(&marker.label),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn markers(report: &GameDayReport) -> Vec<Marker> {
    let mut markers = Vec::new();
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
fn label_width(label: &str) -> f64 {
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

fn probe_marks(
    svg: &mut String,
    report: &GameDayReport,
    frame: &Frame,
    strips: &[(String, String)],
    failed_row: usize,
    row_y: &dyn Fn(usize) -> f64,
) {
    let interval = report
        .timeline
        .probe
        .as_ref()
        .map_or(Duration::from_millis(100), |p| p.interval);
    let mark_w = (interval.as_secs_f64() * frame.px_per_sec() * 0.7).clamp(1.2, 6.0);
    let probes = &report.timeline.probes;
    let single = probes.len() <= MAX_SINGLE_MARKS;
    for (row, (node, _)) in strips
        .iter()
        .map(|(n, l)| (Some(n.as_str()), l))
        .chain([(None, &String::new())])
        .enumerate()
    {
        let row = if node.is_none() { failed_row } else { row };
        let in_strip = |p: &&ProbeResult| match node {
            None => !p.is_ok(),
            Some("") => p.is_ok() && p.node.is_none(),
            Some(n) => p.answered_by(n),
        };
        let mine: Vec<&ProbeResult> = probes.iter().filter(in_strip).collect();
        let class = if node.is_some() { "ok" } else { "failed" };
        let fill = if node.is_some() { "#1a7f37" } else { "#cf222e" };
        let _ = writeln!(
            svg,
            "<g class=\"strip {class}\" data-node=\"{}\" data-probes=\"{}\" fill=\"{fill}\">",
            escape(node.unwrap_or("")),
            mine.len()
        );
        let (y, h) = (row_y(row) + 4.0, STRIP_HEIGHT - 8.0);
        if single {
            for p in mine {
                let _ = writeln!(
                    svg,
                    "<rect class=\"probe {class}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{mark_w:.1}\" height=\"{h}\">\
                     <title>#{} {} {}{} ({:.1} ms)</title></rect>",
                    frame.x(p.at),
                    p.seq,
                    offset(p.at),
                    escape(&p.outcome.describe()),
                    p.node
                        .as_deref()
                        .map_or(String::new(), |n| format!(" from {}", escape(n))),
                    p.latency.as_secs_f64() * 1000.0,
                );
            }
        } else {
            for (x0, x1, count) in pixel_runs(mine.iter().map(|p| frame.x(p.at)), mark_w) {
                let _ = writeln!(
                    svg,
                    "<rect class=\"probes {class}\" data-count=\"{count}\" x=\"{x0:.1}\" y=\"{y:.1}\" \
                     width=\"{:.1}\" height=\"{h}\"/>",
                    x1 - x0
                );
            }
        }
        svg.push_str("</g>\n");
    }
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

fn task_bars(svg: &mut String, report: &GameDayReport, frame: &Frame, y: f64) {
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
        let (tx, fill, anchor) = if fits {
            (x0 + width / 2.0, "#ffffff", "middle")
        } else {
            (x0 + width + 4.0, color, "start")
        };
        let _ = write!(
            svg,
            "<g class=\"task\" data-status=\"{status}\"><rect x=\"{x0:.1}\" y=\"{ry:.1}\" width=\"{width:.1}\" \
             height=\"{rh:.1}\" rx=\"4\" fill=\"{color}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"12\" font-weight=\"600\" fill=\"{fill}\" \
             text-anchor=\"{anchor}\">{label}</text>",
            status = escape(&task.final_status),
            ry = y + 3.0,
            rh = STRIP_HEIGHT - 6.0,
            ty = y + STRIP_HEIGHT / 2.0 + 4.0,
            label = escape(&label),
        );
        // A tick at each status change, with the status as tooltip.
        let changes = report.timeline.events.iter().filter(|e| {
            matches!(&e.kind, EventKind::TaskStatus { task_id, .. } if *task_id == task.task_id)
        });
        for e in changes {
            let x = frame.x(e.at);
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{y2:.1}\" stroke=\"#ffffff\" stroke-width=\"1\" opacity=\"0.7\">\
                 <title>{}</title></line>",
                escape(&e.kind.describe()),
                y1 = y + 3.0,
                y2 = y + STRIP_HEIGHT - 3.0,
            );
        }
        svg.push_str("</g>\n");
    }
}

/// The time axis under the strips, with a light grid line across them at each tick.
fn axis(svg: &mut String, frame: &Frame, (top, strips_bottom): (f64, f64), axis_y: f64) {
    let step = tick_step(frame.span);
    let _ = writeln!(
        svg,
        "<g class=\"axis\"><line x1=\"{l}\" y1=\"{axis_y:.1}\" x2=\"{r}\" y2=\"{axis_y:.1}\" stroke=\"#57606a\"/>",
        l = frame.left,
        r = frame.width - frame.right,
    );
    let mut t = Duration::ZERO;
    while t <= frame.span {
        let x = frame.x(t);
        let label = if step < Duration::from_secs(1) {
            format!("{:.1} s", t.as_secs_f64())
        } else {
            format!("{} s", t.as_secs())
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{strips_bottom:.1}\" stroke=\"#d0d7de\" stroke-width=\"0.6\"/>\
             <line x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{tick:.1}\" stroke=\"#57606a\"/>\
             <text x=\"{x:.1}\" y=\"{ty:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#57606a\">{label}</text>",
            tick = axis_y + 5.0,
            ty = axis_y + 19.0,
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{x}\" y=\"{y:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#57606a\">time since start</text></g>",
        // Clear of the "0 s" label centred on the axis' start.
        x = frame.left - 22.0,
        y = axis_y + 19.0,
    );
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
