//! The live view of a run on a terminal: an overall bar, then one line per host at work (its
//! spinner, steps done, time so far and last result) as far as the terminal's height allows,
//! and one "+N more" line for the rest. [`Live::render`] is a pure function of the state, the
//! time and the terminal's size; the deploy report feeds it events and draws what it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::color::{Style, paint};
use super::human_duration;
use crate::engine::StepStatus;

/// Frames of the spinner, one per 100 ms: a host whose step runs long still moves.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Width of the overall bar's `[===>   ]`, inside the brackets.
const BAR_WIDTH: usize = 30;

/// A host that has waited this long for its next answer is slow: its line goes first, so the
/// "+N more" line never hides the one host everybody waits for.
const SLOW: Duration = Duration::from_secs(5);

/// Lines kept free below the view: the cursor's, so drawing never scrolls the terminal.
const SPARE_LINES: usize = 1;

/// One host at work.
#[derive(Debug, Clone)]
struct Running {
    steps: usize,
    done: usize,
    started: Instant,
    /// When it last reported (or started): the time since is its current step's.
    last_at: Instant,
    /// Its last result: status and step name.
    last: Option<(StepStatus, String)>,
}

/// What the view knows about the run.
#[derive(Debug, Clone)]
pub struct Live {
    label: String,
    started: Instant,
    hosts_total: usize,
    hosts_done: usize,
    /// Every host's planned steps, known before the bar starts when the caller said so; a host
    /// that stops early takes its steps not run off the total.
    planned: BTreeMap<String, usize>,
    total_steps: usize,
    done_steps: usize,
    running: BTreeMap<String, Running>,
}

impl Live {
    /// A view of `hosts_total` hosts, `label` in front of the bar (`deploy`).
    pub fn new(label: &str, hosts_total: usize, now: Instant) -> Live {
        Live {
            label: label.to_string(),
            started: now,
            hosts_total,
            hosts_done: 0,
            planned: BTreeMap::new(),
            total_steps: 0,
            done_steps: 0,
            running: BTreeMap::new(),
        }
    }

    /// The steps each of `hosts` is planned to run: the total is known before any host starts.
    pub fn plan(&mut self, hosts: &[String], steps: usize) {
        for host in hosts {
            if self.planned.insert(host.clone(), steps).is_none() {
                self.total_steps += steps;
            }
        }
    }

    pub fn host_started(&mut self, host: &str, steps: usize, now: Instant) {
        if !self.planned.contains_key(host) {
            self.planned.insert(host.to_string(), steps);
            self.total_steps += steps;
        }
        let steps = self.planned[host];
        self.running.insert(
            host.to_string(),
            Running {
                steps,
                done: 0,
                started: now,
                last_at: now,
                last: None,
            },
        );
    }

    /// A step's (or handler's) result; handlers are not among the planned steps.
    pub fn step_finished(
        &mut self,
        host: &str,
        status: StepStatus,
        name: &str,
        handler: bool,
        now: Instant,
    ) {
        if !handler {
            self.done_steps += 1;
        }
        if let Some(run) = self.running.get_mut(host) {
            if !handler {
                run.done += 1;
            }
            run.last_at = now;
            let name = if handler {
                format!("handler {name}")
            } else {
                name.to_string()
            };
            run.last = Some((status, name));
        }
    }

    /// The host is done; `ran` steps (handlers aside) had a result, the rest leave the total.
    pub fn host_finished(&mut self, host: &str, ran: usize) {
        self.running.remove(host);
        self.hosts_done += 1;
        let planned = self.planned.get(host).copied().unwrap_or(0);
        self.total_steps = self.total_steps.saturating_sub(planned.saturating_sub(ran));
    }

