//! Handlers: `listen` topics, `meta: flush_handlers`, and the errors around them.

use super::tests::{error, scratch_dir, write};
use super::*;

#[test]
fn listen_topics_are_notified_like_names() {
    let dir = scratch_dir();
    let site = write(
        &dir,
        "site.yml",
        "steps:\n  - name: conf\n    command: uptime\n    notify: [web changed, reload a]\n  - meta: flush_handlers\n  - command: b\nhandlers:\n  - name: reload a\n    command: a\n  - name: restart b\n    command: b\n    listen: web changed\n  - name: restart c\n    command: c\n    listen: [web changed, other]\n",
    );
    let playbook = load(&site).unwrap();
    assert_eq!(playbook.handlers[1].listen, ["web changed"]);
    assert_eq!(playbook.handlers[2].listen, ["web changed", "other"]);
    assert!(playbook.handlers[1].answers("web changed"));
    assert!(playbook.handlers[1].answers("restart b"));
    assert!(!playbook.handlers[0].answers("web changed"));
    // The flush point is a step of its own, tagged `always` so --tags never drops it.
    let flush = &playbook.steps[1];
    assert!(flush.is_flush(), "{flush:?}");
    assert_eq!(flush.name, "flush handlers");
    assert_eq!(flush.tags, ["always"]);
    assert_eq!(flush.location.line, 5);
    assert!(!playbook.steps[0].is_flush());
}

#[test]
fn a_notify_may_name_a_topic_and_the_error_lists_them() {
    let message = error(
        "steps:\n  - name: X\n    command: uptime\n    notify: web chnaged\nhandlers:\n  - name: h\n    command: a\n    listen: web changed\n",
    );
    assert_eq!(
        message,
        "site.yml:4:5: step 'X' notifies 'web chnaged', but no handler has that name or \
         `listen` topic (handlers: h; listen topics: web changed)"
    );
}

#[test]
fn listen_meta_and_flush_are_refused_where_they_mean_nothing() {
    assert_eq!(
        error("steps:\n  - name: X\n    command: uptime\n    listen: t\n"),
        "site.yml:4:5: step 'X': `listen` is for handlers (topics a `notify` may name): move the \
         step under `handlers:`, or notify the handler by name"
    );
    assert_eq!(
        error(
            "steps:\n  - command: a\nhandlers:\n  - name: h\n    command: a\n    listen: [\"\"]\n"
        ),
        "site.yml:6:13: handler 'h': `listen` has an empty topic"
    );
    assert_eq!(
        error("steps:\n  - meta: end_play\n"),
        "site.yml:2:11: `meta: end_play`: the only `meta` action is `flush_handlers` (run the \
         handlers notified so far, here)"
    );
    assert_eq!(
        error("steps:\n  - meta: flush_handlers\n    when: x\n"),
        "site.yml:3:5: `when` on a `meta: flush_handlers` step: it takes only `name` (it runs \
         where it stands, on every node still running)"
    );
    assert_eq!(
        error("steps:\n  - command: a\nhandlers:\n  - meta: flush_handlers\n"),
        "site.yml:4:5: `meta` is not allowed in handlers: put `- meta: flush_handlers` in \
         `steps:`"
    );
}
