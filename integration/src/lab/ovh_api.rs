//! The lab's OVH API simulator (see `crate::ovh_sim`): started by `up` in the background (like
//! the delay proxy: recorded in lab.json, killed by `down`, gone by itself once lab.json is),
//! on the bridge address and a free port. `up` then writes DIR/ovh.conf (0600) with the URL and
//! the random keys it handed the simulator on its stdin.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::error::LabError;
use super::sys;
use super::{Lab, state};

/// How long a lab move task takes (`todo -> doing -> done`); tests change it at run time.
pub const TASK_DURATION_MS: u64 = 2000;
/// How long after its creation a task shows in the task list.
pub const LIST_LAG_MS: u64 = 1000;

/// The running simulator, as recorded in lab.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvhApi {
    /// `http://BRIDGE:PORT/1.0`: the endpoint in ovh.conf and the inventory.
    pub url: String,
    pub pid: u32,
    /// With the pid, names the process (a pid alone may be recycled).
    pub start_time: u64,
    pub log: PathBuf,
}

impl OvhApi {
    /// `http://BRIDGE:PORT`: where `/_lab/faults` is.
    pub fn control_url(&self) -> String {
        self.url.trim_end_matches("/1.0").to_string()
    }
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("ovh-api.log")
}

pub fn ovh_conf(dir: &Path) -> PathBuf {
    dir.join("ovh.conf")
}

/// Starts the simulator for the lab's nodes and VIPs and writes DIR/ovh.conf.
pub fn start(lab_bin: &Path, lab: &mut Lab) -> Result<(), LabError> {
    let log = log_path(&lab.dir);
    let log_file = std::fs::File::create(&log)
        .map_err(|e| LabError::io(format!("creating {}", log.display()), e))?;
    let mut cmd = sys::command(lab_bin);
    cmd.arg("__ovh-api")
        .arg("--dir")
        .arg(&lab.dir)
        .arg("--listen")
        .arg(lab.bridge_address.to_string())
        .arg("--bridge")
        .arg(&lab.bridge)
        .arg("--task-ms")
        .arg(TASK_DURATION_MS.to_string())
        .arg("--list-lag-ms")
        .arg(LIST_LAG_MS.to_string());
    for n in &lab.nodes {
        cmd.arg("--service")
            .arg(format!("{}={}", n.service_name, n.address));
    }
    for c in &lab.clusters {
        let first = c
            .nodes
            .first()
            .and_then(|f| lab.nodes.iter().find(|n| &n.name == f));
        if let Some(node) = first {
            cmd.arg("--vip")
                .arg(format!("{}={}", c.vip, node.service_name));
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    // Its own process group: a Ctrl-C for `up` or a test runner must not stop it; `down` does.
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io("starting the OVH API simulator", e))?;
    let pid = child.id();
    // Recorded before we wait for it, so that a failed `up` still takes it down.
    lab.ovh_api = Some(OvhApi {
        url: String::new(),
        pid,
        start_time: sys::process_start_time(pid).unwrap_or(0),
        log: log.clone(),
    });
    state::save(lab)?;

    let keys = [random_key(16)?, random_key(32)?, random_key(32)?];
    if let Some(mut stdin) = child.stdin.take() {
        // Keys travel on stdin: a command line is visible to every user in `ps`.
        let _ = writeln!(stdin, "{} {} {}", keys[0], keys[1], keys[2]);
    }
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let port = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse::<u16>().ok());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LabError::Command {
            what: "starting the OVH API simulator".into(),
            detail: sys::tail(&log, 5),
        });
    };
    // Reaped whenever `down` kills it, so no zombie lingers in a long-lived caller.
    thread::spawn(move || {
        let _ = child.wait();
    });
    let url = format!("http://{}:{port}/1.0", lab.bridge_address);
    if let Some(api) = lab.ovh_api.as_mut() {
        api.url = url.clone();
    }
    let conf = format!(
        "; Written by tandem-lab up: the lab's OVH API simulator and its keys.\n[default]\n\
         endpoint={url}\n\n[{url}]\napplication_key={}\napplication_secret={}\nconsumer_key={}\n",
        keys[0], keys[1], keys[2]
    );
    sys::write_file(&ovh_conf(&lab.dir), conf.as_bytes(), 0o600)
}

/// Kills the lab's simulator (if it still is that process) and waits until it is gone.
pub fn stop(api: &OvhApi) {
    let pid = api.pid;
    if pid == 0 || sys::process_start_time(pid) != Some(api.start_time) || !is_simulator(pid) {
        return;
    }
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    // Bounded: SIGKILL cannot be refused; 5 s covers a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sys::process_alive(pid as i32) && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

fn is_simulator(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|&b| b == 0).any(|a| a == b"__ovh-api"))
        .unwrap_or(false)
}

/// `bytes` random bytes from the kernel, as lowercase hex.
fn random_key(bytes: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| LabError::io("reading /dev/urandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
