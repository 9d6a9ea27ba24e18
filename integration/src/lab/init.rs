//! `tandem-lab __node-init`: PID 1 of a node. It is started by `node::start` inside the node's
//! network namespace and fresh mount, uts and pid namespaces (mounts already private). It
//!
//! 1. records its host PID (read through the host's /proc, before a fresh one hides it),
//! 2. sets the hostname, mounts the overlay root and the node's /proc, /sys, /dev, /run, /tmp
//!    (and, in a lab with the OpenSVC agent, the lab's agent tree read-only at /usr/share/opensvc),
//! 3. pivots into that root, so the node sees nothing of the host's mounts,
//! 4. runs `/usr/sbin/sshd -D -e` with its stderr in DIR/nodes/NAME/sshd.log, and then
//! 5. reaps every child (orphans of the namespace land here) until SIGTERM.
//!
//! It never restarts sshd by itself: tests kill sshd to play a dead node. SIGUSR2 kills sshd and
//! SIGUSR1 starts it again (what `Lab::kill_sshd` / `Lab::start_sshd` send). SIGPWR cuts the
//! node's power and boots it again ([`super::power`]: the OVH simulator's `hardReboot`).
//!
//! All signals are blocked and taken with sigwait: one loop, no async handler. A pid-namespace init
//! only gets the signals it handles, so no-op handlers are installed too.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, chdir, pivot_root, sethostname};

use super::power::{self, BootState};
use super::sys::SAFE_PATH;
use super::{node, opensvc};

const SIGNALS: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
];

/// Runs the init; returns the exit status (only on error or SIGTERM).
/// `opensvc`: the lab's extracted agent tree, for a lab with the agent.
pub fn run(name: &str, node_dir: &Path, opensvc: Option<&Path>) -> i32 {
    let mask = match block_signals() {
        Ok(mask) => mask,
        Err(e) => {
            eprintln!("tandem-lab init {name}: blocking signals: {e}");
            return 1;
        }
    };
    match setup(name, node_dir, opensvc) {
        Ok(sshd_log) => supervise(name, &mask, &sshd_log),
        Err(e) => {
            eprintln!("tandem-lab init {name}: {e}");
            1
        }
    }
}

extern "C" fn ignore(_: libc::c_int) {}

