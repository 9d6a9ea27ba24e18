use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;

/// A fresh directory per test (tests run in parallel).
pub(super) fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tandem-playbook-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

/// Loads `text` as `site.yml` in a fresh directory.
fn load_text(text: &str) -> Result<Playbook, PlaybookError> {
    let dir = scratch_dir();
    load(&write(&dir, "site.yml", text))
}

/// The message `text` must produce, without the directory; checks the one-line promise.
pub(super) fn error(text: &str) -> String {
    let dir = scratch_dir();
    let path = write(&dir, "site.yml", text);
    error_at(&path, &dir)
}

pub(super) fn error_at(path: &Path, dir: &Path) -> String {
    let message = load(path)
        .expect_err("playbook should be refused")
        .to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message.replace(&format!("{}/", dir.display()), "")
}

const SITE: &str = "\
# playbooks/site.yml
vars:
  timezone: Etc/UTC
steps:
  - name: Install LXC
    package: {name: [lxc, rsync], state: present}
    when: \"cluster == 'pair1'\"
    tags: [packages]
    notify: restart foo
    register: pkgs
    changed_when: \"false\"
    become: true
    vars: {x: 1, y: outer}

  - command: uptime

  - include: prep/node-prep.yml
    vars: {y: include, z: 2}
    when: [\"pkgs.changed\", \"x == 1\"]
    tags: prep
handlers:
  - name: restart foo
    command: {cmd: \"systemctl restart foo\"}
";

const NODE_PREP: &str = "\
- copy: {dest: /etc/motd, content: \"hello {{ name }}\\n\", mode: \"0644\"}
  vars: {y: inner}
  tags: [motd, prep]
  when: x > 0
- include: more.yml
";

const MORE: &str = "\
steps:
  - name: last
    file: {path: /srv/data, state: directory}
handlers:
  - name: reload bar
    command: {cmd: \"systemctl reload bar\"}
";

#[test]
fn loads_steps_includes_and_handlers() {
    let dir = scratch_dir();
    let site = write(&dir, "site.yml", SITE);
    write(&dir, "prep/node-prep.yml", NODE_PREP);
    write(&dir, "prep/more.yml", MORE);
    let playbook = load(&site).unwrap();

    assert_eq!(playbook.path, site);
    assert_eq!(playbook.vars["timezone"], json!("Etc/UTC"));
    assert_eq!(playbook.steps.len(), 4);

    let install = &playbook.steps[0];
    assert_eq!(install.name, "Install LXC");
    assert_eq!(install.module, "package");
    assert_eq!(
        install.args,
        json!({"name": ["lxc", "rsync"], "state": "present"})
    );
    assert_eq!(install.when, ["cluster == 'pair1'"]);
    assert_eq!(install.tags, ["packages"]);
    assert_eq!(install.notify, ["restart foo"]);
    assert_eq!(install.register.as_deref(), Some("pkgs"));
    assert_eq!(install.changed_when.as_deref(), Some("false"));
    assert!(install.become_root);
    assert_eq!(install.vars["x"], json!(1));
    assert_eq!(
        install.location,
        Location {
            file: site.clone(),
            line: 5
        }
    );
    assert_eq!(
        install.location.to_string(),
        format!("{}:5", site.display())
    );

    let uptime = &playbook.steps[1];
    assert_eq!(uptime.name, "command uptime");
    assert_eq!(uptime.args, json!("uptime"));
    assert!(uptime.when.is_empty() && uptime.tags.is_empty() && !uptime.become_root);
    assert_eq!(uptime.location.line, 15);

    // Included: vars (inner wins), when and-ed (include's first), tags added once.
    let motd = &playbook.steps[2];
    assert_eq!(motd.name, "copy /etc/motd");
    assert_eq!(motd.args["content"], json!("hello {{ name }}\n"));
    assert_eq!(motd.when, ["pkgs.changed", "x == 1", "x > 0"]);
    assert_eq!(motd.tags, ["prep", "motd"]);
    assert_eq!(motd.vars["y"], json!("inner"));
    assert_eq!(motd.vars["z"], json!(2));
    assert_eq!(
        motd.location,
        Location {
            file: dir.join("prep/node-prep.yml"),
            line: 1
        }
    );

    // Nested include, relative to the including file; a map with steps and handlers.
    let last = &playbook.steps[3];
    assert_eq!(last.name, "last");
    assert_eq!(last.when, ["pkgs.changed", "x == 1"]);
    assert_eq!(last.vars["y"], json!("include"));
    assert_eq!(
        last.location,
        Location {
            file: dir.join("prep/more.yml"),
            line: 2
        }
    );

    let names: Vec<_> = playbook.handlers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["reload bar", "restart foo"]);
}

#[test]
fn a_bare_list_is_a_playbook() {
    let playbook = load_text("- command: {cmd: 'true'}\n- command: {cmd: 'false'}\n").unwrap();
    assert_eq!(playbook.steps.len(), 2);
    assert_eq!(playbook.steps[1].location.line, 2);
    assert!(playbook.handlers.is_empty());
}

#[test]
fn templated_args_are_checked_after_rendering() {
    // `state` must be present/absent: a template may become either, so no check now.
    let playbook =
        load_text("steps:\n  - package: {name: lxc, state: \"{{ wanted }}\"}\n").unwrap();
    assert_eq!(playbook.steps[0].args["state"], json!("{{ wanted }}"));
    // Without a template, the module refuses it at load time.
    assert_eq!(
        error("steps:\n  - package: {name: lxc, state: maybe}\n"),
        "site.yml:2:5: step 'package lxc': package: unknown variant `maybe`, expected `present` \
         or `absent`"
    );
}

#[test]
fn invalid_module_args() {
    assert_eq!(
        error("steps:\n  - name: motd\n    copy: {dst: /etc/motd, content: hi}\n"),
        "site.yml:3:5: step 'motd': copy: unknown field `dst`, expected one of `dest`, \
         `content`, `src`, `mode`, `owner`, `group`, `secret`, `follow`"
    );
}

#[test]
fn yaml_syntax_error() {
    let message = error("steps:\n  - name: x\n    command: [uptime\n");
    assert!(message.starts_with("site.yml:"), "{message}");
    let message = error("steps:\n  - name: a\n    name: b\n    command: uptime\n");
    assert!(message.starts_with("site.yml:3:"), "{message}");
    assert!(message.contains("duplicate"), "{message}");
    let message = error("stepz:\n  - command: uptime\n");
    assert!(
        message.starts_with("site.yml:1:1: unknown field `stepz`"),
        "{message}"
    );
}

#[test]
fn unknown_key_in_a_step() {
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    whn: x\n"),
        "site.yml:4:5: unknown key `whn` in step 'X'; expected one of name, when, tags, notify, \
         register, changed_when, become, become_user, vars, loop, loop_control, until, retries, delay, \
         failed_when, ignore_errors, timeout; did you mean `when`?"
    );
}

#[test]
fn unknown_module() {
    let message = error("steps:\n  - name: X\n    pakage: {name: lxc}\n");
    assert!(
        message.starts_with(
            "site.yml:3:5: unknown module or key `pakage` in step 'X' (modules: copy, line, "
        ),
        "{message}"
    );
    assert!(message.ends_with("); did you mean `package`?"), "{message}");
}

#[test]
fn no_module() {
    let message = error("steps:\n  - name: X\n    when: x\n");
    assert!(
        message.starts_with("site.yml:2:5: step 'X' has no module: add one of copy, line, "),
        "{message}"
    );
    let message = error("steps:\n  - when: x\n");
    assert!(
        message.starts_with("site.yml:2:5: step #1 has no module"),
        "{message}"
    );
}

#[test]
fn two_modules() {
    assert_eq!(
        error("steps:\n  - name: X\n    copy: {dest: /a, content: b}\n    file: {path: /a}\n"),
        "site.yml:4:5: step 'X' has two modules, `copy` and `file`: split it into two steps"
    );
}

#[test]
fn include_cycle() {
    let dir = scratch_dir();
    let site = write(&dir, "site.yml", "steps:\n  - include: a.yml\n");
    write(&dir, "a.yml", "- command: uptime\n- include: b.yml\n");
    write(&dir, "b.yml", "- include: a.yml\n");
    assert_eq!(
        error_at(&site, &dir),
        format!(
            "b.yml:1:12: include cycle: {d}/a.yml -> {d}/b.yml -> {d}/a.yml: a file cannot \
             include itself, directly or not",
            d = dir.display()
        )
        .replace(&format!("{}/", dir.display()), "")
    );
    // Including itself.
    let site = write(&dir, "self.yml", "steps:\n  - include: self.yml\n");
    let message = error_at(&site, &dir);
    assert!(
        message.contains("include cycle: self.yml -> self.yml"),
        "{message}"
    );
}

#[test]
fn missing_include() {
    assert_eq!(
        error("steps:\n  - include: nope.yml\n"),
        "site.yml:2:14: include 'nope.yml': cannot read included file nope.yml: No such file or \
         directory"
    );
}

#[test]
fn include_depth() {
    let dir = scratch_dir();
    for level in 0..20 {
        write(
            &dir,
            &format!("l{level}.yml"),
            &format!("- include: l{}.yml\n", level + 1),
        );
    }
    write(&dir, "l20.yml", "- command: uptime\n");
    let message = error_at(&dir.join("l0.yml"), &dir);
    assert!(
        message.starts_with("l16.yml:1:12: includes nested more than 16 levels deep (from l0.yml)"),
        "{message}"
    );
    // 16 levels are fine.
    write(&dir, "l16.yml", "- command: uptime\n");
    assert_eq!(load(&dir.join("l0.yml")).unwrap().steps.len(), 1);
}

#[test]
fn include_keys() {
    assert_eq!(
        error("steps:\n  - include: a.yml\n    register: x\n"),
        "site.yml:3:5: `register` cannot be used on an include (include 'a.yml'): put it on the \
         included steps (an include takes include, name, vars, when, tags, timeout)"
    );
    let message = error("steps:\n  - include: a.yml\n    command: uptime\n");
    assert!(
        message.starts_with("site.yml:3:5: include 'a.yml' also has module `command`"),
        "{message}"
    );
    let message = error("steps:\n  - include: a.yml\n    tgas: x\n");
    assert!(message.starts_with("site.yml:3:5: unknown key `tgas` in include 'a.yml'"));
    assert!(message.ends_with("did you mean `tags`?"), "{message}");
    let message = error("steps:\n  - include: \"{{ file }}\"\n");
    assert!(
        message.starts_with(
            "site.yml:2:14: include '{{ file }}': the include path cannot be rendered"
        ),
        "{message}"
    );

    let dir = scratch_dir();
    let site = write(&dir, "site.yml", "steps:\n  - include: inc.yml\n");
    write(
        &dir,
        "inc.yml",
        "vars: {a: 1}\nsteps:\n  - command: uptime\n",
    );
    let message = error_at(&site, &dir);
    assert!(
        message.starts_with("inc.yml:1:7: `vars` in an included file"),
        "{message}"
    );
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = scratch_dir();
    let site = write(&dir, "site.yml", "steps:\n  - include: inc/x.yml\n");
    write(
        &dir,
        "inc/x.yml",
        "- command: uptime\n- name: bad\n  copy: {}\n",
    );
    assert_eq!(
        error_at(&site, &dir),
        "inc/x.yml:3:3: step 'bad': copy: missing field `dest`"
    );
}

#[test]
fn duplicate_handlers() {
    let message = error(
        "steps:\n  - command: uptime\nhandlers:\n  - name: h\n    command: a\n  - name: h\n    \
         command: b\n",
    );
    assert!(
        message.starts_with("site.yml:6:5: handler 'h' is defined twice (first at "),
        "{message}"
    );
    assert!(
        message.ends_with("site.yml:4): give each handler its own name"),
        "{message}"
    );
}

#[test]
fn handlers_need_a_name() {
    assert_eq!(
        error("steps:\n  - command: uptime\nhandlers:\n  - command: {cmd: x}\n"),
        "site.yml:4:5: handler 'command x' has no `name`: steps notify handlers by name, add \
         `name: ...`"
    );
    let message = error("steps:\n  - command: uptime\nhandlers:\n  - include: x.yml\n");
    assert!(
        message.contains("`include` is not allowed in handlers"),
        "{message}"
    );
}

#[test]
fn notify_without_handler() {
    assert_eq!(
        error(
            "steps:\n  - name: X\n    command: uptime\n    notify: [restart fo]\nhandlers:\n  - name: \
             restart foo\n    command: a\n  - name: reload bar\n    command: b\n"
        ),
        "site.yml:4:5: step 'X' notifies 'restart fo', but no handler has that name or `listen` \
         topic (handlers: reload bar, restart foo)"
    );
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    notify: h\n"),
        "site.yml:4:5: step 'X' notifies 'h', but no handler has that name or `listen` topic \
         (there are no handlers: add a `handlers:` list)"
    );
}

