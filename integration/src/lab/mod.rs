//! The tandem test lab: N "servers" on this machine, each a set of namespaces with an overlay root
//! and a real OpenSSH sshd, on a bridge of their own. See DESIGN.md section 5.
//!
//! ```no_run
//! use tandem_integration::lab::TempLab;
//! let lab = TempLab::new(2); // taken down when dropped
//! let out = lab.exec("node1", "hostname").unwrap();
//! assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "node1");
//! ```

pub mod delay;
mod down;
mod error;
pub mod init;
mod inventory;
mod net;
mod no_route;
mod node;
pub mod opensvc;
pub mod ovh_api;
mod power;
mod slot;
pub(crate) mod state;
pub(crate) mod sys;
mod temp;
mod up;
mod vip;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub use delay::DelayProxy;
pub use error::LabError;
pub use no_route::MESSAGE as NO_ROUTE_MESSAGE;
pub use ovh_api::OvhApi;
pub use temp::TempLab;

/// Most nodes one lab may have (addresses .11 to .210 of its /24).
pub const MAX_NODES: usize = 200;

/// A running lab, as recorded in DIR/lab.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    version: u32,
    dir: PathBuf,
    slot: u16,
    bridge: String,
    bridge_address: Ipv4Addr,
    /// False while `up` is still at work (or died in the middle): `down` still knows what to remove.
    complete: bool,
    /// For a test's lab (TempLab): the process that owns it. When that process is gone (a test
    /// runner killed it on a timeout) the lab is abandoned, and the next `up` reclaims its slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held_by: Option<Holder>,
    /// With `up --latency-ms`: the delay proxy in front of every node's sshd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay_proxy: Option<DelayProxy>,
    /// The OVH API simulator (every complete lab has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ovh_api: Option<OvhApi>,
    /// Whether the OpenSVC agent is installed (DIR/opensvc) and its daemon started in every node.
    /// Left out when false: a tandem-lab without this field (another checkout's, running labs
    /// at the same time) then still reads this lab.json, and so still sees its slot and VIPs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    opensvc: bool,
    nodes: Vec<LabNode>,
    clusters: Vec<LabCluster>,
}

/// How `up` builds a lab, beyond its directory and node count. The default is the lab without
/// the OpenSVC agent (what most tests want: the agent costs 70 MB and CPU per node).
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Add this round-trip time to every ssh connection (`--latency-ms`).
    pub latency_ms: Option<u32>,
    /// Install the OpenSVC agent in every node and start its daemon (`tandem-lab up` does by
    /// default; `--no-opensvc` turns it off).
    pub opensvc: bool,
    /// The agent's source tarball (`--opensvc-tarball`); by default $TANDEM_LAB_OPENSVC_TARBALL,
    /// else ../shared/opensvc/opensvc-agent-*.tar.gz beside the repository.
    pub opensvc_tarball: Option<PathBuf>,
}

/// A process, named by PID and start time (a PID alone may be recycled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holder {
    pid: u32,
    start_time: u64,
}

impl Holder {
    fn me() -> Option<Holder> {
        let pid = std::process::id();
        sys::process_start_time(pid).map(|start_time| Holder { pid, start_time })
    }

    fn alive(&self) -> bool {
        sys::process_start_time(self.pid) == Some(self.start_time)
    }
}

/// One node of a lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabNode {
    /// `node1`, `node2`, ...: also its hostname.
    pub name: String,
    /// `pair1`, `pair2`, ...
    pub cluster: String,
    pub address: Ipv4Addr,
    /// The server's name in (simulated) OVH's API: `node1.lab.invalid`.
    pub service_name: String,
    /// Its network namespace, under /run/netns.
    pub netns: String,
    /// The host-side end of its veth, a port of the lab bridge.
    pub veth: String,
    /// Host PID of the node's init (PID 1 in the node); 0 until the node answered.
    pub init_pid: u32,
    /// DIR/nodes/NAME: the node's files on the host.
    pub node_dir: PathBuf,
    /// The overlay upper dir: everything the node changed in its root file system.
    pub upper_dir: PathBuf,
    /// sshd's stderr (`sshd -e`).
    pub sshd_log: PathBuf,
    /// With `up --latency-ms`: where the delay proxy forwards to this node's sshd (the inventory
    /// and known_hosts point there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_proxy: Option<SocketAddrV4>,
}

impl LabNode {
    /// Where a client reaches this node's sshd: the delay proxy if the lab has one, else ADDRESS:22.
    pub fn ssh_endpoint(&self) -> SocketAddrV4 {
        self.ssh_proxy
            .unwrap_or_else(|| SocketAddrV4::new(self.address, 22))
    }
}

/// A cluster of (up to) two nodes sharing a VIP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabCluster {
    pub name: String,
    /// Unique among the labs running at the same time; routed to the first node at `up`.
    pub vip: Ipv4Addr,
    pub nodes: Vec<String>,
}

/// What `status` reports for one node.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub name: String,
    pub address: Ipv4Addr,
    pub init_running: bool,
    pub sshd_listening: bool,
}

