//! `tandem-lab down`: remove everything a lab made, whatever state it is in (running, some nodes
//! dead, `up` interrupted half-way). Idempotent.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

use super::error::LabError;
use super::sys::{self, Programs};
use super::{Lab, delay, net, node, opensvc, ovh_api, slot, state, vip};

/// A lab runs while its slot is still its own and its bridge exists, or while one of its nodes'
/// init is alive.
pub fn is_running(lab: &Lab) -> bool {
    let slot_ours = slot::owner(lab.slot).as_deref() == Some(lab.dir.as_path());
    (slot_ours && net::bridge_exists(lab.slot)) || !recorded_inits(&lab.dir, Some(lab)).is_empty()
}

pub fn down_dir(dir: &Path) -> Result<bool, LabError> {
    sys::require_root()?;
    let programs = Programs::find()?;
    let dir = match fs::canonicalize(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(LabError::io(format!("resolving {}", dir.display()), e)),
    };
    // An unreadable lab.json must not stop the clean-up: the slot table and DIR/nodes suffice.
    let lab = state::read(&dir).ok().flatten();
    let owned = slot::owned_by(&dir);
    let found = lab.is_some() || !owned.is_empty() || state::nodes_dir(&dir).exists();

    // Every process of the lab lives in one of its network namespaces: sweeping the slot kills
    // them all (each node's init first among them) and removes interfaces and namespaces.
    sys::trace("down: start");
    if let Some(lab) = &lab {
        stop_root_namespace_parts(&programs, lab);
    }
    for &s in &owned {
        net::sweep_slot(&programs, s)?;
    }
    sys::trace("down: slot swept");
    // Inits whose namespace vanished behind our back (someone ran `ip netns del`).
    net::kill_and_wait(&recorded_inits(&dir, lab.as_ref()));
    // Loop devices are the host's: one a node attached to its own file outlives the node and
    // would keep that file (deleted below) and the device busy for good.
    detach_loop_devices(&programs, &dir);
    sys::trace("down: loop devices detached");

    // Node mounts live in the nodes' own mount namespaces, gone with their processes. Anything
    // still mounted under DIR in ours is a leak: detach it before deleting files below it.
    for m in sys::mounts_under(&dir) {
        let _ = umount2(&m, MntFlags::MNT_DETACH);
    }
    if let Some(m) = sys::mounts_under(&dir).first() {
        return Err(LabError::Usage(format!(
            "{} is still mounted: unmount it, then run down again",
            m.display()
        )));
    }

    // The agent's cgroups outlive its processes (the nodes share the host's cgroup tree).
    opensvc::remove_cgroups();
    sys::remove_tree(&state::nodes_dir(&dir))?;
    sys::remove_tree(&opensvc::tree(&dir))?;
    sys::trace("down: files removed");
    for file in state::top_files(&dir) {
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io(format!("removing {}", file.display()), e)),
        }
    }
    // The secrets of the lab's OpenSVC clusters, which a deploy made beside the inventory.
    for file in fs::read_dir(&dir).into_iter().flatten().flatten() {
        if file
            .file_name()
            .to_string_lossy()
            .ends_with(".opensvc-secret")
        {
            let _ = fs::remove_file(file.path());
        }
    }
    for &s in &owned {
        slot::release(s, &dir)?;
    }
    // Last, so that a down interrupted before this point can simply be run again.
    match fs::remove_file(state::lab_json(&dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(LabError::io("removing lab.json", e)),
    }
    Ok(found)
}

/// What a lab has in the root namespace, which sweeping its slot does not see: the delay proxy,
/// the OVH API simulator, and the VIP routes.
pub fn stop_root_namespace_parts(p: &Programs, lab: &Lab) {
    if let Some(proxy) = &lab.delay_proxy {
        delay::stop(proxy);
    }
    if let Some(api) = &lab.ovh_api {
        ovh_api::stop(api);
    }
    vip::remove_routes(p, lab);
}

/// Live init processes of the lab in DIR, from lab.json and from the init.pid files the inits
/// wrote themselves (which exist even when `up` died before recording them). A PID counts only if
/// that process still runs `__node-init` for a node directory of this lab.
fn recorded_inits(dir: &Path, lab: Option<&Lab>) -> Vec<i32> {
    let mut candidates: Vec<(i32, PathBuf)> = Vec::new();
    if let Some(lab) = lab {
        for n in &lab.nodes {
            candidates.push((n.init_pid as i32, n.node_dir.clone()));
        }
    }
    if let Ok(entries) = fs::read_dir(state::nodes_dir(dir)) {
        for entry in entries.flatten() {
            let node_dir = entry.path();
            if let Some(pid) = fs::read_to_string(node::init_pid_file(&node_dir))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                candidates.push((pid, node_dir));
            }
        }
    }
    let mut pids: Vec<i32> = candidates
        .into_iter()
        .filter(|(pid, node_dir)| {
            *pid > 0 && sys::process_alive(*pid) && runs_init_for(*pid, node_dir)
        })
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn runs_init_for(pid: i32, node_dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let node_dir = node_dir.as_os_str().as_encoded_bytes();
    args.contains(&b"__node-init".as_slice()) && args.contains(&node_dir)
}

/// Detaches every loop device whose backing file is a file of one of the lab's nodes. A device
/// names its file as the node saw it (`/var/lib/tandem/disks/web.img`); that path under the
/// node's overlay upper dir, with the same inode, is that file (another lab's node may use the
/// same path: the inode tells them apart). Best effort: what fails is reported, not fatal.
fn detach_loop_devices(p: &Programs, dir: &Path) {
    let Ok(nodes) = fs::read_dir(state::nodes_dir(dir)) else {
        return;
    };
    let uppers: Vec<PathBuf> = nodes
        .flatten()
        .map(|e| node::upper_dir(&e.path()))
        .collect();
    let out = sys::command(&p.losetup)
        .args([
            "--list",
            "--noheadings",
            "--raw",
            "--output",
            "NAME,BACK-INO,BACK-FILE",
        ])
        .output();
    let Ok(out) = out else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.splitn(3, ' ');
        let (Some(device), Some(ino), Some(file)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(ino) = ino.parse::<u64>() else {
            continue;
        };
        let file = unescape_raw(file);
        let ours = uppers.iter().any(|upper| {
            fs::metadata(upper.join(file.trim_start_matches('/')))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m) == ino)
                .unwrap_or(false)
        });
        if !ours {
            continue;
        }
        if let Err(e) = sys::run(
            sys::command(&p.losetup).args(["--detach", device]),
            &format!("detaching {device} ({file})"),
        ) {
            eprintln!("tandem-lab down: {e}");
        }
    }
}

/// `losetup --raw` writes blanks and other unsafe bytes as `\xHH`.
fn unescape_raw(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 2..i + 4)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (
            bytes[i],
            bytes.get(i + 1),
            hex.and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'\\', Some(b'x'), Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unescape_raw;

    #[test]
    fn raw_losetup_names_are_unescaped() {
        assert_eq!(unescape_raw(r"/var/lib/a\x20b.img"), "/var/lib/a b.img");
        assert_eq!(unescape_raw(r"/x\y"), r"/x\y");
    }
}