#[test]
fn register_must_be_an_identifier() {
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    register: my-result\n"),
        "site.yml:4:15: step 'X': `register: my-result` is not a variable name: use letters, \
         digits and '_', not starting with a digit (e.g. `register: my_result`)"
    );
    let message = error("steps:\n  - name: X\n    command: uptime\n    register: not\n");
    assert!(message.contains("reserved word"), "{message}");
}

#[test]
fn when_must_parse() {
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    when: \"x ==\"\n"),
        "site.yml:4:11: step 'X': `when`: syntax error: unexpected end of input, expected \
         expression"
    );
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    when: \"{{ x }}\"\n"),
        "site.yml:4:11: step 'X': `when` is already an expression: write `x` without {{ }}"
    );
    let message = error("steps:\n  - name: X\n    command: uptime\n    changed_when: \"a b\"\n");
    assert!(message.starts_with("site.yml:4:19: step 'X': `changed_when`: syntax error"));
    let message = error("steps:\n  - name: X\n    command: uptime\n    when: {a: 1}\n");
    assert!(message.contains("`when` is an expression"), "{message}");
    // A bool is fine.
    let playbook = load_text("steps:\n  - command: uptime\n    when: false\n").unwrap();
    assert_eq!(playbook.steps[0].when, ["false"]);
}

