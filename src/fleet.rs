//! From inventory nodes to live sessions: resolves each node's SSH target, then connects to
//! all of them concurrently (bounded by --forks) and hands each session to the caller's work.
//! This is the seam between the inventory (what to reach) and the SSH layer (how).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{self, Stream, StreamExt};

use crate::inventory::{Inventory, InventoryError, PatternError};
use crate::ssh::{
    Connector, HostKeyPolicy, KnownHosts, OnHostKeyLearned, Session, SshConfigFile, SshError,
    Target, UnknownKex, Wanted,
};

/// Why a fleet cannot be prepared: bad input, found before any connection.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Kex(#[from] UnknownKex),
    #[error(
        "--cluster {name}: {} has no such cluster (it has: {})",
        .inventory.display(),
        .known.join(", ")
    )]
    UnknownCluster {
        name: String,
        inventory: PathBuf,
        known: Vec<String>,
    },
    /// `scan` is the `ssh-keyscan` command that would fill it.
    #[error(
        "{}: known_hosts file does not exist, so every node would be refused as unknown: add the \
         nodes' keys (`{scan} >> {}`) or run once with --accept-new",
        .path.display(),
        .path.display()
    )]
    NoKnownHosts { path: PathBuf, scan: String },
    #[error(
        "{}:{line}: not a known_hosts entry (`HOST[,HOST...] KEYTYPE BASE64-KEY`, or a \
         `@revoked`/`@cert-authority` marker before it): fix or delete the line",
        .path.display()
    )]
    BadKnownHostsLine { path: PathBuf, line: usize },
    #[error(
        "HOME is not set, so there is no ~/.ssh/known_hosts: set ssh.known_hosts in the inventory"
    )]
    NoHome,
}

impl FleetError {
    /// `--cluster NAME` names no cluster of `inventory`.
    pub fn unknown_cluster(inventory: &Inventory, name: &str) -> FleetError {
        FleetError::UnknownCluster {
            name: name.to_string(),
            inventory: inventory.path.clone(),
            known: inventory.clusters.iter().map(|c| c.name.clone()).collect(),
        }
    }
}

/// How to reach the nodes, as the command's flags said (the fleet never sees the flags).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub inventory: PathBuf,
    /// How many nodes to work on at once.
    pub forks: u16,
    /// Record unknown host keys instead of refusing them.
    pub accept_new: bool,
    /// Key-exchange preference (empty: the default).
    pub kex: Vec<String>,
    /// Seconds, over the inventory's `ssh.connect_timeout`.
    pub connect_timeout: Option<u64>,
    /// Over the inventory's `ssh.user` and nodes' `user`.
    pub user: Option<String>,
    /// Over the inventory's `ssh.identity` and nodes' `identity`.
    pub private_key: Option<PathBuf>,
    /// Told of each host key `accept_new` records, for the command to tell the user.
    pub on_host_key_learned: Option<OnHostKeyLearned>,
}

/// A selected node, ready to connect to.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub cluster: String,
    pub target: Target,
}

/// What happened on one host.
pub struct Outcome<T> {
    pub host: Host,
    pub result: Result<T, SshError>,
    pub elapsed: Duration,
}

