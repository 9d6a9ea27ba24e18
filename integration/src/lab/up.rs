//! `tandem-lab up`: claim a slot, make the bridge, then bring the nodes up in parallel.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::error::LabError;
use super::sys::{self, Programs};
use super::{
    Holder, Lab, LabCluster, LabNode, MAX_NODES, UpOptions, delay, down, inventory, net, no_route,
    node, opensvc, ovh_api, slot, state, vip,
};

/// Nodes set up at once. Each costs a few short processes (ssh-keygen, ip, nsenter, sshd); more
/// threads than this only queue on 2 cores.
const WORKERS: usize = 32;

/// What bringing up one node yields: its init's host PID and its host key line.
type NodeResult = Result<(u32, String), LabError>;

/// With `held`, the lab records this process as its holder (see `Lab::held_by`).
pub fn up(dir: &Path, nodes: usize, held: bool) -> Result<Lab, LabError> {
    up_with(dir, nodes, held, None)
}

/// `up`, plus a delay proxy in front of every sshd when `latency_ms` is given (see `delay`).
pub fn up_with(
    dir: &Path,
    nodes: usize,
    held: bool,
    latency_ms: Option<u32>,
) -> Result<Lab, LabError> {
    let options = UpOptions {
        latency_ms,
        ..UpOptions::default()
    };
    up_with_options(dir, nodes, held, &options)
}

/// `up` with every option: the delay proxy, the OpenSVC agent.
pub fn up_with_options(
    dir: &Path,
    nodes: usize,
    held: bool,
    options: &UpOptions,
) -> Result<Lab, LabError> {
    let latency_ms = options.latency_ms;
    sys::require_root()?;
    let programs = Programs::find()?;
    let lab_bin = sys::lab_binary()?;
    if !(1..=MAX_NODES).contains(&nodes) {
        return Err(LabError::Usage(format!(
            "--nodes must be between 1 and {MAX_NODES} (got {nodes})"
        )));
    }
    if let Some(ms) = latency_ms.filter(|&ms| ms > delay::MAX_LATENCY_MS) {
        return Err(LabError::Usage(format!(
            "--latency-ms must be at most {} (got {ms})",
            delay::MAX_LATENCY_MS
        )));
    }
    // Before anything is made: a missing tarball is a usage error, not a half-built lab.
    let tarball = if options.opensvc {
        Some(opensvc::find_tarball(options.opensvc_tarball.as_deref())?)
    } else {
        None
    };
    let dir = lab_dir(dir)?;

    if let Some(old) = state::read(&dir)? {
        if down::is_running(&old) {
            return Err(LabError::AlreadyRunning {
                dir,
                slot: old.slot,
            });
        }
        // A dead lab's leftovers: clear them and take the directory over.
        down::down_dir(&dir)?;
    }

    let mut lab = {
        let lock = slot::lock()?;
        let slot = slot::claim(&lock, &programs, &dir)?;
        // VIPs are chosen and recorded under the lock: the next lab sees them taken.
        let made = vip::allocate(&lock, &programs, slot, nodes.div_ceil(2)).and_then(|vips| {
            let mut lab = plan(&dir, slot, nodes, &vips);
            lab.held_by = if held { Holder::me() } else { None };
            lab.opensvc = tarball.is_some();
            // Recorded before anything else exists, so that `down` can always clean up after us.
            state::save(&lab)?;
            net::create_bridge(&programs, slot)?;
            Ok(lab)
        });
        drop(lock);
        match made {
            Ok(lab) => lab,
            Err(e) => {
                let _ = down::down_dir(&dir);
                return Err(e);
            }
        }
    };

    match build(
        &programs,
        &lab_bin,
        &mut lab,
        latency_ms,
        tarball.as_deref(),
    ) {
        Ok(()) => Ok(lab),
        Err(e) => {
            if let Err(cleanup) = down::down_dir(&dir) {
                eprintln!("tandem-lab: cleaning up after a failed up: {cleanup}");
            }
            Err(e)
        }
    }
}

/// The lab directory, created if needed, as an absolute path without symlinks. Its path ends up
/// in overlayfs mount options, which cannot carry `,` `:` or `\`.
fn lab_dir(dir: &Path) -> Result<PathBuf, LabError> {
    fs::create_dir_all(dir).map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
    let dir = fs::canonicalize(dir)
        .map_err(|e| LabError::io(format!("resolving {}", dir.display()), e))?;
    let text = dir.to_str().ok_or_else(|| {
        LabError::Usage(format!("the lab directory {} is not UTF-8", dir.display()))
    })?;
    if text.contains([',', ':', '\\', '\n', ' ', '\t']) {
        return Err(LabError::Usage(format!(
            "the lab directory {text} must not contain spaces, `,`, `:` or `\\` (overlayfs options)"
        )));
    }
    Ok(dir)
}

/// Names, addresses and clusters of a new lab: node i is node{i} in pair{ceil(i/2)}, cluster k
/// has VIP `vips[k-1]`.
fn plan(dir: &Path, slot: u16, count: usize, vips: &[std::net::Ipv4Addr]) -> Lab {
    let nodes: Vec<LabNode> = (1..=count)
        .map(|i| {
            let name = format!("node{i}");
            let node_dir = state::node_dir(dir, &name);
            LabNode {
                cluster: format!("pair{}", i.div_ceil(2)),
                address: slot::node_address(slot, i),
                service_name: format!("{name}.lab.invalid"),
                netns: slot::netns_name(slot, i),
                veth: slot::veth_name(slot, i),
                init_pid: 0,
                upper_dir: node::upper_dir(&node_dir),
                sshd_log: node_dir.join("sshd.log"),
                ssh_proxy: None,
                node_dir,
                name,
            }
        })
        .collect();
    let clusters = (1..=count.div_ceil(2))
        .map(|k| LabCluster {
            name: format!("pair{k}"),
            vip: vips[k - 1],
            nodes: nodes
                .iter()
                .filter(|n| n.cluster == format!("pair{k}"))
                .map(|n| n.name.clone())
                .collect(),
        })
        .collect();
    Lab {
        version: state::VERSION,
        dir: dir.to_path_buf(),
        slot,
        bridge: slot::bridge_name(slot),
        bridge_address: slot::bridge_address(slot),
        complete: false,
        held_by: None,
        delay_proxy: None,
        ovh_api: None,
        opensvc: false,
        nodes,
        clusters,
    }
}

