//! What the engine tells the outside world while it runs: one event per host start, step
//! result and host end. Reports (progress bars, recap, JSON) are built only from these.

use crate::modules::FileDiff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Ok,
    Changed,
    Failed,
    /// `when` was false (or the step was not selected by tags: such steps get no event).
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Changed => "changed",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// The result of one step on one host.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub host: String,
    pub name: String,
    /// `file:line` of the step.
    pub location: String,
    pub handler: bool,
    pub status: StepStatus,
    /// What changed (or would change, in check mode).
    pub changes: Vec<String>,
    pub diffs: Vec<FileDiff>,
    /// Why it failed, for the user.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// `loop`: each item's outcome, in order (empty for a step without `loop`).
    pub items: Vec<ItemResult>,
    /// How many times the step ran (`until`/`retries`); 1 for most, 0 when it never did.
    pub attempts: u32,
    /// Failed with `ignore_errors: true`: reported, counted as `ignored`, the host went on.
    pub ignored: bool,
    /// What the step printed on the node (a `command`'s output; other modules print nothing
    /// there), the last attempt's under `until`, every item's under `loop`.
    pub stdout: String,
    pub stderr: String,
}

/// One item of a step with `loop`.
#[derive(Debug, Clone)]
pub struct ItemResult {
    /// `loop_control.label` rendered, or the item itself.
    pub label: String,
    pub status: StepStatus,
    pub changes: Vec<String>,
    pub error: Option<String>,
    pub attempts: u32,
}

/// Counters per host, Ansible's recap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Failed steps with `ignore_errors: true` (not in `failed`: the host went on).
    pub ignored: usize,
    pub unreachable: bool,
    /// Not run at all: a rollout stopped before its batch.
    pub untouched: bool,
    /// Ctrl-C stopped the host before the end of its steps.
    pub interrupted: bool,
    /// Steps (and notified handlers) that never started: after a failed step, a lost
    /// connection or Ctrl-C.
    pub not_run: usize,
}

impl HostStats {
    /// Counts one step's result.
    pub fn record(&mut self, result: &StepResult) {
        if result.ignored {
            self.ignored += 1;
        } else {
            self.add(result.status);
        }
    }

    pub fn add(&mut self, status: StepStatus) {
        match status {
            StepStatus::Ok => self.ok += 1,
            StepStatus::Changed => self.changed += 1,
            StepStatus::Failed => self.failed += 1,
            StepStatus::Skipped => self.skipped += 1,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.failed == 0 && !self.unreachable && !self.untouched && !self.interrupted
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    /// Connecting to the host; `steps` is how many steps it is planned to run at most.
    HostStarted {
        host: String,
        steps: usize,
    },
    StepFinished(StepResult),
    /// The host is done (or gave up); `error` says why it stopped early, if it did.
    HostFinished {
        host: String,
        stats: HostStats,
        error: Option<String>,
    },
    /// A rollout batch begins (`--serial`, `--rolling`); `index` counts from 1.
    BatchStarted {
        index: usize,
        of: usize,
        hosts: Vec<String>,
    },
    /// A cluster's health check between batches.
    HealthChecked {
        cluster: String,
        ok: bool,
        detail: String,
    },
    /// A cluster's service moved off a node before its batch (`drain`), or back to it after
    /// (`giveback`), by the rollout's batch hooks (the OpenSVC agent's switch, waited for).
    ServiceMoved {
        cluster: String,
        service: String,
        from: String,
        to: String,
        /// `drain` or `giveback`.
        reason: String,
        ok: bool,
        detail: String,
        elapsed_ms: u64,
    },
    /// The rollout stopped before its end: these hosts were not touched.
    RolloutStopped {
        reason: String,
        untouched: Vec<String>,
    },
}
