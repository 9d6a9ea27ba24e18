//! The house's layers, bottom to top, and a test that fails when a module imports from a layer
//! above its own (DESIGN.md section 1: lower layers report through events or callbacks).

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top; modules on one line are one layer and may use each other. The order is what
/// the imports need, which is not always the order data flows in: `playbook` sits above
/// `modules` because loading a playbook checks each step against its module; `fleet` sits below
/// `engine` because the engine runs its steps on a fleet's sessions; `rollout` sits above
/// `failover` because draining a node uses the agent's switch; `cli` (the flags) sits above
/// everything the flags name and below `commands`, which take the parsed flags; the crate
/// error and the commands are one layer, as the error wraps the commands' own small errors.
const LAYERS: &[&[&str]] = &[
    &["sh", "logging", "source_file"],
    &["template"],
    // The OVH API client imports nothing of tandem's (a crate in all but name); the inventory's
    // `ovh:` section holds its Endpoint and settings (`inventory import`, which reads the
    // account's answers, is a command).
    &["ovh"],
    &["inventory"],
    &["modules"],
    &["playbook"],
    &["ssh"],
    &["fleet"],
    &["engine"],
    &["trust", "service_config"],
    &["failover"],
    &["rollout"],
    &["report"],
    &["cli", "cli_values", "defaults"],
    &["commands", "error"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The code of a file without its trailing `#[cfg(test)] mod ... {` block: tests may reach
/// anywhere (a module's test loading the cookbook playbook is no dependency).
fn non_test_code(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    let mut offset = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("mod ") && next.ends_with('{'))
        {
            return &text[..offset];
        }
        offset += line.len() + 1;
    }
    text
}

/// Every `crate::NAME` a file names, NAME being a top-level module.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let name: String = code[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut upward = Vec::new();
    let mut unlisted = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let name = file.file_name().unwrap().to_string_lossy();
        // The root (main, lib) sits on top of everything; test-only files and modules may
        // reach anywhere.
        if ["main", "lib", "layers_check", "script_checks"].contains(&top.as_str())
            || name == "tests.rs"
            || name.ends_with("_tests.rs")
        {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            unlisted.insert(top);
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in imports(non_test_code(&text)) {
            let Some(theirs) = layer_of(&used) else {
                continue;
            };
            if theirs > own {
                upward.push(format!("{}: {top} -> {used}", relative.display()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "top-level modules missing from LAYERS: {unlisted:?}"
    );
    assert!(
        upward.is_empty(),
        "imports from a higher layer:\n{}",
        upward.join("\n")
    );
}