/// Which nodes a command works on.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// A `--limit` pattern (`None`: every node).
    Limit(Option<&'a str>),
    /// Every node of one cluster (`None`: of every cluster): for commands that need both nodes
    /// of a pair at once.
    Cluster(Option<&'a str>),
}

pub struct Fleet {
    connector: Arc<Connector>,
    hosts: Vec<Host>,
    forks: usize,
}

impl Fleet {
    /// Loads the inventory, applies the selection, resolves targets. Fails before any
    /// connection.
    pub fn prepare(
        args: &ConnectOptions,
        selection: Selection,
    ) -> Result<(Inventory, Fleet), FleetError> {
        let inventory = Inventory::load(&args.inventory)?;
        let selected = match selection {
            Selection::Limit(pattern) => inventory.select(pattern)?,
            Selection::Cluster(None) => inventory.nodes().collect(),
            Selection::Cluster(Some(name)) => match inventory.cluster(name) {
                Some(cluster) => cluster.nodes.iter().collect(),
                None => return Err(FleetError::unknown_cluster(&inventory, name)),
            },
        };
        let ssh_config = SshConfigFile::load_default()?;
        let connect_timeout = args
            .connect_timeout
            .map(Duration::from_secs)
            .or(inventory.ssh.connect_timeout);
        let mut hosts = Vec::with_capacity(selected.len());
        for node in selected {
            let wanted = Wanted {
                label: node.name.clone(),
                address: node.address.clone(),
                port: node.port.or(inventory.ssh.port),
                user: args
                    .user
                    .clone()
                    .or_else(|| node.user.clone())
                    .or_else(|| inventory.ssh.user.clone()),
                identity: args
                    .private_key
                    .clone()
                    .or_else(|| node.identity.clone())
                    .or_else(|| inventory.ssh.identity.clone()),
                connect_timeout,
                keepalive_interval: inventory.ssh.keepalive_interval,
            };
            hosts.push(Host {
                name: node.name.clone(),
                cluster: node.cluster.clone(),
                target: ssh_config.resolve(&wanted)?,
            });
        }
        let known_hosts_path = match &inventory.ssh.known_hosts {
            Some(path) => path.clone(),
            None => home_known_hosts()?,
        };
        let policy = if args.accept_new {
            HostKeyPolicy::AcceptNew
        } else {
            HostKeyPolicy::Strict
        };
        let known_hosts = load_known_hosts(
            &known_hosts_path,
            inventory.ssh.known_hosts.is_some(),
            policy,
            &hosts,
        )?;
        let mut connector = Connector::new(known_hosts, policy);
        if let Some(callback) = &args.on_host_key_learned {
            connector = connector.on_host_key_learned(callback.clone());
        }
        connector.preload_identities(hosts.iter().map(|host| &host.target))?;
        if !args.kex.is_empty() {
            connector = connector.with_kex(&args.kex)?;
        }
        let fleet = Fleet {
            connector: Arc::new(connector),
            hosts,
            forks: usize::from(args.forks),
        };
        Ok((inventory, fleet))
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Connects to every host at once (at most `forks` handshakes in flight) and keeps the
    /// sessions, for commands that must hear from every node before acting on any (`keys`).
    /// In inventory order.
    pub async fn connect_all(&self) -> Vec<(Host, Result<Session, SshError>)> {
        let mut connected: Vec<(usize, Host, Result<Session, SshError>)> =
            stream::iter(self.hosts.iter().cloned().enumerate())
                .map(|(i, host)| {
                    let connector = self.connector.clone();
                    async move {
                        let result = connector.connect(&host.target).await;
                        (i, host, result)
                    }
                })
                .buffer_unordered(self.forks)
                .collect()
                .await;
        connected.sort_by_key(|(i, _, _)| *i);
        connected.into_iter().map(|(_, h, r)| (h, r)).collect()
    }

    /// Connects to the host named `name` (again: a game day logs in to a node that came back
    /// from a crash); `None` when the fleet has no such host.
    pub async fn connect(&self, name: &str) -> Option<Result<Session, SshError>> {
        let host = self.hosts.iter().find(|h| h.name == name)?;
        Some(self.connector.connect(&host.target).await)
    }

    /// The same fleet (same connector, known hosts, options) on some of its hosts only: a
    /// rollout batch. Inventory order is kept.
    pub fn subset(&self, names: &[String]) -> Fleet {
        Fleet {
            connector: self.connector.clone(),
            hosts: self
                .hosts
                .iter()
                .filter(|h| names.contains(&h.name))
                .cloned()
                .collect(),
            forks: self.forks,
        }
    }

    pub fn forks(&self) -> usize {
        self.forks
    }

    /// Connects to every host and runs `work` on it and its session, at most `forks` hosts at once.
    /// Yields each host's outcome as soon as it is known; a failing host never stops the others.
    pub fn run<T, F>(&self, work: F) -> impl Stream<Item = Outcome<T>> + '_
    where
        T: Send + 'static,
        F: for<'s> Fn(&'s Host, &'s Session) -> BoxFuture<'s, Result<T, SshError>>
            + Send
            + Sync
            + 'static,
    {
        self.run_while(|| true, work)
    }

    /// The same, but a host not yet connected when `keep_going` turns false is not connected at
    /// all, and yields nothing (a caller that stops on Ctrl-C must not go on with handshakes to
    /// the hosts still queued).
    pub fn run_while<T, F, K>(&self, keep_going: K, work: F) -> impl Stream<Item = Outcome<T>> + '_
    where
        T: Send + 'static,
        F: for<'s> Fn(&'s Host, &'s Session) -> BoxFuture<'s, Result<T, SshError>>
            + Send
            + Sync
            + 'static,
        K: Fn() -> bool + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        let keep_going = Arc::new(keep_going);
        stream::iter(self.hosts.iter().cloned())
            .map(move |host| {
                let connector = self.connector.clone();
                let work = work.clone();
                let keep_going = keep_going.clone();
                async move {
                    if !keep_going() {
                        return None;
                    }
                    let started = Instant::now();
                    let result = match connector.connect(&host.target).await {
                        Ok(session) => {
                            let result = work(&host, &session).await;
                            session.close().await;
                            result
                        }
                        Err(e) => Err(e),
                    };
                    Some(Outcome {
                        host,
                        result,
                        elapsed: started.elapsed(),
                    })
                }
            })
            .buffer_unordered(self.forks)
            .filter_map(futures::future::ready)
    }
}

/// known_hosts problems that would make every connection fail are bad input, found before any
/// connection: a missing file under strict checking (every host would be refused as unknown),
/// and, in a file the inventory names (tandem's own), a line that is not an entry. The user's
/// `~/.ssh/known_hosts` keeps OpenSSH's leniency for lines it cannot read: they are skipped.
fn load_known_hosts(
    path: &std::path::Path,
    named_by_inventory: bool,
    policy: HostKeyPolicy,
    hosts: &[Host],
) -> Result<KnownHosts, FleetError> {
    if policy == HostKeyPolicy::Strict && !path.exists() {
        let scan = hosts.first().map_or_else(
            || "ssh-keyscan HOST".to_string(),
            |host| match host.target.port {
                22 => format!("ssh-keyscan {}", host.target.host),
                port => format!("ssh-keyscan -p {port} {}", host.target.host),
            },
        );
        return Err(FleetError::NoKnownHosts {
            path: path.to_path_buf(),
            scan,
        });
    }
    let known_hosts = KnownHosts::load(path)?;
    if named_by_inventory && let Some(line) = known_hosts.unparsable_lines().first() {
        return Err(FleetError::BadKnownHostsLine {
            path: path.to_path_buf(),
            line: *line,
        });
    }
    Ok(known_hosts)
}

fn home_known_hosts() -> Result<PathBuf, FleetError> {
    match std::env::var_os("HOME") {
        Some(home) => Ok(std::path::Path::new(&home).join(".ssh").join("known_hosts")),
        None => Err(FleetError::NoHome),
    }
}
