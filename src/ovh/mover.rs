//! Moving a failover IP, safely and observably: skip when it already is there, wait for a move
//! already pending, start ours, then follow the task the POST returned until it ends.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::client::{Client, Observer};
use super::error::OvhError;
use super::events::{Event, EventKind};
use super::ip::TaskStatus;

/// After a 409, how many looks at the task list for the move OVH says is under way before
/// looking at the route and asking again: the list lags by a few seconds at most, and a move
/// that ended before it ever showed must not hold ours until the deadline.
const HIDDEN_MOVE_POLLS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveOptions {
    /// Wait between two looks at a task. OVH's informal limit is about 60 requests a minute per
    /// consumer key: a few seconds, not less, on the real API.
    pub poll_interval: Duration,
    /// The whole move (waiting for a pending task included) must end within this; OVH says a
    /// move takes "less than a minute", Terraform waits 5 minutes.
    pub timeout: Duration,
}

impl Default for MoveOptions {
    fn default() -> Self {
        MoveOptions {
            poll_interval: Duration::from_secs(3),
            timeout: Duration::from_secs(300),
        }
    }
}

/// How a successful `move_vip` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The VIP already was routed to the target: nothing was changed.
    AlreadyThere { service: String },
    /// Our task moved it.
    Moved {
        task_id: u64,
        /// Where it was routed before.
        from: Option<String>,
        /// From the POST's answer to the first poll that saw `done`.
        task_duration: Duration,
    },
}

impl Client {
    /// Routes `ip` to the server `to_service` (its OVH service name) and waits until that is
    /// done. Every step is reported to `on_event` as it happens, failures included (a
    /// [`EventKind::Failed`] is always the last event of a failed move).
    pub async fn move_vip(
        &self,
        ip: Ipv4Addr,
        to_service: &str,
        options: &MoveOptions,
        mut on_event: impl FnMut(Event) + Send,
    ) -> Result<MoveOutcome, OvhError> {
        let result = self
            .move_vip_inner(ip, to_service, options, &mut on_event)
            .await;
        if let Err(e) = &result {
            on_event(Event::now(EventKind::Failed {
                reason: e.to_string(),
            }));
        }
        result
    }

    async fn move_vip_inner(
        &self,
        ip: Ipv4Addr,
        to_service: &str,
        options: &MoveOptions,
        observer: Observer<'_>,
    ) -> Result<MoveOutcome, OvhError> {
        let deadline = Instant::now() + options.timeout;
        let from = self
            .ip_info(ip, observer)
            .await?
            .routed_service()
            .map(str::to_string);
        observer(Event::now(EventKind::RoutedTo {
            service: from.clone(),
        }));
        if from.as_deref() == Some(to_service) {
            observer(Event::now(EventKind::AlreadyThere {
                service: to_service.to_string(),
            }));
            return Ok(MoveOutcome::AlreadyThere {
                service: to_service.to_string(),
            });
        }

        // A move still pending would make OVH refuse ours, or undo it when it finishes.
        let pending = self.pending_moves(ip, observer).await?;
        if !pending.is_empty() {
            self.follow_pending(ip, pending, options, deadline, observer)
                .await?;
            if let Some(there) = self.already_there(ip, to_service, observer).await? {
                return Ok(there);
            }
        }

        // OVH refuses a move while another one of the same IP is under way, which its lagging
        // task list may not have shown a moment ago: wait for that one (or a few polls, in
        // case it ended before the list ever showed it), look again (it may have taken the
        // VIP where we want it), and ask once more, until the move's deadline.
        let task = loop {
            match self.start_move(ip, to_service, observer).await {
                Err(OvhError::Api(conflict)) if conflict.status == 409 => {
                    self.wait_for_hidden_move(ip, options, deadline, observer)
                        .await
                        .map_err(|e| e.unwrap_or(OvhError::Api(conflict)))?;
                    if let Some(there) = self.already_there(ip, to_service, observer).await? {
                        return Ok(there);
                    }
                }
                other => break other?,
            }
        };
        let created = Instant::now();
        observer(Event::now(EventKind::TaskCreated {
            task_id: task.task_id,
            status: task.status.clone(),
        }));
        // Poll the id the POST returned: the task list lags behind right after a POST.
        let (last, comment) = self
            .follow_task(ip, task.task_id, task.status, options, deadline, observer)
            .await?;
        if last.is_failure() {
            return Err(OvhError::TaskFailed {
                task_id: task.task_id,
                status: last.to_string(),
                comment,
            });
        }
        let task_duration = created.elapsed();
        observer(Event::now(EventKind::Done {
            task_id: task.task_id,
            service: to_service.to_string(),
            task_duration,
        }));
        Ok(MoveOutcome::Moved {
            task_id: task.task_id,
            from,
            task_duration,
        })
    }

