//! Small system helpers: finding programs, running them, files with modes, /proc and mount scanning,
//! and a recursive delete that refuses to cross into another file system.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::LabError;

/// PATH given to every program the lab runs, and inside the nodes: the environment of the caller
/// (a test runner, sudo) must not decide which `ip` or `sshd` we get.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The external programs the lab drives, as absolute paths.
#[derive(Debug, Clone)]
pub struct Programs {
    pub ssh_keygen: PathBuf,
    pub ip: PathBuf,
    pub unshare: PathBuf,
    pub nsenter: PathBuf,
    /// `down` detaches the loop devices nodes attached to their own files.
    pub losetup: PathBuf,
}

impl Programs {
    pub fn find() -> Result<Programs, LabError> {
        // The node init starts exactly /usr/sbin/sshd (the node sees the host's /usr).
        require_usr_sbin_sshd()?;
        Ok(Programs {
            ssh_keygen: find_program("ssh-keygen", "openssh-client")?,
            ip: find_program("ip", "iproute2")?,
            unshare: find_program("unshare", "util-linux")?,
            nsenter: find_program("nsenter", "util-linux")?,
            losetup: find_program("losetup", "util-linux")?,
        })
    }
}

fn require_usr_sbin_sshd() -> Result<(), LabError> {
    if Path::new("/usr/sbin/sshd").is_file() {
        Ok(())
    } else {
        Err(LabError::MissingProgram {
            program: "sshd",
            package: "openssh-server",
        })
    }
}

fn find_program(program: &'static str, package: &'static str) -> Result<PathBuf, LabError> {
    SAFE_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or(LabError::MissingProgram { program, package })
}

pub fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// With TANDEM_LAB_TRACE set, prints a timestamped step to stderr (to see where time goes).
pub fn trace(step: &str) {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    if let Some(start) =
        START.get_or_init(|| std::env::var_os("TANDEM_LAB_TRACE").map(|_| Instant::now()))
    {
        eprintln!("[{:7.3}s] {step}", start.elapsed().as_secs_f64());
    }
}

/// A command with a clean environment and no stdin.
pub fn command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", SAFE_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion; a non-zero exit becomes an error carrying its stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<Output, LabError> {
    let out = cmd.output().map_err(|e| LabError::io(what, e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            what: what.to_string(),
            detail: format!(
                "{} ({})",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            ),
        })
    }
}

/// Runs `ip [global args] -batch -` over the given lines: one process for many netlink requests.
/// With `force`, ip goes on after a failing line (used by teardown, where some objects may be gone).
pub fn ip_batch(
    ip: &Path,
    global: &[&str],
    lines: &[String],
    force: bool,
    what: &str,
) -> Result<(), LabError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = command(ip);
    if force {
        cmd.arg("-force");
    }
    cmd.args(global)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| LabError::io(what, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        let script = lines.join("\n") + "\n";
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| LabError::io(what, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| LabError::io(what, e))?;
    if out.status.success() || force {
        Ok(())
    } else {
        Err(LabError::Command {
            what: what.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Writes a whole file with the given mode (the mode is set even if the file existed).
pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), LabError> {
    let what = || format!("writing {}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| LabError::io(what(), e))?;
    f.write_all(content).map_err(|e| LabError::io(what(), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| LabError::io(what(), e))
}

/// Writes a file through a temporary name and a rename, so readers never see half of it.
pub fn write_file_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), LabError> {
    let tmp = path.with_extension("tmp");
    write_file(&tmp, content, mode)?;
    fs::rename(&tmp, path).map_err(|e| LabError::io(format!("renaming {}", tmp.display()), e))
}

pub fn mkdir(path: &Path, mode: u32) -> Result<(), LabError> {
    fs::create_dir_all(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(mode)))
        .map_err(|e| LabError::io(format!("creating {}", path.display()), e))
}

/// Marks an overlay upper directory opaque: the lower directory of the same path (the host's) is
/// hidden entirely, instead of being merged with it.
pub fn set_overlay_opaque(dir: &Path) -> Result<(), LabError> {
    let c_path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| LabError::Usage(format!("path with a NUL byte: {}", dir.display())))?;
    let name = c"trusted.overlay.opaque";
    // SAFETY: both strings are NUL-terminated and outlive the call; the value is a 1-byte buffer.
    let rc = unsafe { libc::setxattr(c_path.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(LabError::io(
            format!("marking {} opaque (trusted.overlay.opaque)", dir.display()),
            std::io::Error::last_os_error(),
        ))
    }
}

/// The last `lines` lines of a (log) file, or a note that it could not be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let start = all.len().saturating_sub(lines);
            if all.is_empty() {
                format!("{} is empty", path.display())
            } else {
                format!("{}: {}", path.display(), all[start..].join(" | "))
            }
        }
        Err(e) => format!("{}: {e}", path.display()),
    }
}

