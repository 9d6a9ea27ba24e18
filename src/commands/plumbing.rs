//! What every command that changes nodes shares: the report a run is shown with (progress,
//! diffs, recap or JSON) and Ctrl-C handling; the OVH client and the cluster lookups.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::cli::OvhApiArgs;
use crate::engine::interrupt::Level;
use crate::engine::{Event, HostStats, Interrupt};
use crate::error::Error;
use crate::fleet::{Fleet, FleetError};
use crate::inventory::{Cluster, Inventory};
use crate::ovh::{Client, ClientOptions, Credentials, RetryPolicy};
use crate::report::deploy::DeployReport;

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
/// or JSON; exit status 0 only when no host failed or was unreachable. With `interrupt`,
/// Ctrl-C is handled: the first raises it to "stop" (no new step anywhere, running ones finish), the second to "abandon"; either way the recap (or
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

/// The OVH client the flags and the inventory's `ovh:` section describe.
pub(crate) fn client(inventory: &Inventory, api: &OvhApiArgs) -> Result<Client, Error> {
    let settings = with_ovh_config(&inventory.ovh, api.ovh_config.as_deref());
    let credentials = Credentials::load(&settings)?;
    let options = ClientOptions {
        request_timeout: Duration::from_secs(api.request_timeout),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(api.retry_base_ms),
            ..RetryPolicy::default()
        },
    };
    Ok(Client::new(credentials, options)?)
}

pub(crate) fn find_cluster<'a>(inventory: &'a Inventory, name: &str) -> Result<&'a Cluster, Error> {
    inventory
        .cluster(name)
        .ok_or_else(|| FleetError::unknown_cluster(inventory, name).into())
}

pub(crate) fn require_vip(
    inventory: &Inventory,
    cluster: &Cluster,
) -> Result<std::net::Ipv4Addr, Error> {
    cluster.vip.ok_or_else(|| Error::NoVip {
        inventory: inventory.path.clone(),
        cluster: cluster.name.clone(),
    })
}

/// `FLAG NAME` names no node of `cluster`.
pub(crate) fn not_a_node_of(cluster: &Cluster, flag: &'static str, name: &str) -> Error {
    Error::NotANodeOfCluster {
        flag,
        name: name.to_string(),
        cluster: cluster.name.clone(),
        nodes: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
    }
}

/// The inventory node whose `service_name` is `service`: in the cluster first, then anywhere.
pub(crate) fn node_of_service(
    inventory: &Inventory,
    cluster: &Cluster,
    service: &str,
) -> Option<String> {
    cluster
        .nodes
        .iter()
        .chain(inventory.nodes())
        .find(|n| n.service_name.as_deref() == Some(service))
        .map(|n| n.name.clone())
}

/// The inventory's `ovh:` settings, with `--ovh-config` (or tandem.toml's `ovh_config`) over
/// its `config`.
pub(crate) fn with_ovh_config(
    settings: &crate::ovh::OvhSettings,
    flag: Option<&std::path::Path>,
) -> crate::ovh::OvhSettings {
    let mut settings = settings.clone();
    if let Some(path) = flag {
        // Absolute, like the inventory's: the search must not depend on where it runs later.
        settings.config = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    settings
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
