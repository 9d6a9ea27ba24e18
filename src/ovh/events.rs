//! What a call to the API is doing, as it happens: the game day draws its timeline from these,
//! `tandem vip move` prints them.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use super::ip::TaskStatus;

/// One thing that happened, with both clocks: `instant` to measure against other events of this
/// process (probes), `time` to show the wall clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub instant: Instant,
    pub time: SystemTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A request left (`attempt` counts from 1; retries have higher numbers).
    RequestSent {
        method: String,
        path: String,
        attempt: u32,
    },
    /// Its answer came back.
    Answered {
        method: String,
        path: String,
        status: u16,
        query_id: Option<String>,
        elapsed: Duration,
    },
    /// No answer: timeout, refused connection.
    NoAnswer {
        method: String,
        path: String,
        detail: String,
    },
    /// The last attempt failed in a way worth retrying; the next one starts after `after`.
    Retrying {
        method: String,
        path: String,
        attempt: u32,
        after: Duration,
    },
    /// Where the VIP is routed before anything is changed (`None`: nowhere).
    RoutedTo { service: Option<String> },
    /// It already is where it should go: nothing to do.
    AlreadyThere { service: String },
    /// Another move of this IP is pending; we wait for it first.
    WaitingForPendingTask { task_id: u64, status: TaskStatus },
    /// Our POST created this task.
    TaskCreated { task_id: u64, status: TaskStatus },
    /// The task's status changed (only changes are reported, not every poll).
    TaskStatusChanged {
        task_id: u64,
        from: TaskStatus,
        to: TaskStatus,
    },
    /// The move is done: the VIP is routed to `service`.
    Done {
        task_id: u64,
        service: String,
        task_duration: Duration,
    },
    /// The move failed; `reason` is the error's message.
    Failed { reason: String },
}

impl Event {
    pub fn now(kind: EventKind) -> Event {
        Event {
            instant: Instant::now(),
            time: SystemTime::now(),
            kind,
        }
    }
}

impl EventKind {
    /// A stable snake_case name for JSON output (`task_status_changed`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RequestSent { .. } => "request_sent",
            EventKind::Answered { .. } => "answered",
            EventKind::NoAnswer { .. } => "no_answer",
            EventKind::Retrying { .. } => "retrying",
            EventKind::RoutedTo { .. } => "routed_to",
            EventKind::AlreadyThere { .. } => "already_there",
            EventKind::WaitingForPendingTask { .. } => "waiting_for_pending_task",
            EventKind::TaskCreated { .. } => "task_created",
            EventKind::TaskStatusChanged { .. } => "task_status_changed",
            EventKind::Done { .. } => "done",
            EventKind::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::RequestSent {
                method,
                path,
                attempt,
            } => {
                write!(f, "-> {method} {path}")?;
                if *attempt > 1 {
                    write!(f, " (attempt {attempt})")?;
                }
                Ok(())
            }
            EventKind::Answered {
                method,
                path,
                status,
                query_id,
                elapsed,
            } => {
                write!(
                    f,
                    "<- {method} {path}: HTTP {status} in {} ms",
                    elapsed.as_millis()
                )?;
                match query_id {
                    Some(id) => write!(f, " (query id {id})"),
                    None => Ok(()),
                }
            }
            EventKind::NoAnswer {
                method,
                path,
                detail,
            } => write!(f, "<- {method} {path}: no answer: {detail}"),
            EventKind::Retrying {
                method,
                path,
                attempt,
                after,
            } => write!(
                f,
                "retrying {method} {path} in {} ms (attempt {} failed)",
                after.as_millis(),
                attempt
            ),
            EventKind::RoutedTo { service: Some(s) } => write!(f, "VIP is routed to {s}"),
            EventKind::RoutedTo { service: None } => f.write_str("VIP is routed nowhere"),
            EventKind::AlreadyThere { service } => {
                write!(f, "VIP already routed to {service}: nothing to do")
            }
            EventKind::WaitingForPendingTask { task_id, status } => write!(
                f,
                "another move of this VIP is pending (task {task_id}, {status}): waiting for it"
            ),
            EventKind::TaskCreated { task_id, status } => {
                write!(f, "move task {task_id} created ({status})")
            }
            EventKind::TaskStatusChanged { task_id, from, to } => {
                write!(f, "task {task_id}: {from} -> {to}")
            }
            EventKind::Done {
                task_id,
                service,
                task_duration,
            } => write!(
                f,
                "task {task_id} done: VIP routed to {service} (task took {:.1} s)",
                task_duration.as_secs_f64()
            ),
            EventKind::Failed { reason } => write!(f, "move failed: {reason}"),
        }
    }
}
