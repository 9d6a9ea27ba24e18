//! A full disk under a file a step replaces: the step fails with a one-line reason, the old
//! file stays byte for byte, no temporary file is left, the other node finishes, and once
//! there is room again a re-run converges.

use tandem_integration::lab::TempLab;

use super::{assert_rerun_converges, exists_on, fault_inventory, read_on, record, write};
use crate::cli::Tandem;

const FULL: &str = "node1";
const OTHER: &str = "node2";
const DIR: &str = "/var/tmp/fault-disk";

#[test]
fn a_full_disk_fails_the_step_cleanly_and_keeps_the_old_file() {
    let lab = TempLab::new(2);
    let inventory = fault_inventory(&lab);
    // 32 KiB to put where 64 KiB of tmpfs is already full.
    let new: String = (0..1024).map(|i| format!("line {i:026}\n")).collect();
    assert_eq!(new.len(), 32 * 1024);
    std::fs::write(lab.dir().join("app.conf"), &new).unwrap();
    let playbook = write(
        lab.dir(),
        "disk.yml",
        &format!(
            r#"
steps:
  - name: app config
    copy: {{dest: {DIR}/app.conf, src: app.conf, mode: "0644"}}
  - name: after
    copy: {{dest: /var/tmp/fault-after, content: "after\n"}}
"#
        ),
    );
    crate::support::exec_ok(
        &lab,
        FULL,
        &format!(
            "mkdir -p {DIR} && mount -t tmpfs -o size=64k tmpfs {DIR} \
             && head -c 3000 /dev/urandom > {DIR}/app.conf \
             && {{ dd if=/dev/zero of={DIR}/filler bs=1k 2>/dev/null; true; }} \
             && test \"$(df -k --output=avail {DIR} | tail -1 | tr -d ' ')\" = 0"
        ),
    );
    crate::support::exec_ok(
        &lab,
        OTHER,
        &format!("mkdir -p {DIR} && echo old > {DIR}/app.conf"),
    );
    let old = read_on(&lab, FULL, &format!("{DIR}/app.conf"));
    assert_eq!(old.len(), 3000);

    let run =
        Tandem::new(["deploy", "-i"]).run_with(&inventory, &[playbook.to_str().unwrap(), "--json"]);
    run.expect_code(1);
    let report = run.json();
    let full = &report["hosts"][FULL];
    assert_eq!(
        (full["failed"].as_u64(), full["unreachable"].as_bool()),
        (Some(1), Some(false)),
        "{report}"
    );
    let error = full["steps"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("No space left on device") && !error.contains('\n'),
        "a one-line reason naming ENOSPC: {error:?}"
    );
    assert_eq!(
        read_on(&lab, FULL, &format!("{DIR}/app.conf")),
        old,
        "the old file changed"
    );
    let left = crate::support::exec_ok(&lab, FULL, &format!("ls -A {DIR}"));
    assert_eq!(left, "app.conf\nfiller", "files left in {DIR}");
    assert!(
        !exists_on(&lab, FULL, "/var/tmp/fault-after"),
        "a step ran after the failure"
    );
    let other = &report["hosts"][OTHER];
    assert_eq!(
        (other["changed"].as_u64(), other["failed"].as_u64()),
        (Some(2), Some(0)),
        "{report}"
    );
    assert_eq!(
        read_on(&lab, OTHER, &format!("{DIR}/app.conf")),
        new.as_bytes()
    );

    // Room again on the same tmpfs: the same step now goes through.
    crate::support::exec_ok(&lab, FULL, &format!("rm {DIR}/filler"));
    assert_rerun_converges(&inventory, &playbook);
    assert_eq!(
        read_on(&lab, FULL, &format!("{DIR}/app.conf")),
        new.as_bytes()
    );
    crate::support::exec_ok(&lab, FULL, &format!("umount {DIR}"));
    record(
        "disk-full",
        &format!(
            "fault survived: full disk (64 KiB tmpfs) under a replaced file: {FULL} failed the step with \"{error}\", old file intact, no temp file, 1 other node finished, re-run converged"
        ),
    );
}
