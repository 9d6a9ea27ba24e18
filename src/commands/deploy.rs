//! `tandem deploy -i INVENTORY PLAYBOOK`: load and check everything, then run the engine and
//! report. Nothing reaches a node unless the inventory, the playbook and every module's
//! arguments are valid.

use std::process::ExitCode;
use std::sync::Arc;

use super::plumbing::{View, reported_interruptible};
use crate::cli::DeployArgs;
use crate::engine::{self, RunOptions, Shared, TagFilter};
use crate::error::Error;
use crate::fleet::{Fleet, Selection};

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
    inventory.ovh = super::plumbing::with_ovh_config(&inventory.ovh, args.ovh_config.as_deref());
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
    engine::check_var_loops(&shared, fleet.hosts())?;
    engine::check_undefined_names(&shared)?;
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
                crate::rollout::agent::AgentDrain::new(&shared.inventory, &fleet, args.giveback)
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
