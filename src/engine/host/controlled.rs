//! Steps whose next move depends on their own answers: `loop` (one run per item),
//! `until`/`retries`/`delay` (run again until a condition holds), `failed_when` and
//! `ignore_errors` (whether a failure stops the host). Such a step runs alone: the queue is
//! drained first, then each attempt is sent and waited for before anything else goes (frames in
//! `Continue` mode, since tandem itself decides what a failure means here).

use std::time::Instant;

use serde_json::{Map, Value};

use super::{HostRun, UNEXPLAINED_SKIP, json_result, last_lines, plan_with, timed_out_error};
use crate::engine::events::{ItemResult, StepResult, StepStatus};
use crate::engine::interrupt::Level;
use crate::engine::plan::PlannedStep;
use crate::engine::step_timeout;
use crate::modules::answer;
use crate::playbook::Step;
use crate::ssh::{Answer, FrameMode, FrameStatus, Session, SshError};

/// Labels longer than this are cut in reports.
const MAX_LABEL_CHARS: usize = 60;

/// What one item (or the only run of a step without `loop`) came to.
struct Outcome {
    label: Option<String>,
    status: StepStatus,
    changes: Vec<String>,
    diffs: Vec<crate::modules::FileDiff>,
    error: Option<String>,
    attempts: u32,
    stdout: String,
    stderr: String,
    /// What `register` stores for it (an element of `results` under a loop).
    registered: Value,
}

impl Outcome {
    fn local(label: Option<String>, status: StepStatus, error: Option<String>) -> Outcome {
        let skipped = status == StepStatus::Skipped;
        let failed = status == StepStatus::Failed;
        let mut registered = serde_json::json!({
            "changed": false, "failed": failed, "skipped": skipped,
        });
        if let Some(message) = &error {
            registered["msg"] = Value::from(message.clone());
        }
        Outcome {
            label,
            status,
            changes: Vec::new(),
            diffs: Vec::new(),
            error,
            attempts: 0,
            stdout: String::new(),
            stderr: String::new(),
            registered,
        }
    }
}

impl<'a> HostRun<'a> {
    pub(super) async fn run_controlled(
        &mut self,
        session: &Session,
        planned: &'a PlannedStep,
        step: &'a Step,
        as_user: Option<&str>,
    ) -> Result<(), SshError> {
        let origin = planned.origin.as_str();
        // The shell first, and its facts probe answered: the step may read facts.
        self.shell(session, as_user).await?;
        self.drain(session).await?;
        if self.stopped.is_some() {
            return Ok(());
        }
        // Counted from here: the steps before it are answered, so its first frame starts on the
        // node as it arrives (the wait for them is theirs, not this step's).
        let started = Instant::now();
        let facts = self.facts.clone().unwrap_or_default();
        let ctx = self.vars.context(step, &facts, &self.registered);
        let name = match self.display_name(step, &ctx, origin) {
            Ok(name) => name,
            Err(e) => {
                self.fail_locally(planned, step, &step.name, e.to_string())?;
                return self.drain(session).await;
            }
        };
        // One `None` for a step without `loop`.
        let items: Vec<Option<Value>> = match &step.control.loop_spec {
            None => vec![None],
            Some(spec) => match self.shared.templates.render_args(&spec.items, &ctx, origin) {
                Ok(Value::Array(items)) => items.into_iter().map(Some).collect(),
                Ok(other) => {
                    let message = format!(
                        "{origin}: `loop` gave {}, not a list: give it a list (e.g. \
                         `\"{{{{ users }}}}\"` where `users` is a list)",
                        kind(&other)
                    );
                    self.fail_locally(planned, step, &name, message)?;
                    return self.drain(session).await;
                }
                Err(e) => {
                    self.fail_locally(planned, step, &name, e.to_string())?;
                    return self.drain(session).await;
                }
            },
        };
        let looped = step.control.loop_spec.is_some();
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            if self.shared.interrupt.stopping() {
                self.halt(session).await;
            }
            if self.halted {
                // Not counted as run: the recap says to run it again.
                return Ok(());
            }
            match self
                .run_item(session, planned, step, as_user, &facts, item)
                .await?
            {
                Some(outcome) => outcomes.push(outcome),
                None => return Ok(()),
            }
        }

