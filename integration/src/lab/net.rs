//! The lab's network: one bridge per lab in the root namespace, one network namespace per node joined
//! to it by a veth pair. Everything goes through `ip -batch` so that a node costs two `ip` processes.

use std::collections::HashSet;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::LabError;
use super::slot;
use super::sys::{self, Programs};

pub fn create_bridge(p: &Programs, slot: u16) -> Result<(), LabError> {
    let br = slot::bridge_name(slot);
    let addr = slot::bridge_address(slot);
    // No STP and no forward delay: a port forwards as soon as it is up.
    let lines = [
        format!("link add {br} type bridge stp_state 0 forward_delay 0"),
        format!("addr add {addr}/24 dev {br}"),
        format!("link set {br} up"),
    ];
    sys::ip_batch(&p.ip, &[], &lines, false, &format!("creating bridge {br}"))
}

/// `ip netns add`, serialised machine-wide: the first one on a machine turns /run/netns into a
/// shared mount point, and two doing it at once stack two mounts there.
pub fn create_netns(p: &Programs, name: &str) -> Result<(), LabError> {
    let _lock = slot::lock()?;
    sys::run(
        sys::command(&p.ip).args(["netns", "add", name]),
        &format!("ip netns add {name}"),
    )
    .map(|_| ())
}

/// The interface each node offers the cookbook's bridge as its port (`bridge_ports`).
pub const BRIDGE_PORT: &str = "brport0";

/// Joins a node's namespace to the bridge: the veth's node end becomes eth0 with the node address,
/// lo comes up, and the default route goes through the bridge address.
pub fn wire_node(
    p: &Programs,
    slot: u16,
    veth: &str,
    netns: &str,
    address: Ipv4Addr,
) -> Result<(), LabError> {
    let br = slot::bridge_name(slot);
    let root_side = [
        // In the slot's link group: `down` deletes all of a lab's veths in one request.
        format!(
            "link add {veth} group {} type veth peer name eth0 netns {netns}",
            slot::link_group(slot)
        ),
        format!("link set {veth} master {br}"),
        format!("link set {veth} up"),
    ];
    sys::ip_batch(
        &p.ip,
        &[],
        &root_side,
        false,
        &format!("creating veth {veth}"),
    )?;
    let node_side = [
        format!("addr add {address}/24 dev eth0"),
        "link set lo up".to_string(),
        "link set eth0 up".to_string(),
        format!("route add default via {}", slot::bridge_address(slot)),
        // A port for the cookbook's bridge (the inventory's `bridge_ports`): this kernel has no
        // dummy driver, and a bridge without a port reports no carrier, which the OpenSVC ip
        // resource checks. A veth whose peer is up has carrier.
        format!("link add {BRIDGE_PORT} type veth peer name {BRIDGE_PORT}p"),
        format!("link set {BRIDGE_PORT}p up"),
    ];
    sys::ip_batch(
        &p.ip,
        &["-n", netns],
        &node_side,
        false,
        &format!("configuring eth0 in {netns}"),
    )
}

/// Network namespaces of a slot, by name.
fn slot_netns(slot: u16) -> Vec<String> {
    let prefix = slot::netns_prefix(slot);
    list_names(Path::new("/run/netns"))
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Root-namespace interfaces of a slot: its bridge and its host-side veths.
fn slot_links(slot: u16) -> Vec<String> {
    let bridge = slot::bridge_name(slot);
    let prefix = slot::veth_prefix(slot);
    list_names(Path::new("/sys/class/net"))
        .into_iter()
        .filter(|n| {
            *n == bridge
                || n.strip_prefix(&prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                })
        })
        .collect()
}

fn list_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes everything of a slot from the machine: kills every process living in one of its network
/// namespaces (each node's init among them; SIGKILL to a pid-namespace init takes the whole node
/// down, its mount namespace with it), then deletes its interfaces and namespaces. Safe to run on a
/// slot that has nothing left.
pub fn sweep_slot(p: &Programs, slot: u16) -> Result<(), LabError> {
    let namespaces = slot_netns(slot);
    let inodes: HashSet<u64> = namespaces
        .iter()
        .filter_map(|n| sys::netns_inode(&Path::new("/run/netns").join(n)))
        .collect();
    if !inodes.is_empty() {
        // The node inits first: each one's death empties its pid namespace, and its `unshare`
        // parent, still alive, reaps it at once. Killed together, an init could outlive its
        // parent and be left as a zombie for the host's PID 1 to reap (slowly, on some hosts).
        let pids = sys::pids_in_netns(&inodes);
        let (inits, others): (Vec<i32>, Vec<i32>) =
            pids.into_iter().partition(|&pid| sys::is_pid_ns_init(pid));
        kill_and_wait(&inits);
        kill_and_wait(&others);
    }
    sys::trace("sweep: processes gone");
    // Deleting the host end of a veth deletes its peer at once (a dying namespace would do it
    // later, asynchronously).
    // One group delete is a single batched unregister in the kernel: 50 veths in 50 ms instead
    // of 1 s one by one. Links outside the group (there should be none) go one by one.
    let mut lines = vec![format!("link del group {}", slot::link_group(slot))];
    sys::ip_batch(
        &p.ip,
        &[],
        &lines,
        true,
        &format!("removing lab slot {slot}"),
    )?;
    lines = slot_links(slot)
        .iter()
        .map(|l| format!("link del {l}"))
        .collect();
    lines.extend(namespaces.iter().map(|n| format!("netns del {n}")));
    sys::ip_batch(
        &p.ip,
        &[],
        &lines,
        true,
        &format!("removing lab slot {slot}"),
    )?;
    let left: Vec<String> = slot_links(slot)
        .into_iter()
        .chain(slot_netns(slot))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(LabError::Command {
            what: format!("removing lab slot {slot}"),
            detail: format!("still present: {}", left.join(", ")),
        })
    }
}

/// SIGKILLs the processes and waits (at most 5 s) until they are gone or zombies.
pub fn kill_and_wait(pids: &[i32]) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&pid| sys::process_alive(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    // The `unshare` parents of the inits stay as zombies until their parent reaps them (our reaper
    // thread, or PID 1 when `up` ran as a CLI). Give that a moment so `ps` is clean after `down`,
    // without depending on it.
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids
        .iter()
        .any(|&pid| Path::new(&format!("/proc/{pid}")).exists())
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(10));
    }
}

pub fn bridge_exists(slot: u16) -> bool {
    Path::new("/sys/class/net")
        .join(slot::bridge_name(slot))
        .exists()
}
