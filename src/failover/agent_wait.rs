//! Waiting for the OpenSVC agent: for a switch to really end, or for the agent to stop working
//! on a service before anything else touches it. Bounded in time; the scripts are
//! [`super::agent`]'s and run through `run` (a node's shell, as root), so the same loops serve
//! the game day and `deploy --rolling`, and are tested with a scripted `run`.

use std::future::Future;
use std::time::{Duration, Instant};

use super::agent::{self, Instance, Progress};
use super::node_exec::ExecError;
use crate::sh::Script;

/// How long one round waits inside the daemon before the whole status is read again: short
/// enough to see a failure soon, long enough that a round costs little (each `om` call is
/// 1.5-2 s of CPU on a node).
const CHUNK: Duration = Duration::from_secs(5);
/// Between two looks at the status when waiting for the agent to go quiet.
const QUIET_POLL: Duration = Duration::from_secs(1);

/// How a wait for a switch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Up on the target, the agent idle.
    Done,
    /// An instance reports a failed action.
    Failed(String),
    /// Still not done after the bound; what the agent said last.
    TimedOut(String),
}

/// A switch the agent did not carry out: it reports a failure, or it was not done in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchEndError {
    #[error("the OpenSVC agent reports the switch of {service} to {target} failed ({what})")]
    Failed {
        service: String,
        target: String,
        what: String,
    },
    #[error(
        "the OpenSVC agent did not finish the switch of {service} to {target} within {} s (last seen: {what})",
        .within.as_secs()
    )]
    TimedOut {
        service: String,
        target: String,
        within: Duration,
        what: String,
    },
}

impl Outcome {
    /// `Err` for everything but `Done`.
    pub fn into_result(
        self,
        service: &str,
        target: &str,
        within: Duration,
    ) -> Result<(), SwitchEndError> {
        let (service, target) = (service.to_string(), target.to_string());
        match self {
            Outcome::Done => Ok(()),
            Outcome::Failed(what) => Err(SwitchEndError::Failed {
                service,
                target,
                what,
            }),
            Outcome::TimedOut(what) => Err(SwitchEndError::TimedOut {
                service,
                target,
                within,
                what,
            }),
        }
    }
}

/// Waits (at most `within`) until `service` is up on `target` with the agent idle, or an
/// instance fails. `seen` gets each new description of the instances (for the timeline).
pub async fn switch_end<R, F>(
    mut run: R,
    service: &str,
    target: &str,
    within: Duration,
    mut seen: impl FnMut(&str),
) -> Outcome
where
    R: FnMut(Script) -> F,
    F: Future<Output = Result<String, ExecError>>,
{
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let round = Instant::now();
        let left = within.saturating_sub(started.elapsed());
        let chunk = CHUNK.min(left).max(Duration::from_secs(1));
        let progress = match run(agent::poll_script(service, target, chunk)).await {
            Ok(text) => match agent::instances(&text, service) {
                Ok(instances) => {
                    note(&mut last, &agent::describe(&instances), &mut seen);
                    agent::judge_switch(&instances, target)
                }
                Err(e) => Progress::Working(e.to_string()),
            },
            Err(e) => Progress::Working(format!("cannot ask the agent: {e}")),
        };
        match progress {
            Progress::Done => return Outcome::Done,
            Progress::Failed(what) => return Outcome::Failed(what),
            Progress::Working(what) => {
                if started.elapsed() >= within {
                    return Outcome::TimedOut(what);
                }
                // The daemon's wait returns at once when the target is already up (the
                // orchestrator finishing) or on an error: rounds never come closer than this.
                tokio::time::sleep(QUIET_POLL.saturating_sub(round.elapsed())).await;
            }
        }
    }
}

/// The agent still at work when a wait for it to rest ran out: what it said last (the
/// instances described, or why it could not be asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{last}")]
pub struct StillBusy {
    pub last: String,
}

/// Waits (at most `within`) until the agent has stopped working on `service`; returns the
/// instances as last seen, `Err` with what it said last when the bound passed.
pub async fn quiet<R, F>(
    mut run: R,
    service: &str,
    within: Duration,
    mut seen: impl FnMut(&str),
) -> Result<Vec<Instance>, StillBusy>
where
    R: FnMut(Script) -> F,
    F: Future<Output = Result<String, ExecError>>,
{
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let what = match run(agent::status_script()).await {
            Ok(text) => match agent::instances(&text, service) {
                Ok(instances) => {
                    note(&mut last, &agent::describe(&instances), &mut seen);
                    if agent::is_quiet(&instances) {
                        return Ok(instances);
                    }
                    agent::describe(&instances)
                }
                Err(e) => e.to_string(),
            },
            Err(e) => format!("cannot ask the agent: {e}"),
        };
        if started.elapsed() >= within {
            return Err(StillBusy { last: what });
        }
        tokio::time::sleep(QUIET_POLL).await;
    }
}