        let mut result = self.local_result(planned, &name, StepStatus::Ok, None);
        result.elapsed_ms = started.elapsed().as_millis() as u64;
        let registered = if looped {
            summarize_loop(&mut result, &outcomes)
        } else {
            let only = outcomes.pop().expect("one run without a loop");
            result.status = only.status;
            result.changes = only.changes;
            result.diffs = only.diffs;
            result.error = only.error;
            result.attempts = only.attempts;
            result.stdout = only.stdout;
            result.stderr = only.stderr;
            let mut registered = only.registered;
            registered["attempts"] = Value::from(only.attempts);
            registered
        };
        if let Some(register) = &step.register {
            self.registered.insert(register.clone(), registered);
        }
        if result.status == StepStatus::Changed {
            self.notified.extend(step.notify.iter().cloned());
        }
        if result.status == StepStatus::Failed {
            if step.control.ignore_errors {
                result.ignored = true;
            } else if self.stopped.is_none() {
                self.stopped = Some(format!("step '{name}' failed"));
            }
        }
        self.emit(result);
        Ok(())
    }

    /// One item: its `when`, then attempts until it succeeds, `until` holds or the retries
    /// are spent. `None`: Ctrl-C stopped it.
    async fn run_item(
        &mut self,
        session: &Session,
        planned: &PlannedStep,
        step: &Step,
        as_user: Option<&str>,
        facts: &Map<String, Value>,
        item: Option<Value>,
    ) -> Result<Option<Outcome>, SshError> {
        let origin = planned.origin.as_str();
        let templates = self.shared.templates.clone();
        let control = &step.control;
        let mut extra = Map::new();
        if let Some(item) = &item {
            extra.insert("item".into(), item.clone());
        }
        let ctx = self
            .vars
            .context_with(step, facts, &self.registered, &extra);
        let label = match (&control.loop_spec, &item) {
            (Some(spec), Some(item)) => Some(match &spec.label {
                Some(text) => match templates.render_str(text, &ctx, origin) {
                    Ok(text) => shorten(&text),
                    Err(e) => {
                        return Ok(Some(Outcome::local(
                            Some(shorten(&show(item))),
                            StepStatus::Failed,
                            Some(e.to_string()),
                        )));
                    }
                },
                None => shorten(&show(item)),
            }),
            _ => None,
        };
        // Under a loop, `when` is decided per item (it may read `item`), as in Ansible.
        for condition in &step.when {
            match templates.eval_bool(condition, &ctx, origin) {
                Ok(true) => {}
                Ok(false) => {
                    let mut outcome = Outcome::local(label, StepStatus::Skipped, None);
                    if let Some(item) = item {
                        outcome.registered["item"] = item;
                    }
                    return Ok(Some(outcome));
                }
                Err(e) => {
                    return Ok(Some(Outcome::local(
                        label,
                        StepStatus::Failed,
                        Some(e.to_string()),
                    )));
                }
            }
        }
        // In check mode nothing really ran: the result says nothing `until` could wait for, so
        // one attempt, and the condition is not asked.
        let check = self.shared.options.check;
        let until = if check { None } else { control.until.as_ref() };
        let attempts = if check { 1 } else { control.attempts() };
        let mut attempt = 0;
        let mut outcome = loop {
            attempt += 1;
            let remote = match plan_with(&templates, step, origin, &ctx) {
                Ok(remote) => remote,
                Err(e) => {
                    break Outcome::local(label.clone(), StepStatus::Failed, Some(e.to_string()));
                }
            };
            // Each attempt (each item, each retry) gets the step's whole time limit.
            let limit = step_timeout::effective(
                step,
                &self.shared.playbook,
                self.shared.options.step_timeout,
            );
            let shell = self.shell(session, as_user).await?;
            let pending = shell
                .send_limited(&remote.script, &remote.payload, FrameMode::Continue, limit)
                .await?;
            let answer = self.answer(session, pending).await?;
            if answer.status == FrameStatus::Skipped && self.halted {
                return Ok(None);
            }
            let mut outcome = self.judge(step, origin, facts, &extra, answer, limit);
            outcome.label = label.clone();
            outcome.attempts = attempt;
            let done = match until {
                Some(expr) => {
                    let ctx = self.result_context(step, facts, &extra, &outcome.registered);
                    match templates.eval_bool(expr, &ctx, origin) {
                        Ok(done) => done,
                        Err(e) => {
                            outcome.status = StepStatus::Failed;
                            outcome.error = Some(e.to_string());
                            break outcome;
                        }
                    }
                }
                None => outcome.status != StepStatus::Failed,
            };
            if done {
                break outcome;
            }
            if attempt >= attempts {
                if let Some(expr) = until {
                    let last = outcome
                        .error
                        .as_deref()
                        .map(|e| format!("; last attempt: {e}"))
                        .unwrap_or_default();
                    outcome.status = StepStatus::Failed;
                    outcome.error = Some(format!(
                        "`until: {expr}` still false after {attempt} attempt{}{last}",
                        if attempt == 1 { "" } else { "s" }
                    ));
                    outcome.registered["failed"] = Value::Bool(true);
                }
                break outcome;
            }
            // Ctrl-C during the wait ends it: no new attempt starts.
            let interrupt = self.shared.interrupt.clone();
            tokio::select! {
                _ = tokio::time::sleep(control.delay()) => {}
                _ = interrupt.reached(Level::Stop) => {
                    self.halt(session).await;
                    return Ok(None);
                }
            }
        };
        if let Some(item) = item {
            outcome.registered["item"] = item;
        }
        Ok(Some(outcome))
    }

    /// The step's context with `result` (and the `register` name, as Ansible's `until` reads
    /// it) set to one attempt's result.
    fn result_context(
        &self,
        step: &Step,
        facts: &Map<String, Value>,
        extra: &Map<String, Value>,
        result: &Value,
    ) -> minijinja::Value {
        let mut registered = self.registered.clone();
        registered.insert("result".into(), result.clone());
        let mut extra = extra.clone();
        if let Some(name) = &step.register {
            extra.insert(name.clone(), result.clone());
        }
        self.vars.context_with(step, facts, &registered, &extra)
    }

    /// One attempt's answer: changed (the module, or `changed_when`) and failed (the exit
    /// status, or `failed_when`).
    fn judge(
        &self,
        step: &Step,
        origin: &str,
        facts: &Map<String, Value>,
        extra: &Map<String, Value>,
        answer: Answer,
        limit: Option<u32>,
    ) -> Outcome {
        let code = match answer.status {
            FrameStatus::Exited(code) => code,
            // Stopped on the node past its limit: a failure whatever `failed_when` says (the
            // step never finished), which `until`/`retries` may still try again.
            FrameStatus::TimedOut => {
                let stderr = String::from_utf8_lossy(&answer.stderr);
                let report = answer::parse(&answer.stdout, &self.shared.mark);
                let error = timed_out_error(limit, &stderr, &report.output);
                return Outcome::local(None, StepStatus::Failed, Some(error));
            }
            FrameStatus::Skipped => {
                return Outcome::local(
                    None,
                    StepStatus::Failed,
                    Some(UNEXPLAINED_SKIP.to_string()),
                );
            }
        };
        let stderr = String::from_utf8_lossy(&answer.stderr).into_owned();
        let report = answer::parse(&answer.stdout, &self.shared.mark);
        let mut changed = report.changed();
        let mut failed = code != 0;
        let mut registered = json_result(changed, failed, false, code, &report, &stderr);
        let mut error = None;
        let templates = &self.shared.templates;
        if let Some(expr) = &step.changed_when {
            let ctx = self.result_context(step, facts, extra, &registered);
            match templates.eval_bool(expr, &ctx, origin) {
                Ok(value) => changed = value,
                Err(e) => error = Some(e.to_string()),
            }
            registered["changed"] = Value::Bool(changed);
        }
        if error.is_none()
            && let Some(expr) = &step.control.failed_when
        {
            let ctx = self.result_context(step, facts, extra, &registered);
            match templates.eval_bool(expr, &ctx, origin) {
                Ok(value) => failed = value,
                Err(e) => error = Some(e.to_string()),
            }
        }
        if error.is_some() {
            failed = true;
        } else if failed {
            error = Some(if code != 0 && step.control.failed_when.is_none() {
                let detail = last_lines(&stderr, 6)
                    .or_else(|| last_lines(&String::from_utf8_lossy(&report.output), 6));
                match detail {
                    Some(text) => format!("{text} (exit status {code})"),
                    None => format!("exit status {code}"),
                }
            } else {
                format!(
                    "`failed_when: {}` is true (exit status {code})",
                    step.control.failed_when.as_deref().unwrap_or_default()
                )
            });
        }
        registered["failed"] = Value::Bool(failed);
        if let Some(message) = &error {
            registered["msg"] = Value::from(message.clone());
        }
        Outcome {
            label: None,
            status: if failed {
                StepStatus::Failed
            } else if changed {
                StepStatus::Changed
            } else {
                StepStatus::Ok
            },
            changes: report.changes,
            diffs: report.diffs,
            error,
            attempts: 1,
            stdout: String::from_utf8_lossy(&report.output).into_owned(),
            stderr,
            registered,
        }
    }
}

