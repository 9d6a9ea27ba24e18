//! The engine's errors, with the data to word them: [`CheckError`] (bad input found before
//! anything connects) and [`StepPlanError`] (a step that cannot be planned on one host, which
//! fails that step there).

use crate::modules::{ModuleError, PlanError};
use crate::playbook::Location;
use crate::template::{TemplateError, loop_message};

/// What the checks before a run found: vars that read each other in a loop, a name nothing
/// defines. One line, placed at the playbook (or inventory) line to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Vars that read each other: `cycle` holds each var's name and where it is defined, in
    /// reading order.
    #[error("{}", loop_message(.cycle))]
    VarLoop { cycle: Vec<(String, String)> },
    /// A step (`what`: "step" or "handler") reads `name`, which nothing defines.
    #[error(
        "{location}: {what} '{step}' reads `{name}`, which nothing defines (no var in the \
         playbook, the inventory or -e, no earlier `register`, not one of tandem's names{}): \
         define it or fix the name",
        item_hint(.name)
    )]
    Undefined {
        location: Location,
        what: &'static str,
        step: String,
        name: String,
    },
    /// A step reads `facts.NAME` where no fact has that name.
    #[error(
        "{location}: {what} '{step}' reads `facts.{name}`, which is not a fact (facts: {}){}",
        super::facts::known_names().join(", "),
        crate::playbook::suggestion(.name, super::facts::known_names().into_iter())
    )]
    NotAFact {
        location: Location,
        what: &'static str,
        step: String,
        name: String,
    },
}

fn item_hint(name: &str) -> &'static str {
    if name == "item" {
        "; `item` exists only on a step with `loop`"
    } else {
        ""
    }
}

/// A step that cannot be planned on a host: its arguments, `when` or name do not render, or
/// its module refuses them or its local inputs. `origin` is the step's place (file:line).
#[derive(Debug, thiserror::Error)]
pub enum StepPlanError {
    /// Template errors are placed already (the step's origin, the argument).
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{origin}: {source}")]
    Module { origin: String, source: ModuleError },
    #[error("{origin}: {source}")]
    Plan { origin: String, source: PlanError },
}
