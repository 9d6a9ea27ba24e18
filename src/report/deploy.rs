//! What `tandem deploy` shows: the live view on a terminal (an overall bar and a line per
//! active host, see `live.rs`), plain lines otherwise, diffs with --diff, a recap per host, or
//! one JSON object.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::color::{Style, paint, paint_diff};
use super::diff::unified;
use super::human_duration;
use super::live::Live;
use crate::engine::{Event, HostStats, StepResult, StepStatus};

/// The terminal's size when it cannot be asked.
const DEFAULT_SIZE: (usize, usize) = (24, 80);

pub struct DeployReport {
    json: bool,
    diff: bool,
    check: bool,
    ui: Option<Bars>,
    /// Everything, per host, for the recap and JSON (inventory order is restored at the end).
    hosts: BTreeMap<String, HostRecord>,
    started: Instant,
    /// `--serial`/`--rolling`: each batch's hosts, in order.
    batches: Vec<Vec<String>>,
    health: Vec<Value>,
    /// Services drained and given back by `--rolling`.
    moves: Vec<Value>,
    stopped: Option<(String, Vec<String>)>,
    /// Ctrl-C: "stop" (no new step) or "abandon" (second Ctrl-C).
    interrupted: Option<&'static str>,
    /// Colour on the step lines (stderr under progress bars, else stdout).
    color: bool,
    /// `-v`: step output shown.
    verbose: u8,
}

#[derive(Default)]
struct HostRecord {
    steps: Vec<StepResult>,
    stats: HostStats,
    error: Option<String>,
    finished: bool,
}

/// The live view and the one indicatif bar it is drawn in (its message is the view's lines).
struct Bars {
    bar: ProgressBar,
    live: Live,
    /// Colour in the view (stderr's choice).
    color: bool,
}

impl Bars {
    /// Draws the view as it is now, to the terminal's current size.
    fn draw(&self) {
        let (height, width) = terminal_size::terminal_size_of(std::io::stderr())
            .map(|(w, h)| (usize::from(h.0), usize::from(w.0)))
            .unwrap_or(DEFAULT_SIZE);
        let lines = self.live.render(Instant::now(), height, width, self.color);
        self.bar.set_message(lines.join("\n"));
    }
}

