//! Answers, in step order: waiting for each (Ctrl-C halts the host meanwhile), judging it
//! (ok, changed, failed, timed out, skipped by the shell), recording and reporting the result.

use serde_json::{Map, Value};

use super::{HostRun, InFlight, UNEXPLAINED_SKIP};
use crate::engine::events::{Event, StepResult, StepStatus};
use crate::engine::facts;
use crate::engine::interrupt::Level;
use crate::engine::plan::PlannedStep;
use crate::modules::{StepReport, answer};
use crate::playbook::Step;
use crate::ssh::{Answer, FrameStatus, PendingAnswer, Session, SshError};

impl<'a> HostRun<'a> {
    /// Waits for one answer; a first Ctrl-C meanwhile halts the host, then the wait goes on
    /// (the step running on the node finishes, the frames behind it come back skipped).
    pub(super) async fn answer(
        &mut self,
        session: &Session,
        pending: PendingAnswer,
    ) -> Result<Answer, SshError> {
        let interrupt = self.shared.interrupt.clone();
        let waiting = pending.wait();
        tokio::pin!(waiting);
        if !self.halted {
            tokio::select! {
                answer = &mut waiting => return answer,
                _ = interrupt.reached(Level::Stop) => self.halt(session).await,
            }
        }
        waiting.await
    }

    /// Handles every queued answer, in order.
    pub(super) async fn drain(&mut self, session: &Session) -> Result<(), SshError> {
        while let Some(item) = self.queue.pop_front() {
            match item {
                InFlight::Facts(answer) => {
                    let answer = self.answer(session, answer).await?;
                    let report = answer::parse(&answer.stdout, &self.shared.mark);
                    self.facts = Some(facts::shape(report.facts));
                }
                InFlight::Local(result, registered) => {
                    // Decided before an earlier step's failure was known: it never ran.
                    if self.stats.failed > self.failures_before {
                        continue;
                    }
                    if let Some((name, value)) = registered {
                        self.registered.insert(name, value);
                    }
                    self.emit(*result);
                }
                InFlight::Step {
                    planned,
                    step,
                    name,
                    answer,
                    limit,
                } => {
                    let answer = self.answer(session, answer).await?;
                    self.handle_answer(planned, step, name, answer, limit);
                }
            }
        }
        self.queued_on = None;
        Ok(())
    }

