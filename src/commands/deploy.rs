//! `tandem deploy -i INVENTORY PLAYBOOK`: load and check everything, then run the engine and
//! report. Nothing reaches a node unless the inventory, the playbook and every module's
//! arguments are valid.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::DeployArgs;
use crate::engine::{self, RunOptions, Shared, TagFilter};
use crate::error::Error;
use crate::fleet::Fleet;
use crate::report::deploy::DeployReport;

pub async fn deploy(args: DeployArgs) -> Result<ExitCode, Error> {
    let playbook = crate::playbook::load(&args.playbook)?;
    let (inventory, fleet) = Fleet::prepare(&args.connect)?;
    let options = RunOptions {
        check: args.check,
        diff: args.diff,
        filter: TagFilter {
            tags: args.tags.clone(),
            skip_tags: args.skip_tags.clone(),
        },
    };
    let shared = Arc::new(Shared::new(inventory, playbook, options));
    let order: Vec<String> = fleet.hosts().iter().map(|h| h.name.clone()).collect();

    let (events, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut report = DeployReport::new(args.json, args.diff, args.check, order.len());
    let reporter = tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            report.handle(event);
        }
        report
    });
    let results = engine::deploy(shared, &fleet, events).await;
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
