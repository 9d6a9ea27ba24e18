//! `tandem deploy -i INVENTORY PLAYBOOK`: load and check everything, then run the engine and
//! report. Nothing reaches a node unless the inventory, the playbook and every module's
//! arguments are valid.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::cli::DeployArgs;
use crate::engine::interrupt::Level;
use crate::engine::{self, Event, HostStats, Interrupt, RunOptions, Shared, TagFilter};
use crate::error::Error;
use crate::fleet::{Fleet, Selection};
use crate::report::deploy::DeployReport;

pub async fn deploy(args: DeployArgs) -> Result<ExitCode, Error> {
    let extra_vars = super::extra_vars::parse(&args.extra_vars)?;
    let known = include_vars(&args, &extra_vars);
    let mut playbook = crate::playbook::load_with(&args.playbook, &known)?;
    playbook.extra_vars = extra_vars;
    if super::deploy_listing::wanted(&args) {
        return super::deploy_listing::run(&args, playbook);
    }
    let (mut inventory, mut fleet) = Fleet::prepare(
        &super::connect_options(&args.connect),
        Selection::Limit(args.select.limit.as_deref()),
    )?;
    inventory.ovh = super::vip::with_ovh_config(&inventory.ovh, args.ovh_config.as_deref());
    if let Some(path) = &args.resume {
        let names = crate::rollout::resume_hosts(path)?;
        fleet = fleet.subset(&names);
        if fleet.hosts().is_empty() {
            return Err(Error::ResumeOutsideSelection {
                path: path.clone(),
                hosts: names,
            });
        }
    }
    let become_password = super::become_password::read(&args.become_password)?;
    let options = RunOptions {
        check: args.check,
        diff: args.diff,
        filter: TagFilter {
            tags: args.tags.clone(),
            skip_tags: args.skip_tags.clone(),
        },
        step_timeout: args.step_timeout,
        become_password,
        force_handlers: args.force_handlers,
    };
    let shared = Shared::new(inventory, playbook, options);
    // Vars that read each other in a loop are bad input, refused before anything connects.
    engine::check_var_loops(&shared, fleet.hosts()).map_err(Error::VarCheck)?;
    engine::check_undefined_names(&shared).map_err(Error::VarCheck)?;
    let batched = args.serial.is_some() || args.rolling || args.max_fail_percent.is_some();
    let rollout = if batched {
        // The health checks were checked with the inventory: a bad one is bad input, found
        // before anything connects.
        let health = if args.rolling {
            crate::rollout::health_checks(&shared.inventory)
        } else {
            Default::default()
        };
        let holders = if args.rolling {
            Some(crate::rollout::vip_holders(&shared.inventory, &fleet).await?)
        } else {
            None
        };
        let mut plan = crate::rollout::plan(
            &fleet,
            args.serial.unwrap_or_default(),
            holders.as_ref(),
            args.max_fail_percent,
            health,
        );
        if args.rolling && !args.check {
            plan.hooks =
                crate::rollout_agent::AgentDrain::new(&shared.inventory, &fleet, args.giveback)
                    .map(|d| Arc::new(d) as Arc<dyn crate::engine::BatchHooks>);
        }
        Some(plan)
    } else {
        None
    };
    let interrupt = shared.interrupt.clone();
    let shared = Arc::new(shared);
    let view = View {
        json: args.json,
        diff: args.diff,
        check: args.check,
        verbose: crate::logging::verbosity(),
        steps: Some(shared.planned_steps()),
    };
    match &rollout {
        Some(plan) => {
            reported_interruptible(view, &fleet, Some(interrupt), |events| {
                engine::rollout(shared, &fleet, plan, events)
            })
            .await
        }
        None => {
            reported_interruptible(view, &fleet, Some(interrupt), |events| {
                engine::deploy(shared, &fleet, events)
            })
            .await
        }
    }
}

/// What a templated `include` path may read on each node `--limit` selects. An inventory that
/// does not load gives none: its own error comes next, after the playbook's.
fn include_vars(args: &DeployArgs, extra: &crate::inventory::Vars) -> crate::playbook::IncludeVars {
    let mut known = crate::playbook::IncludeVars {
        extra: extra.clone(),
        nodes: Vec::new(),
    };
    let Ok(inventory) = crate::inventory::Inventory::load(&args.connect.inventory) else {
        return known;
    };
    if let Ok(nodes) = inventory.select(args.select.limit.as_deref()) {
        known.nodes = nodes
            .into_iter()
            .map(|node| crate::playbook::NodeVars {
                node: node.name.clone(),
                cluster: node.cluster.clone(),
                vars: inventory.node_vars(node),
            })
            .collect();
    }
    known
}

/// How a run that changes nodes is shown.
pub struct View {
    pub json: bool,
    pub diff: bool,
    pub check: bool,
    /// `-v`: every step's output under its line.
    pub verbose: u8,
    /// The steps each host is planned to run, when known before the run starts: the live
    /// view's total is then right from its first draw.
    pub steps: Option<usize>,
}

