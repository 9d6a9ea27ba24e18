//! The playbook engine: every selected host at once (bounded by --forks), each host's steps in
//! order over its own remote shell, a failure stopping only that host. Where a step is checked
//! and applied: the module's script (src/modules/); where its bytes go over SSH: src/ssh/shell.rs;
//! what happens between, per host: [`host`].

mod context;
mod errors;
pub mod events;
pub mod facts;
mod host;
pub mod interrupt;
mod plan;
mod reads;
pub mod rollout;
mod step_timeout;
mod undefined;

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

pub use context::{DATA_VARS, TANDEM_NAMES};
pub use errors::{CheckError, StepPlanError};
pub use events::{Event, HostStats, StepResult, StepStatus};
pub use interrupt::Interrupt;
pub use plan::TagFilter;
pub use undefined::check as check_undefined_names;

use std::time::{Duration, Instant};

use crate::fleet::{Fleet, Host};
use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::ssh::{Session, SshError};
use crate::template::Templates;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Change nothing; report what would change.
    pub check: bool,
    /// Send old and new content of changed files back for unified diffs.
    pub diff: bool,
    pub filter: TagFilter,
    /// `--step-timeout`: seconds any step may run, unless it or its include says otherwise.
    pub step_timeout: Option<u32>,
    /// `--become-password-file`/`-K`: what sudo is told for `become` steps (written to sudo's
    /// stdin on the node, never on a command line).
    pub become_password: Option<crate::ssh::BecomePassword>,
    /// `--force-handlers`: a host whose step failed still runs the handlers notified so far.
    pub force_handlers: bool,
}

/// Everything hosts share, built once.
pub struct Shared {
    pub inventory: Inventory,
    pub playbook: Playbook,
    pub templates: Templates,
    pub plan: plan::Plan,
    pub options: RunOptions,
    /// Random per run: marks tandem's records in step output (see modules/prelude.sh).
    pub mark: String,
    /// Raised by Ctrl-C (the command decides); nothing raises it by default.
    pub interrupt: Interrupt,
    /// The facts frame: the base facts and the groups the run reads.
    pub facts_script: String,
}

impl Shared {
    pub fn new(inventory: Inventory, playbook: Playbook, options: RunOptions) -> Shared {
        let templates = Templates::new();
        let declared = plan::var_references(&inventory, &playbook, &templates);
        let plan = plan::Plan::new(&playbook, &templates, &options.filter, &declared);
        let mark = format!("@tandem-record-{:016x}", rand::random::<u64>());
        let facts_script = facts::script(&facts::wanted(&inventory, &playbook, &templates));
        Shared {
            inventory,
            playbook,
            templates,
            plan,
            options,
            mark,
            interrupt: Interrupt::default(),
            facts_script,
        }
    }

    /// How many steps a host runs at most (for progress bars).
    pub fn planned_steps(&self) -> usize {
        self.plan.steps.len()
    }
}

/// Runs the playbook on every host of the fleet; returns each host's stats in inventory order.
pub async fn deploy(
    shared: Arc<Shared>,
    fleet: &Fleet,
    events: UnboundedSender<Event>,
) -> Vec<(String, HostStats)> {
    announce(&shared, fleet.hosts(), &events);
    let work_shared = shared.clone();
    let work_events = events.clone();
    let interrupt = shared.interrupt.clone();
    let mut running = Box::pin(
        fleet
            .run_while(
                move || !interrupt.stopping(),
                move |host, session| {
                    let shared = work_shared.clone();
                    let events = work_events.clone();
                    Box::pin(
                        async move { Ok(host::run_host(&shared, host, session, &events).await) },
                    )
                },
            )
            .map(|o| (o.host, o.result)),
    );
    let mut outcomes = Vec::new();
    let abandon = shared.interrupt.reached(interrupt::Level::Abandon);
    futures::pin_mut!(abandon);
    loop {
        tokio::select! {
            next = running.next() => match next {
                Some(outcome) => outcomes.push(outcome),
                None => break,
            },
            _ = &mut abandon => {
                // Hosts at work give up within a poll; hosts still connecting (or not started)
                // are dropped after a short grace, their connections with them.
                let grace = tokio::time::sleep(ABANDON_GRACE);
                futures::pin_mut!(grace);
                loop {
                    tokio::select! {
                        next = running.next() => match next {
                            Some(outcome) => outcomes.push(outcome),
                            None => break,
                        },
                        _ = &mut grace => break,
                    }
                }
                break;
            }
        }
    }
    // Hosts still connecting go now, their connections with them.
    drop(running);
    let abandoned: Vec<Host> = fleet
        .hosts()
        .iter()
        .filter(|h| !outcomes.iter().any(|(done, _)| done.name == h.name))
        .cloned()
        .collect();
    let mut results = finish(fleet.hosts(), outcomes, shared.planned_steps(), &events);
    for host in abandoned {
        let stats = HostStats {
            interrupted: true,
            not_run: shared.planned_steps(),
            ..Default::default()
        };
        let _ = events.send(Event::HostFinished {
            host: host.name.clone(),
            stats,
            error: Some(if shared.interrupt.level() == interrupt::Level::Abandon {
                "abandoned (second Ctrl-C) before it was connected".into()
            } else {
                "not started: Ctrl-C came before it was connected".into()
            }),
        });
        results.push((host.name, stats));
    }
    let order: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    results.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    results
}

