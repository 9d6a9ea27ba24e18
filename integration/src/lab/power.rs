//! A node's power cut and its boot, as a dedicated server lives through OVH's `hardReboot`: the
//! OVH simulator sends SIGPWR to the node's init, which
//!
//! 1. kills every process of the node (its sshd, the agent, the containers: all die at once,
//!    nothing is stopped cleanly),
//! 2. takes the node off the wire (eth0 down: no answer, not even a refusal, as from a server
//!    without power) and forgets what only lived in memory: the mounts made after boot, /run,
//!    /tmp, the routes added since boot (a trigger's route to the VIP),
//! 3. stays dark for [`POWER_OFF`], then
//! 4. boots: the fstab's mounts, eth0 up with the routes it had at boot, then (the init) sshd
//!    and, where it is installed, the OpenSVC daemon, as systemd would start them.
//!
//! The disk (the node's overlay, its loop devices) survives, as a server's disks do.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::sys::SAFE_PATH;

/// How long a node stays dark: longer than the agent's heartbeat timeout (15 s) and its
/// takeover, as a real server's reboot (minutes) is; short enough for a test.
pub const POWER_OFF: Duration = Duration::from_secs(40);

/// What a boot gives the node, captured when the init has set it up: the mounts and the routes
/// it starts with.
pub struct BootState {
    mounts: BTreeSet<String>,
    routes: Vec<String>,
}

impl BootState {
    pub fn capture() -> BootState {
        BootState {
            mounts: mount_points().into_iter().collect(),
            routes: ip_lines(&["-4", "route", "show"]),
        }
    }
}

/// Steps 1 and 2: every process dead, the node off the wire, its memory gone.
pub fn cut(name: &str, boot: &BootState) {
    // From a pid-namespace init, kill(-1) reaches every other process of the namespace, the
    // containers' (nested namespaces) included.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    loop {
        match waitpid(None, None) {
            Err(Errno::ECHILD) => break,
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(e) => {
                eprintln!("tandem-lab init {name}: waitpid after the power cut: {e}");
                break;
            }
        }
    }
    run(name, &["ip", "link", "set", "eth0", "down"]);
    // The routes added since boot on other interfaces (br0's route to the VIP).
    for route in ip_lines(&["-4", "route", "show"]) {
        if !boot.routes.contains(&route) && !route.contains(" proto kernel ") {
            let mut args = vec!["ip", "-4", "route", "del"];
            args.extend(route.split_whitespace());
            run(name, &args);
        }
    }
    let mut later: Vec<String> = mount_points()
        .into_iter()
        .filter(|m| !boot.mounts.contains(m))
        .collect();
    // Innermost first.
    later.reverse();
    for point in later {
        let _ = umount2(point.as_str(), MntFlags::MNT_DETACH);
    }
    for (point, mode) in [("/run", "mode=0755"), ("/tmp", "mode=1777")] {
        let _ = umount2(point, MntFlags::MNT_DETACH);
        if let Err(e) = mount(
            Some("tmpfs"),
            point,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(mode),
        ) {
            eprintln!("tandem-lab init {name}: a fresh {point}: {e}");
        }
    }
    if let Err(e) = fs::create_dir_all("/run/sshd") {
        eprintln!("tandem-lab init {name}: creating /run/sshd: {e}");
    }
    eprintln!("tandem-lab init {name}: power cut: every process killed, eth0 down");
}

/// Step 4 up to the services: the fstab's mounts, eth0 up with its boot routes.
pub fn boot(name: &str, boot: &BootState) {
    run(name, &["mount", "-a"]);
    run(name, &["ip", "link", "set", "eth0", "up"]);
    for route in &boot.routes {
        let mut args = vec!["ip", "-4", "route", "replace"];
        args.extend(route.split_whitespace());
        run(name, &args);
    }
    eprintln!("tandem-lab init {name}: booted: eth0 up");
}

/// Where the OpenSVC agent is installed, its daemon starts at boot (systemd's unit on a real
/// server; no systemd here, and without LOGNAME the agent does not ask for it). It forks and
/// its command returns: the daemon becomes this init's child.
pub fn start_agent(name: &str) {
    if !Path::new("/usr/bin/om").exists() {
        return;
    }
    let started = Command::new("/usr/bin/om")
        .args(["daemon", "start"])
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match started {
        Ok(_) => eprintln!("tandem-lab init {name}: the OpenSVC daemon is starting"),
        Err(e) => eprintln!("tandem-lab init {name}: starting the OpenSVC daemon: {e}"),
    }
}

/// A command of the boot or the cut, waited for; a failure is only logged (a real boot goes on).
fn run(name: &str, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .env_clear()
        .env("PATH", SAFE_PATH)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "tandem-lab init {name}: {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("tandem-lab init {name}: {}: {e}", args[0]),
    }
}

fn ip_lines(args: &[&str]) -> Vec<String> {
    Command::new("ip")
        .args(args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .stdin(Stdio::null())
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The node's mount points, in mount order (field 5 of /proc/self/mountinfo).
fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
