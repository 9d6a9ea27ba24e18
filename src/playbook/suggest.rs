//! "Did you mean" for playbook keys and modules: a close spelling
//! ([`closest`](crate::source_file::closest)), or the tandem name of an Ansible module (`apt` ->
//! `package`), and a hint for an Ansible play pasted as it is.

use serde_json::Value;

use crate::source_file::closest;

/// Ansible modules (short and `ansible.builtin.` names) and what does their job here.
const ANSIBLE_MODULES: &[(&str, &str)] = &[
    ("apt", "package"),
    ("yum", "package"),
    ("dnf", "package"),
    ("lineinfile", "line"),
    ("blockinfile", "block"),
    ("shell", "command"),
    ("raw", "command"),
    ("script", "command"),
    ("ansible.posix.mount", "mount"),
    ("ansible.posix.sysctl", "sysctl"),
    ("ansible.posix.authorized_key", "authorized_key"),
    ("community.general.lvg", "lvm"),
    ("community.general.lvol", "lvm"),
    ("community.general.filesystem", "filesystem"),
    ("community.general.lxc_container", "lxc"),
    ("known_hosts", "tagged_lines"),
];

/// Ansible step keys with another name here, or none.
const ANSIBLE_KEYS: &[(&str, &str)] = &[
    ("with_items", "loop"),
    ("with_list", "loop"),
    ("include_tasks", "include"),
    ("import_tasks", "include"),
    ("import_role", "role"),
];

/// "; did you mean `when`?" when one candidate is close (a typo) or `word` is an Ansible name
/// for one of them, else nothing.
pub fn suggestion<'a>(word: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> String {
    let bare = word.strip_prefix("ansible.builtin.").unwrap_or(word);
    if let Some((_, ours)) = ANSIBLE_MODULES
        .iter()
        .chain(ANSIBLE_KEYS)
        .find(|(theirs, _)| *theirs == bare)
        && candidates.clone().any(|c| c == *ours)
    {
        return format!("; did you mean `{ours}`? (Ansible's `{word}` is `{ours}` in tandem)");
    }
    if bare != word && candidates.clone().any(|c| c == bare) {
        return format!("; did you mean `{bare}`? (tandem's modules have no collection prefix)");
    }
    match closest(word, candidates) {
        Some(candidate) => format!("; did you mean `{candidate}`?"),
        None => String::new(),
    }
}

/// For a step whose unknown keys are those of an Ansible play (`hosts` with `tasks`, `roles`
/// or `gather_facts`): how to translate it, with the renames its tasks need, else nothing.
pub fn ansible_play_hint(keys: &[(&str, &Value)]) -> Option<String> {
    let get = |name: &str| keys.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let has = |name: &str| get(name).is_some();
    if !(has("hosts") && (has("tasks") || has("roles") || has("gather_facts") || has("become"))) {
        return None;
    }
    let mut renames = Vec::new();
    for list in ["pre_tasks", "tasks", "post_tasks", "handlers"] {
        for task in get(list).and_then(Value::as_array).into_iter().flatten() {
            for key in task.as_object().into_iter().flatten().map(|(k, _)| k) {
                if let Some(rename) = task_rename(key) {
                    push_unique(&mut renames, rename);
                }
            }
        }
    }
    // `become: yes` too: YAML 1.1's bools are read as bools here, as Ansible reads them.
    if get("become").and_then(Value::as_bool) == Some(true) {
        push_unique(
            &mut renames,
            "the play's `become` as `become: true` on each step that needs root".to_string(),
        );
    }
    let mut hint = "this is an Ansible play (`hosts:` with `tasks:`), not a step: in tandem the \
                    inventory and --limit choose the hosts, and the playbook is a map with \
                    `vars:`, `steps:` (Ansible's tasks) and `handlers:`; move the tasks under \
                    `steps:`"
        .to_string();
    if !renames.is_empty() {
        const SHOWN: usize = 6;
        let more = renames.len().saturating_sub(SHOWN);
        renames.truncate(SHOWN);
        hint.push_str(&format!(" and write {}", renames.join(", ")));
        if more > 0 {
            hint.push_str(&format!(" (and {more} more)"));
        }
    }
    hint.push_str(" (see the README's \"Coming from Ansible\" table)");
    Some(hint)
}

