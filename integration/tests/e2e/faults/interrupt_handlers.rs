//! Ctrl-C after a change that notified a handler, before the handler ran: the handler is not
//! started (it is a new step), so the host is reported interrupted with it counted as not run,
//! and `--resume` picks the host up; never a green host whose change was left half-applied.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tandem_integration::lab::TempLab;

use super::{
    STARTED, assert_rerun_converges, deploy_with_fault, exists_on, fault_inventory, write,
};

/// A config change that notifies `reload`, then a slow last step during which Ctrl-C lands.
const PLAYBOOK: &str = r#"
steps:
  - name: workdir
    file: {path: /var/tmp/fault, state: directory}
  - name: config
    copy: {dest: /var/tmp/fault/app.conf, content: "v2\n"}
    notify: reload
  - name: slow
    command:
      cmd: "touch /var/tmp/fault/slow.started; sleep 2; echo done > /var/tmp/fault/slow.done"
      creates: /var/tmp/fault/slow.done
handlers:
  - name: reload
    copy: {dest: /var/tmp/fault/reloaded, content: "v2\n"}
"#;

#[test]
fn ctrl_c_before_a_notified_handler_leaves_the_host_interrupted() {
    let lab = TempLab::new(2);
    let inventory = fault_inventory(&lab);
    let playbook = write(lab.dir(), "handlers.yml", PLAYBOOK);
    let run = deploy_with_fault(
        &inventory,
        &playbook,
        &["--json"],
        || exists_on(&lab, "node1", STARTED) && exists_on(&lab, "node2", STARTED),
        |pid| kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap(),
        Duration::from_secs(30),
    );
    run.run.expect_code(130);
    let report = run.run.json();
    for node in ["node1", "node2"] {
        let host = &report["hosts"][node];
        assert!(
            exists_on(&lab, node, "/var/tmp/fault/slow.done"),
            "{node}: the running step did not finish"
        );
        assert!(
            !exists_on(&lab, node, "/var/tmp/fault/reloaded"),
            "{node}: the handler started after Ctrl-C"
        );
        assert_eq!(host["interrupted"], true, "{node}: {report}");
        assert_eq!(
            host["not_run"], 1,
            "{node}: the handler is not run: {report}"
        );
    }
    // A plain re-run finds the config in place and does not notify the handler again (as in
    // Ansible without --force-handlers): that is why the host must not look finished. It still
    // converges.
    assert_rerun_converges(&inventory, &playbook);
}
