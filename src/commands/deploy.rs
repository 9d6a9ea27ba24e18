//! `tandem deploy -i INVENTORY PLAYBOOK`: load and check everything, then run the engine and
//! report. Nothing reaches a node unless the inventory, the playbook and every module's
//! arguments are valid.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::cli::DeployArgs;
use crate::engine::{self, Event, HostStats, RunOptions, Shared, TagFilter};
use crate::error::Error;
use crate::fleet::{Fleet, Selection};
use crate::report::deploy::DeployReport;

pub async fn deploy(args: DeployArgs) -> Result<ExitCode, Error> {
    let playbook = crate::playbook::load(&args.playbook)?;
    let (inventory, mut fleet) = Fleet::prepare(
        &args.connect,
        Selection::Limit(args.select.limit.as_deref()),
    )?;
    if let Some(path) = &args.resume {
        let names = crate::rollout::resume_hosts(path)?;
        fleet = fleet.subset(&names);
        if fleet.hosts().is_empty() {
            return Err(Error::Usage(format!(
                "--resume {}: none of its hosts to redo ({}) is in this inventory and --limit: \
                 is it the result of a run on another inventory?",
                path.display(),
                names.join(", ")
            )));
        }
    }
    let batched = args.serial.is_some() || args.rolling || args.max_fail_percent.is_some();
    let rollout = if batched {
        // The health checks are read from the inventory first: a bad one is bad input, found
        // before OVH's API is asked anything.
        let health = if args.rolling {
            crate::rollout::health_checks(&inventory)?
        } else {
            Default::default()
        };
        let holders = if args.rolling {
            Some(crate::rollout::vip_holders(&inventory, &fleet).await?)
        } else {
            None
        };
        Some(crate::rollout::plan(
            &fleet,
            args.serial.unwrap_or_default(),
            holders.as_ref(),
            args.max_fail_percent,
            health,
        ))
    } else {
        None
    };
    let options = RunOptions {
        check: args.check,
        diff: args.diff,
        filter: TagFilter {
            tags: args.tags.clone(),
            skip_tags: args.skip_tags.clone(),
        },
    };
    let shared = Arc::new(Shared::new(inventory, playbook, options));
    let view = View {
        json: args.json,
        diff: args.diff,
        check: args.check,
    };
    match &rollout {
        Some(plan) => {
            reported(view, &fleet, |events| {
                engine::rollout(shared, &fleet, plan, events)
            })
            .await
        }
        None => {
            reported(view, &fleet, |events| {
                engine::deploy(shared, &fleet, events)
            })
            .await
        }
    }
}

/// How a run that changes nodes is shown.
pub struct View {
    pub json: bool,
    pub diff: bool,
    pub check: bool,
}

/// Runs `work` (anything that drives the engine) with deploy's report: progress, diffs, recap
/// or JSON. Exit status 0 only when no host failed or was unreachable.
pub async fn reported<'a, F, W>(view: View, fleet: &'a Fleet, work: W) -> Result<ExitCode, Error>
where
    W: FnOnce(UnboundedSender<Event>) -> F,
    F: Future<Output = Vec<(String, HostStats)>> + 'a,
{
    let order: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();
    let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut report = DeployReport::new(view.json, view.diff, view.check, order.len());
    let reporter = tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            report.handle(event);
        }
        report
    });
    let results = work(events).await;
    let report = reporter
        .await
        .map_err(|e| Error::Usage(format!("internal error in the reporter: {e}")))?;
    report.finish(&order);
    let all_good = results.iter().all(|(_, stats)| stats.succeeded());
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