fn block_signals() -> nix::Result<SigSet> {
    let mut mask = SigSet::empty();
    for sig in SIGNALS {
        mask.add(sig);
        let action = SigAction::new(
            SigHandler::Handler(ignore),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing, and the signal stays blocked anyway (taken by sigwait).
        unsafe { sigaction(sig, &action) }?;
    }
    mask.thread_block()?;
    Ok(mask)
}

fn setup(name: &str, node_dir: &Path, opensvc: Option<&Path>) -> Result<File, String> {
    if std::process::id() != 1 {
        return Err("must run as PID 1 of a new pid namespace (tandem-lab up starts it)".into());
    }
    // /proc is still the host's: /proc/self names us by our host PID.
    let host_pid = fs::read_link("/proc/self").map_err(|e| format!("reading /proc/self: {e}"))?;
    let pid_file = node::init_pid_file(node_dir);
    let tmp = pid_file.with_extension("tmp");
    fs::write(&tmp, format!("{}\n", host_pid.display()))
        .and_then(|()| fs::rename(&tmp, &pid_file))
        .map_err(|e| format!("writing {}: {e}", pid_file.display()))?;

    sethostname(name).map_err(|e| format!("sethostname: {e}"))?;

    let root = node::root_dir(node_dir);
    let overlay = format!(
        "lowerdir=/,upperdir={},workdir={}",
        node::upper_dir(node_dir).display(),
        node::work_dir(node_dir).display()
    );
    mnt(
        Some("overlay"),
        &root,
        Some("overlay"),
        MsFlags::empty(),
        Some(&overlay),
    )?;

    // The agent, shared by every node of the lab: read-only, so no node can change another's.
    if let Some(tree) = opensvc {
        let target = root.join(opensvc::NODE_ROOT);
        mnt(
            Some(&*tree.to_string_lossy()),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
        mnt(
            None,
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }

    let hidden = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
    // A fresh /proc for the node's pid namespace, and sysfs mounted from its network namespace
    // (so /sys/class/net lists the node's own interfaces).
    mnt(Some("proc"), &root.join("proc"), Some("proc"), hidden, None)?;
    mnt(
        Some("sysfs"),
        &root.join("sys"),
        Some("sysfs"),
        hidden,
        None,
    )?;
    // LXC inside the node needs the cgroup hierarchies.
    mnt(
        Some("/sys/fs/cgroup"),
        &root.join("sys/fs/cgroup"),
        None,
        rbind,
        None,
    )?;
    // The host's devices (loop devices must work), with a private devpts, ptmx and shm on top.
    mnt(Some("/dev"), &root.join("dev"), None, rbind, None)?;
    mnt(
        Some("devpts"),
        &root.join("dev/pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    mnt(
        Some(&*root.join("dev/pts/ptmx").to_string_lossy()),
        &root.join("dev/ptmx"),
        None,
        MsFlags::MS_BIND,
        None,
    )?;
    mnt(
        Some("tmpfs"),
        &root.join("dev/shm"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    mnt(
        Some("tmpfs"),
        &root.join("run"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )?;
    mnt(
        Some("tmpfs"),
        &root.join("tmp"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    // sshd's privilege separation directory.
    fs::create_dir(root.join("run/sshd")).map_err(|e| format!("creating /run/sshd: {e}"))?;

    // Opened before the pivot: the log lives in the host's DIR, which the node cannot see.
    let sshd_log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(node_dir.join("sshd.log"))
        .map_err(|e| format!("opening sshd.log: {e}"))?;

    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the node's.
    chdir(&root).map_err(|e| format!("chdir {}: {e}", root.display()))?;
    pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detaching the host root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    Ok(sshd_log)
}

fn mnt(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(source, target, fstype, flags, data).map_err(|e| {
        format!(
            "mounting {} on {}: {e}",
            fstype.or(source).unwrap_or("?"),
            target.display()
        )
    })
}

fn supervise(name: &str, mask: &SigSet, sshd_log: &File) -> i32 {
    let boot = BootState::capture();
    let mut sshd = start_sshd(name, sshd_log);
    loop {
        let sig = match mask.wait() {
            Ok(sig) => sig,
            Err(e) => {
                eprintln!("tandem-lab init {name}: sigwait: {e}");
                continue;
            }
        };
        match sig {
            Signal::SIGCHLD => reap(name, &mut sshd),
            Signal::SIGUSR1 => {
                reap(name, &mut sshd);
                if sshd.is_none() {
                    sshd = start_sshd(name, sshd_log);
                }
            }
            Signal::SIGUSR2 => {
                if let Some(pid) = sshd.take() {
                    let _ = kill(pid, Signal::SIGKILL);
                    // Wait for this one now, so a SIGUSR1 right behind finds it gone.
                    let _ = waitpid(pid, None);
                    eprintln!("tandem-lab init {name}: sshd killed on request");
                }
            }
            Signal::SIGPWR => {
                power::cut(name, &boot);
                if !stay_dark(name, mask) {
                    return 0;
                }
                power::boot(name, &boot);
                sshd = start_sshd(name, sshd_log);
                power::start_agent(name);
            }
            _ => {
                eprintln!("tandem-lab init {name}: {sig}, stopping the node");
                // From a pid-namespace init, kill(-1) reaches every other process of the namespace.
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                while !matches!(waitpid(None, None), Err(Errno::ECHILD)) {}
                return 0;
            }
        }
    }
}

/// The node without power for [`power::POWER_OFF`]: children are still reaped, other
/// requests ignored; false when asked to stop the node meanwhile (it then has nothing left).
fn stay_dark(name: &str, mask: &SigSet) -> bool {
    let until = std::time::Instant::now() + power::POWER_OFF;
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        let timeout = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the set and the timespec live for the call; no siginfo is asked for.
        let sig = unsafe { libc::sigtimedwait(mask.as_ref(), std::ptr::null_mut(), &timeout) };
        match Signal::try_from(sig) {
            Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP) => {
                eprintln!("tandem-lab init {name}: stopping the node while it is dark");
                while !matches!(waitpid(None, None), Err(Errno::ECHILD)) {}
                return false;
            }
            Ok(Signal::SIGCHLD) => {
                while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    if status == WaitStatus::StillAlive {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
}

fn start_sshd(name: &str, log: &File) -> Option<Pid> {
    let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) else {
        eprintln!("tandem-lab init {name}: cannot duplicate the sshd.log descriptor");
        return None;
    };
    // std resets the signal mask and dispositions in the child before exec.
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f", "/etc/ssh/sshd_config"])
        .env_clear()
        .env("PATH", SAFE_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn();
    match child {
        Ok(child) => {
            let pid = Pid::from_raw(child.id() as i32);
            eprintln!("tandem-lab init {name}: sshd started (pid {pid} in the node)");
            Some(pid)
        }
        Err(e) => {
            eprintln!("tandem-lab init {name}: starting /usr/sbin/sshd: {e}");
            None
        }
    }
}

/// Reaps every exited child; forgets sshd when it is among them.
fn reap(name: &str, sshd: &mut Option<Pid>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(status) => {
                if status.pid().is_some() && status.pid() == *sshd {
                    eprintln!("tandem-lab init {name}: sshd ended: {status:?}");
                    *sshd = None;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("tandem-lab init {name}: waitpid: {e}");
                return;
            }
        }
    }
}
