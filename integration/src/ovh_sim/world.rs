//! The simulated account: which services (servers) exist, where each failover IP is routed,
//! the move tasks and how they progress over time.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::control::{Fate, Knobs};
use super::dates::iso8601;
use super::{Sim, SimConfig};

pub const MOVE_FUNCTION: &str = "genericMoveFloatingIp";

/// How often task states advance (and routes move) whether or not anyone polls.
const TICK: Duration = Duration::from_millis(50);

pub struct World {
    /// Service name -> node address.
    pub services: BTreeMap<String, Ipv4Addr>,
    /// VIP -> service it is routed to.
    pub routes: BTreeMap<Ipv4Addr, String>,
    pub tasks: Vec<Task>,
    /// Servers' own tasks (hard reboots), numbered with the move tasks.
    pub server_tasks: Vec<super::reboot::ServerTask>,
    pub knobs: Knobs,
    next_task_id: u64,
}

pub struct Task {
    pub id: u64,
    pub ip: Ipv4Addr,
    pub destination: String,
    pub created: Instant,
    pub start_date: SystemTime,
    pub done_date: Option<SystemTime>,
    pub status: &'static str,
    pub comment: Option<String>,
    pub fate: Fate,
    pub duration: Duration,
    /// The task shows in `GET /ip/{ip}/task?...` only this long after its creation.
    pub list_lag: Duration,
    /// The route change is under way (outside the lock).
    applying: bool,
}

impl Task {
    pub fn finished(&self) -> bool {
        matches!(
            self.status,
            "done" | "cancelled" | "customerError" | "ovhError"
        )
    }

    pub fn listed(&self, now: Instant) -> bool {
        now.duration_since(self.created) >= self.list_lag
    }

    pub fn json(&self) -> Value {
        json!({
            "taskId": self.id,
            "function": MOVE_FUNCTION,
            "status": self.status,
            "startDate": iso8601(self.start_date),
            "doneDate": self.done_date.map(iso8601),
            "lastUpdate": iso8601(SystemTime::now()),
            "comment": self.comment,
            "destination": {"serviceName": self.destination},
        })
    }
}

/// Why a move is refused: HTTP status and OVH-like message.
pub type MoveRefusal = (u16, String);

impl World {
    pub fn new(config: &SimConfig) -> World {
        World {
            services: config.services.iter().cloned().collect(),
            routes: config.vips.iter().cloned().collect(),
            tasks: Vec::new(),
            server_tasks: Vec::new(),
            knobs: Knobs::new(config.task_duration, config.list_lag),
            next_task_id: 1,
        }
    }

    pub fn ip_json(&self, ip: Ipv4Addr) -> Option<Value> {
        let service = self.routes.get(&ip)?;
        Some(json!({
            "ip": format!("{ip}/32"),
            "type": "failover",
            "routedTo": {"serviceName": service},
            "description": null,
            "canBeTerminated": false,
            "country": null,
            "organisationId": null,
            "isAdditionalIp": true,
            "rir": "RIPE",
            "version": 4,
        }))
    }

    /// `GET /ip/{ip}/move`: every other server may receive it.
    pub fn destinations_json(&self, ip: Ipv4Addr) -> Option<Value> {
        let current = self.routes.get(&ip)?;
        let servers: Vec<Value> = self
            .services
            .iter()
            .filter(|(name, _)| *name != current)
            .map(|(name, addr)| json!({"service": name, "nexthop": [addr.to_string()]}))
            .collect();
        Some(json!({
            "dedicatedServer": servers,
            "hostingReseller": [],
            "ipLoadbalancing": [],
            "vps": [],
            "cloudProject": [],
            "dedicatedCloud": [],
        }))
    }

    /// `GET /dedicated/server/{name}`: the fields of the real answer tandem or a person reads.
    pub fn server_json(&self, name: &str) -> Option<Value> {
        let addr = self.services.get(name)?;
        let id = self.services.keys().position(|n| n == name).unwrap_or(0) as u64 + 1000;
        Some(json!({
            "name": name,
            "serverId": id,
            "ip": addr.to_string(),
            "reverse": format!("{name}."),
            "datacenter": "lab1",
            "rack": "LAB01",
            "state": "ok",
            "powerState": "poweron",
            "os": "debian12_64",
            "monitoring": true,
            "noIntervention": false,
            "professionalUse": false,
            "supportLevel": "pro",
            "commercialRange": "lab",
            "linkSpeed": 1000,
            "rootDevice": null,
            "bootId": 1,
            "region": "lab-west",
            "availabilityZone": "lab-west-a",
            "newUpgradeSystem": true,
        }))
    }

