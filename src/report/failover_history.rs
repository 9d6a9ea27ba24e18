//! `tandem failover-test history`: the kept game days as a table or JSON, and the small chart
//! the HTML report draws of this run against the previous ones (downtime per phase).

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::failover_timeline_svg::r1;

use crate::failover::history::PastRun;

pub fn table(dir: &Path, runs: &[PastRun]) -> String {
    if runs.is_empty() {
        return format!("no game day kept in {}\n", dir.display());
    }
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.started_at.clone(),
                r.cluster.clone(),
                r.scenario.clone(),
                r.verdict.to_uppercase(),
                format!("{:.2} s", r.downtime_ms as f64 / 1000.0),
                r.flips.to_string(),
                r.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let head = [
        "STARTED", "CLUSTER", "SCENARIO", "VERDICT", "DOWNTIME", "FLIPS", "FILE",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, head.to_vec());
    for row in &rows {
        line(&mut out, row.iter().map(String::as_str).collect());
    }
    let _ = writeln!(out, "{} game days in {}", runs.len(), dir.display());
    out
}

pub fn json(dir: &Path, runs: &[PastRun]) -> Value {
    json!({
        "dir": dir.display().to_string(),
        "runs": runs.iter().map(|r| json!({
            "file": r.file.display().to_string(),
            "cluster": r.cluster,
            "scenario": r.scenario,
            "started_at": r.started_at,
            "verdict": r.verdict,
            "downtime_ms": r.downtime_ms,
            "flips": r.flips,
            "phases": r.phases.iter().map(|(name, ms)| json!({"name": name, "duration_ms": ms})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Colours of the phases, by order of first appearance.
const PALETTE: [&str; 6] = [
    "#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#9d755d",
];

/// The history chart as the page's template draws it: a horizontal stacked bar per run
/// (earlier runs, then this one, highlighted), the first flip's downtime split into its phases
/// on one scale, and a legend. Numbers and plain texts only; the template escapes the texts.
#[derive(Debug, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub rows: Vec<ChartRow>,
    pub legend: Vec<LegendItem>,
}

#[derive(Debug, Serialize)]
pub struct ChartRow {
    /// `2026-12-02 11:00:00 UTC (this run)`.
    pub label: String,
    pub current: bool,
    pub text_y: f64,
    pub bars: Vec<ChartBar>,
    pub total_x: f64,
    /// `4.60 s`, with ` ✗` for a failed run.
    pub total: String,
}

#[derive(Debug, Serialize)]
pub struct ChartBar {
    pub name: String,
    pub ms: u64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub colour: &'static str,
    /// `OVH task: 2.00 s`.
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct LegendItem {
    pub name: String,
    pub colour: &'static str,
    pub x: f64,
    /// The colour box's top; `y` is the text's baseline.
    pub box_y: f64,
    pub text_x: f64,
    pub y: f64,
}

pub fn chart(this_run: Option<&PastRun>, earlier: &[PastRun]) -> Chart {
    let runs: Vec<(&PastRun, bool)> = earlier
        .iter()
        .map(|r| (r, false))
        .chain(this_run.map(|r| (r, true)))
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for (run, _) in &runs {
        for (name, _) in &run.phases {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let max = runs
        .iter()
        .map(|(r, _)| r.phases.iter().map(|p| p.1).sum::<u64>().max(r.downtime_ms))
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h) = (300.0, 420.0, 22.0);
    let colour =
        |name: &str| PALETTE[names.iter().position(|n| *n == name).unwrap_or(0) % PALETTE.len()];
    let rows = runs
        .iter()
        .enumerate()
        .map(|(i, (run, current))| {
            let y = i as f64 * row_h + 4.0;
            let mut x = label_w;
            let bars = run
                .phases
                .iter()
                .map(|(name, ms)| {
                    let width = *ms as f64 / max as f64 * bar_w;
                    let bar = ChartBar {
                        name: name.clone(),
                        ms: *ms,
                        x: r1(x),
                        y: r1(y),
                        width: r1(width),
                        colour: colour(name),
                        title: format!("{name}: {:.2} s", *ms as f64 / 1000.0),
                    };
                    x += width;
                    bar
                })
                .collect();
            ChartRow {
                label: if *current {
                    format!("{} (this run)", run.started_at)
                } else {
                    run.started_at.clone()
                },
                current: *current,
                text_y: y + 14.0,
                bars,
                total_x: r1(x + 6.0),
                total: format!(
                    "{:.2} s{}",
                    run.downtime_ms as f64 / 1000.0,
                    if run.verdict == "pass" { "" } else { " ✗" }
                ),
            }
        })
        .collect();
    let mut x = label_w;
    let y = runs.len() as f64 * row_h + 20.0;
    let legend = names
        .iter()
        .map(|name| {
            let item = LegendItem {
                name: name.to_string(),
                colour: colour(name),
                x: r1(x),
                box_y: r1(y - 9.0),
                text_x: r1(x + 14.0),
                y: r1(y),
            };
            x += 14.0 + 7.0 * name.chars().count() as f64 + 16.0;
            item
        })
        .collect();
    Chart {
        width: label_w + bar_w + 80.0,
        height: row_h * runs.len() as f64 + 40.0,
        rows,
        legend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn run(started: &str, verdict: &str, task: u64, other: u64) -> PastRun {
        PastRun {
            file: PathBuf::from(format!("/h/{started}.json")),
            cluster: "pair1".into(),
            scenario: "switch".into(),
            started_at: started.into(),
            verdict: verdict.into(),
            downtime_ms: task + other,
            flips: 1,
            phases: vec![("OVH task".into(), task), ("other".into(), other)],
        }
    }

    #[test]
    fn the_table_lists_every_run_with_its_downtime() {
        let runs = [
            run("2026-12-01 10:00:00 UTC", "pass", 2000, 300),
            run("2026-12-02 10:00:00 UTC", "fail", 0, 9000),
        ];
        let text = table(Path::new("/h"), &runs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("STARTED"));
        assert!(
            lines[1].contains("pair1") && lines[1].contains("PASS") && lines[1].contains("2.30 s"),
            "{text}"
        );
        assert!(
            lines[2].contains("FAIL") && lines[2].contains("9.00 s"),
            "{text}"
        );
        assert_eq!(lines[3], "2 game days in /h");
        assert_eq!(table(Path::new("/h"), &[]), "no game day kept in /h\n");
        let doc = json(Path::new("/h"), &runs);
        assert_eq!(doc["runs"][1]["downtime_ms"], 9000);
        assert_eq!(doc["runs"][0]["phases"][0]["name"], "OVH task");
    }

    #[test]
    fn the_chart_has_a_bar_per_phase_per_run_scaled_to_the_longest() {
        let earlier = [run("a", "pass", 2000, 300), run("b", "pass", 1000, 0)];
        let now = run("c", "fail", 4000, 600);
        let chart = chart(Some(&now), &earlier);
        assert_eq!(chart.rows.iter().map(|r| r.bars.len()).sum::<usize>(), 6);
        assert_eq!(chart.rows[2].label, "c (this run)");
        assert!(chart.rows[2].current && !chart.rows[0].current);
        // The longest run (4.6 s) fills the bar width (after 300 px of labels); its task part is 4000/4600 of it.
        let task = &chart.rows[2].bars[0];
        assert_eq!(
            (task.ms, task.x, task.y, task.width),
            (4000, 300.0, 48.0, 365.2)
        );
        assert_eq!(chart.rows[2].total, "4.60 s ✗");
        assert_eq!(chart.legend.len(), 2);
    }
}
