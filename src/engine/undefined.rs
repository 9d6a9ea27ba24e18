//! Names a step reads that nothing can define: found before anything connects (`deploy`,
//! `--syntax-check`), where at run time every node would fail the same step. A name is defined
//! when a var could give it (playbook defaults, the inventory at any level, `-e`, the step's
//! own vars), an earlier step registers it (any step, for handlers), tandem sets it (`node`,
//! `facts`, ..., `item` under `loop`, `result` in `changed_when`/`until`/`failed_when`), or
//! minijinja has it (`range`, `dict`, ...). A superset over the nodes: a var set on one node
//! only counts as defined (that node may be the only one whose `when` lets the step run).

use std::collections::BTreeSet;

use super::{CheckError, Shared};
use crate::playbook::Step;
use crate::playbook::control::TemplateText;

/// minijinja's global functions, which read as names.
const GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

/// The first step (handlers last) that reads a name nothing defines, worded with its place.
pub fn check(shared: &Shared) -> Result<(), CheckError> {
    let playbook = &shared.playbook;
    let inventory = &shared.inventory;
    let mut defined: BTreeSet<String> = playbook
        .vars
        .keys()
        .chain(playbook.extra_vars.keys())
        .chain(inventory.vars.keys())
        .chain(inventory.clusters.iter().flat_map(|c| c.vars.keys()))
        .chain(inventory.nodes().flat_map(|n| n.vars.keys()))
        .cloned()
        .collect();
    defined.extend(
        super::TANDEM_NAMES
            .iter()
            .chain(GLOBALS)
            .chain(super::DATA_VARS)
            .map(|s| s.to_string()),
    );
    // Names the vars themselves read must be defined too, but vars may read each other: those
    // are checked where a step reads them, through the same sets.
    for step in &playbook.steps {
        check_step(shared, step, &defined, "step")?;
        if let Some(name) = &step.register {
            defined.insert(name.clone());
        }
    }
    for handler in &playbook.handlers {
        check_step(shared, handler, &defined, "handler")?;
    }
    Ok(())
}

/// Names the step itself guards (`when: x is defined`, `{{ x | default('y') }}`): reading them
/// undefined is what the step plans for. Loose on purpose: a name next to `defined` or
/// `default` in the same expression or argument is taken as guarded.
fn guarded_names(step: &Step) -> BTreeSet<String> {
    let mut texts: Vec<String> = step.when.clone();
    collect_strings(&step.args, &mut texts);
    for value in step.vars.values() {
        collect_strings(value, &mut texts);
    }
    let mut out = BTreeSet::new();
    for text in texts {
        if !text.contains("defined") && !text.contains("default") {
            continue;
        }
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                out.insert(word.to_string());
            }
        }
    }
    out
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn check_step(
    shared: &Shared,
    step: &Step,
    defined: &BTreeSet<String>,
    what: &'static str,
) -> Result<(), CheckError> {
    let templates = &shared.templates;
    let mut reads = templates.references_in_args(&step.args);
    for when in &step.when {
        reads.extend(templates.references_in_expr(when));
    }
    if step.name_is_template {
        reads.extend(templates.references_in_str(&step.name));
    }
    let mut result_reads = BTreeSet::new();
    if let Some(expr) = &step.changed_when {
        result_reads.extend(templates.references_in_expr(expr));
    }
    for text in step.control.templates() {
        match text {
            TemplateText::Args(value) => reads.extend(templates.references_in_args(value)),
            TemplateText::Str(text) => reads.extend(templates.references_in_str(text)),
            TemplateText::Expr(expr) => result_reads.extend(templates.references_in_expr(expr)),
        }
    }
    // Step vars and role defaults: their own reads count as the step's.
    for value in step.vars.values().chain(step.defaults.values()) {
        reads.extend(templates.references_in_args(value));
    }
    let looped = step.control.loop_spec.is_some();
    let guarded = guarded_names(step);
    let own = |name: &str| {
        defined.contains(name)
            || guarded.contains(name)
            || step.vars.contains_key(name)
            || step.defaults.contains_key(name)
            || (looped && name == "item")
            // `register: x` with `until: x.rc == 0` reads this very attempt's result.
            || step.register.as_deref() == Some(name)
    };
    let undefined = reads
        .iter()
        .find(|n| !own(n))
        .or_else(|| result_reads.iter().find(|n| !own(n) && *n != "result"));
    if undefined.is_none() {
        check_fact_names(shared, step, what)?;
    }
    match undefined {
        None => Ok(()),
        Some(name) => Err(CheckError::Undefined {
            location: step.location.clone(),
            what,
            step: step.name.clone(),
            name: name.clone(),
        }),
    }
}