/// After a second Ctrl-C, how long hosts get to report before they are dropped.
const ABANDON_GRACE: Duration = Duration::from_millis(500);

/// A rollout: batches run one after the other, each like a deploy of its hosts. Stops when a
/// batch's failures exceed `max_fail_percent`, or a cluster's health check fails after a batch
/// that touched it; the hosts of the batches not run are reported untouched.
pub struct Rollout {
    pub batches: Vec<Vec<String>>,
    pub max_fail_percent: Option<u8>,
    /// Per cluster: how to check that its service still answers after one of its nodes went.
    pub health: std::collections::BTreeMap<String, HealthCheck>,
    /// Work around each batch (moving services off its nodes first); none: batches only.
    pub hooks: Option<Arc<dyn BatchHooks>>,
}

/// Why a caller's hook or health probe failed: the caller's own typed error (the engine knows
/// neither clusters nor probes), which the engine only words, where the rollout stops or a
/// check fails.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// Work a rollout does around each batch, for what the engine does not know (a cluster
/// manager's services). Reports through `events`.
pub trait BatchHooks: Send + Sync {
    /// Before the batch: makes its hosts safe to change; returns what it did, for
    /// [`BatchHooks::after_batch`]. `Err`: the batch must not run (why).
    fn before_batch<'a>(
        &'a self,
        batch: &'a [String],
        events: &'a UnboundedSender<Event>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<String>, CallbackError>>;

    /// After the batch: undoes `before`'s work on the hosts of `succeeded` it concerns.
    /// `Err`: the rollout stops (why).
    fn after_batch<'a>(
        &'a self,
        before: &'a [String],
        succeeded: &'a [String],
        events: &'a UnboundedSender<Event>,
    ) -> futures::future::BoxFuture<'a, Result<(), CallbackError>>;
}

/// A cluster's health check, supplied by the caller (the engine knows no probes): `target`
/// names what is probed in messages (`203.0.113.10:80`), `probe` tries once.
pub struct HealthCheck {
    pub target: String,
    pub probe: ProbeOnce,
    /// Keep trying (once a second) this long before declaring it failed.
    pub within: Duration,
}

/// One try of a health check: `Ok` when the service answers, else why not (one line).
pub type ProbeOnce =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), CallbackError>> + Send + Sync>;