/// How often the live view is redrawn without events: its spinners and times move.
const TICK: Duration = Duration::from_millis(100);

/// Runs `work` (anything that drives the engine) with deploy's report: progress, diffs, recap
/// or JSON. Exit status 0 only when no host failed or was unreachable.
pub async fn reported<'a, F, W>(view: View, fleet: &'a Fleet, work: W) -> Result<ExitCode, Error>
where
    W: FnOnce(UnboundedSender<Event>) -> F,
    F: Future<Output = Vec<(String, HostStats)>> + 'a,
{
    reported_interruptible(view, fleet, None, work).await
}

/// [`reported`], and with `interrupt`, Ctrl-C handled: the first raises it to "stop" (no new
/// step anywhere, running ones finish), the second to "abandon"; either way the recap (or
/// JSON) is printed and the exit status is 130, as for a shell's interrupted command.
pub async fn reported_interruptible<'a, F, W>(
    view: View,
    fleet: &'a Fleet,
    interrupt: Option<Interrupt>,
    work: W,
) -> Result<ExitCode, Error>
where
    W: FnOnce(UnboundedSender<Event>) -> F,
    F: Future<Output = Vec<(String, HostStats)>> + 'a,
{
    // Registered before any work starts, so no Ctrl-C falls back to the default (death
    // without a recap).
    let listener = match &interrupt {
        Some(interrupt) => Some(listen_for_ctrl_c(interrupt.clone())?),
        None => None,
    };
    let order: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
    let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut report = DeployReport::new(view.json, view.diff, view.check, order.len());
    report.verbose(view.verbose);
    if let Some(steps) = view.steps {
        report.plan(&order, steps);
    }
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                event = receiver.recv() => match event {
                    Some(event) => report.handle(event),
                    None => break,
                },
                _ = tick.tick() => report.tick(),
            }
        }
        report
    });
    let results = work(events).await;
    if let Some(listener) = listener {
        listener.abort();
    }
    let mut report = reporter
        .await
        .map_err(|e| Error::internal(format!("the reporter stopped: {e}")))?;
    let level = interrupt.map(|i| i.level()).unwrap_or(Level::Running);
    match level {
        Level::Running => {}
        Level::Stop => report.interrupted("stop"),
        Level::Abandon => report.interrupted("abandon"),
    }
    report.finish(&order);
    // A host without a result is not a success that went unreported: what was printed above is
    // all that is known, and the run ends as the bug it is.
    missing_results(&order, &results)?;
    if level != Level::Running {
        return Ok(ExitCode::from(130));
    }
    let all_good = results.iter().all(|(_, stats)| stats.succeeded());
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every host of `order` must have a result; the ones without are an internal error.
fn missing_results(order: &[String], results: &[(String, HostStats)]) -> Result<(), Error> {
    let missing: Vec<&str> = order
        .iter()
        .filter(|name| !results.iter().any(|(done, _)| done == *name))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::internal(format!(
        "no result for {} of the {} hosts ({}): they may not have run at all",
        missing.len(),
        order.len(),
        missing.join(", ")
    )))
}

/// Raises `interrupt` one level per Ctrl-C (SIGINT), telling the user what happens next.
fn listen_for_ctrl_c(interrupt: Interrupt) -> Result<tokio::task::JoinHandle<()>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).map_err(Error::CtrlC)?;
    Ok(tokio::spawn(async move {
        let mut abandoned = false;
        while sigint.recv().await.is_some() {
            match interrupt.escalate() {
                Level::Stop => eprintln!(
                    "tandem: Ctrl-C: starting no new step; the running ones finish (Ctrl-C again to abandon them)"
                ),
                _ if abandoned => {
                    // The run is stuck somewhere it cannot be abandoned from: the user
                    // insists, so go now, as a signal would without our handler.
                    eprintln!("tandem: Ctrl-C a third time: exiting now, without a recap");
                    std::process::exit(130);
                }
                _ => {
                    eprintln!(
                        "tandem: Ctrl-C again: abandoning the running steps (Ctrl-C once more to exit at once)"
                    );
                    abandoned = true;
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_missing_from_the_results_is_an_internal_error_not_a_success() {
        let order = vec!["node1".to_string(), "node2".to_string()];
        let one = vec![("node1".to_string(), HostStats::default())];
        let err = missing_results(&order, &one).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::INTERNAL_EXIT);
        assert!(
            err.to_string()
                .starts_with("internal error: no result for 1 of the 2 hosts (node2)"),
            "{err}"
        );
        let both = vec![
            ("node1".to_string(), HostStats::default()),
            ("node2".to_string(), HostStats::default()),
        ];
        assert!(missing_results(&order, &both).is_ok());
    }
}