/// `facts.NAME` where no fact has that name: a typo every node would fail on.
fn check_fact_names(shared: &Shared, step: &Step, what: &'static str) -> Result<(), CheckError> {
    let reads = super::reads::Reads {
        templates: &shared.templates,
        dotted: true,
    };
    let mut paths = reads.step(step);
    if let Some(expr) = &step.changed_when {
        paths.extend(reads.expr(expr));
    }
    for value in step.vars.values() {
        paths.extend(reads.args(value));
    }
    let known = super::facts::known_names();
    for path in paths {
        let mut parts = path.split('.');
        if parts.next() != Some("facts") || step.vars.contains_key("facts") {
            continue;
        }
        let Some(name) = parts.next() else { continue };
        if known.contains(&name) {
            continue;
        }
        return Err(CheckError::NotAFact {
            location: step.location.clone(),
            what,
            step: step.name.clone(),
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::RunOptions;
    use crate::inventory::Inventory;

    const INVENTORY: &str = "\
vars: {site: paris}
clusters:
  pair1:
    vars: {bridge: br0}
    nodes:
      node1: {address: 198.18.3.11, vars: {only_here: 1}}
";

    fn check_text(playbook: &str) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!(
            "tandem-undefined-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("site.yml");
        std::fs::write(&path, playbook).unwrap();
        let playbook = crate::playbook::load(&path).unwrap();
        let inventory = Inventory::parse(INVENTORY, Path::new("/srv/inventory.yml")).unwrap();
        let shared = Shared::new(inventory, playbook, RunOptions::default());
        check(&shared).map_err(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
    }

    #[test]
    fn a_fact_name_that_is_no_fact_is_caught_with_a_suggestion() {
        check_text(
            "steps:\n  - command: {cmd: \"echo {{ facts.memory_mb }} {{ facts.interfaces.eth0.ipv4 }}\"}\n    when: facts.opensvc_installed and facts.init_system == 'systemd'\n",
        )
        .unwrap();
        let err = check_text("steps:\n  - command: {cmd: x}\n    when: facts.memroy_mb > 512\n")
            .unwrap_err();
        assert!(
            err.starts_with("site.yml:2: step 'command x' reads `facts.memroy_mb`, which is not a fact (facts: os_id,"),
            "{err}"
        );
        assert!(err.ends_with("did you mean `memory_mb`?"), "{err}");
    }

    #[test]
    fn names_every_source_defines_pass() {
        check_text(
            "vars: {port: 80}\nsteps:\n  - name: \"{{ site }}\"\n    command: {cmd: \"echo {{ port }} {{ bridge }} {{ only_here }} {{ node }} {{ facts.os_id }} {{ range(3) | list }}\"}\n    register: probe\n  - command: {cmd: \"echo {{ probe.stdout }} {{ item }} {{ x }}\"}\n    loop: [1]\n    vars: {x: 1}\n    until: result.rc == 0 and again.rc == 0\n    register: again\n  - command: {cmd: \"echo {{ later | default('none') }}\"}\n    when: maybe is defined and maybe\n",
        )
        .unwrap();
    }

    #[test]
    fn a_typo_a_register_read_too_early_and_item_without_loop_are_caught() {
        assert_eq!(
            check_text("steps:\n  - command: {cmd: \"echo {{ stie }}\"}\n").unwrap_err(),
            "site.yml:2: step 'command echo {{ stie }}' reads `stie`, which nothing defines (no \
             var in the playbook, the inventory or -e, no earlier `register`, not one of \
             tandem's names): define it or fix the name"
        );
        let early = check_text(
            "steps:\n  - command: {cmd: \"echo {{ probe.rc }}\"}\n  - command: {cmd: x}\n    register: probe\n",
        )
        .unwrap_err();
        assert!(early.contains("reads `probe`"), "{early}");
        let item = check_text("steps:\n  - command: {cmd: \"echo {{ item }}\"}\n").unwrap_err();
        assert!(
            item.contains("`item` exists only on a step with `loop`"),
            "{item}"
        );
        let when =
            check_text("steps:\n  - command: {cmd: x}\n    when: mode == 'a'\n").unwrap_err();
        assert!(when.contains("reads `mode`"), "{when}");
        let until =
            check_text("steps:\n  - command: {cmd: x}\n    until: reslt.rc == 0\n").unwrap_err();
        assert!(until.contains("reads `reslt`"), "{until}");
    }
}
