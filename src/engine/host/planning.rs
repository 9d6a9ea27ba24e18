//! Planning one step on one host: its arguments rendered with the host's vars, its module
//! built and asked for the remote step, with local files and templates at hand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::StepPlanError;
use crate::modules::{self, Module, PlanContext, PlanError};
use crate::playbook::Step;
use crate::template::Templates;

/// Renders a step's arguments in `ctx` and lets its module plan the remote step.
pub(in crate::engine) fn plan_with(
    templates: &Templates,
    step: &Step,
    origin: &str,
    ctx: &minijinja::Value,
) -> Result<modules::RemoteStep, StepPlanError> {
    let module = module_for(templates, step, origin, ctx)?;
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

/// The module built at load when the step's arguments hold no template code (parsed once for
/// every host), else one built from the arguments rendered for this host.
fn module_for(
    templates: &Templates,
    step: &Step,
    origin: &str,
    ctx: &minijinja::Value,
) -> Result<Arc<dyn Module>, StepPlanError> {
    if let Some(built) = &step.built {
        return Ok(Arc::clone(built));
    }
    let args = templates.render_args(&step.args, ctx, origin)?;
    let module = modules::build(&step.module, &args).map_err(|source| StepPlanError::Module {
        origin: origin.to_string(),
        source,
    })?;
    Ok(Arc::from(module))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as a playbook in a fresh directory.
    fn load(text: &str) -> crate::playbook::Playbook {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tandem-planning-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("site.yml");
        std::fs::write(&path, text).unwrap();
        crate::playbook::load(&path).unwrap()
    }

    fn host(word: &str) -> minijinja::Value {
        minijinja::context! { word => word }
    }

    #[test]
    fn a_step_without_templates_runs_the_module_built_at_load_on_every_host() {
        let playbook = load("steps:\n  - command: echo once\n");
        let mut step = playbook.steps[0].clone();
        let loaded = step.built.clone().expect("built at load");
        let templates = Templates::new();
        for ctx in [host("a"), host("b")] {
            let module = module_for(&templates, &step, "site.yml:2", &ctx).unwrap();
            assert!(Arc::ptr_eq(&module, &loaded), "rebuilt for a host");
        }
        // Were the arguments parsed again, the script would follow them.
        step.args = serde_json::json!("echo rebuilt");
        let remote = plan_with(&templates, &step, "site.yml:2", &host("a")).unwrap();
        assert!(remote.script.as_str().contains("echo once"), "{remote:?}");
        assert!(!remote.script.as_str().contains("rebuilt"), "{remote:?}");
    }

    #[test]
    fn a_templated_step_is_built_per_host_from_its_rendered_arguments() {
        let playbook = load(
            "steps:\n  - command: echo {{ word }}\n  - command: \"echo kept {# not for the node #}\"\n",
        );
        let templates = Templates::new();
        for step in &playbook.steps {
            assert!(step.built.is_none(), "{}: built at load", step.name);
        }
        let first = plan_with(&templates, &playbook.steps[0], "site.yml:2", &host("a")).unwrap();
        let second = plan_with(&templates, &playbook.steps[0], "site.yml:2", &host("b")).unwrap();
        assert!(first.script.as_str().contains("echo a"), "{first:?}");
        assert!(second.script.as_str().contains("echo b"), "{second:?}");
        let comment = plan_with(&templates, &playbook.steps[1], "site.yml:3", &host("a")).unwrap();
        assert!(!comment.script.as_str().contains("not for"), "{comment:?}");
    }
}
