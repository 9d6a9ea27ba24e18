//! Planning one step on one host: its arguments rendered with the host's vars, its module
//! built and asked for the remote step, with local files and templates at hand.

use std::path::{Path, PathBuf};

use crate::engine::StepPlanError;
use crate::modules::{self, PlanContext, PlanError};
use crate::playbook::Step;
use crate::template::Templates;

/// Renders a step's arguments in `ctx` and lets its module plan the remote step.
pub(in crate::engine) fn plan_with(
    templates: &Templates,
    step: &Step,
    origin: &str,
    ctx: &minijinja::Value,
) -> Result<modules::RemoteStep, StepPlanError> {
    let args = templates.render_args(&step.args, ctx, origin)?;
    let module = modules::build(&step.module, &args).map_err(|source| StepPlanError::Module {
        origin: origin.to_string(),
        source,
    })?;
    let base_dir = step
        .location
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cx = StepContext {
        base_dir,
        templates,
        ctx,
    };
    module.plan(&cx).map_err(|source| StepPlanError::Plan {
        origin: origin.to_string(),
        source,
    })
}

/// The module's window on the controller while planning one step on one host.
struct StepContext<'a> {
    base_dir: PathBuf,
    templates: &'a Templates,
    ctx: &'a minijinja::Value,
}

impl PlanContext for StepContext<'_> {
    fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    fn render_file(&self, path: &Path) -> Result<String, PlanError> {
        Ok(self.templates.render_file(path, self.ctx)?)
    }

    fn render_file_with(
        &self,
        path: &Path,
        extra: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, PlanError> {
        Ok(self.templates.render_file_with(path, self.ctx, extra)?)
    }
}