/// Waits (at most `within`) until the instances satisfy `done`; returns them, or `Err` with the
/// instances last seen when the bound passed (empty when the agent could not be asked).
pub async fn until<R, F>(
    mut run: R,
    service: &str,
    within: Duration,
    mut seen: impl FnMut(&str),
    done: impl Fn(&[Instance]) -> bool,
) -> Result<Vec<Instance>, Vec<Instance>>
where
    R: FnMut(Script) -> F,
    F: Future<Output = Result<String, ExecError>>,
{
    let started = Instant::now();
    let mut last = String::new();
    let mut last_seen = Vec::new();
    loop {
        let round = Instant::now();
        match run(agent::status_script()).await {
            Ok(text) => match agent::instances(&text, service) {
                Ok(instances) => {
                    note(&mut last, &agent::describe(&instances), &mut seen);
                    if done(&instances) {
                        return Ok(instances);
                    }
                    last_seen = instances;
                }
                Err(e) => note(&mut last, &e.to_string(), &mut seen),
            },
            Err(e) => note(&mut last, &format!("cannot ask the agent: {e}"), &mut seen),
        }
        if started.elapsed() >= within {
            return Err(last_seen);
        }
        tokio::time::sleep(QUIET_POLL.saturating_sub(round.elapsed())).await;
    }
}

fn note(last: &mut String, now: &str, seen: &mut impl FnMut(&str)) {
    if now != last {
        seen(now);
        *last = now.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn status(node1: (&str, &str), node2: (&str, &str, Option<&str>)) -> String {
        serde_json::json!({"monitor": {"nodes": {
            "node1": {"services": {"status": {"web": {"avail": node1.0, "frozen": 0,
                "monitor": {"status": node1.1}}}}},
            "node2": {"services": {"status": {"web": {"avail": node2.0, "frozen": 0,
                "monitor": {"status": node2.1, "global_expect": node2.2}}}}},
        }}})
        .to_string()
    }

    /// A node that answers the scripts with `answers` in turn (the last one forever).
    fn scripted(
        answers: Vec<Result<String, ExecError>>,
    ) -> (RefCell<usize>, Vec<Result<String, ExecError>>) {
        (RefCell::new(0), answers)
    }

    async fn run_switch(
        answers: Vec<Result<String, ExecError>>,
        within: Duration,
    ) -> (Outcome, Vec<String>, usize) {
        let (count, answers) = scripted(answers);
        let mut seen = Vec::new();
        let outcome = switch_end(
            |script: Script| {
                assert!(script.contains("om node wait"), "{script}");
                let i = (*count.borrow()).min(answers.len() - 1);
                *count.borrow_mut() += 1;
                let answer = answers[i].clone();
                async move { answer }
            },
            "web",
            "node2",
            within,
            |s| seen.push(s.to_string()),
        )
        .await;
        let rounds = *count.borrow();
        (outcome, seen, rounds)
    }

    #[tokio::test]
    async fn a_switch_is_waited_for_until_the_target_is_up_and_the_agent_idle() {
        let (outcome, seen, rounds) = run_switch(
            vec![
                Ok(status(
                    ("up", "stopping"),
                    ("stdby up", "idle", Some("placed@node2")),
                )),
                Err(ExecError {
                    code: None,
                    detail: "ssh: connection reset".into(),
                }),
                Ok(status(
                    ("down", "idle"),
                    ("up", "starting", Some("placed@node2")),
                )),
                Ok(status(("down", "idle"), ("up", "idle", None))),
            ],
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(rounds, 4);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[2], "node1 down idle; node2 up idle");
    }

    #[tokio::test]
    async fn a_failed_instance_ends_the_wait_and_a_stuck_one_times_out() {
        let (outcome, _, _) = run_switch(
            vec![Ok(status(
                ("down", "idle"),
                ("warn", "start failed", Some("placed@node2")),
            ))],
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(outcome, Outcome::Failed("node2: start failed".into()));
        let err = outcome
            .into_result("web", "node2", Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reports the switch of web to node2 failed"),
            "{err}"
        );

        let (outcome, _, rounds) = run_switch(
            vec![Ok(status(
                ("down", "idle"),
                ("stdby up", "starting", Some("placed@node2")),
            ))],
            Duration::from_millis(1500),
        )
        .await;
        assert!(
            matches!(outcome, Outcome::TimedOut(ref w) if w.contains("starting")),
            "{outcome:?}"
        );
        assert!(rounds >= 1);
    }

    #[tokio::test]
    async fn quiet_waits_for_the_monitors_to_rest() {
        let answers = [
            status(("down", "stopping"), ("warn", "idle", Some("placed@node2"))),
            status(("down", "idle"), ("warn", "start failed", None)),
        ];
        let count = RefCell::new(0);
        let got = quiet(
            |_script| {
                let i = (*count.borrow()).min(1);
                *count.borrow_mut() += 1;
                let a = Ok(answers[i].clone());
                async move { a }
            },
            "web",
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(got[1].status, "start failed");
        let never = quiet(
            |_script| async { Ok(status(("down", "stopping"), ("down", "idle", None))) },
            "web",
            Duration::from_millis(1500),
            |_| {},
        )
        .await;
        assert!(never.unwrap_err().last.contains("node1 down stopping"));
    }
}