#[test]
fn template_strings_must_parse() {
    assert_eq!(
        error(
            "steps:\n  - name: X\n    copy:\n      dest: /etc/x\n      content: |\n        a\n        \
             {{ b ) }}\n"
        ),
        "site.yml:4:7: step 'X': `content`: syntax error: unexpected `)`, expected end of \
         variable block (template line 2)"
    );
}

#[test]
fn other_keyword_types() {
    let message = error("steps:\n  - command: uptime\n    become: yes please\n");
    assert!(message.contains("`become` is true or false"), "{message}");
    let message = error("steps:\n  - command: uptime\n    tags: [a b]\n");
    assert!(
        message.contains("tag 'a b' is not usable with --tags"),
        "{message}"
    );
    let message = error("steps:\n  - command: uptime\n    vars: [1]\n");
    assert!(message.contains("`vars` is a map"), "{message}");
    let message = error("steps:\n  - command: uptime\n    name: 3\n");
    assert!(message.contains("`name` must be a string"), "{message}");
}

#[test]
fn not_utf8() {
    let dir = scratch_dir();
    let path = dir.join("site.yml");
    fs::write(&path, b"steps:\n  - command: caf\xe9\n").unwrap();
    assert_eq!(
        error_at(&path, &dir),
        "site.yml:2:17: not valid UTF-8 at byte 23: save the playbook as UTF-8"
    );
}

