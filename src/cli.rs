//! Every flag of every subcommand, with its documentation, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod ovh_args;
pub use ovh_args::*;

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