impl DeployReport {
    pub fn new(json: bool, diff: bool, check: bool, total_hosts: usize) -> DeployReport {
        // From -vv on, stderr carries the scripts sent: plain lines, no bars drawn over them.
        let tty = std::io::stderr().is_terminal() && !json && crate::logging::verbosity() < 2;
        let ui = tty.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let bars = Bars {
                bar,
                live: Live::new("deploy", total_hosts, Instant::now()),
                color: super::color::stderr(),
            };
            bars.draw();
            bars
        });
        DeployReport {
            json,
            diff,
            check,
            ui,
            hosts: BTreeMap::new(),
            started: Instant::now(),
            batches: Vec::new(),
            health: Vec::new(),
            moves: Vec::new(),
            stopped: None,
            interrupted: None,
            color: if tty {
                super::color::stderr()
            } else {
                super::color::stdout()
            },
            verbose: 0,
        }
    }

    /// The steps each of `hosts` is planned to run, when known before they start: the overall
    /// bar shows the whole run's total from its first draw.
    pub fn plan(&mut self, hosts: &[String], steps: usize) {
        if let Some(ui) = &mut self.ui {
            ui.live.plan(hosts, steps);
            ui.draw();
        }
    }

    /// Redraws the live view (the spinners and times move without events); called a few
    /// times a second.
    pub fn tick(&self) {
        if let Some(ui) = &self.ui {
            ui.draw();
        }
    }

    /// `-v` and more: each step's output under its line, ok steps included.
    pub fn verbose(&mut self, level: u8) {
        self.verbose = level;
    }

    /// The run was cut short by Ctrl-C (`how`: "stop" or "abandon"); the recap and JSON say so.
    pub fn interrupted(&mut self, how: &'static str) {
        self.interrupted = Some(how);
    }

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::BatchStarted { .. }
            | Event::HealthChecked { .. }
            | Event::ServiceMoved { .. }
            | Event::RolloutStopped { .. } => self.rollout_event(event),
            Event::HostStarted { host, steps } => {
                if let Some(ui) = &mut self.ui {
                    ui.live.host_started(&host, steps, Instant::now());
                    ui.draw();
                }
                self.hosts.entry(host).or_default();
            }
            Event::StepFinished(result) => {
                self.print_step(&result);
                if let Some(ui) = &mut self.ui {
                    ui.live.step_finished(
                        &result.host,
                        result.status,
                        &result.name,
                        result.handler,
                        Instant::now(),
                    );
                    ui.draw();
                }
                self.hosts
                    .entry(result.host.clone())
                    .or_default()
                    .steps
                    .push(result);
            }
            Event::HostFinished {
                host, stats, error, ..
            } => {
                if let Some(e) = &error {
                    let label = if stats.unreachable {
                        "UNREACHABLE"
                    } else {
                        "stopped"
                    };
                    self.line(&format!("{host} | {label} | {e}"));
                }
                let record = self.hosts.entry(host.clone()).or_default();
                record.stats = stats;
                record.error = error;
                record.finished = true;
                if let Some(ui) = &mut self.ui {
                    // Steps a host will not run (it failed or was unreachable) leave the total.
                    let ran = self.hosts[&host]
                        .steps
                        .iter()
                        .filter(|s| !s.handler)
                        .count();
                    ui.live.host_finished(&host, ran);
                    ui.draw();
                }
            }
        }
    }

    fn rollout_event(&mut self, event: Event) {
        match event {
            Event::BatchStarted { index, of, hosts } => {
                self.line(&format!("batch {index}/{of} | {}", hosts.join(", ")));
                self.batches.push(hosts);
            }
            Event::HealthChecked {
                cluster,
                ok,
                detail,
            } => {
                self.line(&format!(
                    "{cluster} | health {} | {detail}",
                    if ok { "ok" } else { "FAILED" }
                ));
                self.health
                    .push(json!({"cluster": cluster, "ok": ok, "detail": detail}));
            }
            Event::ServiceMoved {
                cluster,
                service,
                from,
                to,
                reason,
                ok,
                detail,
                elapsed_ms,
            } => {
                self.line(&format!(
                    "{cluster} | {reason} {service} {from} -> {to} {} in {:.1} s | {detail}",
                    if ok { "ok" } else { "FAILED" },
                    elapsed_ms as f64 / 1000.0
                ));
                self.moves.push(json!({
                    "cluster": cluster, "service": service, "from": from, "to": to,
                    "reason": reason, "ok": ok, "detail": detail, "elapsed_ms": elapsed_ms,
                }));
            }
            Event::RolloutStopped { reason, untouched } => {
                self.line(&format!(
                    "rollout STOPPED: {reason}; not touched: {}",
                    untouched.join(", ")
                ));
                self.stopped = Some((reason, untouched));
            }
            _ => {}
        }
    }

    fn line(&self, text: &str) {
        if self.json {
            return;
        }
        match &self.ui {
            Some(ui) => ui.bar.println(text),
            None => println!("{text}"),
        }
    }

    /// Changed and failed steps get a line (and a diff with --diff); ok ones only count. A
    /// step with `loop` gets a line per changed or failed item instead.
    fn print_step(&self, r: &StepResult) {
        if self.json {
            return;
        }
        let text = self.step_text(r);
        if !text.is_empty() {
            self.line(&text);
        }
    }

    /// The lines [`DeployReport::print_step`] prints for a step, or nothing.
    fn step_text(&self, r: &StepResult) -> String {
        let has_output = !r.stdout.is_empty() || !r.stderr.is_empty();
        let shown = matches!(r.status, StepStatus::Changed | StepStatus::Failed)
            || (self.verbose > 0 && has_output);
        if !shown {
            return String::new();
        }
        let what = if r.handler {
            format!("handler {}", r.name)
        } else {
            r.name.clone()
        };
        let status = if r.ignored {
            "failed (ignored)"
        } else {
            r.status.as_str()
        };
        let status = &paint_status(status, r.status, self.color);
        let mut text = String::new();
        if r.items.is_empty() || self.verbose > 0 {
            text = step_line(&r.host, status, &what, &r.changes, r.error.as_deref());
            if r.attempts > 1 {
                text.push_str(&format!(" [{} attempts]", r.attempts));
            }
        }
        for item in &r.items {
            if !matches!(item.status, StepStatus::Changed | StepStatus::Failed) {
                continue;
            }
            let item_status = match (item.status, r.ignored) {
                (StepStatus::Failed, true) => "failed (ignored)",
                (other, _) => other.as_str(),
            };
            let item_status = &paint_status(item_status, item.status, self.color);
            if !text.is_empty() {
                text.push('\n');
            }
            let what = format!("{what} (item={})", item.label);
            text.push_str(&step_line(
                &r.host,
                item_status,
                &what,
                &item.changes,
                item.error.as_deref(),
            ));
            if item.attempts > 1 {
                text.push_str(&format!(" [{} attempts]", item.attempts));
            }
        }
        if self.verbose > 0 {
            for (stream, output) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                for line in output.lines() {
                    text.push_str(&format!("\n    {stream}: {line}"));
                }
            }
        }
        if self.diff {
            for d in &r.diffs {
                text.push('\n');
                text.push_str(&paint_diff(unified(d).trim_end(), self.color));
            }
        }
        text
    }

    /// Ends the display and prints the recap or the JSON document; `order` is inventory order.
    pub fn finish(self, order: &[String]) -> Value {
        if let Some(ui) = &self.ui {
            ui.bar.finish_and_clear();
        }
        let elapsed = self.started.elapsed();
        let doc = self.json_doc(order, elapsed);
        if self.json {
            println!("{doc}");
        } else {
            print!("{}", self.recap(order, elapsed, super::color::stdout()));
        }
        doc
    }

    /// The recap; with `color`, the counts that matter and the failed hosts' lines stand out.
    fn recap(&self, order: &[String], elapsed: Duration, color: bool) -> String {
        let width = order.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        let mut text = String::from("\nRECAP\n");
        let (mut good, mut failed, mut unreachable, mut interrupted) = (0, 0, 0, 0);
        let mut no_result = 0;
        for name in order {
            let Some(h) = self.hosts.get(name) else {
                // Never a silent success: the command ends with an internal error too.
                text.push_str(&format!(
                    "{name:<width$}  NO RESULT (internal error: tandem lost track of this host)\n"
                ));
                no_result += 1;
                continue;
            };
            let s = h.stats;
            let mut not_run = if s.not_run > 0 {
                format!("  not_run={}", s.not_run)
            } else {
                String::new()
            };
            if s.ignored > 0 {
                not_run.push_str(&format!("  ignored={}", s.ignored));
            }
            let line = format!(
                "{name:<width$}  ok={:<3} changed={:<3} failed={:<3} skipped={:<3} unreachable={}{not_run}",
                s.ok,
                s.changed,
                s.failed,
                s.skipped,
                u8::from(s.unreachable)
            );
            let style = if s.unreachable || s.failed > 0 {
                Style::Failed
            } else if s.changed > 0 {
                Style::Changed
            } else {
                Style::Ok
            };
            text.push_str(&paint(&line, style, color));
            text.push('\n');
            // Why a host failed, again here: among hundreds of lines, the step line scrolled by.
            if let Some(reason) = failure_reason(h) {
                text.push_str(&format!(
                    "{:width$}  {}\n",
                    "",
                    paint(&reason, Style::Failed, color)
                ));
            }
            if s.unreachable {
                unreachable += 1;
            } else if s.interrupted && s.failed == 0 {
                interrupted += 1;
            } else if s.failed > 0 {
                failed += 1;
            } else {
                good += 1;
            }
        }
        if let Some((reason, untouched)) = &self.stopped {
            text.push_str(&format!(
                "rollout stopped ({reason}): {} host{} not touched: {}\n",
                untouched.len(),
                if untouched.len() == 1 { "" } else { "s" },
                untouched.join(", ")
            ));
        }
        if let Some(how) = self.interrupted {
            let not_run: usize = self
                .hosts
                .values()
                .filter(|h| h.stats.interrupted)
                .map(|h| h.stats.not_run)
                .sum();
            text.push_str(&format!(
                "INTERRUPTED (Ctrl-C{}): {not_run} step{} not run on {interrupted} host{}; run again to finish\n",
                if how == "abandon" {
                    " twice: running steps abandoned"
                } else {
                    ": running steps finished, no new one started"
                },
                if not_run == 1 { "" } else { "s" },
                if interrupted == 1 { "" } else { "s" },
            ));
        }
        let not_run: usize = order
            .iter()
            .filter_map(|name| self.hosts.get(name))
            .map(|h| h.stats.not_run)
            .sum();
        let mut not_run = match not_run {
            0 => String::new(),
            1 => ", 1 step not run".to_string(),
            n => format!(", {n} steps not run"),
        };
        if no_result > 0 {
            not_run.push_str(&format!(", {no_result} without a result"));
        }
        text.push_str(&format!(
            "{} host{}: {good} ok, {failed} failed, {unreachable} unreachable{not_run} in {}{}\n",
            order.len(),
            if order.len() == 1 { "" } else { "s" },
            human_duration(elapsed),
            if self.check {
                " (check mode: nothing was changed)"
            } else {
                ""
            }
        ));
        text
    }

    fn json_doc(&self, order: &[String], elapsed: Duration) -> Value {
        let mut hosts = serde_json::Map::new();
        for name in order {
            let Some(h) = self.hosts.get(name) else {
                hosts.insert(
                    name.clone(),
                    json!({"no_result": true, "error": "internal error: tandem lost track of this host"}),
                );
                continue;
            };
            let steps: Vec<Value> = h
                .steps
                .iter()
                .map(|s| {
                    let mut v = json!({
                        "name": s.name, "location": s.location, "status": s.status.as_str(),
                        "handler": s.handler, "changes": s.changes, "error": s.error, "elapsed_ms": s.elapsed_ms,
                    });
                    if s.attempts > 1 {
                        v["attempts"] = Value::from(s.attempts);
                    }
                    if !s.stdout.is_empty() || !s.stderr.is_empty() {
                        v["stdout"] = Value::from(s.stdout.clone());
                        v["stderr"] = Value::from(s.stderr.clone());
                    }
                    if s.ignored {
                        v["ignored"] = Value::Bool(true);
                    }
                    if !s.items.is_empty() {
                        v["items"] = s.items.iter().map(|i| json!({
                            "label": i.label, "status": i.status.as_str(), "changes": i.changes,
                            "error": i.error, "attempts": i.attempts,
                        })).collect();
                    }
                    if self.diff && !s.diffs.is_empty() {
                        v["diff"] = Value::from(s.diffs.iter().map(unified).collect::<Vec<_>>().join(""));
                    }
                    v
                })
                .collect();
            hosts.insert(
                name.clone(),
                json!({
                    "ok": h.stats.ok, "changed": h.stats.changed, "failed": h.stats.failed,
                    "skipped": h.stats.skipped, "ignored": h.stats.ignored,
                    "unreachable": h.stats.unreachable, "error": h.error,
                    "interrupted": h.stats.interrupted, "not_run": h.stats.not_run,
                    "steps": steps,
                }),
            );
        }
        let count =
            |f: &dyn Fn(&HostStats) -> bool| self.hosts.values().filter(|h| f(&h.stats)).count();
        let (stopped, untouched) = match &self.stopped {
            Some((reason, hosts)) => (Value::from(reason.clone()), hosts.clone()),
            None => (Value::Null, Vec::new()),
        };
        json!({
            "check": self.check,
            "interrupted": self.interrupted,
            "batches": self.batches,
            "health_checks": self.health,
            "service_moves": self.moves,
            "stopped": stopped,
            "untouched": untouched,
            "hosts": hosts,
            "summary": {
                "hosts": order.len(),
                "ok": count(&|s| s.succeeded()),
                "failed": count(&|s| s.failed > 0 && !s.unreachable),
                "unreachable": count(&|s| s.unreachable),
                "interrupted": count(&|s| s.interrupted),
                "changed": self.hosts.values().map(|h| h.stats.changed).sum::<usize>(),
                "duration_ms": elapsed.as_millis() as u64,
            },
        })
    }
}