impl Lab {
    /// Brings up `nodes` nodes with DIR as the lab directory (created if needed); same as
    /// `tandem-lab up --dir DIR --nodes N`. On failure everything made so far is removed again.
    pub fn up(dir: &Path, nodes: usize) -> Result<Lab, LabError> {
        up::up(dir, nodes, false)
    }

    /// `up`, with a delay proxy adding `latency_ms` to every round trip when given (same as
    /// `tandem-lab up --latency-ms MS`).
    pub fn up_with_latency(
        dir: &Path,
        nodes: usize,
        latency_ms: Option<u32>,
    ) -> Result<Lab, LabError> {
        up::up_with(dir, nodes, false, latency_ms)
    }

    /// `up` with every option (same as `tandem-lab up` with its flags).
    pub fn up_with(dir: &Path, nodes: usize, options: &UpOptions) -> Result<Lab, LabError> {
        up::up_with_options(dir, nodes, false, options)
    }

    /// The running lab recorded in DIR/lab.json.
    pub fn load(dir: &Path) -> Result<Lab, LabError> {
        let dir = std::fs::canonicalize(dir).map_err(|e| LabError::NoLab {
            dir: dir.to_path_buf(),
            why: e.to_string(),
        })?;
        match state::read(&dir)? {
            Some(lab) if lab.complete => Ok(lab),
            Some(_) => Err(LabError::NoLab {
                dir,
                why: "its `up` has not finished (or failed): run `tandem-lab down` on it".into(),
            }),
            None => Err(LabError::NoLab {
                dir,
                why: "there is no lab.json".into(),
            }),
        }
    }

