//! "Did you mean" for playbook keys and modules: a close spelling (edit distance, with
//! transpositions, from `strsim`), or the tandem name of an Ansible module (`apt` ->
//! `package`), and a hint for an Ansible play pasted as it is.

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
    ("become_user", "become"),
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
    let best = candidates
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|&(distance, candidate)| {
            distance <= 2 && distance < candidate.chars().count().max(2)
        })
        .min_by_key(|&(distance, _)| distance);
    match best {
        Some((_, candidate)) => format!("; did you mean `{candidate}`?"),
        None => String::new(),
    }
}

/// For a step whose unknown keys are those of an Ansible play (`hosts` with `tasks`, `roles`
/// or `gather_facts`): how to translate it, else nothing.
pub fn ansible_play_hint<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> Option<String> {
    let has = |name: &str| keys.clone().any(|k| k == name);
    if has("hosts") && (has("tasks") || has("roles") || has("gather_facts") || has("become")) {
        return Some(
            "this is an Ansible play (`hosts:` with `tasks:`), not a step: in tandem the \
             inventory and --limit choose the hosts, and the playbook is a map with `vars:`, \
             `steps:` (Ansible's tasks) and `handlers:`; move the tasks under `steps:` (see the \
             README's \"Coming from Ansible\" table)"
                .to_string(),
        );
    }
    None
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
        assert!(ansible_play_hint(["hosts", "tasks", "name"].into_iter()).is_some());
        assert!(ansible_play_hint(["hosts"].into_iter()).is_none());
        assert!(ansible_play_hint(["name", "tasks"].into_iter()).is_none());
    }
}
