//! A server's hard reboot: `POST /dedicated/server/{name}/reboot` answers a
//! `dedicated.server.Task` (`function: hardReboot`), readable at
//! `GET /dedicated/server/{name}/task/{id}` and listed at `GET /dedicated/server/{name}/task`.
//! Like the real one it cuts the server's power at once (the lab node's init kills every process
//! and goes dark, [`crate::lab::Lab::power_cycle`]) and is `done` once the server was reset, not
//! once it is back: the server boots on its own afterwards.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::dates::iso8601;
use super::world::World;

pub const REBOOT_FUNCTION: &str = "hardReboot";

pub struct ServerTask {
    pub id: u64,
    pub service: String,
    pub created: Instant,
    pub start_date: SystemTime,
    pub done_date: Option<SystemTime>,
    pub status: &'static str,
    pub comment: Option<String>,
    pub duration: Duration,
    /// The power cut was asked of the lab (once).
    pub power_cut: bool,
}

impl ServerTask {
    pub fn json(&self) -> Value {
        json!({
            "taskId": self.id,
            "function": REBOOT_FUNCTION,
            "status": self.status,
            "startDate": iso8601(self.start_date),
            "doneDate": self.done_date.map(iso8601),
            "lastUpdate": iso8601(SystemTime::now()),
            "comment": self.comment,
            "needSchedule": false,
            "plannedInterventionId": null,
            "ticketReference": null,
            "note": null,
        })
    }

    fn finished(&self) -> bool {
        matches!(self.status, "done" | "cancelled" | "ovhError")
    }
}

/// Why a reboot is refused: HTTP status and OVH-like message.
pub type RebootRefusal = (u16, String);

impl World {
    /// `POST /dedicated/server/{name}/reboot`.
    pub fn start_reboot(&mut self, service: &str) -> Result<&ServerTask, RebootRefusal> {
        if !self.services.contains_key(service) {
            return Err(unknown_server(service));
        }
        if let Some(pending) = self
            .server_tasks
            .iter()
            .find(|t| t.service == service && !t.finished())
        {
            return Err((
                409,
                format!(
                    "A reboot of {service} is already in progress (task {})",
                    pending.id
                ),
            ));
        }
        let id = self.take_task_id();
        self.knobs.reboots += 1;
        self.server_tasks.push(ServerTask {
            id,
            service: service.to_string(),
            created: Instant::now(),
            start_date: SystemTime::now(),
            done_date: None,
            status: "todo",
            comment: None,
            duration: Duration::from_millis(self.knobs.task_duration_ms),
            power_cut: false,
        });
        Ok(&self.server_tasks[self.server_tasks.len() - 1])
    }

    /// `GET /dedicated/server/{name}/task/{id}`.
    pub fn server_task(&self, service: &str, id: u64) -> Option<&ServerTask> {
        self.server_tasks
            .iter()
            .find(|t| t.service == service && t.id == id)
    }

    /// `GET /dedicated/server/{name}/task?function=&status=`.
    pub fn server_task_ids(
        &self,
        service: &str,
        function: Option<&str>,
        status: Option<&str>,
    ) -> Vec<u64> {
        if function.is_some_and(|f| f != REBOOT_FUNCTION) {
            return Vec::new();
        }
        self.server_tasks
            .iter()
            .filter(|t| t.service == service)
            .filter(|t| status.is_none_or(|s| s == t.status))
            .map(|t| t.id)
            .collect()
    }

    /// Moves the reboots along: `todo`, then `doing` with the power cut (returned: the nodes to
    /// cut, by address, which the caller asks of the lab outside the lock), then `done`.
    pub fn advance_reboots(&mut self, now: Instant) -> Vec<Ipv4Addr> {
        let mut cut = Vec::new();
        for task in self.server_tasks.iter_mut().filter(|t| !t.finished()) {
            let elapsed = now.duration_since(task.created);
            if elapsed >= task.duration / 4 && !task.power_cut {
                task.status = "doing";
                task.power_cut = true;
                if let Some(&addr) = self.services.get(&task.service) {
                    cut.push(addr);
                }
            }
            if elapsed >= task.duration {
                task.status = "done";
                task.done_date = Some(SystemTime::now());
            }
        }
        cut
    }

    /// A power cut the lab refused: the task fails as OVH's would.
    pub fn reboot_failed(&mut self, addr: Ipv4Addr, error: String) {
        let services: Vec<String> = self
            .services
            .iter()
            .filter(|(_, a)| **a == addr)
            .map(|(name, _)| name.clone())
            .collect();
        for task in self
            .server_tasks
            .iter_mut()
            .filter(|t| services.contains(&t.service) && t.power_cut)
        {
            task.status = "ovhError";
            task.done_date = Some(SystemTime::now());
            task.comment = Some(format!("the reset failed: {error}"));
        }
    }
}

pub fn unknown_server(name: &str) -> RebootRefusal {
    (
        404,
        format!("The requested object (serviceName = {name}) does not exist"),
    )
}
