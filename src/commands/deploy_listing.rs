//! `deploy --list-hosts | --list-tasks | --list-tags | --syntax-check`: what a run would touch
//! and whether its input holds, printed without connecting to anything (Ansible's flags).

use std::process::ExitCode;

use crate::cli::DeployArgs;
use crate::engine::{self, RunOptions, Shared, TagFilter};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::playbook::Playbook;

pub fn wanted(args: &DeployArgs) -> bool {
    args.list_hosts || args.list_tasks || args.list_tags || args.syntax_check
}

/// Prints each listing asked for, in a fixed order; the checks run first, so a listing is
/// never printed for input a deploy would refuse.
pub fn run(args: &DeployArgs, playbook: Playbook) -> Result<ExitCode, Error> {
    let inventory = Inventory::load(&args.connect.inventory)?;
    let names: Vec<(String, String)> = inventory
        .select(args.select.limit.as_deref())?
        .into_iter()
        .map(|n| (n.name.clone(), n.cluster.clone()))
        .collect();
    let filter = TagFilter {
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
    };
    let options = RunOptions {
        check: true,
        diff: false,
        filter: filter.clone(),
        step_timeout: args.step_timeout,
        become_password: None,
        force_handlers: args.force_handlers,
    };
    let shared = Shared::new(inventory, playbook, options);
    check(&shared, &names)?;
    let mut out = String::new();
    if args.syntax_check {
        out.push_str(&format!(
            "syntax ok: {} ({} step(s), {} handler(s); inventory {})\n",
            shared.playbook.path.display(),
            shared.playbook.steps.len(),
            shared.playbook.handlers.len(),
            shared.inventory.path.display()
        ));
    }
    if args.list_hosts {
        out.push_str(&list_hosts(&names));
    }
    if args.list_tasks {
        out.push_str(&list_tasks(&shared.playbook, &filter));
    }
    if args.list_tags {
        out.push_str(&list_tags(&shared.playbook));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The checks a deploy makes before connecting, on the selected nodes.
fn check(shared: &Shared, names: &[(String, String)]) -> Result<(), Error> {
    for (name, _) in names {
        let Some(node) = shared.inventory.node(name) else {
            continue;
        };
        engine::check_node_var_loops(shared, node)?;
    }
    Ok(engine::check_undefined_names(shared)?)
}

fn list_hosts(names: &[(String, String)]) -> String {
    let mut out = format!("hosts ({}):\n", names.len());
    for (name, cluster) in names {
        out.push_str(&format!("  {name}  (cluster {cluster})\n"));
    }
    out
}

fn list_tasks(playbook: &Playbook, filter: &TagFilter) -> String {
    let selected: Vec<_> = playbook
        .steps
        .iter()
        .filter(|s| filter.selects(s))
        .collect();
    let mut out = format!("steps ({}):\n", selected.len());
    for step in selected {
        out.push_str(&format!("  {}", step.name));
        if !step.tags.is_empty() {
            out.push_str(&format!("  TAGS: [{}]", step.tags.join(", ")));
        }
        out.push_str(&format!("  ({})\n", step.location));
    }
    if !playbook.handlers.is_empty() {
        out.push_str(&format!("handlers ({}):\n", playbook.handlers.len()));
        for handler in &playbook.handlers {
            out.push_str(&format!("  {}  ({})\n", handler.name, handler.location));
        }
    }
    out
}

fn list_tags(playbook: &Playbook) -> String {
    let mut tags: Vec<&str> = playbook
        .steps
        .iter()
        .chain(&playbook.handlers)
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    format!("tags: [{}]\n", tags.join(", "))
}
