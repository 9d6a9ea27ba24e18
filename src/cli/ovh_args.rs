//! The flags of the subcommands that talk to OVH's API: `vip`, `failover-test` and
//! `inventory import`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem vip status -i inventory.yml
  tandem vip move -i inventory.yml --cluster pair1 --to node2

Exit status: 0 success; 1 OVH's API refused or the move did not complete; 2 bad input, flags or \
credentials (nothing was sent); 70 internal error.")]
pub struct VipArgs {
    #[command(subcommand)]
    pub command: VipCommand,
}

#[derive(Debug, Subcommand)]
pub enum VipCommand {
    /// For each selected cluster: its VIP, and the OVH server and inventory node it is routed to.
    Status(VipStatusArgs),
    /// Route a cluster's VIP to another of its nodes and wait until OVH has done it.
    Move(VipMoveArgs),
}

/// How `tandem vip` talks to OVH's API. Credentials come from OVH_* variables or ovh.conf (see
/// the inventory's `ovh:` section), never from the command line.
#[derive(Debug, Args)]
pub struct OvhApiArgs {
    /// Give up on one API request after this many seconds (retried like a 5xx answer).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout: u64,

    /// Wait before retrying a request that got a 5xx or 429 answer or none at all, in ms;
    /// doubled before each further attempt.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub retry_base_ms: u64,

    /// The ovh.conf holding OVH's API credentials, instead of the inventory's `ovh.config` or
    /// the usual search.
    #[arg(long, value_name = "FILE")]
    pub ovh_config: Option<PathBuf>,
}

/// `failover-test`: a game day (its flags), or `failover-test history`. Written by hand
/// because clap's derive cannot leave a flattened struct with required flags unset when a
/// subcommand is given.
#[derive(Debug)]
pub enum FailoverTestCli {
    Run(Box<FailoverTestArgs>),
    History(FailoverHistoryArgs),
}

impl clap::FromArgMatches for FailoverTestCli {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand() {
            Some(("history", sub)) => Ok(FailoverTestCli::History(
                FailoverHistoryArgs::from_arg_matches(sub)?,
            )),
            _ => Ok(FailoverTestCli::Run(Box::new(
                FailoverTestArgs::from_arg_matches(matches)?,
            ))),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for FailoverTestCli {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let cmd = FailoverTestArgs::augment_args(cmd);
        FailoverTestCommand::augment_subcommands(cmd)
            .subcommand_negates_reqs(true)
            .args_conflicts_with_subcommands(true)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Debug, Subcommand)]
pub enum FailoverTestCommand {
    /// List the game days kept (newest last): when, cluster, scenario, verdict, downtime.
    #[command(after_help = "Examples:
  tandem failover-test history
  tandem failover-test history --cluster pair1 --json

Exit status: 0; 2 when the history directory cannot be read.")]
    History(FailoverHistoryArgs),
}

#[derive(Debug, Args)]
pub struct FailoverHistoryArgs {
    /// Only this cluster's game days.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,

    /// Only this scenario's (`switch` for the planned switch).
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Option<String>,

    /// Where the game days are kept (default as for `failover-test --history`).
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,

    /// One JSON object on stdout: `{"dir": ..., "runs": [...]}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem inventory import --from-ovh
  tandem inventory import --from-ovh --pair ns3001234,ns3005678 -o inventory.yml

Exit status: 0 when written (or listed); 1 when OVH's API fails; 2 for bad flags.")]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Write an inventory of the OVH account's dedicated servers and failover IPs. Without
    /// --pair it lists them (node name, service name, address, failover IPs) and writes nothing.
    #[command(after_help = "Examples:
  tandem inventory import --from-ovh
  tandem inventory import --from-ovh --pair ns3001234,ns3005678 -o inventory.yml
  tandem inventory import --from-ovh --pair web=ns1,ns2,203.0.113.5 --ovh-conf ~/ovh.conf

Exit status: 0 when written (or listed); 1 when OVH's API fails; 2 for bad flags or a --pair
that does not fit the account.")]
    Import(InventoryImportArgs),
}

#[derive(Debug, Args)]
pub struct InventoryImportArgs {
    /// Read the servers and failover IPs from OVH's API (credentials from the environment or
    /// ovh.conf, as the official clients read them). The only source for now.
    #[arg(long, required = true)]
    pub from_ovh: bool,

    /// The ovh.conf to read (default: ./ovh.conf, ~/.ovh.conf, /etc/ovh.conf); written into
    /// the inventory's `ovh:` section.
    #[arg(long, value_name = "PATH")]
    pub ovh_conf: Option<PathBuf>,

    /// The API endpoint (ovh-eu, ovh-ca, ..., or a URL); default: OVH_ENDPOINT or ovh.conf's.
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<String>,

    /// A cluster of two servers: `NODE1,NODE2`, `NAME=NODE1,NODE2` or `...,VIP` when the two
    /// hold more than one failover IP. Servers by node name (first label of the service name)
    /// or service name. Repeat for each pair; clusters are named pair1, pair2, ... by default.
    #[arg(long, value_name = "[NAME=]A,B[,VIP]")]
    pub pair: Vec<String>,

    /// Write the inventory here (refused if it exists, unless --force); default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite the -o file.
    #[arg(long)]
    pub force: bool,

    /// The `ssh: user:` written.
    #[arg(long, value_name = "USER", default_value = "root")]
    pub ssh_user: String,

    /// The `ssh: identity:` written (a private key path).
    #[arg(long, value_name = "PATH")]
    pub identity: Option<String>,

    /// The `ssh: known_hosts:` written.
    #[arg(long, value_name = "PATH")]
    pub known_hosts: Option<String>,

