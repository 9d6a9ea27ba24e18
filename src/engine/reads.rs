//! What a run's templates read, walked once for both uses: which facts to gather
//! ([`super::facts::wanted`], dotted names) and which vars a step waits for
//! ([`super::plan`], top-level names).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::inventory::{Inventory, Vars};
use crate::playbook::control::TemplateText;
use crate::playbook::{Playbook, Step};
use crate::template::Templates;

/// Every level of vars a host may see: the playbook's, `-e`, the inventory's, each cluster's,
/// each node's.
pub fn var_levels<'a>(
    inventory: &'a Inventory,
    playbook: &'a Playbook,
) -> impl Iterator<Item = &'a Vars> {
    std::iter::once(&playbook.vars)
        .chain(std::iter::once(&playbook.extra_vars))
        .chain(std::iter::once(&inventory.vars))
        .chain(inventory.clusters.iter().map(|c| &c.vars))
        .chain(inventory.nodes().map(|n| &n.vars))
}

/// Names read: top-level (`facts`, `item`) or dotted (`facts.memory_mb`).
#[derive(Debug, Clone, Copy)]
pub struct Reads<'a> {
    pub templates: &'a Templates,
    pub dotted: bool,
}

impl Reads<'_> {
    /// Names any string leaf of `args` reads.
    pub fn args(&self, args: &Value) -> BTreeSet<String> {
        if self.dotted {
            self.templates.nested_references_in_args(args)
        } else {
            self.templates.references_in_args(args)
        }
    }

    /// Names a template string reads.
    pub fn text(&self, text: &str) -> BTreeSet<String> {
        if self.dotted {
            self.templates.nested_references_in_str(text)
        } else {
            self.templates.references_in_str(text)
        }
    }

    /// Names an expression (`when`, `changed_when`) reads.
    pub fn expr(&self, expr: &str) -> BTreeSet<String> {
        if self.dotted {
            self.templates.nested_references_in_expr(expr)
        } else {
            self.templates.references_in_expr(expr)
        }
    }

    /// Names a step reads before it runs: its arguments, `when`, its name when it is a
    /// template, its loop and the like (not its vars, nor `changed_when`, read after the
    /// answer).
    pub fn step(&self, step: &Step) -> BTreeSet<String> {
        let mut reads = self.args(&step.args);
        for when in &step.when {
            reads.extend(self.expr(when));
        }
        if step.name_is_template {
            reads.extend(self.text(&step.name));
        }
        for text in step.control.templates() {
            reads.extend(match text {
                TemplateText::Args(value) => self.args(value),
                TemplateText::Str(text) => self.text(text),
                TemplateText::Expr(expr) => self.expr(expr),
            });
        }
        reads
    }
}
