//! One node on the host side: its overlay upper dir (clean /root, its own /etc/ssh), starting its
//! init inside fresh namespaces, and waiting until its sshd answers.

use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::LabNode;
use super::error::LabError;
use super::sys::{self, Programs};

/// How often and how long `up` polls a node's port 22.
const POLL: Duration = Duration::from_millis(20);
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn upper_dir(node_dir: &Path) -> std::path::PathBuf {
    node_dir.join("upper")
}

pub fn work_dir(node_dir: &Path) -> std::path::PathBuf {
    node_dir.join("work")
}

/// Where the overlay is mounted (inside the node's mount namespace only).
pub fn root_dir(node_dir: &Path) -> std::path::PathBuf {
    node_dir.join("root")
}

pub fn init_log(node_dir: &Path) -> std::path::PathBuf {
    node_dir.join("init.log")
}

pub fn init_pid_file(node_dir: &Path) -> std::path::PathBuf {
    node_dir.join("init.pid")
}

/// Fills the node's overlay upper dir and returns its public host key line (`ssh-ed25519 AAAA...`).
///
/// upper/root and upper/etc/ssh are opaque: the host's /root (shell rc files, toolchains) and
/// /etc/ssh (its host keys, its sshd_config.d) stay invisible in the node.
pub fn prepare(p: &Programs, node: &LabNode, client_pub: &str) -> Result<String, LabError> {
    let upper = &node.upper_dir;
    sys::mkdir(&node.node_dir, 0o755)?;
    sys::mkdir(upper, 0o755)?;
    sys::mkdir(&work_dir(&node.node_dir), 0o755)?;
    sys::mkdir(&root_dir(&node.node_dir), 0o755)?;

    let root_home = upper.join("root");
    sys::mkdir(&root_home, 0o700)?;
    sys::set_overlay_opaque(&root_home)?;
    sys::mkdir(&root_home.join(".ssh"), 0o700)?;
    sys::write_file(
        &root_home.join(".ssh/authorized_keys"),
        format!("{}\n", client_pub.trim()).as_bytes(),
        0o600,
    )?;

    let etc = upper.join("etc");
    sys::mkdir(&etc, 0o755)?;
    let etc_ssh = etc.join("ssh");
    sys::mkdir(&etc_ssh, 0o755)?;
    sys::set_overlay_opaque(&etc_ssh)?;
    let host_key = etc_ssh.join("ssh_host_ed25519_key");
    sys::run(
        sys::command(&p.ssh_keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("root@{}", node.name))
            .arg("-f")
            .arg(&host_key),
        &format!("generating the host key of {}", node.name),
    )?;
    sys::write_file(
        &etc_ssh.join("sshd_config"),
        sshd_config(node.address).as_bytes(),
        0o644,
    )?;
    // Client defaults and DH group-exchange moduli are not secrets: keep the host's.
    for name in ["ssh_config", "moduli"] {
        if let Ok(bytes) = fs::read(Path::new("/etc/ssh").join(name)) {
            sys::write_file(&etc_ssh.join(name), &bytes, 0o644)?;
        }
    }
    sys::write_file(
        &etc.join("hostname"),
        format!("{}\n", node.name).as_bytes(),
        0o644,
    )?;
    sys::write_file(
        &etc.join("hosts"),
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}\n",
            node.address, node.name
        )
        .as_bytes(),
        0o644,
    )?;

    // The host's /.dockerenv (this machine may be a container) must not show in a node: the
    // OpenSVC agent turns its cgroup driver off when it sees it, and its LXC driver then fails.
    // A 0:0 character device is overlayfs's whiteout: the file is deleted in the node's view.
    if Path::new("/.dockerenv").exists() {
        whiteout(&upper.join(".dockerenv"))?;
    }

    let pub_path = host_key.with_extension("pub");
    let line = fs::read_to_string(&pub_path)
        .map_err(|e| LabError::io(format!("reading {}", pub_path.display()), e))?;
    // Drop the comment: known_hosts wants "type base64".
    let mut fields = line.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(kind), Some(key)) => Ok(format!("{kind} {key}")),
        _ => Err(LabError::Node {
            node: node.name.clone(),
            detail: format!("unexpected host key file {}", pub_path.display()),
        }),
    }
}