/// A looped step's result from its items: failed if one failed, changed if one changed,
/// skipped if all were (or there were none); what `register` stores (Ansible's `results`).
fn summarize_loop(result: &mut StepResult, outcomes: &[Outcome]) -> Value {
    let any = |status: StepStatus| outcomes.iter().any(|o| o.status == status);
    result.status = if any(StepStatus::Failed) {
        StepStatus::Failed
    } else if any(StepStatus::Changed) {
        StepStatus::Changed
    } else if outcomes.iter().all(|o| o.status == StepStatus::Skipped) {
        StepStatus::Skipped
    } else {
        StepStatus::Ok
    };
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| o.status == StepStatus::Failed)
        .map(|o| {
            format!(
                "item {}: {}",
                o.label.as_deref().unwrap_or_default(),
                o.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if !failures.is_empty() {
        result.error = Some(format!(
            "{} of {} items failed: {}",
            failures.len(),
            outcomes.len(),
            failures.join("; ")
        ));
    }
    // Each item's attempts are in `items`; the step ran once per item.
    result.attempts = 1;
    for outcome in outcomes {
        result.changes.extend(outcome.changes.iter().cloned());
        result.diffs.extend(outcome.diffs.iter().cloned());
        result.stdout.push_str(&outcome.stdout);
        result.stderr.push_str(&outcome.stderr);
        result.items.push(ItemResult {
            label: outcome.label.clone().unwrap_or_default(),
            status: outcome.status,
            changes: outcome.changes.clone(),
            error: outcome.error.clone(),
            attempts: outcome.attempts,
        });
    }
    let results: Vec<Value> = outcomes.iter().map(|o| o.registered.clone()).collect();
    serde_json::json!({
        "changed": result.status == StepStatus::Changed,
        "failed": result.status == StepStatus::Failed,
        "skipped": result.status == StepStatus::Skipped,
        "results": results,
    })
}

/// An item as shown: a string as it is, anything else as compact JSON.
fn show(item: &Value) -> String {
    match item {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn shorten(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut out: String = first.chars().take(MAX_LABEL_CHARS).collect();
    if first.chars().count() > MAX_LABEL_CHARS || text.lines().nth(1).is_some() {
        out.push_str("...");
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (none)",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
