//! One host's run: open the remote shell, send the prelude and the facts probe, then the steps,
//! pipelined: a step is sent without waiting for earlier answers unless it reads something
//! they produce (a registered result, the facts) or needs the other shell (become). Answers
//! are handled in order; the first failure stops the host, and frames already sent behind it
//! are skipped by the remote shell itself, never run.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::context::HostVars;
use super::events::{Event, HostStats, StepResult, StepStatus};
use super::interrupt::Level;
use super::plan::PlannedStep;
use super::{Shared, StepPlanError, step_timeout};
use crate::fleet::Host;
use crate::modules::{self, StepReport};
use crate::playbook::Step;
use crate::ssh::{FrameMode, PendingAnswer, RemoteShell, Session, SshError, Sudo};
use crate::template::TemplateError;

mod answers;
mod controlled;
mod planning;

use answers::{json_result, last_lines, timed_out_error};
pub(super) use planning::plan_with;

/// A step sent and not answered yet, or a result decided locally (skipped, or failed before
/// sending), kept in the same queue so results come out in step order.
enum InFlight<'a> {
    Facts(PendingAnswer),
    Step {
        planned: &'a PlannedStep,
        step: &'a Step,
        /// The step's name as shown (rendered when it is a template).
        name: String,
        answer: PendingAnswer,
        /// Its time limit on the node, in seconds, for the "timed out" message.
        limit: Option<u32>,
    },
    Local(Box<StepResult>, Option<(String, Value)>),
}

struct HostRun<'a> {
    shared: &'a Shared,
    host: &'a Host,
    vars: HostVars,
    events: &'a UnboundedSender<Event>,
    stats: HostStats,
    facts: Option<Map<String, Value>>,
    registered: Map<String, Value>,
    /// Handler names and `listen` topics notified since the last flush.
    notified: BTreeSet<String>,
    /// Handlers a flush (a `meta: flush_handlers` step or the end) set out to run.
    handlers_owed: usize,
    /// Failures before `--force-handlers` ran the handlers anyway: results decided before a
    /// later failure are dropped only for failures after these.
    failures_before: usize,
    queue: VecDeque<InFlight<'a>>,
    /// Why the host stopped early.
    stopped: Option<String>,
    plain: Option<RemoteShell>,
    /// Shells through sudo, by the user they run as (`become`: root; `become_user`).
    sudo: Vec<(String, RemoteShell)>,
    /// Which shell the queued frames went to (`Some(None)`: the login's), to keep order
    /// across shells.
    queued_on: Option<Option<String>>,
    /// The login user: a step that becomes this user needs no sudo.
    login: String,
    /// Steps (not handlers) with a result: after an interruption, the rest were not run.
    ran: usize,
    /// Handlers with a result: after an interruption, the notified ones without one were not
    /// run, and the change that notified them is not finished (the host must be re-run).
    handlers_ran: usize,
    /// Ctrl-C seen and the open shells told to skip what they have not started.
    halted: bool,
}

/// A step the node's shell skipped though tandem neither halted it nor saw a step fail there.
const UNEXPLAINED_SKIP: &str = "the node's remote shell skipped this step, though tandem did not halt it and no earlier step failed (something else made a halt marker in the shell's temporary directory?): rerun the deploy";

/// Why a host stopped on the first Ctrl-C.
const STOPPED_BY_CTRL_C: &str = "interrupted (Ctrl-C): no new step started";

