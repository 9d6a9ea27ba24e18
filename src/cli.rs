//! Every flag of every subcommand, with its documentation, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Build and operate clustered LXC services on pairs of OVH dedicated servers",
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Colour: `auto` (on a terminal, unless NO_COLOR is set), `always` or `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t)]
    pub color: crate::report::color::ColorChoice,

    /// More detail: -v each step's output, -vv also the scripts sent, -vvv also the SSH
    /// conversation (on stderr).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Append everything -vvv shows to FILE (with timestamps), whatever -v says.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Read the flags' defaults from FILE instead of ./tandem.toml or
    /// ~/.config/tandem/tandem.toml (the command line and TANDEM_<KEY> variables still win).
    #[arg(long, global = true, value_name = "FILE", env = "TANDEM_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring every selected node to the state a playbook describes, all nodes at once.
    Deploy(DeployArgs),
    /// Run a command on every selected node, concurrently, and show each node's output.
    Run(RunArgs),
    /// Check that every selected node answers, and show its hostname, OS and kernel.
    Ping(PingArgs),
    /// Make the nodes of each cluster trust each other and their containers (root keys and
    /// pinned host keys), changing only the lines tandem wrote.
    Keys(KeysArgs),
    /// Render, compare or push the OpenSVC service config of each cluster.
    Config(ConfigArgs),
    /// Show or move a cluster's VIP (its OVH failover IP) through OVH's API.
    Vip(VipArgs),
    /// Write an inventory from what an OVH account holds (`import --from-ovh`).
    Inventory(InventoryArgs),
    /// The game day: switch a cluster's service to its other node (VIP moved through OVH's
    /// API), probe it all along, measure the outage, report it; optionally switch back.
    FailoverTest(FailoverTestCli),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = "Examples:
  tandem completions bash > /etc/bash_completion.d/tandem
  tandem completions zsh > \"${fpath[1]}/_tandem\"
  tandem completions fish > ~/.config/fish/completions/tandem.fish

Exit status: 0; 2 for an unknown shell.")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, generated from these same flags.
    #[command(after_help = "Examples:
  tandem man > /usr/local/share/man/man1/tandem.1
  tandem man | man -l -

Exit status: 0.")]
    Man,
}

/// Which nodes, for the subcommands that work node by node.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Only these nodes: names, cluster names or globs, separated by `,` or `:`;
    /// `!x` excludes, `&x` intersects (e.g. `pair*:!node3`).
    #[arg(short, long, value_name = "PATTERN")]
    pub limit: Option<String>,
}

/// Which clusters, for the subcommands that work on whole clusters (a pair's nodes must agree).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Only this cluster (default: every cluster of the inventory).
    #[arg(short = 'c', long, value_name = "CLUSTER")]
    pub cluster: Option<String>,
}

/// How to reach nodes; shared by every subcommand that connects.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Inventory file (YAML).
    #[arg(short, long, value_name = "INVENTORY", env = "TANDEM_INVENTORY")]
    pub inventory: PathBuf,

    /// How many nodes to work on at once.
    #[arg(short, long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,

    /// Record the host key of a node that is not in known_hosts yet, instead of refusing
    /// (like OpenSSH's StrictHostKeyChecking=accept-new). A changed key is always refused.
    #[arg(long)]
    pub accept_new: bool,

    /// Key-exchange algorithms in order of preference, comma-separated.
    /// [default: mlkem768x25519-sha256,curve25519-sha256,...]
    #[arg(long, value_name = "ALGS", value_delimiter = ',', env = "TANDEM_KEX")]
    pub kex: Vec<String>,

    /// Give up on a node that does not complete TCP connect, key exchange or login in this
    /// many seconds (overrides the inventory's ssh.connect_timeout).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connect_timeout: Option<u64>,

    /// Log in as this user on every node (over the inventory's `ssh.user` and nodes' `user`).
    #[arg(short = 'u', long, value_name = "USER", value_parser = crate::cli_values::login_user)]
    pub user: Option<String>,

    /// Private key (identity file) for every node (over the inventory's `ssh.identity` and
    /// nodes' `identity`).
    #[arg(long, value_name = "FILE", value_parser = crate::cli_values::private_key)]
    pub private_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem run -i inventory.yml -- uptime
  tandem run -i inventory.yml --limit pair1 --json -- 'df -h /'
  tandem run -i inventory.yml --output-dir out/ -- journalctl -u lxc -n 50

Exit status: 0 when every node ran the command with status 0; 1 otherwise (a node failed or was \
unreachable); 2 bad input or flags (nothing was sent); 70 internal error.")]
pub struct RunArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub select: LimitArgs,

    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also write each node's stdout, stderr and exit status, byte for byte, to
    /// DIR/NODE.stdout, DIR/NODE.stderr and DIR/NODE.status.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// The command, run by the login user's shell on each node.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem ping -i inventory.yml
  tandem ping -i inventory.yml --limit 'pair*:!node3' --json

Exit status: 0 when every node answered; 1 when one did not; 2 bad input or flags (nothing was \
sent); 70 internal error.")]
pub struct PingArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub select: LimitArgs,

    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Ctrl-C: no new step starts on any node (steps already queued on a node are \
skipped there); the running ones finish, then the recap is printed and tandem exits with 130. \
A second Ctrl-C abandons the running steps at once (connections closed), still with a recap, \
exit 130; a third exits at once. No handler starts after Ctrl-C (a re-run does not notify it again: do its work by hand); \
finish the steps with --resume.

Examples:
  tandem deploy -i inventory.yml playbooks/ovh-lxc-cluster.yml --check --diff
  tandem deploy -i inventory.yml site.yml --limit pair1 --tags network -e site=paris -v
  tandem deploy -i inventory.yml site.yml --syntax-check --list-tasks

Exit status: 0 when no node failed or was unreachable; 1 otherwise; 2 bad input or flags \
(nothing was sent); 70 internal error (a node left without a result); 130 Ctrl-C."
)]
pub struct DeployArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub select: LimitArgs,

    /// The playbook (YAML).
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: PathBuf,

    /// Change nothing: report what would change.
    #[arg(long, short = 'C')]
    pub check: bool,

    /// Show a unified diff for every file that changes (or would, with --check).
    #[arg(long, short = 'D')]
    pub diff: bool,

    /// Only steps with one of these tags (comma-separated; steps tagged `always` run too).
    #[arg(long, short = 't', value_name = "TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Leave out steps with any of these tags (comma-separated).
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub skip_tags: Vec<String>,

    /// Stop any step still running on a node after this many seconds (its process group is
    /// killed there) and fail it with "timed out after N s"; the other nodes go on. A step's or
    /// include's own `timeout` wins over this, this over the playbook's `timeout`, which wins
    /// over the module's default (`package`: 900 s).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub step_timeout: Option<u32>,

    /// Print one JSON object on stdout instead of progress and a recap.
    #[arg(long)]
    pub json: bool,

    /// Run the handlers notified so far on a node even after one of its steps failed (as
    /// Ansible's flag): the change that notified them is finished, the node still counts failed.
    #[arg(long)]
    pub force_handlers: bool,

    /// Roll out in batches of N hosts, or N% of them, one batch after the other.
    #[arg(long, value_name = "N|N%")]
    pub serial: Option<crate::engine::rollout::Serial>,

    /// Stop the rollout when more than this share of a batch's hosts fail (0: at the first
    /// failure); the batches after it are not touched.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_fail_percent: Option<u8>,

    /// Batches that hold at most one node of each cluster: first the nodes that do not hold the
    /// VIP (asked from OVH's API), then the others; a node that runs its cluster's `service`
    /// under the OpenSVC agent is drained first (switched to its peer, waited for); clusters
    /// with a `health_check` var must answer on their VIP before the next batch.
    #[arg(long)]
    pub rolling: bool,

    /// With --rolling: after a batch, hand each service drained off its nodes (switched to
    /// the peer through the OpenSVC agent) back to them.
    #[arg(long, requires = "rolling")]
    pub giveback: bool,

    /// Only the hosts that failed, were unreachable, were interrupted (Ctrl-C) or were not
    /// touched in an earlier run, read from its `--json` output.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Vars over every other var: NAME=VALUE (text), a YAML/JSON map ('{"port": 8080}'), or
    /// @FILE (a YAML map). Repeatable; a later one wins.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    /// Print the nodes --limit selects, then exit without connecting.
    #[arg(long)]
    pub list_hosts: bool,

    /// Print the steps --tags/--skip-tags select (name, tags, file:line) and the handlers,
    /// then exit without connecting.
    #[arg(long)]
    pub list_tasks: bool,

    /// Print every tag the playbook uses, then exit without connecting.
    #[arg(long)]
    pub list_tags: bool,

    /// Check the playbook, the inventory and -e (templates, `when`, names nothing defines,
    /// vars that read each other) and exit 0 or 2 without connecting.
    #[arg(long)]
    pub syntax_check: bool,

    #[command(flatten)]
    pub become_password: BecomePasswordArgs,

    /// With --rolling: the ovh.conf holding OVH's API credentials, instead of the inventory's
    /// `ovh.config` or the usual search.
    #[arg(long, value_name = "FILE")]
    pub ovh_config: Option<PathBuf>,
}

/// Where sudo's password comes from, for the commands that run steps with `become`.
#[derive(Debug, Args)]
pub struct BecomePasswordArgs {
    /// The password sudo asks for on `become`/`become_user` steps: the first line of FILE. It
    /// reaches the node only on sudo's stdin (never a command line or an environment).
    #[arg(long, value_name = "FILE", conflicts_with = "ask_become_pass")]
    pub become_password_file: Option<PathBuf>,

    /// Ask for the become password on the terminal (see --become-password-file).
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,
}

/// What `--check`, `--diff` and `--json` mean for every command that changes nodes.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Change nothing: report what would change.
    #[arg(long, short = 'C')]
    pub check: bool,

    /// Show a unified diff for every file that changes (or would, with --check).
    #[arg(long, short = 'D')]
    pub diff: bool,

    /// Print one JSON object on stdout instead of progress and a recap.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem keys -i inventory.yml --check --diff
  tandem keys -i inventory.yml --cluster pair1

Exit status: 0 when no node failed or was unreachable; 1 otherwise; 2 bad input or flags \
(nothing was sent); 70 internal error; 130 Ctrl-C.")]
pub struct KeysArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub select: ClusterArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem config render -i inventory.yml --cluster pair1
  tandem config diff -i inventory.yml
  tandem config push -i inventory.yml --check --diff

Exit status: 0 success (diff: in sync); 1 drift (diff), or a node failed or was unreachable; \
2 bad input or flags (nothing was sent); 70 internal error.")]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print each cluster's service config as it would be written (no node is contacted).
    Render(ConfigRenderArgs),
    /// Compare what each node has with the rendered config and with its peer; exit 1 on drift.
    Diff(ConfigTargetArgs),
    /// Write the rendered config to every node of each cluster (atomically, only if it differs).
    Push(ConfigPushArgs),
}

/// Where the service config comes from: the playbook step that writes it, so `deploy` and
/// `config` always agree.
#[derive(Debug, Args)]
pub struct ConfigSourceArgs {
    /// The playbook holding the step tagged `service-config` (its template, destination and
    /// variable defaults are used). Default: the `playbook` key of tandem.toml, else
    /// playbooks/ovh-lxc-cluster.yml beside the inventory or in its parent directory (the
    /// checkout's layout), else in the current directory.
    #[arg(long, value_name = "PLAYBOOK")]
    pub playbook: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigRenderArgs {
    /// Inventory file (YAML).
    #[arg(short, long, value_name = "INVENTORY", env = "TANDEM_INVENTORY")]
    pub inventory: PathBuf,

    #[command(flatten)]
    pub select: ClusterArgs,

    #[command(flatten)]
    pub source: ConfigSourceArgs,
}

#[derive(Debug, Args)]
pub struct ConfigTargetArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub select: ClusterArgs,

    #[command(flatten)]
    pub source: ConfigSourceArgs,

    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigPushArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub become_password: BecomePasswordArgs,

    #[command(flatten)]
    pub select: ClusterArgs,

    #[command(flatten)]
    pub source: ConfigSourceArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

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

/// A positive number of seconds, decimals allowed, at most an hour.
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds (e.g. 3 or 0.5)"))?;
    if !(0.05..=3600.0).contains(&seconds) {
        // As written: `1e300` shown in full would be three hundred digits.
        return Err(format!("{} is out of range: use 0.05 to 3600", text.trim()));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tandem failover-test -i inventory.yml --cluster pair1
  tandem failover-test -i inventory.yml --cluster pair1 --to node2 --flip-back --report day.html
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