pub async fn rollout(
    shared: Arc<Shared>,
    fleet: &Fleet,
    plan: &Rollout,
    events: UnboundedSender<Event>,
) -> Vec<(String, HostStats)> {
    let mut results = Vec::new();
    let total = plan.batches.len();
    for (i, batch) in plan.batches.iter().enumerate() {
        let _ = events.send(Event::BatchStarted {
            index: i + 1,
            of: total,
            hosts: batch.clone(),
        });
        let rest: Vec<String> = plan.batches[i + 1..].concat();
        let mut prepared = Vec::new();
        if let Some(hooks) = &plan.hooks {
            match hooks.before_batch(batch, &events).await {
                Ok(done) => prepared = done,
                Err(reason) => {
                    // Nothing of this batch was changed: it and the rest are untouched.
                    let untouched: Vec<String> = plan.batches[i..].concat();
                    stop_rollout(reason.to_string(), untouched, &mut results, &events);
                    break;
                }
            }
        }
        let ran = deploy(shared.clone(), &fleet.subset(batch), events.clone()).await;
        let failed = ran.iter().filter(|(_, s)| !s.succeeded()).count();
        let succeeded: Vec<String> = ran
            .iter()
            .filter(|(_, s)| s.succeeded())
            .map(|(n, _)| n.clone())
            .collect();
        results.extend(ran);
        let mut stop = None;
        if let Some(hooks) = &plan.hooks
            && let Err(reason) = hooks.after_batch(&prepared, &succeeded, &events).await
        {
            stop = Some(reason.to_string());
        }
        if rest.is_empty() {
            if let Some(reason) = stop {
                stop_rollout(reason, rest, &mut results, &events);
            }
            break;
        }
        if stop.is_none() && shared.interrupt.stopping() {
            stop = Some("interrupted (Ctrl-C)".to_string());
        }
        if stop.is_none()
            && let Some(p) = plan.max_fail_percent
            && failed * 100 > usize::from(p) * batch.len()
        {
            stop = Some(format!(
                "batch {}: {failed} of {} hosts failed, over --max-fail-percent {p}",
                i + 1,
                batch.len()
            ));
        }
        if stop.is_none() {
            stop = health_checks(shared.as_ref(), batch, plan, &events).await;
        }
        if let Some(reason) = stop {
            stop_rollout(reason, rest, &mut results, &events);
            break;
        }
    }
    let order: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    results.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    results
}

/// Reports the rollout stopped, the hosts of `untouched` with it.
fn stop_rollout(
    reason: String,
    untouched: Vec<String>,
    results: &mut Vec<(String, HostStats)>,
    events: &UnboundedSender<Event>,
) {
    let _ = events.send(Event::RolloutStopped {
        reason,
        untouched: untouched.clone(),
    });
    results.extend(untouched.into_iter().map(|name| {
        let stats = HostStats {
            untouched: true,
            ..Default::default()
        };
        (name, stats)
    }));
}