#[test]
fn too_large() {
    let dir = scratch_dir();
    let path = dir.join("site.yml");
    let file = fs::File::create(&path).unwrap();
    file.set_len(MAX_PLAYBOOK_BYTES + 1).unwrap();
    assert_eq!(
        error_at(&path, &dir),
        "site.yml: playbook is 16777217 bytes, more than the 16 MiB limit: is this the right file?"
    );
}

#[test]
fn missing_playbook() {
    let dir = scratch_dir();
    let message = error_at(&dir.join("nope.yml"), &dir);
    assert!(
        message.starts_with("nope.yml: cannot read playbook "),
        "{message}"
    );
    assert!(
        message.ends_with(": No such file or directory: give the path of a playbook file"),
        "{message}"
    );
}

#[test]
fn yaml_bomb() {
    let mut text = String::from("vars:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let prev = level - 1;
        text.push_str(&format!(
            "  a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, \
             *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    text.push_str("steps:\n  - command: uptime\n");
    let start = std::time::Instant::now();
    let message = error(&text);
    assert!(start.elapsed().as_secs() < 5);
    assert!(message.contains("YAML bomb"), "{message}");
}

#[test]
fn empty_playbook() {
    assert_eq!(
        error(""),
        "site.yml: the playbook has no steps: add a `steps:` list with at least one step (a \
         module such as `command: {cmd: uptime}`)"
    );
    assert!(error("vars: {a: 1}\n").starts_with("site.yml: the playbook has no steps"));
    assert!(error("steps: []\n").starts_with("site.yml:1:8: the playbook has no steps"));
}

#[test]
fn default_names() {
    let playbook = load_text(
        "steps:\n  - package: {name: [lxc, rsync]}\n  - file: {path: /srv, state: directory}\n  \
         - command: {cmd: \"echo a very long command line that goes on and on and on and on and on\"}\n",
    )
    .unwrap();
    let names: Vec<_> = playbook.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "package lxc, rsync",
            "file /srv",
            "command echo a very long command line that goes on and on and on and..."
        ]
    );
}

#[test]
fn timeout_on_a_step_an_include_and_the_playbook() {
    let dir = scratch_dir();
    write(
        &dir,
        "inc.yml",
        "- command: uptime\n- command: uptime\n  timeout: 5\n",
    );
    let pb = load(&write(
        &dir,
        "site.yml",
        "timeout: 60\nsteps:\n  - command: uptime\n    timeout: 9\n  - include: inc.yml\n    \
         timeout: 30\n  - command: uptime\n",
    ))
    .unwrap();
    assert_eq!(pb.timeout, Some(60));
    let limits: Vec<Option<u32>> = pb.steps.iter().map(|s| s.timeout).collect();
    // The playbook's own limit is not folded in: --step-timeout sits between it and the steps'.
    assert_eq!(limits, [Some(9), Some(30), Some(5), None]);
}

#[test]
fn bad_timeouts_name_the_place_and_the_range() {
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    timeout: 0\n"),
        "site.yml:4:14: step 'X': `timeout` is a whole number of seconds from 1 to 86400 (got 0), \
         e.g. `timeout: 600`"
    );
    assert_eq!(
        error("timeout: soon\nsteps:\n  - command: uptime\n"),
        "site.yml:1:10: the playbook: `timeout` is a whole number of seconds from 1 to 86400 \
         (got 'soon'), e.g. `timeout: 600`"
    );
    let dir = scratch_dir();
    write(&dir, "inc.yml", "timeout: 5\nsteps:\n  - command: uptime\n");
    let message = error_at(
        &write(&dir, "site.yml", "steps:\n  - include: inc.yml\n"),
        &dir,
    );
    assert!(
        message.starts_with("inc.yml:1:10: `timeout` at the top of an included file"),
        "{message}"
    );
}

#[test]
fn become_user_on_a_step_or_the_playbook_and_a_steps_own_keys_win() {
    let playbook = load_text(
        "become_user: app\nsteps:\n  - command: a\n  - command: b\n    become: false\n  \
         - command: c\n    become_user: web\n  - command: d\n    become: true\n\
         handlers:\n  - name: h\n    command: e\n",
    )
    .unwrap();
    let who: Vec<(bool, Option<&str>)> = playbook
        .steps
        .iter()
        .chain(&playbook.handlers)
        .map(|s| (s.become_root, s.become_user.as_deref()))
        .collect();
    assert_eq!(
        who,
        [
            (true, Some("app")),
            (false, None),
            (true, Some("web")),
            (true, Some("app")),
            (true, Some("app")),
        ]
    );
    // `become: true` at the top: root for every step that says nothing.
    let playbook = load_text("become: true\nsteps:\n  - command: a\n").unwrap();
    assert!(playbook.steps[0].become_root && playbook.steps[0].become_user.is_none());

    let message = error("become_user: \"-s\"\nsteps:\n  - command: a\n");
    assert!(
        message.starts_with("site.yml:1:14: the playbook: `become_user` is a user name"),
        "{message}"
    );
}