fn build(
    p: &Programs,
    lab_bin: &Path,
    lab: &mut Lab,
    latency_ms: Option<u32>,
    tarball: Option<&Path>,
) -> Result<(), LabError> {
    let dir = lab.dir.clone();
    // The agent's tree exists before any node starts: each node's init mounts it.
    if let Some(tarball) = tarball {
        opensvc::extract(tarball, &dir)?;
        sys::trace("up: OpenSVC agent extracted");
    }
    let agent_tree = tarball.map(|_| opensvc::tree(&dir));
    let agent_tree = agent_tree.as_deref();
    let identity = state::identity(&dir);
    for path in [&identity, &state::identity_pub(&dir)] {
        let _ = fs::remove_file(path);
    }
    sys::run(
        sys::command(&p.ssh_keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("tandem-lab@slot{}", lab.slot))
            .arg("-f")
            .arg(&identity),
        "generating the lab key pair",
    )?;
    // ssh-keygen leaves the public half world-readable; the lab keeps both halves to root.
    fs::set_permissions(state::identity_pub(&dir), fs::Permissions::from_mode(0o600))
        .map_err(|e| LabError::io("chmod id_ed25519.pub", e))?;
    let client_pub = fs::read_to_string(state::identity_pub(&dir))
        .map_err(|e| LabError::io("reading id_ed25519.pub", e))?;

    // Each node: (init pid, host key line), filled in by the workers.
    let results: Vec<Mutex<Option<NodeResult>>> =
        lab.nodes.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let slot = lab.slot;
    thread::scope(|s| {
        for _ in 0..WORKERS.min(lab.nodes.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(n) = lab.nodes.get(i) else { break };
                    let result = bring_up(p, lab_bin, slot, n, &client_pub, agent_tree);
                    if let Ok(mut r) = results[i].lock() {
                        *r = Some(result);
                    }
                }
            });
        }
    });

    let mut host_keys = Vec::with_capacity(lab.nodes.len());
    for (n, result) in lab.nodes.iter_mut().zip(results) {
        let result = result.into_inner().ok().flatten().unwrap_or_else(|| {
            Err(LabError::Node {
                node: n.name.clone(),
                detail: "its setup thread died".into(),
            })
        });
        let (pid, key) = result?;
        n.init_pid = pid;
        host_keys.push(key);
    }
    if agent_tree.is_some() {
        start_daemons(p, &lab.nodes)?;
        sys::trace("up: OpenSVC daemons running");
    }
    if let Some(ms) = latency_ms {
        delay::start(lab_bin, lab, ms)?;
    }
    vip::install_routes(p, lab)?;
    ovh_api::start(lab_bin, lab)?;

    sys::write_file(
        &state::known_hosts(&dir),
        inventory::known_hosts(&lab.nodes, &host_keys).as_bytes(),
        0o644,
    )?;
    sys::write_file_atomic(
        &state::inventory(&dir),
        inventory::inventory_yaml(
            lab.slot,
            &lab.nodes,
            &lab.clusters,
            lab.ovh_api.as_ref().map(|api| api.url.as_str()),
            lab.ovh_api
                .as_ref()
                .map(|_| ovh_api::ovh_conf(&dir))
                .as_deref(),
            lab.opensvc,
        )
        .as_bytes(),
        0o644,
    )?;
    lab.complete = true;
    state::save(lab)
}

/// The agent's daemon in every node, started in parallel (each start is 2 s of Python start-up).
fn start_daemons(p: &Programs, nodes: &[LabNode]) -> Result<(), LabError> {
    thread::scope(|s| {
        let starts: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(move || opensvc::start_daemon(p, n)))
            .collect();
        starts
            .into_iter()
            .zip(nodes)
            .map(|(start, n)| {
                start.join().unwrap_or_else(|_| {
                    Err(LabError::Node {
                        node: n.name.clone(),
                        detail: "the thread starting its OpenSVC daemon died".into(),
                    })
                })
            })
            .collect::<Result<Vec<()>, LabError>>()
    })
    .map(|_| ())
}

/// One node, start to finish: files, namespace, wiring, init, and the wait for its sshd.
fn bring_up(
    p: &Programs,
    lab_bin: &Path,
    slot: u16,
    n: &LabNode,
    client_pub: &str,
    agent_tree: Option<&Path>,
) -> NodeResult {
    let host_key = node::prepare(p, n, client_pub)?;
    no_route::apply(&n.upper_dir)?;
    if agent_tree.is_some() {
        opensvc::prepare_node(n)?;
    }
    net::create_netns(p, &n.netns)?;
    net::wire_node(p, slot, &n.veth, &n.netns, n.address)?;
    let mut child = node::start(p, lab_bin, n, agent_tree)?;
    let ready = node::wait_ready(n, &mut child);
    // The `unshare` process waits for the init until `down`; reap it whenever that is, so that no
    // zombie lingers in a long-lived caller (a test binary).
    thread::spawn(move || {
        let _ = child.wait();
    });
    Ok((ready?, host_key))
}