/// Why a host failed or was unreachable, in one line: the failed step and its error.
fn failure_reason(h: &HostRecord) -> Option<String> {
    if h.stats.unreachable {
        return Some(format!(
            "unreachable: {}",
            h.error.as_deref().unwrap_or("no reason given")
        ));
    }
    if h.stats.failed == 0 {
        return None;
    }
    let step = h
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed && !s.ignored)?;
    Some(format!(
        "failed at '{}' ({}): {}",
        step.name,
        step.location,
        step.error.as_deref().unwrap_or("no reason given")
    ))
}

fn paint_status(text: &str, status: StepStatus, on: bool) -> String {
    let style = match status {
        StepStatus::Ok => Style::Ok,
        StepStatus::Changed => Style::Changed,
        StepStatus::Failed => Style::Failed,
        StepStatus::Skipped => Style::Skipped,
    };
    paint(text, style, on)
}

/// `HOST | STATUS | WHAT: error` or `HOST | STATUS | WHAT (changes)`.
fn step_line(
    host: &str,
    status: &str,
    what: &str,
    changes: &[String],
    error: Option<&str>,
) -> String {
    let mut text = format!("{host} | {status} | {what}");
    if let Some(e) = error {
        text.push_str(&format!(": {e}"));
    } else if !changes.is_empty() {
        text.push_str(&format!(" ({})", changes.join("; ")));
    }
    text
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
