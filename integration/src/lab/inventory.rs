//! The files a lab hands to tandem: inventory.yml and known_hosts.
//!
//! The inventory is written by hand rather than serialised: tandem parses it with
//! `deny_unknown_fields`, so it must hold exactly these keys, in a layout a person reads easily.

use std::fmt::Write;

use super::{LabCluster, LabNode};

/// Every cluster's service: container `web` at 192.168.0.10 behind each node's br0, its data on
/// a 512 MiB file attached to a loop device and mounted at /srv/web.
const SERVICE_VARS: &str = "      service: web
      container: web
      container_address: 192.168.0.10/24
      disk: {kind: loop, file: /var/lib/tandem/disks/web.img, size: 512M, link: /var/lib/tandem/disks/web.dev}
";

/// `ovh_endpoint`: the simulator's URL; its keys are in ovh.conf next to the inventory.
pub fn inventory_yaml(
    slot: u16,
    nodes: &[LabNode],
    clusters: &[LabCluster],
    ovh_endpoint: Option<&str>,
    ovh_conf: Option<&std::path::Path>,
    opensvc: bool,
) -> String {
    let mut y = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        y,
        "# Written by tandem-lab up: lab slot {slot}, {} nodes in {} clusters.",
        nodes.len(),
        clusters.len()
    );
    y.push_str(
        "ssh:\n  user: root\n  identity: id_ed25519        # paths are relative to the inventory file\n  known_hosts: known_hosts\n  connect_timeout: 5          # seconds\n",
    );
    if let Some(url) = ovh_endpoint {
        let _ = writeln!(
            y,
            "ovh:\n  endpoint: {url}   # the lab's OVH API simulator\n  config: ovh.conf"
        );
    }
    // What playbooks/ovh-lxc-cluster.yml needs here: the kernel has no dummy interface driver
    // (the lab made a veth for br0's port), device-mapper does not work (a loop device stands in
    // for the LVM volume; its link lives in the node's own files, /dev being the host's), and the
    // container serves a page the failover probes read.
    let _ = writeln!(
        y,
        "vars:\n  lab: true\n  bridge_ports: {}\n  container_httpd: true",
        super::net::BRIDGE_PORT
    );
    // With the agent (installed by `up` from its tarball), it starts the service and game days
    // switch through it. Without (`--no-opensvc`), game days switch with --direct, and the
    // cookbook starts the service (VIP on the container, route trigger) the way `om start` would.
    // The failover trigger reads the simulator's keys; the simulator's task takes 2 s, so it is
    // polled every second and the RTO budget is a few seconds.
    let _ = writeln!(
        y,
        "  opensvc: {opensvc}\n  ovh_poll_seconds: 1\n  rto_seconds: 5"
    );
    if opensvc {
        // The lab installed the agent from its tarball: the playbook only checks `om` is there.
        y.push_str("  opensvc_source: preinstalled\n");
    }
    if let Some(conf) = ovh_conf {
        let _ = writeln!(y, "  ovh_credentials: {}", conf.display());
    }
    y.push_str("clusters:\n");
    for cluster in clusters {
        let _ = writeln!(
            y,
            "  {}:\n    vip: {}\n    nodes:",
            cluster.name, cluster.vip
        );
        for node in nodes.iter().filter(|n| n.cluster == cluster.name) {
            // Behind the delay proxy (`up --latency-ms`), clients go through it.
            let endpoint = node.ssh_endpoint();
            let _ = writeln!(
                y,
                "      {}:\n        address: {}",
                node.name,
                endpoint.ip()
            );
            if endpoint.port() != 22 {
                let _ = writeln!(y, "        port: {}", endpoint.port());
            }
            let _ = writeln!(y, "        service_name: {}", node.service_name);
        }
        let _ = write!(y, "    vars:\n{SERVICE_VARS}");
    }
    y
}

/// One line per node, `ADDRESS ssh-ed25519 AAAA...`, from the host keys the nodes really use;
/// behind the delay proxy also `[PROXY]:PORT ssh-ed25519 AAAA...` (the same key).
pub fn known_hosts(nodes: &[LabNode], host_keys: &[String]) -> String {
    nodes
        .iter()
        .zip(host_keys)
        .map(|(node, key)| match node.ssh_proxy {
            Some(p) => format!("{} {key}\n[{}]:{} {key}\n", node.address, p.ip(), p.port()),
            None => format!("{} {key}\n", node.address),
        })
        .collect()
}