    /// Waits, within `options.timeout`, until no move of `ip` is pending: the ones OVH's task
    /// list shows and `known` (a task we started, which the lagging list may not show yet).
    /// After a failed move this is what tells where the VIP will stay: a task still running
    /// would re-route it later, behind the back of whoever restores the service now.
    pub async fn wait_for_pending_moves(
        &self,
        ip: Ipv4Addr,
        known: Option<u64>,
        options: &MoveOptions,
        mut on_event: impl FnMut(Event) + Send,
    ) -> Result<(), OvhError> {
        let observer: Observer<'_> = &mut on_event;
        let deadline = Instant::now() + options.timeout;
        let mut ids = self.pending_moves(ip, observer).await?;
        ids.extend(known);
        ids.sort_unstable();
        ids.dedup();
        for task_id in ids {
            let task = self.task(ip, task_id, observer).await?;
            if task.status.is_finished() {
                continue;
            }
            observer(Event::now(EventKind::WaitingForPendingTask {
                task_id,
                status: task.status.clone(),
            }));
            self.follow_task(ip, task_id, task.status, options, deadline, observer)
                .await?;
        }
        Ok(())
    }

    /// After a 409 on our POST: polls the task list (every poll interval, until `deadline`)
    /// until the pending move shows, then follows it to its end. `Err(None)`: none showed in
    /// time (the caller then reports OVH's refusal itself).
    /// After someone else's move ended: `AlreadyThere` (reported) when it took the VIP where we
    /// want it, `None` when ours is still needed.
    async fn already_there(
        &self,
        ip: Ipv4Addr,
        to_service: &str,
        observer: Observer<'_>,
    ) -> Result<Option<MoveOutcome>, OvhError> {
        let info = self.ip_info(ip, observer).await?;
        if info.routed_service() != Some(to_service) {
            return Ok(None);
        }
        observer(Event::now(EventKind::AlreadyThere {
            service: to_service.to_string(),
        }));
        Ok(Some(MoveOutcome::AlreadyThere {
            service: to_service.to_string(),
        }))
    }

    /// Waits for someone else's moves of this IP to end, one after the other. Their outcome is
    /// not ours: whether they failed or not, we go on once they ended.
    async fn follow_pending(
        &self,
        ip: Ipv4Addr,
        pending: Vec<u64>,
        options: &MoveOptions,
        deadline: Instant,
        observer: Observer<'_>,
    ) -> Result<(), OvhError> {
        for task_id in pending {
            let task = self.task(ip, task_id, observer).await?;
            observer(Event::now(EventKind::WaitingForPendingTask {
                task_id,
                status: task.status.clone(),
            }));
            self.follow_task(ip, task_id, task.status, options, deadline, observer)
                .await?;
        }
        Ok(())
    }

    /// After a 409: follows the move the list shows (to its end), or gives up looking after
    /// [`HIDDEN_MOVE_POLLS`]; `Err(None)` when the deadline passed first.
    async fn wait_for_hidden_move(
        &self,
        ip: Ipv4Addr,
        options: &MoveOptions,
        deadline: Instant,
        observer: Observer<'_>,
    ) -> Result<(), Option<OvhError>> {
        for _ in 0..HIDDEN_MOVE_POLLS {
            let pending = self.pending_moves(ip, observer).await?;
            if !pending.is_empty() {
                self.follow_pending(ip, pending, options, deadline, observer)
                    .await?;
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(None);
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        }
        // Never listed: it may have ended between two looks. The caller looks at the route
        // and asks again.
        Ok(())
    }

    /// Polls a task until it is finished (its last status and comment) or `deadline` passes (an
    /// error).
    async fn follow_task(
        &self,
        ip: Ipv4Addr,
        task_id: u64,
        mut status: TaskStatus,
        options: &MoveOptions,
        deadline: Instant,
        observer: Observer<'_>,
    ) -> Result<(TaskStatus, Option<String>), OvhError> {
        let started = Instant::now();
        let mut comment = None;
        while !status.is_finished() {
            let now = Instant::now();
            if now >= deadline {
                return Err(OvhError::TaskTimedOut {
                    task_id,
                    status: status.to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
            let task = self.task(ip, task_id, observer).await?;
            comment = task.comment;
            if task.status != status {
                observer(Event::now(EventKind::TaskStatusChanged {
                    task_id,
                    from: status,
                    to: task.status.clone(),
                }));
                status = task.status;
            }
        }
        Ok((status, comment))
    }
}