    #[command(flatten)]
    pub api: OvhApiArgs,
}

#[derive(Debug, Args)]
pub struct VipStatusArgs {
    /// Inventory file (YAML).
    #[arg(short, long, value_name = "INVENTORY", env = "TANDEM_INVENTORY")]
    pub inventory: PathBuf,

    /// Only this cluster (default: every cluster that has a `vip`).
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,

    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub api: OvhApiArgs,
}

#[derive(Debug, Args)]
pub struct VipMoveArgs {
    /// Inventory file (YAML).
    #[arg(short, long, value_name = "INVENTORY", env = "TANDEM_INVENTORY")]
    pub inventory: PathBuf,

    /// The cluster whose VIP moves.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,

    /// The node of that cluster the VIP goes to (its `service_name` is the OVH server).
    #[arg(long, value_name = "NODE")]
    pub to: String,

    /// Print one JSON object on stdout (with every event) instead of events as they happen.
    #[arg(long)]
    pub json: bool,

    /// Seconds between two looks at the move task (decimals allowed). OVH allows about 60
    /// requests a minute: keep a few seconds on the real API.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_seconds)]
    pub poll_interval: std::time::Duration,

    /// Give up when the move has not finished after this many seconds (a real move takes
    /// about a minute).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// When another move of the VIP is pending, wait for it to end and then move (by default
    /// the preflight refuses, as it does when OVH says the target cannot take the IP or the
    /// keys lack a right the move needs).
    #[arg(long)]
    pub wait_pending: bool,

    #[command(flatten)]
    pub api: OvhApiArgs,
}

/// A `--...-secs` value refused while parsing; clap puts the flag before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SecondsError {
    #[error("'{0}' is not a number of seconds (e.g. 3 or 0.5)")]
    NotANumber(String),
    /// As written (trimmed): `1e300` shown in full would be three hundred digits.
    #[error("{0} is out of range: use 0.05 to 3600")]
    OutOfRange(String),
}

/// A positive number of seconds, decimals allowed, at most an hour.
fn parse_seconds(text: &str) -> Result<std::time::Duration, SecondsError> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| SecondsError::NotANumber(text.to_string()))?;
    if !(0.05..=3600.0).contains(&seconds) {
        return Err(SecondsError::OutOfRange(text.trim().to_string()));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// `failover-test --scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioArg {
    Switch,
    NodeCrash,
    NetworkSplit,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem failover-test -i inventory.yml --cluster pair1
  tandem failover-test -i inventory.yml --cluster pair1 --to node2 --flip-back --report day.html
  tandem failover-test -i inventory.yml --cluster pair1 --scenario node-crash --yes-really
  tandem failover-test history --cluster pair1

Exit status: 0 when the verdict is pass; 1 when it fails (or an ALARM was raised); 2 bad input \
or flags (nothing was sent); 70 internal error; 130 Ctrl-C.")]
pub struct FailoverTestArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Keep this game day's JSON in DIR (default: $XDG_STATE_HOME/tandem/game-days, else
    /// ~/.local/state/tandem/game-days); the HTML report compares it with the previous runs
    /// of the same cluster and scenario kept there.
    #[arg(long = "history", id = "history_dir", value_name = "DIR")]
    pub history: Option<PathBuf>,

    /// The cluster whose service is switched over.
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: String,

    /// The node to switch to (default: the node the VIP is not routed to).
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,

    /// Then switch back to where it started, measured the same way.
    #[arg(long)]
    pub flip_back: bool,

    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// What to play: `switch` (the planned switch-over), `node-crash` (the active server's
    /// power is cut through OVH's hard reboot; its peer's OpenSVC agent must take over, then
    /// the crashed server boots and rejoins) or `network-split` (the link between the nodes is
    /// cut while both stay up: fails when both serve at once or the VIP flaps).
    #[arg(long, value_enum, default_value_t = ScenarioArg::Switch)]
    pub scenario: ScenarioArg,

    /// How long a network-split lasts, in seconds: longer than the agent's heartbeat timeout
    /// (15 s) and its takeover, or nothing happens.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub split_seconds: u64,

    /// Confirms a scenario that takes a server down hard (node-crash): refused without it,
    /// `--yes` included.
    #[arg(long)]
    pub yes_really: bool,

    /// Switch without OpenSVC: tandem stops the service on the source, moves the VIP through
    /// the API, starts the service on the target and runs its triggers, over SSH. The default
    /// runs the cluster's `switch_command` (OpenSVC's `om SERVICE switch --to NODE`).
    #[arg(long)]
    pub direct: bool,

    /// Print one JSON object on stdout (the live view goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Also write a self-contained HTML page with the timeline drawn.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The longest acceptable outage, in seconds (default: the cluster's `rto_seconds` var, else
    /// 120).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub rto: Option<std::time::Duration>,

    /// The RPO budget, in seconds: how old the data on the node that takes over may be (the
    /// last completed sync of the service's rsync resources); a flip over it fails (default:
    /// the cluster's `rpo_seconds` var, else measured but not judged).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub rpo: Option<std::time::Duration>,

    /// Time between two probes of the service, in ms (at least 20).
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(20..=10_000))]
    pub probe_interval: u64,

    /// Seconds between two looks at OVH's move task (default: the cluster's `ovh_poll_seconds`
    /// var, else 3: OVH allows about 60 requests a minute).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub poll_interval: Option<std::time::Duration>,

    /// Give up on a move that has not finished after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub move_timeout: u64,

    #[command(flatten)]
    pub api: OvhApiArgs,
}
