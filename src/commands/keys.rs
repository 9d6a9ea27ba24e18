//! `tandem keys -i INVENTORY [--cluster C] [--check] [--diff] [--json]`: trust inside each
//! cluster (see `trust`), reported like a deploy.

use std::process::ExitCode;

use crate::cli::KeysArgs;
use crate::commands::plumbing::{View, reported_interruptible};
use crate::engine::Interrupt;
use crate::engine::RunOptions;
use crate::error::Error;
use crate::fleet::{Fleet, Selection};

pub async fn keys(args: KeysArgs) -> Result<ExitCode, Error> {
    let (inventory, fleet) = Fleet::prepare(
        &super::connect_options(&args.connect),
        Selection::Cluster(args.select.cluster.as_deref()),
    )?;
    let options = RunOptions {
        check: args.change.check,
        diff: args.change.diff,
        filter: Default::default(),
        step_timeout: None,
        become_password: None,
        force_handlers: false,
    };
    let view = View {
        json: args.change.json,
        diff: args.change.diff,
        check: args.change.check,
        verbose: 0,
        // Known once every node's keys are read.
        steps: None,
    };
    let interrupt = Interrupt::default();
    reported_interruptible(view, &fleet, Some(interrupt.clone()), |events| {
        crate::trust::exchange(&inventory, &fleet, options, interrupt, events)
    })
    .await
}