/// What one key of an Ansible task becomes here: `apt:` as `package:`, `with_items:` as
/// `loop:`, `ansible.builtin.copy:` as `copy:`.
fn task_rename(key: &str) -> Option<String> {
    let bare = key.strip_prefix("ansible.builtin.").unwrap_or(key);
    if let Some((_, ours)) = ANSIBLE_MODULES
        .iter()
        .chain(ANSIBLE_KEYS)
        .find(|(theirs, _)| *theirs == bare)
    {
        return Some(format!("`{key}:` as `{ours}:`"));
    }
    if bare != key && crate::modules::NAMES.contains(&bare) {
        return Some(format!("`{key}:` as `{bare}:`"));
    }
    None
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULES: &[&str] = &["package", "line", "block", "command", "copy"];

    #[test]
    fn typos_ansible_names_and_prefixes_get_a_suggestion() {
        let s = |w: &str| suggestion(w, MODULES.iter().copied());
        assert_eq!(
            s("pacakge"),
            "; did you mean `package`?",
            "a transposition is one edit"
        );
        assert_eq!(
            s("apt"),
            "; did you mean `package`? (Ansible's `apt` is `package` in tandem)"
        );
        assert_eq!(
            s("ansible.builtin.lineinfile"),
            "; did you mean `line`? (Ansible's `ansible.builtin.lineinfile` is `line` in tandem)"
        );
        assert_eq!(
            s("ansible.builtin.copy"),
            "; did you mean `copy`? (tandem's modules have no collection prefix)"
        );
        assert_eq!(s("frobnicate"), "");
        assert_eq!(
            suggestion("with_items", ["loop", "when"].into_iter()),
            "; did you mean `loop`? (Ansible's `with_items` is `loop` in tandem)"
        );
    }

    #[test]
    fn a_pasted_play_is_recognised() {
        let empty = Value::Null;
        let keys = |names: &[&'static str]| -> Vec<(&'static str, &Value)> {
            names.iter().map(|n| (*n, &empty)).collect()
        };
        assert!(ansible_play_hint(&keys(&["hosts", "tasks", "name"])).is_some());
        assert!(ansible_play_hint(&keys(&["hosts"])).is_none());
        assert!(ansible_play_hint(&keys(&["name", "tasks"])).is_none());
    }

    #[test]
    fn a_pasted_play_gets_the_renames_its_tasks_need() {
        let tasks = serde_json::json!([
            {"name": "packages", "apt": {"name": "{{ item }}"}, "with_items": ["lxc"], "become": true},
            {"ansible.builtin.copy": {"src": "a", "dest": "/b"}, "ansible.builtin.shell": "x"},
            {"ansible.builtin.lineinfile": {"path": "/c", "line": "d"}},
            {"apt": {"name": "e"}},
        ]);
        let become_ = Value::from(true);
        let hosts = Value::from("all");
        let hint = ansible_play_hint(&[("hosts", &hosts), ("become", &become_), ("tasks", &tasks)])
            .unwrap();
        assert!(
            hint.ends_with(
                "move the tasks under `steps:` and write `apt:` as `package:`, \
                 `with_items:` as `loop:`, `ansible.builtin.copy:` as `copy:`, \
                 `ansible.builtin.shell:` as `command:`, `ansible.builtin.lineinfile:` as \
                 `line:`, the play's `become` as `become: true` on each step that needs root \
                 (see the README's \"Coming from Ansible\" table)"
            ),
            "{hint}"
        );
        assert!(!hint.contains('\n'));
        // Many renames: the first six, and how many more.
        let tasks = serde_json::json!([{"apt": 1, "yum": 1, "dnf": 1, "shell": 1, "raw": 1,
            "script": 1, "lineinfile": 1, "blockinfile": 1}]);
        let hint = ansible_play_hint(&[("hosts", &hosts), ("tasks", &tasks)]).unwrap();
        assert!(
            hint.contains("`script:` as `command:` (and 2 more) (see"),
            "{hint}"
        );
    }
}