    /// `GET /ip?type=...`: the failover IPs (the VIPs) and the servers' main addresses
    /// (`dedicated`), as blocks.
    pub fn ip_list_json(&self, kind: Option<&str>) -> Value {
        let mut blocks = Vec::new();
        if kind.is_none_or(|k| k == "failover") {
            blocks.extend(self.routes.keys().map(|ip| format!("{ip}/32")));
        }
        if kind.is_none_or(|k| k == "dedicated") {
            blocks.extend(self.services.values().map(|ip| format!("{ip}/32")));
        }
        json!(blocks)
    }

    /// `GET /dedicated/server/{to}/ipCanBeMovedTo?ip=`: `Ok` (an empty answer) or why not.
    pub fn can_be_moved_to(&self, ip: Ipv4Addr, to: &str) -> Result<(), MoveRefusal> {
        if !self.services.contains_key(to) {
            return Err((
                404,
                format!("The requested object (serviceName = {to}) does not exist"),
            ));
        }
        if !self.routes.contains_key(&ip) {
            return Err(not_found(ip));
        }
        if self.knobs.cannot_receive.iter().any(|s| s == to) {
            return Err((
                400,
                format!(
                    "The IP {ip}/32 cannot be moved to {to}: the server is not in the IP's region"
                ),
            ));
        }
        Ok(())
    }

    pub fn start_move(&mut self, ip: Ipv4Addr, to: &str) -> Result<&Task, MoveRefusal> {
        let Some(current) = self.routes.get(&ip) else {
            return Err(not_found(ip));
        };
        if !self.services.contains_key(to) || self.knobs.cannot_receive.iter().any(|s| s == to) {
            return Err((
                400,
                format!("Destination service {to} does not exist or cannot receive this IP"),
            ));
        }
        if current == to {
            return Err((400, format!("The IP {ip}/32 is already routed to {to}")));
        }
        if let Some(pending) = self.tasks.iter().find(|t| t.ip == ip && !t.finished()) {
            return Err((
                409,
                format!(
                    "A move of {ip}/32 is already in progress (task {})",
                    pending.id
                ),
            ));
        }
        let fate = std::mem::take(&mut self.knobs.next_task);
        self.knobs.moves += 1;
        let id = self.take_task_id();
        self.tasks.push(Task {
            id,
            ip,
            destination: to.to_string(),
            created: Instant::now(),
            start_date: SystemTime::now(),
            done_date: None,
            status: "todo",
            comment: None,
            fate,
            duration: Duration::from_millis(self.knobs.task_duration_ms),
            list_lag: Duration::from_millis(self.knobs.list_lag_ms),
            applying: false,
        });
        Ok(&self.tasks[self.tasks.len() - 1])
    }

    /// A new task id: move and server tasks share one sequence, as OVH's ids are unique.
    pub(super) fn take_task_id(&mut self) -> u64 {
        let id = self.next_task_id;
        self.next_task_id += 1;
        id
    }

    pub fn task(&self, ip: Ipv4Addr, id: u64) -> Option<&Task> {
        self.tasks.iter().find(|t| t.ip == ip && t.id == id)
    }

    /// Ids of the listed tasks of `ip` matching the filters (`None`: any).
    pub fn task_ids(&self, ip: Ipv4Addr, function: Option<&str>, status: Option<&str>) -> Vec<u64> {
        let now = Instant::now();
        if function.is_some_and(|f| f != MOVE_FUNCTION) {
            return Vec::new();
        }
        self.tasks
            .iter()
            .filter(|t| t.ip == ip && t.listed(now))
            .filter(|t| status.is_none_or(|s| s == t.status))
            .map(|t| t.id)
            .collect()
    }

