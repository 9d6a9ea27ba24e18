//! The lab's VIPs: each cluster gets a failover IP in 203.0.113.0/24 that no other running lab
//! uses (tests run in parallel, each with its own lab, and the root namespace's routing table is
//! shared), routed at first to the cluster's first node, as OVH would have it.
//!
//! Chosen under the machine-wide lab lock, against the VIPs in the lab.json of every other
//! claimed slot (a lab saves its lab.json before it lets go of the lock) and the routes to
//! 203.0.113.0/24 the root namespace has now.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::Lab;
use super::error::LabError;
use super::slot::MAX_SLOT;
use super::slot::{self, GlobalLock};
use super::state;
use super::sys::{self, Programs};

/// `count` VIPs for the lab in `my_slot`, lowest free first.
pub fn allocate(
    _lock: &GlobalLock,
    p: &Programs,
    my_slot: u16,
    count: usize,
) -> Result<Vec<Ipv4Addr>, LabError> {
    let mut taken: BTreeSet<Ipv4Addr> = routed_vips(p)?;
    for s in (0..=MAX_SLOT).filter(|&s| s != my_slot) {
        let Some(dir) = slot::owner(s) else { continue };
        if let Ok(Some(lab)) = state::read(&dir) {
            taken.extend(lab.clusters.iter().map(|c| c.vip));
        }
    }
    let free: Vec<Ipv4Addr> = (1..=254u8)
        .map(|d| Ipv4Addr::new(203, 0, 113, d))
        .filter(|vip| !taken.contains(vip))
        .collect();
    if free.len() < count {
        return Err(LabError::Usage(format!(
            "{count} clusters need {count} VIPs in 203.0.113.0/24, but only {} are free (other \
             labs hold the rest): take some labs down or bring up fewer nodes",
            free.len()
        )));
    }
    Ok(free.into_iter().take(count).collect())
}

/// VIPs with a route in the root namespace now, whoever made it.
fn routed_vips(p: &Programs) -> Result<BTreeSet<Ipv4Addr>, LabError> {
    let out = sys::run(
        sys::command(&p.ip).args(["-4", "-o", "route", "show", "root", "203.0.113.0/24"]),
        "listing the routes to 203.0.113.0/24",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|dest| dest.trim_end_matches("/32").parse().ok())
        .collect())
}

/// Each cluster's VIP via its first node: where OVH routes it before any move.
pub fn install_routes(p: &Programs, lab: &Lab) -> Result<(), LabError> {
    let lines: Vec<String> = lab
        .clusters
        .iter()
        .filter_map(|c| {
            let first = c.nodes.first()?;
            let node = lab.nodes.iter().find(|n| &n.name == first)?;
            Some(format!(
                "route replace {}/32 via {} dev {}",
                c.vip, node.address, lab.bridge
            ))
        })
        .collect();
    sys::ip_batch(&p.ip, &[], &lines, false, "routing the lab's VIPs")
}

/// Removes the lab's VIP routes (deleting the bridge would drop them too; `down` is explicit).
pub fn remove_routes(p: &Programs, lab: &Lab) {
    let lines: Vec<String> = lab
        .clusters
        .iter()
        .map(|c| format!("route del {}/32 dev {}", c.vip, lab.bridge))
        .collect();
    let _ = sys::ip_batch(&p.ip, &[], &lines, true, "removing the lab's VIP routes");
}