    /// Removes every process, namespace, interface and mount of the lab and the files `up` wrote.
    pub fn down(&self) -> Result<(), LabError> {
        down::down_dir(&self.dir).map(|_| ())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn inventory(&self) -> PathBuf {
        state::inventory(&self.dir)
    }

    pub fn known_hosts(&self) -> PathBuf {
        state::known_hosts(&self.dir)
    }

    /// The private key authorized for root on every node.
    pub fn identity(&self) -> PathBuf {
        state::identity(&self.dir)
    }

    pub fn slot(&self) -> u16 {
        self.slot
    }

    /// The lab bridge in the root namespace (`tlb<slot>`).
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The bridge's address: the nodes' default gateway, and the root namespace as they see it.
    pub fn bridge_address(&self) -> Ipv4Addr {
        self.bridge_address
    }

    /// The delay proxy of a lab brought up with `--latency-ms`.
    pub fn delay_proxy(&self) -> Option<&DelayProxy> {
        self.delay_proxy.as_ref()
    }

    /// The OVH API simulator: its URL, and `/_lab/faults` at [`OvhApi::control_url`].
    pub fn ovh_api(&self) -> Option<&OvhApi> {
        self.ovh_api.as_ref()
    }

    /// DIR/ovh.conf (0600): the simulator's endpoint and keys, as the inventory names it.
    pub fn ovh_conf(&self) -> PathBuf {
        ovh_api::ovh_conf(&self.dir)
    }

    /// Whether the OpenSVC agent runs in the nodes (the inventory then says `opensvc: true`).
    pub fn has_opensvc(&self) -> bool {
        self.opensvc
    }

    pub fn nodes(&self) -> &[LabNode] {
        &self.nodes
    }

    pub fn clusters(&self) -> &[LabCluster] {
        &self.clusters
    }

    /// The node with this name; panics if there is none (a test's typo).
    pub fn node(&self, name: &str) -> &LabNode {
        self.try_node(name).unwrap_or_else(|| {
            panic!(
                "the lab in {} has no node named {name:?}",
                self.dir.display()
            )
        })
    }

    pub fn try_node(&self, name: &str) -> Option<&LabNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Runs `sh -c SCRIPT` inside the node (all its namespaces, its root and cwd), not over ssh.
    /// The environment is clean: PATH, HOME=/root, LC_ALL=C.
    pub fn exec(&self, node: &str, script: &str) -> std::io::Result<Output> {
        let node = self
            .try_node(node)
            .ok_or_else(|| std::io::Error::other(LabError::UnknownNode(node.to_string())))?;
        let programs = sys::Programs::find().map_err(std::io::Error::other)?;
        let pid = node.init_pid.to_string();
        Command::new(&programs.nsenter)
            .args([
                "-t", &pid, "-m", "-u", "-n", "-p", "-r", "-w", "--", "/bin/sh", "-c", script,
            ])
            .env_clear()
            .env("PATH", sys::SAFE_PATH)
            .env("HOME", "/root")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
    }

    /// Kills the node's sshd listener with SIGKILL (through its init) and waits until its port
    /// refuses connections. Sessions already open stay, as with a real sshd.
    pub fn kill_sshd(&self, node: &str) -> Result<(), LabError> {
        let n = self.live_node(node)?;
        signal_init(n, Signal::SIGUSR2)?;
        if node::poll_until(Duration::from_secs(5), || node::sshd_refuses(n.address)) {
            Ok(())
        } else {
            Err(LabError::Node {
                node: n.name.clone(),
                detail: format!("{}:22 still accepts connections after kill_sshd", n.address),
            })
        }
    }

    /// Starts the node's sshd again (through its init) and waits until it answers.
    pub fn start_sshd(&self, node: &str) -> Result<(), LabError> {
        let n = self.live_node(node)?;
        // Asked again every 500 ms: a request racing with the reaping of the old sshd is dropped
        // by the init (it still counts the old one as running).
        for _ in 0..(node::READY_TIMEOUT.as_millis() / 500) {
            signal_init(n, Signal::SIGUSR1)?;
            if node::poll_until(Duration::from_millis(500), || node::sshd_answers(n.address)) {
                return Ok(());
            }
        }
        Err(LabError::Node {
            node: n.name.clone(),
            detail: format!(
                "sshd did not answer again on {}:22; {}",
                n.address,
                sys::tail(&n.sshd_log, 5)
            ),
        })
    }

    /// Cuts the power of the node at `address` and boots it again after [`power::POWER_OFF`]
    /// (through its init): what OVH's `hardReboot` does to a server. Returns the node's name.
    pub fn power_cycle(&self, address: std::net::Ipv4Addr) -> Result<String, LabError> {
        let Some(n) = self.nodes.iter().find(|n| n.address == address) else {
            return Err(LabError::Node {
                node: address.to_string(),
                detail: "no node of this lab has that address".into(),
            });
        };
        let n = self.live_node(&n.name)?;
        signal_init(n, Signal::SIGPWR)?;
        Ok(n.name.clone())
    }

    /// Whether each node's init runs and its sshd accepts connections.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .map(|n| NodeStatus {
                name: n.name.clone(),
                address: n.address,
                init_running: init_running(n),
                sshd_listening: node::sshd_answers(n.address),
            })
            .collect()
    }

    /// A few lines for a person: what runs where, and where the inventory is.
    pub fn summary(&self) -> String {
        let (Some(first), Some(last)) = (self.nodes.first(), self.nodes.last()) else {
            return format!("lab in {}: no nodes\n", self.dir.display());
        };
        let span = |a: &str, b: &str| {
            if a == b {
                a.to_string()
            } else {
                format!("{a} .. {b}")
            }
        };
        let latency = match &self.delay_proxy {
            Some(p) => format!(
                "  latency:   {} ms round trip through the delay proxy on {}:{}-{}\n",
                p.latency_ms,
                self.bridge_address,
                first.ssh_endpoint().port(),
                last.ssh_endpoint().port()
            ),
            None => String::new(),
        };
        let ovh = match &self.ovh_api {
            Some(api) => format!(
                "  ovh api:   {} (keys in {})\n",
                api.url,
                self.ovh_conf().display()
            ),
            None => String::new(),
        };
        let agent = if self.opensvc {
            "  opensvc:   agent v2 in every node, daemon running (`om mon` in a node)\n"
        } else {
            ""
        };
        format!(
            "lab slot {} up: {} nodes in {} clusters\n  nodes:     {} at {}\n  bridge:    {} {}/24\n{latency}{ovh}{agent}  inventory: {}\n",
            self.slot,
            self.nodes.len(),
            self.clusters.len(),
            span(&first.name, &last.name),
            span(&first.address.to_string(), &last.address.to_string()),
            self.bridge,
            self.bridge_address,
            self.inventory().display()
        )
    }

    fn live_node(&self, name: &str) -> Result<&LabNode, LabError> {
        let n = self
            .try_node(name)
            .ok_or_else(|| LabError::UnknownNode(name.to_string()))?;
        if init_running(n) {
            Ok(n)
        } else {
            Err(LabError::Node {
                node: n.name.clone(),
                detail: format!("its init (pid {}) is not running", n.init_pid),
            })
        }
    }
}

/// True when the node's recorded init PID still is that init: alive, and living in the node's
/// network namespace (a recycled PID would not).
fn init_running(n: &LabNode) -> bool {
    let pid = n.init_pid as i32;
    pid > 0
        && sys::process_alive(pid)
        && sys::netns_inode(Path::new(&format!("/proc/{pid}/ns/net")))
            == sys::netns_inode(&Path::new("/run/netns").join(&n.netns))
}

fn signal_init(n: &LabNode, sig: Signal) -> Result<(), LabError> {
    kill(Pid::from_raw(n.init_pid as i32), sig).map_err(|e| {
        LabError::io(
            format!("signalling the init of {} (pid {})", n.name, n.init_pid),
            e.into(),
        )
    })
}

/// `tandem-lab down --dir DIR`: also works on a half-made lab or one whose nodes died. Returns
/// false when there was nothing to take down.
pub fn down_dir(dir: &Path) -> Result<bool, LabError> {
    down::down_dir(dir)
}

/// `tandem-lab status --dir DIR`.
pub fn status(dir: &Path) -> Result<Vec<NodeStatus>, LabError> {
    Ok(Lab::load(dir)?.status())
}
