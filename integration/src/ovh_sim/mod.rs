//! A stand-in for OVH's REST API (DESIGN.md sections 4 and 5), run by `tandem-lab up` as a
//! background process (`tandem-lab __ovh-api`) on the lab bridge address, so that tandem and the
//! nodes reach it like the real one. It behaves like the real API where tandem depends on it:
//!
//! - `GET /1.0/auth/time` (unsigned); every other call is signed, and a bad signature, a stale
//!   timestamp, an unknown application key or consumer key is refused with OVH's status, JSON
//!   body and an `X-Ovh-Queryid` header (every answer carries one);
//! - `GET /1.0/ip/{ip}`, `GET|POST /1.0/ip/{ip}/move`, `GET /1.0/ip/{ip}/task?function=&status=`,
//!   `GET /1.0/ip/{ip}/task/{id}`; `{ip}` is `203.0.113.5` or `203.0.113.5%2F32`;
//! - `GET /1.0/auth/currentCredential` (the key's access rules; a call no rule grants is refused
//!   with 403 `NOT_GRANTED_CALL`), `GET /1.0/dedicated/server`, `GET /1.0/dedicated/server/{name}`,
//!   `GET /1.0/dedicated/server/{name}/ipCanBeMovedTo?ip=` (empty on yes, 400 on no), and
//!   `GET /1.0/ip?type=failover` (the VIPs; `dedicated`: the servers' own addresses);
//! - `POST /1.0/dedicated/server/{name}/reboot` (a `hardReboot` task: the lab node's power is cut
//!   at once, and it boots again by itself), `GET /1.0/dedicated/server/{name}/task` and
//!   `.../task/{id}`;
//! - a move task goes `todo -> doing -> done` over the task duration (lab default 2 s), shows in
//!   the task list only after a lag (the real API's, which Ansible's module tripped on), and on
//!   `done` really re-routes the VIP: `ip route replace VIP/32 via NODE dev BRIDGE` in the root
//!   namespace (where the lab plays OVH's network).
//!
//! Fault knobs, for tests, over an unauthenticated control endpoint (the simulator only listens
//! on the lab bridge):
//!
//! ```text
//! GET  /_lab/faults   -> the knobs and counters
//! POST /_lab/faults   {"fail_next": 3, "fail_status": 500}   next 3 API requests answer 500 (or 429)
//!                     {"next_task": "ovhError"}               next move task ends in ovhError
//!                     {"next_task": "stuck"}                  next move task stays `doing` forever
//!                     {"task_duration_ms": 500, "list_lag_ms": 200}
//!                     {"rules": [{"method": "GET", "path": "/*"}]}   a read-only key
//!                     {"cannot_receive": ["node2.lab.invalid"]}      ipCanBeMovedTo says no
//! ```
//!
//! Bounded: it only routes VIPs in 203.0.113.0/24 to node addresses in 198.18.0.0/15, and it
//! exits by itself once its lab's lab.json is gone.

mod auth;
mod control;
mod dates;
mod http;
mod reboot;
mod world;

use std::io::BufRead;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::Keys;
pub use control::Knobs;

/// What `tandem-lab up` tells the simulator (the keys come on stdin, never on the command line).
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub dir: PathBuf,
    pub listen: Ipv4Addr,
    /// The lab bridge: routes to VIPs go through it.
    pub bridge: String,
    /// Service name -> node address.
    pub services: Vec<(String, Ipv4Addr)>,
    /// VIP -> service it is routed to at start.
    pub vips: Vec<(Ipv4Addr, String)>,
    pub task_duration: Duration,
    pub list_lag: Duration,
}

/// The simulator's shared state.
pub(crate) struct Sim {
    pub config: SimConfig,
    pub keys: Keys,
    /// `http://LISTEN:PORT/1.0`: what clients sign.
    pub base_url: String,
    pub world: Mutex<world::World>,
    pub ip_program: PathBuf,
}

pub fn in_lab_range(addr: Ipv4Addr) -> bool {
    let [a, b, _, _] = addr.octets();
    a == 198 && (b == 18 || b == 19)
}

pub fn is_vip(addr: Ipv4Addr) -> bool {
    let [a, b, c, d] = addr.octets();
    (a, b, c) == (203, 0, 113) && d != 0 && d != 255
}

/// `NAME=ADDRESS` (a service) for the command line.
pub fn parse_service(text: &str) -> Result<(String, Ipv4Addr), String> {
    let (name, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=ADDRESS"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{text:?}: bad IPv4 address"))?;
    if !in_lab_range(addr) {
        return Err(format!(
            "{text:?}: {addr} is not a lab address (198.18.0.0/15)"
        ));
    }
    Ok((name.to_string(), addr))
}

/// `VIP=SERVICE` for the command line.
pub fn parse_vip(text: &str) -> Result<(Ipv4Addr, String), String> {
    let (vip, service) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not VIP=SERVICE"))?;
    let vip: Ipv4Addr = vip.parse().map_err(|_| format!("{text:?}: bad VIP"))?;
    if !is_vip(vip) {
        return Err(format!("{text:?}: {vip} is not in 203.0.113.0/24"));
    }
    Ok((vip, service.to_string()))
}

/// The simulator's main (the hidden subcommand): reads the keys from stdin, listens, prints
/// `ready PORT`, serves until the lab is gone. Returns an exit status.
pub fn serve(config: SimConfig) -> i32 {
    if !in_lab_range(config.listen) {
        eprintln!("ovh api: refusing to listen on {}", config.listen);
        return 2;
    }
    for (vip, service) in &config.vips {
        if !config.services.iter().any(|(name, _)| name == service) {
            eprintln!("ovh api: VIP {vip} is routed to unknown service {service}");
            return 2;
        }
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        eprintln!("ovh api: cannot read the keys on stdin");
        return 2;
    }
    let Some(keys) = Keys::parse(&line) else {
        eprintln!("ovh api: expected `APPLICATION_KEY APPLICATION_SECRET CONSUMER_KEY` on stdin");
        return 2;
    };
    let ip_program = match crate::lab::sys::Programs::find() {
        Ok(p) => p.ip,
        Err(e) => {
            eprintln!("ovh api: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ovh api: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((config.listen, 0)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ovh api: listening on {}: {e}", config.listen);
                return 1;
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let base_url = format!("http://{}:{port}/1.0", config.listen);
        let world = world::World::new(&config);
        let dir = config.dir.clone();
        let sim = Arc::new(Sim {
            config,
            keys,
            base_url: base_url.clone(),
            world: Mutex::new(world),
            ip_program,
        });
        tokio::spawn(http::accept_loop(listener, sim.clone()));
        tokio::spawn(world::ticker(sim));
        println!("ready {port}");
        eprintln!("ovh api: serving {base_url}");
        wait_for_lab_gone(&dir).await;
        0
    })
}

/// Returns once the lab's lab.json is gone, even if `down` never got to kill us.
async fn wait_for_lab_gone(dir: &Path) {
    let lab_json = crate::lab::state::lab_json(dir);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !lab_json.exists() {
            eprintln!("ovh api: {} is gone, exiting", lab_json.display());
            return;
        }
    }
}