    /// Moves every task along its timeline: `todo` for the first quarter of its duration, then
    /// `doing`; at the end `ovhError` or (for a normal task) the route change, which the caller
    /// makes outside the lock and reports with [`World::finish`].
    fn advance(&mut self, now: Instant) -> Vec<(u64, Ipv4Addr, Ipv4Addr)> {
        let mut to_route = Vec::new();
        for task in self
            .tasks
            .iter_mut()
            .filter(|t| !t.finished() && !t.applying)
        {
            let elapsed = now.duration_since(task.created);
            if elapsed >= task.duration / 4 && task.status == "todo" {
                task.status = "doing";
            }
            if elapsed < task.duration {
                continue;
            }
            match task.fate {
                Fate::Stuck => {}
                Fate::OvhError => {
                    task.status = "ovhError";
                    task.done_date = Some(SystemTime::now());
                    task.comment =
                        Some("Simulated OVH failure (fault injected by the lab)".to_string());
                }
                Fate::Normal => match self.services.get(&task.destination) {
                    Some(&addr) => {
                        task.applying = true;
                        to_route.push((task.id, task.ip, addr));
                    }
                    None => {
                        task.status = "ovhError";
                        task.comment = Some(format!("unknown service {}", task.destination));
                    }
                },
            }
        }
        to_route
    }

    /// Ends every unfinished task (but one whose route change is under way) with `status`.
    pub fn end_pending(&mut self, status: &str) -> Result<(), String> {
        let status: &'static str = match status {
            "cancelled" => "cancelled",
            "customerError" => "customerError",
            "ovhError" => "ovhError",
            other => {
                return Err(format!(
                    "end_pending {other}: use cancelled, customerError or ovhError"
                ));
            }
        };
        for task in self
            .tasks
            .iter_mut()
            .filter(|t| !t.finished() && !t.applying)
        {
            task.status = status;
            task.done_date = Some(SystemTime::now());
            task.comment = Some(format!("{status} by the lab (end_pending)"));
        }
        Ok(())
    }

    /// The route change of task `id` is made (or failed with `error`).
    fn finish(&mut self, id: u64, error: Option<String>) {
        let Some(task) = self.tasks.iter_mut().find(|t| t.id == id) else {
            return;
        };
        task.applying = false;
        task.done_date = Some(SystemTime::now());
        match error {
            None => {
                task.status = "done";
                self.routes.insert(task.ip, task.destination.clone());
            }
            Some(e) => {
                task.status = "ovhError";
                task.comment = Some(format!("routing failed: {e}"));
            }
        }
    }
}

pub fn not_found(ip: Ipv4Addr) -> MoveRefusal {
    (
        404,
        format!("The requested object (ip = {ip}/32) does not exist"),
    )
}

/// Advances the tasks every tick and makes the route changes they call for.
pub async fn ticker(sim: Arc<Sim>) {
    loop {
        tokio::time::sleep(TICK).await;
        let (due, power_cuts) = match sim.world.lock() {
            Ok(mut world) => {
                let now = Instant::now();
                (world.advance(now), world.advance_reboots(now))
            }
            Err(_) => return,
        };
        for addr in power_cuts {
            let dir = sim.config.dir.clone();
            let result = tokio::task::spawn_blocking(move || {
                crate::lab::Lab::load(&dir)
                    .and_then(|lab| lab.power_cycle(addr))
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match result {
                Ok(node) => eprintln!("ovh api: hard reboot: the power of {node} ({addr}) is cut"),
                Err(e) => {
                    eprintln!("ovh api: hard reboot of {addr} failed: {e}");
                    if let Ok(mut world) = sim.world.lock() {
                        world.reboot_failed(addr, e);
                    }
                }
            }
        }
        for (id, ip, via) in due {
            let sim2 = sim.clone();
            let result = tokio::task::spawn_blocking(move || route_vip(&sim2, ip, via))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match &result {
                Ok(()) => eprintln!("ovh api: task {id}: {ip}/32 now via {via}"),
                Err(e) => eprintln!("ovh api: task {id}: routing {ip} via {via} failed: {e}"),
            }
            if let Ok(mut world) = sim.world.lock() {
                world.finish(id, result.err());
            }
        }
    }
}

/// `ip route replace VIP/32 via NODE dev BRIDGE` in the root namespace: OVH's network now sends
/// the VIP's traffic to that server.
fn route_vip(sim: &Sim, ip: Ipv4Addr, via: Ipv4Addr) -> Result<(), String> {
    if !super::is_vip(ip) || !super::in_lab_range(via) {
        return Err(format!("refusing to route {ip} via {via}"));
    }
    let out = crate::lab::sys::command(&sim.ip_program)
        .args(["route", "replace", &format!("{ip}/32"), "via"])
        .arg(via.to_string())
        .args(["dev", &sim.config.bridge])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