pub async fn run_host(
    shared: &Shared,
    host: &Host,
    session: &Session,
    events: &UnboundedSender<Event>,
) -> HostStats {
    let Some(node) = shared.inventory.node(&host.name) else {
        return HostStats::default();
    };
    let mut run = HostRun {
        shared,
        host,
        vars: HostVars::new(&shared.templates, &shared.inventory, node, &shared.playbook),
        events,
        stats: HostStats::default(),
        facts: None,
        registered: Map::new(),
        notified: BTreeSet::new(),
        handlers_owed: 0,
        failures_before: 0,
        queue: VecDeque::new(),
        stopped: None,
        plain: None,
        sudo: Vec::new(),
        queued_on: None,
        login: host.target.user.clone(),
        ran: 0,
        handlers_ran: 0,
        halted: false,
    };
    let interrupt = shared.interrupt.clone();
    // A second Ctrl-C drops the host's work wherever it waits; its shells are dropped unclosed
    // (closing waits on the node) and the session goes with the caller.
    // Every event of this node's work (-vv, -vvv, --log-file) names the node.
    let span = tracing::info_span!(target: "tandem::script", "node", name = %host.name);
    let outcome = tokio::select! {
        r = tracing::Instrument::instrument(run.run(session), span) => Some(r),
        _ = interrupt.reached(Level::Abandon) => None,
    };
    match outcome {
        Some(Ok(())) => {}
        Some(Err(ref e)) => {
            run.stats.unreachable = true;
            run.stopped = Some(e.to_string());
        }
        None => {
            run.stats.interrupted = true;
            run.stopped = Some(
                "abandoned (second Ctrl-C): a step running there finishes or dies with the connection"
                    .into(),
            );
        }
    }
    // Whatever stopped the host (a failed step, a lost connection, Ctrl-C), the steps it never
    // got to and the handlers its changes notified but that never ran are counted: a host that
    // failed at its second step of ten has eight steps not run, not zero.
    let handlers_left =
        (run.handlers_owed + run.handlers_due().len()).saturating_sub(run.handlers_ran);
    run.stats.not_run = shared.planned_steps().saturating_sub(run.ran) + handlers_left;
    if run.stats.interrupted || run.halted {
        if run.stats.not_run > 0 {
            run.stats.interrupted = true;
        } else if run.stopped.as_deref() == Some(STOPPED_BY_CTRL_C) {
            // Ctrl-C came after its last step had started: nothing was left out.
            run.stopped = None;
        }
    }
    if outcome.is_some() {
        let sudo = std::mem::take(&mut run.sudo).into_iter().map(|(_, s)| s);
        for shell in run.plain.take().into_iter().chain(sudo) {
            shell.close().await;
        }
    }
    let _ = events.send(Event::HostFinished {
        host: host.name.clone(),
        stats: run.stats,
        error: run.stopped.clone(),
    });
    run.stats
}

impl<'a> HostRun<'a> {
    async fn run(&mut self, session: &Session) -> Result<(), SshError> {
        let plan = &self.shared.plan;
        let steps: Vec<&PlannedStep> = plan.steps.iter().collect();
        self.run_steps(session, &steps).await?;
        self.flush(session).await
    }

    /// Runs the handlers notified so far, in handler order, each once; a later notify runs
    /// them again at the next flush (as Ansible's `meta: flush_handlers`). After a failed
    /// step they run only with `--force-handlers`; after Ctrl-C never (they are new steps too).
    async fn flush(&mut self, session: &Session) -> Result<(), SshError> {
        // Handlers depend on what changed: every answer must be in first.
        self.drain(session).await?;
        if self.halted {
            return Ok(());
        }
        let failed = self.stopped.take();
        if failed.is_some() && !self.shared.options.force_handlers {
            self.stopped = failed;
            return Ok(());
        }
        let due = self.handlers_due();
        self.notified.clear();
        if !due.is_empty() {
            self.handlers_owed += due.len();
            if failed.is_some() {
                // The failed step halted its shells (frames behind a failure are skipped
                // there): the handlers get fresh ones.
                self.failures_before = self.stats.failed;
                let sudo = std::mem::take(&mut self.sudo).into_iter().map(|(_, s)| s);
                for shell in self.plain.take().into_iter().chain(sudo) {
                    shell.close().await;
                }
            }
            Box::pin(self.run_steps(session, &due)).await?;
            self.drain(session).await?;
        }
        // The step that failed first stays the host's reason.
        if failed.is_some() {
            self.stopped = failed;
        }
        Ok(())
    }