/// The inode of a network namespace, as `stat` on an nsfs file (/run/netns/X, /proc/PID/ns/net) gives it.
pub fn netns_inode(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

/// Every process whose network namespace is one of `inodes` (what `ip netns pids` does, for many
/// namespaces in one pass over /proc).
pub fn pids_in_netns(inodes: &HashSet<u64>) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            netns_inode(&PathBuf::from(format!("/proc/{pid}/ns/net")))
                .is_some_and(|ino| inodes.contains(&ino))
        })
        .collect()
}

/// True when the process is PID 1 of a pid namespace below ours (a node's init).
pub fn is_pid_ns_init(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .is_some_and(|ids| {
                let ids: Vec<&str> = ids.split_whitespace().collect();
                ids.len() > 1 && ids.last() == Some(&"1")
            })
    })
}

/// True while a process exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name in parentheses, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if it is
/// gone or a zombie.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses): state is field 3.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first().is_some_and(|s| *s == "Z" || *s == "X") {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

/// Mount points at or below `dir`, deepest first, read from this process's mount table.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as \ooo octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        if let Some(v) = octal {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Deletes a tree without ever leaving the file system it starts on: a mount point inside it (say a
/// node's /dev bind mount that leaked into the host) makes it stop with an error instead of deleting
/// the host's files through it. Symlinks are removed, never followed.
pub fn remove_tree(path: &Path) -> Result<(), LabError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LabError::io(format!("reading {}", path.display()), e)),
    };
    remove_tree_on(path, &meta, meta.dev())
}

fn remove_tree_on(path: &Path, meta: &fs::Metadata, dev: u64) -> Result<(), LabError> {
    let err = |what: &str, e| LabError::io(format!("{what} {}", path.display()), e);
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(|e| err("removing", e));
    }
    if meta.dev() != dev {
        return Err(LabError::Usage(format!(
            "refusing to delete {}: it is another file system mounted inside the lab directory",
            path.display()
        )));
    }
    for entry in fs::read_dir(path).map_err(|e| err("listing", e))? {
        let entry = entry.map_err(|e| err("listing", e))?;
        let child = entry.path();
        let child_meta = fs::symlink_metadata(&child).map_err(|e| err("reading", e))?;
        remove_tree_on(&child, &child_meta, dev)?;
    }
    fs::remove_dir(path).map_err(|e| err("removing", e))
}

/// The `tandem-lab` executable, which every node runs as its init. From the CLI that is the running
/// program; from anything else (a test binary) it is the one cargo builds for it now
/// ([`crate::built::tandem_lab`]), never a file that happens to sit nearby. `TANDEM_LAB_BIN`
/// overrides both.
pub fn lab_binary() -> Result<PathBuf, LabError> {
    if let Some(p) = std::env::var_os("TANDEM_LAB_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe =
        std::env::current_exe().map_err(|e| LabError::io("finding the running program", e))?;
    if exe.file_name().is_some_and(|n| n == "tandem-lab") {
        return Ok(exe);
    }
    Ok(crate::built::tandem_lab().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\"), r"/end\");
    }
}