    pub(super) fn handle_answer(
        &mut self,
        planned: &PlannedStep,
        step: &Step,
        name: String,
        answer: Answer,
        limit: Option<u32>,
    ) {
        let mut result = self.local_result(planned, &name, StepStatus::Ok, None);
        // From when the step started on the node, not when it was sent: pipelined behind a
        // slow step, it waited there without running.
        result.elapsed_ms = answer.ran_for.as_millis() as u64;
        result.attempts = 1;
        let stderr = String::from_utf8_lossy(&answer.stderr).into_owned();
        result.stderr = stderr.clone();
        match answer.status {
            // Not run because an earlier step failed here or Ctrl-C halted the host: no event,
            // it never happened (counted as not run).
            FrameStatus::Skipped if self.halted || self.stats.failed > self.failures_before => {
                return;
            }
            // Skipped with neither cause: the node did not run a step tandem asked for, and
            // reporting nothing would pass that off as success.
            FrameStatus::Skipped => {
                result.status = StepStatus::Failed;
                result.error = Some(UNEXPLAINED_SKIP.to_string());
            }
            FrameStatus::Exited(0) => {
                let report = answer::parse(&answer.stdout, &self.shared.mark);
                let mut changed = report.changed();
                let mut registered = json_result(changed, false, false, 0, &report, &stderr);
                if let Some(expr) = &step.changed_when {
                    let facts = self.facts.clone().unwrap_or_else(Self::empty_facts);
                    let ctx = self
                        .vars
                        .with_result(step, &facts, &self.registered, &registered);
                    match self.shared.templates.eval_bool(expr, &ctx, &planned.origin) {
                        Ok(value) => changed = value,
                        Err(e) => {
                            result.status = StepStatus::Failed;
                            result.error = Some(e.to_string());
                        }
                    }
                    registered["changed"] = Value::Bool(changed);
                }
                if result.status != StepStatus::Failed {
                    result.status = if changed {
                        StepStatus::Changed
                    } else {
                        StepStatus::Ok
                    };
                }
                if changed {
                    self.notified.extend(step.notify.iter().cloned());
                }
                result.changes = report.changes.clone();
                result.diffs = report.diffs.clone();
                result.stdout = String::from_utf8_lossy(&report.output).into_owned();
                if let Some(name) = &step.register {
                    self.registered.insert(name.clone(), registered);
                }
            }
            // Stopped on the node past its limit: its processes are gone (TERM, then KILL), and
            // what it wrote went through a temporary file and a rename, so no file is half
            // written. The last lines it printed say where it hung.
            FrameStatus::TimedOut => {
                let report = answer::parse(&answer.stdout, &self.shared.mark);
                result.status = StepStatus::Failed;
                result.changes = report.changes.clone();
                result.error = Some(timed_out_error(limit, &stderr, &report.output));
                if let Some(name) = &step.register {
                    self.registered.insert(
                        name.clone(),
                        json_result(false, true, false, -1, &report, &stderr),
                    );
                }
            }
            FrameStatus::Exited(code) => {
                let report = answer::parse(&answer.stdout, &self.shared.mark);
                result.status = StepStatus::Failed;
                result.changes = report.changes.clone();
                result.stdout = String::from_utf8_lossy(&report.output).into_owned();
                let detail = last_lines(&stderr, 6)
                    .or_else(|| last_lines(&String::from_utf8_lossy(&report.output), 6));
                result.error = Some(match detail {
                    Some(text) => format!("{text} (exit status {code})"),
                    None => format!("exit status {code}"),
                });
                if let Some(name) = &step.register {
                    self.registered.insert(
                        name.clone(),
                        json_result(false, true, false, code, &report, &stderr),
                    );
                }
            }
        }
        if result.status == StepStatus::Failed && self.stopped.is_none() {
            self.stopped = Some(format!("step '{name}' failed"));
        }
        self.emit(result);
    }

    pub(super) fn emit(&mut self, result: StepResult) {
        if !result.stdout.is_empty() || !result.stderr.is_empty() {
            tracing::info!(
                target: "tandem::output",
                node = %result.host,
                step = %result.name,
                "stdout {:?}, stderr {:?}",
                result.stdout,
                result.stderr
            );
        }
        self.stats.record(&result);
        if result.handler {
            self.handlers_ran += 1;
        } else {
            self.ran += 1;
        }
        let _ = self.events.send(Event::StepFinished(result));
    }
}

/// What `register: NAME` stores, Ansible-shaped.
pub(super) fn json_result(
    changed: bool,
    failed: bool,
    skipped: bool,
    rc: i32,
    report: &StepReport,
    stderr: &str,
) -> Value {
    let output = String::from_utf8_lossy(&report.output).into_owned();
    let lines: Vec<Value> = output.lines().map(|l| Value::from(l.to_string())).collect();
    let facts: Map<String, Value> = report
        .facts
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    serde_json::json!({
        "changed": changed,
        "failed": failed,
        "skipped": skipped,
        "rc": rc,
        "stdout": output.trim_end_matches('\n'),
        "stdout_lines": lines,
        "stderr": stderr.trim_end_matches('\n'),
        "changes": report.changes,
        "facts": facts,
    })
}

/// Why a step stopped past its limit failed, with the last lines it printed (where it hung).
pub(super) fn timed_out_error(limit: Option<u32>, stderr: &str, output: &[u8]) -> String {
    let limit = limit.unwrap_or_default();
    let stopped = format!("timed out after {limit} s (its processes on the node were stopped)");
    match last_lines(stderr, 3).or_else(|| last_lines(&String::from_utf8_lossy(output), 3)) {
        Some(text) => format!("{stopped}: {text}"),
        None => stopped,
    }
}

pub(super) fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(n)..].join(" / "))
}
