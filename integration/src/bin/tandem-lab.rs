//! `tandem-lab`: bring a lab of namespaced sshd nodes up and down. All the work is in
//! `tandem_integration::lab`; this file only parses arguments and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tandem_integration::lab::{self, Lab, LabError};

#[derive(Parser)]
#[command(
    name = "tandem-lab",
    version,
    about = "A lab of ssh nodes in namespaces, for testing tandem"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bring up N nodes and write DIR/inventory.yml, DIR/known_hosts and DIR/id_ed25519.
    Up {
        /// The lab directory (created if needed).
        #[arg(long)]
        dir: PathBuf,
        /// Number of nodes (1 to 200); clusters of two are made from them.
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Add MS of round-trip time to every ssh connection: a delay proxy on the bridge address
        /// (one port per node) stands in front of each sshd, and the inventory points there.
        #[arg(long, value_name = "MS")]
        latency_ms: Option<u32>,
        /// Leave the OpenSVC agent out: no agent in the nodes, `opensvc: false` in the inventory.
        #[arg(long, conflicts_with = "opensvc_tarball")]
        no_opensvc: bool,
        /// The OpenSVC v2 agent's source tarball installed in every node [default:
        /// $TANDEM_LAB_OPENSVC_TARBALL, else ../shared/opensvc/opensvc-agent-*.tar.gz beside the
        /// repository].
        #[arg(long, value_name = "PATH")]
        opensvc_tarball: Option<PathBuf>,
    },
    /// Remove every namespace, interface, mount, process and file of the lab in DIR.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show each node of the lab in DIR and whether its sshd listens.
    Status {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The delay proxy of a lab (started by `up --latency-ms`, not by hand).
    #[command(name = "__delay-proxy", hide = true)]
    DelayProxy {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        latency_ms: u32,
        #[arg(long)]
        listen: std::net::Ipv4Addr,
        /// PORT=NODE_ADDRESS, once per node.
        #[arg(long, value_parser = lab::delay::parse_route)]
        route: Vec<(u16, std::net::Ipv4Addr)>,
    },
    /// The OVH API simulator of a lab (started by `up`, not by hand); reads `AK AS CK` on stdin.
    #[command(name = "__ovh-api", hide = true)]
    OvhApi {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        listen: std::net::Ipv4Addr,
        #[arg(long)]
        bridge: String,
        /// SERVICE_NAME=NODE_ADDRESS, once per node.
        #[arg(long, value_parser = tandem_integration::ovh_sim::parse_service)]
        service: Vec<(String, std::net::Ipv4Addr)>,
        /// VIP=SERVICE_NAME it is routed to at start, once per cluster.
        #[arg(long, value_parser = tandem_integration::ovh_sim::parse_vip)]
        vip: Vec<(std::net::Ipv4Addr, String)>,
        #[arg(long, default_value_t = 2000)]
        task_ms: u64,
        #[arg(long, default_value_t = 1000)]
        list_lag_ms: u64,
    },
    /// PID 1 of a node (started by `up`, not by hand).
    #[command(name = "__node-init", hide = true)]
    NodeInit {
        #[arg(long)]
        name: String,
        #[arg(long)]
        node_dir: PathBuf,
        /// The lab's OpenSVC agent tree, mounted read-only at /usr/share/opensvc.
        #[arg(long)]
        opensvc: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandem-lab: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cmd: Cmd) -> Result<ExitCode, LabError> {
    match cmd {
        Cmd::Up {
            dir,
            nodes,
            latency_ms,
            no_opensvc,
            opensvc_tarball,
        } => {
            let options = lab::UpOptions {
                latency_ms,
                opensvc: !no_opensvc,
                opensvc_tarball,
            };
            let lab = Lab::up_with(&dir, nodes, &options)?;
            print!("{}", lab.summary());
        }
        Cmd::Down { dir } => {
            if lab::down_dir(&dir)? {
                println!("lab in {} is down", dir.display());
            } else {
                println!("no lab in {}: nothing to do", dir.display());
            }
        }
        Cmd::Status { dir } => {
            let nodes = lab::status(&dir)?;
            let mut all_up = true;
            for n in &nodes {
                all_up &= n.sshd_listening;
                println!(
                    "{:<8} {:<15} init {:<7} sshd {}",
                    n.name,
                    n.address,
                    if n.init_running { "running" } else { "dead" },
                    if n.sshd_listening {
                        "listening"
                    } else {
                        "down"
                    }
                );
            }
            if !all_up {
                return Ok(ExitCode::from(1));
            }
        }
        Cmd::DelayProxy {
            dir,
            latency_ms,
            listen,
            route,
        } => {
            return Ok(ExitCode::from(
                lab::delay::serve(&dir, latency_ms, listen, &route) as u8,
            ));
        }
        Cmd::OvhApi {
            dir,
            listen,
            bridge,
            service,
            vip,
            task_ms,
            list_lag_ms,
        } => {
            let config = tandem_integration::ovh_sim::SimConfig {
                dir,
                listen,
                bridge,
                services: service,
                vips: vip,
                task_duration: std::time::Duration::from_millis(task_ms),
                list_lag: std::time::Duration::from_millis(list_lag_ms),
            };
            return Ok(ExitCode::from(
                tandem_integration::ovh_sim::serve(config) as u8
            ));
        }
        Cmd::NodeInit {
            name,
            node_dir,
            opensvc,
        } => {
            return Ok(ExitCode::from(
                lab::init::run(&name, &node_dir, opensvc.as_deref()) as u8,
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