    async fn run_steps(
        &mut self,
        session: &Session,
        list: &[&'a PlannedStep],
    ) -> Result<(), SshError> {
        for planned in list {
            if self.shared.interrupt.stopping() {
                self.halt(session).await;
            }
            if self.stopped.is_some() {
                break;
            }
            let step = self.step(planned);
            if step.is_flush() {
                self.flush(session).await?;
                // Not a step of its own in the report: it only counts as done.
                if self.stopped.is_none() {
                    self.ran += 1;
                }
                continue;
            }
            let as_user = self.run_as(step);
            // A step that reads the facts before any shell is open: opening one sends the facts
            // frame, which the wait below then answers (else the step saw no facts at all).
            if self.facts.is_none() && planned.reads.contains("facts") {
                self.shell(session, as_user).await?;
            }
            // Wait for earlier answers when this step reads what they produce, or when it goes
            // to the other shell (frames on two shells would run in no defined order).
            let reads_pending = planned.reads.iter().any(|name| {
                (name == "facts" && self.facts.is_none())
                    || self.pending_registers().contains(name.as_str())
            });
            let other_shell = self
                .queued_on
                .as_ref()
                .is_some_and(|q| q.as_deref() != as_user);
            // `loop`, `until`, `failed_when`, `ignore_errors`: what comes after depends on the
            // step's answers, so it runs alone, one attempt at a time.
            if !step.control.is_plain() {
                self.drain(session).await?;
                if self.stopped.is_some() {
                    break;
                }
                self.run_controlled(session, planned, step, as_user).await?;
                continue;
            }
            if reads_pending || other_shell {
                self.drain(session).await?;
                if self.stopped.is_some() {
                    break;
                }
            }
            self.dispatch(session, planned, step, as_user).await?;
        }
        Ok(())
    }

    /// The handlers the changes since the last flush have notified, by name or topic, in
    /// handler order.
    fn handlers_due(&self) -> Vec<&'a PlannedStep> {
        let handlers = &self.shared.playbook.handlers;
        self.shared
            .plan
            .handlers
            .iter()
            .filter(|h| self.notified.iter().any(|n| handlers[h.index].answers(n)))
            .collect()
    }

