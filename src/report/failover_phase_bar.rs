//! The geometry of the phase bar under the game-day report's timeline: each flip's phases
//! (stop, OVH task, start, first answer: `failover::phases`) on the timeline's own time axis,
//! a lane per phase (they may overlap), the outage outlined across the lanes, and the sentence
//! naming the phase that cost most of it. Numbers and plain texts; the template draws and
//! escapes.

use serde::Serialize;

use super::failover_timeline_svg::{Frame, label_width, r1};
use super::human_duration;
use crate::failover::measurement::GameDayReport;
use crate::failover::phases::{FIRST_ANSWER, START, STOP, TASK};

const LANE_HEIGHT: f64 = 18.0;
const LANE_GAP: f64 = 4.0;
const TOP: f64 = 6.0;

/// The lanes, in the order a switch runs them; a phase of another name gets the last colour.
const LANES: [(&str, &str); 4] = [
    (STOP, "#4c78a8"),
    (TASK, "#6639ba"),
    (START, "#54a24b"),
    (FIRST_ANSWER, "#f58518"),
];

#[derive(Debug, Serialize)]
pub struct PhaseBar {
    pub height: f64,
    pub lanes: Vec<Lane>,
    pub outages: Vec<Outline>,
    pub segments: Vec<Segment>,
    /// One per flip with an outage: `switch: 2.1 s of the 2.3 s outage was ...`.
    pub sentences: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Lane {
    pub label: &'static str,
    pub y: f64,
    pub label_y: f64,
}

#[derive(Debug, Serialize)]
pub struct Outline {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Debug, Serialize)]
pub struct Segment {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub colour: &'static str,
    /// `stop on node1: 2000 ms, 0 ms of the outage`.
    pub title: String,
    /// The node, written in the segment when it fits; empty otherwise.
    pub text: String,
    pub text_x: f64,
    pub text_y: f64,
}

/// None when no flip has a phase.
pub fn phase_bar(report: &GameDayReport) -> Option<PhaseBar> {
    let frame = Frame::of(report);
    let lanes: Vec<(&'static str, &'static str)> = LANES
        .iter()
        .copied()
        .filter(|(name, _)| {
            report
                .flips
                .iter()
                .flat_map(|f| &f.phases)
                .any(|p| p.name == *name)
        })
        .collect();
    if lanes.is_empty() {
        return None;
    }
    let lane_y = |i: usize| TOP + i as f64 * (LANE_HEIGHT + LANE_GAP);
    let bottom = lane_y(lanes.len()) - LANE_GAP;
    let segments = report
        .flips
        .iter()
        .flat_map(|f| &f.phases)
        .filter_map(|p| {
            let lane = lanes.iter().position(|(name, _)| *name == p.name)?;
            let (x0, x1) = (frame.x(p.start), frame.x(p.end()));
            let width = (x1 - x0).max(2.0);
            let fits = label_width(&p.node) < width;
            Some(Segment {
                name: p.name.clone(),
                x: r1(x0),
                y: r1(lane_y(lane)),
                width: r1(width),
                height: LANE_HEIGHT,
                colour: lanes[lane].1,
                title: format!(
                    "{} on {}: {}, {} of the outage",
                    p.name,
                    p.node,
                    human_duration(p.duration),
                    human_duration(p.outage)
                ),
                text: if fits { p.node.clone() } else { String::new() },
                text_x: r1(x0 + width / 2.0),
                text_y: r1(lane_y(lane) + LANE_HEIGHT / 2.0 + 4.0),
            })
        })
        .collect();
    let outages = report
        .flips
        .iter()
        .filter_map(|f| f.outage)
        .map(|o| Outline {
            x: r1(frame.x(o.start)),
            y: TOP - 3.0,
            width: r1((frame.x(o.end) - frame.x(o.start)).max(1.0)),
            height: r1(bottom - TOP + 6.0),
        })
        .collect();
    Some(PhaseBar {
        height: r1(bottom + TOP),
        lanes: lanes
            .iter()
            .enumerate()
            .map(|(i, (label, _))| Lane {
                label,
                y: r1(lane_y(i)),
                label_y: r1(lane_y(i) + LANE_HEIGHT / 2.0 + 4.0),
            })
            .collect(),
        outages,
        segments,
        sentences: report
            .flips
            .iter()
            .filter_map(|f| Some(format!("{}: {}", f.label, f.critical_path.as_ref()?)))
            .collect(),
    })
}