    /// The lines to draw at `now` on a terminal of `height` lines and `width` columns: the
    /// overall bar, a line per running host while they fit, else as many as fit less one and a
    /// "+N more" line. Never more than `height - 1` lines, none wider than `width - 1`.
    pub fn render(&self, now: Instant, height: usize, width: usize, color: bool) -> Vec<String> {
        let width = width.saturating_sub(1).max(1);
        let room = height.saturating_sub(SPARE_LINES);
        let mut lines = vec![self.overall_line(now, width)];
        if room < 2 {
            return lines;
        }
        let mut hosts: Vec<(&String, &Running)> = self.running.iter().collect();
        // Slow hosts first (the longest wait on top), then by name: stable lines that do not
        // jump while all goes well.
        hosts.sort_by_key(|(name, run)| {
            let waited = now.saturating_duration_since(run.last_at);
            let slow = waited >= SLOW;
            (
                !slow,
                if slow {
                    Duration::MAX - waited
                } else {
                    Duration::ZERO
                },
                *name,
            )
        });
        let not_started = self
            .hosts_total
            .saturating_sub(self.hosts_done + self.running.len());
        let fits = hosts.len() < room;
        let shown = if fits {
            hosts.len()
        } else {
            room.saturating_sub(2)
        };
        let name_width = hosts
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, run) in &hosts[..shown] {
            lines.push(host_line(name, name_width, run, now, width, color));
        }
        if !fits {
            let more = hosts.len() - shown;
            let mut text = format!("+{more} more host{} running", plural(more));
            if not_started > 0 {
                text.push_str(&format!(", {not_started} not started"));
            }
            lines.push(cut(&text, width));
        }
        lines
    }

    fn overall_line(&self, now: Instant, width: usize) -> String {
        let total = self.total_steps.max(self.done_steps);
        let filled = (self.done_steps * BAR_WIDTH)
            .checked_div(total)
            .unwrap_or(0)
            .min(BAR_WIDTH);
        let mut bar = "=".repeat(filled);
        if filled < BAR_WIDTH {
            bar.push('>');
            bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
        }
        let text = format!(
            "{} [{bar}] {}/{total} steps  {}/{} hosts done  {}",
            self.label,
            self.done_steps,
            self.hosts_done,
            self.hosts_total,
            human_duration(now.saturating_duration_since(self.started))
        );
        cut(&text, width)
    }
}

/// `⠋ node01   5/27   3.2 s  changed install nginx`, and when the host has waited a while for
/// its next answer, how long: that step is the slow one.
fn host_line(
    name: &str,
    name_width: usize,
    run: &Running,
    now: Instant,
    width: usize,
    color: bool,
) -> String {
    let elapsed = now.saturating_duration_since(run.started);
    let frame = SPINNER[(elapsed.as_millis() / 100) as usize % SPINNER.len()];
    let mut parts: Vec<(String, Option<Style>)> = vec![(
        format!(
            "{frame} {name:<name_width$} {:>3}/{:<3} {:>7}  ",
            run.done,
            run.steps,
            human_duration(elapsed)
        ),
        None,
    )];
    match &run.last {
        Some((status, step)) => {
            parts.push((status.as_str().to_string(), Some(status_style(*status))));
            parts.push((format!(" {step}"), None));
        }
        None => parts.push(("connecting".to_string(), None)),
    }
    let waited = now.saturating_duration_since(run.last_at);
    if run.last.is_some() && waited >= Duration::from_secs(1) {
        parts.push((
            format!(
                "  | step {} running {}",
                (run.done + 1).min(run.steps.max(1)),
                human_duration(waited)
            ),
            (waited >= SLOW).then_some(Style::Bold),
        ));
    }
    fit(&parts, width, color)
}

fn status_style(status: StepStatus) -> Style {
    match status {
        StepStatus::Ok => Style::Ok,
        StepStatus::Changed => Style::Changed,
        StepStatus::Failed => Style::Failed,
        StepStatus::Skipped => Style::Skipped,
    }
}

/// The parts one after the other, painted, cut at `width` characters of text.
fn fit(parts: &[(String, Option<Style>)], width: usize, color: bool) -> String {
    let mut left = width;
    let mut line = String::new();
    for (text, style) in parts {
        if left == 0 {
            break;
        }
        let piece = cut(text, left);
        left -= piece.chars().count();
        match style {
            Some(style) => line.push_str(&paint(&piece, *style, color)),
            None => line.push_str(&piece),
        }
    }
    line
}