    fn step(&self, planned: &PlannedStep) -> &'a Step {
        let playbook = &self.shared.playbook;
        if planned.handler {
            &playbook.handlers[planned.index]
        } else {
            &playbook.steps[planned.index]
        }
    }

    fn pending_registers(&self) -> BTreeSet<&str> {
        self.queue
            .iter()
            .filter_map(|f| match f {
                InFlight::Step { step, .. } => step.register.as_deref(),
                _ => None,
            })
            .collect()
    }

    fn empty_facts() -> Map<String, Value> {
        Map::new()
    }

    /// Decides `when`, renders, plans and sends one step (or queues its local result).
    async fn dispatch(
        &mut self,
        session: &Session,
        planned: &'a PlannedStep,
        step: &'a Step,
        as_user: Option<&str>,
    ) -> Result<(), SshError> {
        let templates = &self.shared.templates;
        let facts = self.facts.clone().unwrap_or_else(Self::empty_facts);
        let ctx = self.vars.context(step, &facts, &self.registered);
        let name = match self.display_name(step, &ctx, &planned.origin) {
            Ok(name) => name,
            Err(e) => return self.fail_locally(planned, step, &step.name, e.to_string()),
        };
        for condition in &step.when {
            match templates.eval_bool(condition, &ctx, &planned.origin) {
                Ok(true) => {}
                Ok(false) => {
                    let result = self.local_result(planned, &name, StepStatus::Skipped, None);
                    let registered = step.register.clone().map(|r| {
                        (
                            r,
                            json_result(false, false, true, 0, &StepReport::default(), ""),
                        )
                    });
                    self.queue
                        .push_back(InFlight::Local(Box::new(result), registered));
                    return Ok(());
                }
                Err(e) => return self.fail_locally(planned, step, &name, e.to_string()),
            }
        }
        let remote = match self.plan_step(planned, step, &ctx) {
            Ok(remote) => remote,
            Err(e) => return self.fail_locally(planned, step, &name, e.to_string()),
        };
        let limit = step_timeout::effective(
            step,
            &self.shared.playbook,
            self.shared.options.step_timeout,
        );
        let shell = self.shell(session, as_user).await?;
        let answer = shell
            .send_limited(
                &remote.script,
                &remote.payload,
                FrameMode::StopOnFailure,
                limit,
            )
            .await?;
        self.queued_on = Some(as_user.map(str::to_string));
        self.queue.push_back(InFlight::Step {
            planned,
            step,
            name,
            answer,
            limit,
        });
        Ok(())
    }

    /// The step's name on this host: a template name is rendered in the step's context.
    fn display_name(
        &self,
        step: &Step,
        ctx: &minijinja::Value,
        origin: &str,
    ) -> Result<String, TemplateError> {
        if !step.name_is_template {
            return Ok(step.name.clone());
        }
        self.shared.templates.render_str(&step.name, ctx, origin)
    }

    fn plan_step(
        &self,
        planned: &PlannedStep,
        step: &Step,
        ctx: &minijinja::Value,
    ) -> Result<modules::RemoteStep, StepPlanError> {
        plan_with(&self.shared.templates, step, &planned.origin, ctx)
    }

    /// A step that fails before reaching the node (bad template, bad arguments): the host stops
    /// here, after the steps already sent have answered.
    fn fail_locally(
        &mut self,
        planned: &'a PlannedStep,
        step: &'a Step,
        name: &str,
        message: String,
    ) -> Result<(), SshError> {
        let ignored = step.control.ignore_errors;
        let mut result = self.local_result(planned, name, StepStatus::Failed, Some(message));
        result.ignored = ignored;
        self.queue
            .push_back(InFlight::Local(Box::new(result), None));
        // Nothing after this step may be sent; `drain` records the failure in order.
        if !ignored {
            self.stopped = Some(format!("step '{name}' failed"));
        }
        Ok(())
    }

    fn local_result(
        &self,
        planned: &PlannedStep,
        name: &str,
        status: StepStatus,
        error: Option<String>,
    ) -> StepResult {
        StepResult {
            host: self.host.name.clone(),
            name: name.to_string(),
            location: planned.origin.clone(),
            handler: planned.handler,
            status,
            changes: Vec::new(),
            diffs: Vec::new(),
            error,
            elapsed_ms: 0,
            items: Vec::new(),
            attempts: 0,
            ignored: false,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// Whom `step` runs as: `None` the login user; `Some(user)` through sudo.
    fn run_as(&self, step: &'a Step) -> Option<&'a str> {
        if !step.become_root {
            return None;
        }
        let user = step.become_user.as_deref().unwrap_or("root");
        (user != self.login).then_some(user)
    }

    async fn shell(
        &mut self,
        session: &Session,
        as_user: Option<&str>,
    ) -> Result<&RemoteShell, SshError> {
        let open = match as_user {
            None => self.plain.is_some(),
            Some(user) => self.sudo.iter().any(|(u, _)| u == user),
        };
        if !open {
            let sudo = as_user.map(|user| Sudo {
                user: (user != "root").then(|| user.to_string()),
                password: self.shared.options.become_password.clone(),
            });
            let shell = session.shell_as(sudo).await?;
            let init = format!(
                "TANDEM_MARK='{}' TANDEM_CHECK='{}' TANDEM_DIFF='{}'\n{}",
                self.shared.mark,
                if self.shared.options.check { "1" } else { "" },
                if self.shared.options.diff { "1" } else { "" },
                modules::PRELUDE
            );
            // The init frame and the facts probe are pipelined with the first steps.
            let _ = shell.send(&init, b"", FrameMode::Init).await?;
            if self.facts.is_none() && !self.queue.iter().any(|f| matches!(f, InFlight::Facts(_))) {
                let facts = shell
                    .send(&self.shared.facts_script, b"", FrameMode::Continue)
                    .await?;
                self.queue.push_back(InFlight::Facts(facts));
            }
            match as_user {
                None => self.plain = Some(shell),
                Some(user) => self.sudo.push((user.to_string(), shell)),
            }
        }
        let shell = match as_user {
            None => self.plain.as_ref(),
            Some(user) => self.sudo.iter().find(|(u, _)| u == user).map(|(_, s)| s),
        };
        Ok(shell.expect("shell was just opened"))
    }

    /// After Ctrl-C: nothing new is sent, and the open shells skip the frames already sent
    /// that they have not started. Once per host.
    async fn halt(&mut self, session: &Session) {
        if self.halted {
            return;
        }
        self.halted = true;
        if self.stopped.is_none() {
            self.stopped = Some(STOPPED_BY_CTRL_C.to_string());
        }
        for shell in self.plain.iter().chain(self.sudo.iter().map(|(_, s)| s)) {
            // A failed halt (connection already gone) shows in the answers themselves.
            let _ = shell.halt(session).await;
        }
    }
}