/// The health checks of the clusters the batch touched; the first failure, worded.
async fn health_checks(
    shared: &Shared,
    batch: &[String],
    plan: &Rollout,
    events: &UnboundedSender<Event>,
) -> Option<String> {
    let mut clusters: Vec<&str> = batch
        .iter()
        .filter_map(|n| shared.inventory.node(n).map(|node| node.cluster.as_str()))
        .collect();
    clusters.dedup();
    for cluster in clusters {
        let Some(check) = plan.health.get(cluster) else {
            continue;
        };
        let started = Instant::now();
        let mut last = String::new();
        let checking = async {
            loop {
                match (check.probe)().await {
                    Ok(()) => return true,
                    Err(why) => last = why.to_string(),
                }
                if started.elapsed() >= check.within {
                    return false;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        // Ctrl-C while waiting for a cluster to answer stops the rollout here, not after `within`.
        let ok = tokio::select! {
            ok = checking => ok,
            _ = shared.interrupt.reached(interrupt::Level::Stop) => {
                return Some("interrupted (Ctrl-C) during a health check".to_string());
            }
        };
        let detail = if ok {
            format!("{} answers", check.target)
        } else {
            format!(
                "{} does not answer after {} s: {last}",
                check.target,
                check.within.as_secs()
            )
        };
        let _ = events.send(Event::HealthChecked {
            cluster: cluster.to_string(),
            ok,
            detail: detail.clone(),
        });
        if !ok {
            return Some(format!(
                "health check of cluster {cluster} failed: {detail}"
            ));
        }
    }
    None
}

/// The same on sessions opened earlier (a command that read from every node first, such as
/// `keys`, goes on over the same connections). Each session is closed once its host is done.
pub async fn deploy_connected(
    shared: Arc<Shared>,
    connected: Vec<(Host, Result<Session, SshError>)>,
    forks: usize,
    events: UnboundedSender<Event>,
) -> Vec<(String, HostStats)> {
    let hosts: Vec<Host> = connected.iter().map(|(h, _)| h.clone()).collect();
    announce(&shared, &hosts, &events);
    let outcomes: Vec<_> = futures::stream::iter(connected)
        .map(|(host, session)| {
            let shared = shared.clone();
            let events = events.clone();
            async move {
                let result = match session {
                    Ok(session) => {
                        let stats = host::run_host(&shared, &host, &session, &events).await;
                        session.close().await;
                        Ok(stats)
                    }
                    Err(e) => Err(e),
                };
                (host, result)
            }
        })
        .buffer_unordered(forks.max(1))
        .collect()
        .await;
    finish(&hosts, outcomes, shared.planned_steps(), &events)
}

fn announce(shared: &Shared, hosts: &[Host], events: &UnboundedSender<Event>) {
    let steps = shared.planned_steps();
    for host in hosts {
        let _ = events.send(Event::HostStarted {
            host: host.name.clone(),
            steps,
        });
    }
}

/// Reports the hosts that could not be reached (none of their `planned` steps ran) and orders
/// the results as the inventory does.
fn finish(
    hosts: &[Host],
    outcomes: Vec<(Host, Result<HostStats, SshError>)>,
    planned: usize,
    events: &UnboundedSender<Event>,
) -> Vec<(String, HostStats)> {
    let mut results = Vec::with_capacity(outcomes.len());
    for (host, result) in outcomes {
        let stats = match result {
            Ok(stats) => stats,
            Err(e) => {
                let stats = HostStats {
                    unreachable: true,
                    not_run: planned,
                    ..Default::default()
                };
                let _ = events.send(Event::HostFinished {
                    host: host.name.clone(),
                    stats,
                    error: Some(e.to_string()),
                });
                stats
            }
        };
        results.push((host.name.clone(), stats));
    }
    let order: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    results.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    results
}

/// Vars that read each other in a loop, on any of `hosts`, for the steps this run selected:
/// bad input, found before anything connects.
pub fn check_var_loops(shared: &Shared, hosts: &[Host]) -> Result<(), CheckError> {
    for host in hosts {
        if let Some(node) = shared.inventory.node(&host.name) {
            check_node_var_loops(shared, node)?;
        }
    }
    Ok(())
}

/// [`check_var_loops`] for one node of the inventory.
pub fn check_node_var_loops(
    shared: &Shared,
    node: &crate::inventory::Node,
) -> Result<(), CheckError> {
    let playbook = &shared.playbook;
    let steps: Vec<&crate::playbook::Step> = shared
        .plan
        .steps
        .iter()
        .map(|p| &playbook.steps[p.index])
        .chain(
            shared
                .plan
                .handlers
                .iter()
                .map(|p| &playbook.handlers[p.index]),
        )
        .collect();
    context::HostVars::new(&shared.templates, &shared.inventory, node, playbook)
        .check_loops(steps.iter().copied())
}

/// What the engine would send for step `index` of the playbook on `node`, rendered exactly as
/// a deploy renders it (there are no facts: a template or `when` that reads them fails here).
/// `tandem config` uses it so that it and `deploy` write the same bytes. Returns the step's
/// rendered arguments and its remote step, or `None` when its `when` skips it on this node.
pub fn plan_step_offline(
    shared: &Shared,
    node: &crate::inventory::Node,
    index: usize,
) -> Result<Option<(serde_json::Value, crate::modules::RemoteStep)>, StepPlanError> {
    let step = &shared.playbook.steps[index];
    let origin = step.location.to_string();
    let vars = context::HostVars::new(&shared.templates, &shared.inventory, node, &shared.playbook);
    let ctx = vars.context(step, &serde_json::Map::new(), &serde_json::Map::new());
    // `when` decides here as in a run (without facts or registered results: a condition that
    // reads them is an error, said as such).
    for condition in &step.when {
        if !shared.templates.eval_bool(condition, &ctx, &origin)? {
            return Ok(None);
        }
    }
    let args = shared.templates.render_args(&step.args, &ctx, &origin)?;
    let remote = host::plan_with(&shared.templates, step, &origin, &ctx)?;
    Ok(Some((args, remote)))
}
