//! What every host will run, decided once for the whole run (not per host): the steps selected
//! by --tags/--skip-tags, and for each the variables it reads, so hosts know which steps must
//! wait for earlier answers and which can be pipelined.

use std::collections::BTreeSet;

use crate::playbook::{Playbook, Step};
use crate::template::Templates;

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
    /// Top-level variables the step's `when` and arguments read.
    pub reads: BTreeSet<String>,
    pub origin: String,
}

#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
    pub handlers: Vec<PlannedStep>,
}

impl Plan {
    pub fn new(playbook: &Playbook, templates: &Templates, filter: &TagFilter) -> Plan {
        let planned = |index: usize, step: &Step, handler: bool| {
            let mut reads = templates.references_in_args(&step.args);
            for when in &step.when {
                reads.extend(templates.references_in_expr(when));
            }
            PlannedStep {
                index,
                handler,
                reads,
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
