//! Lab slots: several labs run at once (tests run in parallel), each in its own slot, which decides its
//! subnet and the names of its bridge, veths and network namespaces. A slot is claimed by creating
//! /run/tandem-lab/slots/<s>/ (mkdir is atomic) and recording the lab directory in it.
//!
//! Claiming, reclaiming and releasing happen under one machine-wide lock (flock on
//! /run/tandem-lab/lock), and a claimer writes its lab.json and creates its bridge before it lets go
//! of the lock. So whoever holds the lock sees every slot either free, fully claimed, or stale (its
//! lab dir lost its lab.json, or its bridge is gone), never half-claimed.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::error::LabError;
use super::net;
use super::state;
use super::sys::{self, Programs};
use super::temp::TEMP_ROOT;

/// Slots 0..=510: 198.18.0.0/15 holds 512 /24s; the last one is left alone.
pub const MAX_SLOT: u16 = 510;
const RUN_DIR: &str = "/run/tandem-lab";
const SLOTS_DIR: &str = "/run/tandem-lab/slots";
const OWNER_FILE: &str = "dir";

/// Slot s is 198.18.s.0/24 for s < 256, 198.19.(s-256).0/24 otherwise.
fn subnet(slot: u16) -> (u8, u8) {
    // Both casts are exact: slot <= 510.
    (18 + (slot / 256) as u8, (slot % 256) as u8)
}

pub fn bridge_address(slot: u16) -> Ipv4Addr {
    let (b, c) = subnet(slot);
    Ipv4Addr::new(198, b, c, 1)
}

/// Node i (1-based) gets .(10 + i).
pub fn node_address(slot: u16, index: usize) -> Ipv4Addr {
    let (b, c) = subnet(slot);
    Ipv4Addr::new(198, b, c, 10 + index as u8)
}

// Interface names must fit in 15 bytes: "tlb510" and "tl510n200" do.
pub fn bridge_name(slot: u16) -> String {
    format!("tlb{slot}")
}

pub fn veth_name(slot: u16, index: usize) -> String {
    format!("tl{slot}n{index}")
}

/// Host-side veth names of a slot start with this ("tl3n" never matches slot 31's "tl31n").
pub fn veth_prefix(slot: u16) -> String {
    format!("tl{slot}n")
}

/// Interface group of a slot's veths (group 0 is every interface's default; we stay far above).
pub fn link_group(slot: u16) -> u32 {
    10_000 + u32::from(slot)
}

pub fn netns_name(slot: u16, index: usize) -> String {
    format!("tandem-lab{slot}-node{index}")
}

pub fn netns_prefix(slot: u16) -> String {
    format!("tandem-lab{slot}-")
}

/// The machine-wide lab lock, held until dropped.
pub struct GlobalLock {
    _file: File,
}

pub fn lock() -> Result<GlobalLock, LabError> {
    fs::create_dir_all(SLOTS_DIR).map_err(|e| LabError::io(format!("creating {SLOTS_DIR}"), e))?;
    let path = Path::new(RUN_DIR).join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LabError::io(format!("opening {}", path.display()), e))?;
    file.lock()
        .map_err(|e| LabError::io(format!("locking {}", path.display()), e))?;
    Ok(GlobalLock { _file: file })
}

fn slot_dir(slot: u16) -> PathBuf {
    Path::new(SLOTS_DIR).join(slot.to_string())
}

/// The lab directory that claimed `slot`, if any.
pub fn owner(slot: u16) -> Option<PathBuf> {
    fs::read_to_string(slot_dir(slot).join(OWNER_FILE))
        .ok()
        .map(|s| PathBuf::from(s.trim_end_matches('\n')))
}

/// Slots whose recorded owner is `dir` (normally one; more only after a crash in the middle of `up`).
pub fn owned_by(dir: &Path) -> Vec<u16> {
    (0..=MAX_SLOT)
        .filter(|&s| slot_dir(s).exists() && owner(s).as_deref() == Some(dir))
        .collect()
}

/// A claimed slot is stale when nothing runs there any more: its lab dir has no lab.json, or its
/// bridge is gone. Only meaningful under the lock.
fn is_stale(slot: u16) -> bool {
    match owner(slot) {
        None => true,
        Some(dir) => {
            !state::lab_json(&dir).exists()
                || !Path::new("/sys/class/net").join(bridge_name(slot)).exists()
                || abandoned(&dir)
        }
    }
}

/// A test's lab whose test process is gone.
fn abandoned(dir: &Path) -> bool {
    state::read(dir)
        .ok()
        .flatten()
        .and_then(|lab| lab.held_by)
        .is_some_and(|holder| !holder.alive())
}

/// Claims the first free or stale slot for `dir`. The caller holds the lock. Leftovers of an earlier
/// lab in that slot (processes, interfaces, namespaces) are swept away first.
pub fn claim(_lock: &GlobalLock, programs: &Programs, dir: &Path) -> Result<u16, LabError> {
    collect_abandoned(programs);
    for slot in 0..=MAX_SLOT {
        let path = slot_dir(slot);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if !is_stale(slot) {
                    continue;
                }
            }
            Err(e) => return Err(LabError::io(format!("creating {}", path.display()), e)),
        }
        net::sweep_slot(programs, slot)?;
        let owner_file = path.join(OWNER_FILE);
        fs::write(&owner_file, format!("{}\n", dir.display()))
            .map_err(|e| LabError::io(format!("writing {}", owner_file.display()), e))?;
        return Ok(slot);
    }
    Err(LabError::NoFreeSlot)
}

/// Takes down every test lab whose test process died (killed on a timeout, say): nobody is left to
/// run `down` on it. Its files go too when it lives under the tests' temporary root. Best effort:
/// a failure here must not stop the `up` that noticed.
fn collect_abandoned(programs: &Programs) {
    for slot in 0..=MAX_SLOT {
        let Some(dir) = owner(slot) else { continue };
        if !abandoned(&dir) || net::sweep_slot(programs, slot).is_err() {
            continue;
        }
        if let Ok(Some(lab)) = state::read(&dir) {
            super::down::stop_root_namespace_parts(programs, &lab);
        }
        if dir.starts_with(TEMP_ROOT) {
            let _ = sys::remove_tree(&dir);
        }
        let _ = fs::remove_dir_all(slot_dir(slot));
    }
}

/// Gives `slot` back, if `dir` still owns it (a stale slot may have been reclaimed by another lab).
pub fn release(slot: u16, dir: &Path) -> Result<(), LabError> {
    let _lock = lock()?;
    if owner(slot).as_deref() == Some(dir) || owner(slot).is_none() {
        let path = slot_dir(slot);
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io(format!("removing {}", path.display()), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert_eq!(bridge_address(3), Ipv4Addr::new(198, 18, 3, 1));
        assert_eq!(node_address(3, 1), Ipv4Addr::new(198, 18, 3, 11));
        assert_eq!(node_address(255, 200), Ipv4Addr::new(198, 18, 255, 210));
        assert_eq!(node_address(256, 2), Ipv4Addr::new(198, 19, 0, 12));
        assert_eq!(bridge_address(MAX_SLOT), Ipv4Addr::new(198, 19, 254, 1));
        assert!(veth_name(MAX_SLOT, 200).len() <= 15);
        assert!(bridge_name(MAX_SLOT).len() <= 15);
        assert!(!veth_name(31, 1).starts_with(&veth_prefix(3)));
        assert!(!netns_name(31, 1).starts_with(&netns_prefix(3)));
    }
}