/// Hides PATH's lower file in the overlay (an upper 0:0 character device).
fn whiteout(path: &Path) -> Result<(), LabError> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    match mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(LabError::io(
            format!("hiding {} (overlay whiteout)", path.display()),
            e.into(),
        )),
    }
}

/// The node's sshd_config, the only one it reads (the host's /etc/ssh is hidden).
fn sshd_config(address: Ipv4Addr) -> String {
    format!(
        "# Written by tandem-lab up. The node's sshd reads only this file.\n\
         ListenAddress {address}:22\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         PidFile /run/sshd.pid\n\
         StrictModes yes\n\
         AcceptEnv none\n\
         AuthorizedKeysFile .ssh/authorized_keys\n\
         Subsystem sftp internal-sftp\n\
         # OpenSSH's default, spelled out: tandem must never need more than 10 channels per connection.\n\
         MaxSessions 10\n\
         LogLevel INFO\n"
    )
}

/// Starts the node: `nsenter` into its network namespace, `unshare` new mount, uts and pid
/// namespaces, and there `tandem-lab __node-init` as PID 1 (it sets up the root and runs sshd).
/// The returned child is the `unshare` process, which waits for the init; `--kill-child` makes the
/// init die with it.
/// `opensvc`: the lab's agent tree, which the init mounts at /usr/share/opensvc.
pub fn start(
    p: &Programs,
    lab_bin: &Path,
    node: &LabNode,
    opensvc: Option<&Path>,
) -> Result<Child, LabError> {
    let log_path = init_log(&node.node_dir);
    let log = fs::File::create(&log_path)
        .map_err(|e| LabError::io(format!("creating {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io(format!("opening {}", log_path.display()), e))?;
    let mut cmd = sys::command(&p.nsenter);
    cmd.arg(format!("--net=/run/netns/{}", node.netns))
        .arg("--")
        .arg(&p.unshare)
        .args([
            "--mount",
            "--uts",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "--",
        ])
        .arg(lab_bin)
        .args(["__node-init", "--name", &node.name, "--node-dir"])
        .arg(&node.node_dir);
    if let Some(tree) = opensvc {
        cmd.arg("--opensvc").arg(tree);
    }
    cmd.stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        // Its own process group: a Ctrl-C meant for `tandem-lab up` or a test runner must not
        // take the node down; only `down` does.
        .process_group(0);
    use std::os::unix::process::CommandExt;
    cmd.spawn()
        .map_err(|e| LabError::io(format!("starting node {}", node.name), e))
}

/// Waits until the node's sshd sends its banner (bounded by READY_TIMEOUT), then returns the host
/// PID of the node's init, which the init itself recorded.
pub fn wait_ready(node: &LabNode, child: &mut Child) -> Result<u32, LabError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(node_error(node, &format!("its init exited ({status})")));
        }
        if sshd_answers(node.address) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(node_error(
                node,
                &format!(
                    "sshd did not answer on {}:22 within {} s",
                    node.address,
                    READY_TIMEOUT.as_secs()
                ),
            ));
        }
        thread::sleep(POLL);
    }
    let pid_file = init_pid_file(&node.node_dir);
    fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| node_error(node, &format!("no pid in {}", pid_file.display())))
}

fn node_error(node: &LabNode, what: &str) -> LabError {
    LabError::Node {
        node: node.name.clone(),
        detail: format!(
            "{what}; {}; {}",
            sys::tail(&init_log(&node.node_dir), 5),
            sys::tail(&node.sshd_log, 5)
        ),
    }
}

/// True when something on ADDR:22 accepts a connection and sends an SSH banner.
pub fn sshd_answers(address: Ipv4Addr) -> bool {
    let addr = SocketAddr::from((address, 22));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 4];
    stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-"
}

/// True when ADDR:22 refuses connections (nothing listens), as opposed to answering or timing out.
pub fn sshd_refuses(address: Ipv4Addr) -> bool {
    let addr = SocketAddr::from((address, 22));
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}
