//! `loop`, `until`/`retries`/`delay`, `failed_when`, `ignore_errors` and templated names, as
//! the loader reads them: what a step gets, and the one-line error for each bad value.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::control::{Control, DEFAULT_DELAY, LoopSpec};
use super::*;

fn site(text: &str) -> (PathBuf, PathBuf) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tandem-control-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("site.yml");
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn step(text: &str) -> Step {
    let (_, path) = site(text);
    load(&path).unwrap().steps.remove(0)
}

fn error(text: &str) -> String {
    let (dir, path) = site(text);
    let message = load(&path).expect_err("should be refused").to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message.replace(&format!("{}/", dir.display()), "")
}

#[test]
fn a_step_without_these_keys_is_plain_and_pipelined() {
    let step = step("steps:\n  - command: {cmd: uptime}\n");
    assert!(step.control.is_plain());
    assert_eq!(step.control.attempts(), 1);
    assert!(!step.name_is_template);
}

#[test]
fn loop_takes_a_list_or_one_expression_and_a_label() {
    let looped = step(
        "steps:\n  - name: users\n    command: {cmd: \"useradd {{ item.name }}\"}\n    loop: \
         [{name: alice}, {name: bob}]\n    loop_control: {label: \"{{ item.name }}\"}\n",
    );
    assert_eq!(
        looped.control,
        Control {
            loop_spec: Some(LoopSpec {
                items: json!([{"name": "alice"}, {"name": "bob"}]),
                label: Some("{{ item.name }}".into()),
            }),
            ..Control::default()
        }
    );
    assert!(!looped.control.is_plain());
    let expr = step("steps:\n  - command: {cmd: \"echo {{ item }}\"}\n    loop: \"{{ users }}\"\n");
    assert_eq!(expr.control.loop_spec.unwrap().items, json!("{{ users }}"));
}

#[test]
fn until_retries_delay_follow_ansible_defaults() {
    let until = step(
        "steps:\n  - command: {cmd: \"test -e /srv/ready\"}\n    register: r\n    until: r.rc == 0\n",
    );
    assert_eq!(until.control.until.as_deref(), Some("r.rc == 0"));
    assert_eq!(until.control.attempts(), 4, "3 retries after the first");
    assert_eq!(until.control.delay(), DEFAULT_DELAY);
    let explicit = step(
        "steps:\n  - command: {cmd: \"true\"}\n    until: [result.rc == 0, \"'x' in result.stdout\"]\n    retries: 10\n    delay: 0.5\n",
    );
    assert_eq!(explicit.control.attempts(), 11);
    assert_eq!(explicit.control.delay(), Duration::from_millis(500));
    assert_eq!(
        explicit.control.until.as_deref(),
        Some("(result.rc == 0) and ('x' in result.stdout)")
    );
    // `retries` alone: retry while the step fails.
    let alone = step("steps:\n  - command: {cmd: \"true\"}\n    retries: 2\n");
    assert_eq!(alone.control.attempts(), 3);
}

#[test]
fn failed_when_and_ignore_errors_are_read() {
    let step = step(
        "steps:\n  - command: {cmd: \"grep x /etc/y\"}\n    failed_when: result.rc > 1\n    ignore_errors: true\n",
    );
    assert_eq!(step.control.failed_when.as_deref(), Some("result.rc > 1"));
    assert!(step.control.ignore_errors);
}

#[test]
fn a_templated_name_is_kept_for_each_host_to_render() {
    let step = step("steps:\n  - name: \"site {{ site }}\"\n    command: {cmd: uptime}\n");
    assert!(step.name_is_template);
    assert_eq!(step.name, "site {{ site }}");
}

#[test]
fn bad_values_are_one_line_errors_at_their_place() {
    let cases = [
        (
            "steps:\n  - command: {cmd: \"echo {{ item }}\"}\n    loop: users\n",
            "site.yml:3:11: step 'command echo {{ item }}': `loop` is a list, or one expression \
             giving a list written `\"{{ expr }}\"` (e.g. `loop: \"{{ users }}\"`), not the text \
             `users`",
        ),
        (
            "steps:\n  - command: {cmd: \"echo {{ item }}\"}\n    loop: {a: 1}\n",
            "site.yml:3:11: step 'command echo {{ item }}': `loop` is a list (e.g. `loop: [alice, \
             bob]`) or one expression giving a list (`loop: \"{{ users }}\"`)",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    loop: [a]\n    loop_control: {lable: x}\n",
            "site.yml:4:19: step 'command x': unknown key `lable` in `loop_control`; expected \
             label (the loop variable is always `item`)",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    loop_control: {label: x}\n",
            "site.yml:3:19: step 'command x': `loop_control` without `loop`: add `loop:` with \
             the items, or remove it",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    until: r.rc == 0\n    retries: -1\n",
            "site.yml:4:14: step 'command x': `retries` is a whole number from 0 to 1000 \
             (attempts after the first), not -1",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    delay: 3\n",
            "site.yml:3:12: step 'command x': `delay` is the wait between attempts, and this \
             step has one attempt: add `until:` (or `retries:`), or remove `delay`",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    retries: 1\n    delay: 1e9\n",
            "site.yml:4:12: step 'command x': `delay` is the seconds between attempts, from 0 \
             to 3600, not 1000000000.0",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    ignore_errors: yes please\n",
            "site.yml:3:20: step 'command x': `ignore_errors` is true or false",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    failed_when: \"result.rc >\"\n",
            "site.yml:3:18: step 'command x': `failed_when`: syntax error: unexpected end of \
             input, expected expression",
        ),
        (
            "steps:\n  - name: \"add {{ item }}\"\n    command: {cmd: x}\n    loop: [a]\n",
            "site.yml:2:11: step 'add {{ item }}': `name` reads `item`, but the name is shown \
             once for all items: show each item with `loop_control: {label: \"{{ item }}\"}` \
             instead",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    loop: [a]\n    vars: {item: 1}\n",
            "site.yml:2:5: step 'command x': a var named `item` on a step with `loop`: `loop` \
             sets `item` to each element; rename the var",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    notify: h\nhandlers:\n  - name: \"h {{ x }}\"\n    command: {cmd: z}\n",
            "site.yml:5:11: handler 'h {{ x }}': a handler's name cannot be a template: `notify` \
             finds handlers by the name as written",
        ),
        (
            "steps:\n  - command: {cmd: x}\n    lopo: [a]\n",
            "site.yml:3:5: unknown key `lopo` in step 'command x'; expected one of name, when, \
             tags, notify, register, changed_when, become, become_user, vars, loop, loop_control, until, \
             retries, delay, failed_when, ignore_errors, timeout; did you mean `loop`?",
        ),
        (
            "steps:\n  - include: other.yml\n    loop: [a]\n",
            "site.yml:3:5: `loop` cannot be used on an include (include 'other.yml'): put it on \
             the included steps (an include takes include, name, vars, when, tags, timeout)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected, "for:\n{text}");
    }
}