/// At most `width` characters of `text`.
fn cut(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("node{i:02}")).collect()
    }

    /// `n` hosts of 10 steps each, all started at `t0`.
    fn running(n: usize, t0: Instant) -> Live {
        let mut live = Live::new("deploy", n, t0);
        live.plan(&names(n), 10);
        for host in names(n) {
            live.host_started(&host, 10, t0);
        }
        live
    }

    #[test]
    fn the_total_of_steps_is_known_before_any_host_starts() {
        let t0 = Instant::now();
        let mut live = Live::new("deploy", 20, t0);
        live.plan(&names(20), 27);
        assert_eq!(live.total_steps, 540);
        let lines = live.render(t0, 40, 120, false);
        assert!(
            lines[0].contains(" 0/540 steps  0/20 hosts done"),
            "{lines:?}"
        );
        // Starting does not count a host twice; a host that stops after 2 steps takes its
        // 25 steps not run off the total.
        live.host_started("node01", 27, t0);
        assert_eq!(live.total_steps, 540);
        live.host_finished("node01", 2);
        assert_eq!(live.total_steps, 515);
    }

    #[test]
    fn every_host_gets_a_line_when_they_fit() {
        let t0 = Instant::now();
        let live = running(20, t0);
        let lines = live.render(t0 + Duration::from_millis(300), 40, 120, false);
        assert_eq!(lines.len(), 21, "{lines:#?}");
        for host in names(20) {
            assert_eq!(
                lines.iter().filter(|l| l.contains(&host)).count(),
                1,
                "{host}: {lines:#?}"
            );
        }
        assert!(!lines.iter().any(|l| l.contains("more")), "{lines:#?}");
    }

    #[test]
    fn hosts_that_do_not_fit_are_one_more_line_and_the_view_never_exceeds_the_terminal() {
        let t0 = Instant::now();
        let live = running(20, t0);
        assert_eq!(live.render(t0, 2, 80, false).len(), 1, "the bar alone");
        for height in [3, 5, 10, 21] {
            let lines = live.render(t0, height, 80, false);
            assert!(lines.len() < height, "height {height}: {lines:#?}");
            let shown = lines.iter().filter(|l| l.contains(" node")).count();
            let more = lines.last().unwrap();
            assert_eq!(
                more,
                &format!("+{} more hosts running", 20 - shown),
                "height {height}: {lines:#?}"
            );
        }
        // 21 lines: the bar and 20 hosts would fill them, leaving no line for the cursor.
        let lines = live.render(t0, 21, 80, false);
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[19], "+2 more hosts running");
        // One line more, and all fit.
        assert_eq!(live.render(t0, 22, 80, false).len(), 21);
    }

    #[test]
    fn a_host_line_has_its_spinner_elapsed_time_and_last_result_in_colour() {
        let t0 = Instant::now();
        let mut live = running(2, t0);
        live.step_finished(
            "node01",
            StepStatus::Changed,
            "install nginx",
            false,
            t0 + Duration::from_millis(200),
        );
        let at = t0 + Duration::from_millis(450);
        let lines = live.render(at, 24, 120, true);
        assert_eq!(
            lines[1],
            "⠼ node01   1/10   450 ms  \x1b[33mchanged\x1b[0m install nginx"
        );
        assert_eq!(lines[2], "⠼ node02   0/10   450 ms  connecting");
        // The spinner turns and the time goes on without any event.
        let later = live.render(at + Duration::from_millis(100), 24, 120, false);
        assert!(
            later[1].starts_with("⠴ node01   1/10   550 ms  changed"),
            "{later:?}"
        );
        assert!(
            lines[0].contains(" 1/20 steps  0/2 hosts done"),
            "{lines:?}"
        );
        assert!(
            !live.render(at, 24, 120, false).concat().contains('\x1b'),
            "no colour unless asked"
        );
    }

    #[test]
    fn a_slow_step_shows_how_long_it_runs_and_its_host_goes_first() {
        let t0 = Instant::now();
        let mut live = running(30, t0);
        for host in names(30) {
            live.step_finished(&host, StepStatus::Ok, "first", false, t0);
        }
        // Every host but node29 goes on answering; node29's second step hangs for 12 s.
        let now = t0 + Duration::from_secs(12);
        for host in names(30).iter().filter(|h| *h != "node29") {
            live.step_finished(host, StepStatus::Ok, "second", false, now);
        }
        let lines = live.render(now, 6, 100, false);
        assert!(lines[1].contains(" node29 "), "{lines:#?}");
        assert!(
            lines[1].ends_with("ok first  | step 2 running 12.0 s"),
            "{lines:#?}"
        );
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4], "+27 more hosts running");
    }

    #[test]
    fn lines_are_cut_to_the_width_with_the_colour_closed() {
        let t0 = Instant::now();
        let mut live = running(1, t0);
        live.step_finished("node01", StepStatus::Failed, &"x".repeat(200), false, t0);
        for width in [20, 30, 41, 80] {
            for line in live.render(t0, 24, width, true) {
                let plain = line.replace("\x1b[31m", "").replace("\x1b[0m", "");
                assert!(plain.chars().count() < width, "{width}: {line:?}");
                assert_eq!(
                    line.matches("\x1b[31m").count(),
                    line.matches("\x1b[0m").count(),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn hosts_not_started_yet_are_counted_on_the_more_line() {
        // A rollout's later batches: planned, not started.
        let t0 = Instant::now();
        let mut live = Live::new("deploy", 30, t0);
        live.plan(&names(30), 4);
        for host in &names(30)[..10] {
            live.host_started(host, 4, t0);
        }
        let lines = live.render(t0, 6, 80, false);
        assert_eq!(
            lines.last().unwrap(),
            "+7 more hosts running, 20 not started"
        );
        assert!(lines[0].contains("0/120 steps"), "{lines:?}");
    }
}
