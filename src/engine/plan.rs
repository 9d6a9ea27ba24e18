//! What every host will run, decided once for the whole run (not per host): the steps selected
//! by --tags/--skip-tags, and for each the variables it reads, so hosts know which steps must
//! wait for earlier answers and which can be pipelined.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::{Inventory, Vars};
use crate::playbook::{Playbook, Step};
use crate::template::Templates;

/// For every var some host may see (playbook defaults, inventory vars at every level), the
/// names its value reads: a superset over the hosts, since a step must wait for what any of
/// them might read through its vars.
pub fn var_references(
    inventory: &Inventory,
    playbook: &Playbook,
    templates: &Templates,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for vars in super::reads::var_levels(inventory, playbook) {
        add_references(&mut refs, vars, templates);
    }
    refs
}

fn add_references(
    refs: &mut BTreeMap<String, BTreeSet<String>>,
    vars: &Vars,
    templates: &Templates,
) {
    for (name, value) in vars {
        if super::context::DATA_VARS.contains(&name.as_str()) {
            continue;
        }
        refs.entry(name.clone())
            .or_default()
            .extend(templates.references_in_args(value));
    }
}

/// `direct` and every name read through the vars it names, transitively.
fn through_vars(
    direct: BTreeSet<String>,
    declared: &BTreeMap<String, BTreeSet<String>>,
    step_vars: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut all = direct.clone();
    let mut queue: Vec<String> = direct.into_iter().collect();
    while let Some(name) = queue.pop() {
        for next in declared
            .get(&name)
            .into_iter()
            .chain(step_vars.get(&name))
            .flatten()
        {
            if all.insert(next.clone()) {
                queue.push(next.clone());
            }
        }
    }
    all
}

#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
}

impl TagFilter {
    /// Ansible's rule: with --tags, a step runs if it has one of them (or the tag `always`);
    /// --skip-tags removes steps having any of those.
    pub fn selects(&self, step: &Step) -> bool {
        let has = |list: &[String]| step.tags.iter().any(|t| list.contains(t));
        let wanted =
            self.tags.is_empty() || has(&self.tags) || step.tags.iter().any(|t| t == "always");
        wanted && !has(&self.skip_tags)
    }
}

#[derive(Debug)]
pub struct PlannedStep {
    /// Index into `playbook.steps` or `playbook.handlers`.
    pub index: usize,
    pub handler: bool,
    /// Top-level variables the step's `when` and arguments read, also through the vars they
    /// name (a var `x: "{{ probe.stdout }}"` makes a step reading `x` read `probe`).
    pub reads: BTreeSet<String>,
    pub origin: String,
}

#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
    pub handlers: Vec<PlannedStep>,
}

impl Plan {
    /// `declared`: [`var_references`] of the run.
    pub fn new(
        playbook: &Playbook,
        templates: &Templates,
        filter: &TagFilter,
        declared: &BTreeMap<String, BTreeSet<String>>,
    ) -> Plan {
        let top_level = super::reads::Reads {
            templates,
            dotted: false,
        };
        let planned = |index: usize, step: &Step, handler: bool| {
            let reads = top_level.step(step);
            let mut step_vars = BTreeMap::new();
            add_references(&mut step_vars, &step.defaults, templates);
            add_references(&mut step_vars, &step.vars, templates);
            PlannedStep {
                index,
                handler,
                reads: through_vars(reads, declared, &step_vars),
                origin: step.location.to_string(),
            }
        };
        let steps = playbook
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| filter.selects(s))
            .map(|(i, s)| planned(i, s, false))
            .collect();
        let handlers = playbook
            .handlers
            .iter()
            .enumerate()
            .map(|(i, s)| planned(i, s, true))
            .collect();
        Plan { steps, handlers }
    }
}
