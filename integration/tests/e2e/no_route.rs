//! A lab node never waits on the outside world (issue 11): apt and name lookups inside a node
//! fail within seconds, saying that the lab has no route out and where the package must come
//! from, and a cookbook `package` step for a package the host lacks fails fast with that message.

use std::time::{Duration, Instant};

use tandem_integration::lab::{NO_ROUTE_MESSAGE, TempLab};

use crate::cli::Tandem;
use crate::support::{exec_ok, stderr, stdout};

/// Fast enough that nobody waits: far below any resolver or TCP timeout.
const FAST: Duration = Duration::from_secs(10);

/// A package the host's apt knows (it has a candidate) but that is not installed: what a node
/// would have to download. setup.sh refreshes the host's lists whenever it installs, so one of
/// these small leaf packages is always known.
fn known_but_absent(lab: &TempLab) -> String {
    let found = exec_ok(
        lab,
        "node1",
        "for p in cowsay sl fortune-mod figlet toilet; do \
           c=$(apt-cache policy \"$p\" 2>/dev/null | awk '/Candidate:/ {print $2}'); \
           if [ -n \"$c\" ] && [ \"$c\" != '(none)' ] && ! dpkg-query -W -f='${Status}' \"$p\" 2>/dev/null | grep -q 'ok installed'; then \
             echo \"$p\"; break; fi; done",
    );
    assert!(
        !found.is_empty(),
        "none of cowsay, sl, fortune-mod, figlet, toilet is known to apt and absent on this host: \
         run apt-get update on the host"
    );
    found
}

#[test]
fn apt_inside_a_node_fails_at_once_and_says_why() {
    let lab = TempLab::new(1);
    for script in [
        "apt-get update".to_string(),
        format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y {}",
            known_but_absent(&lab)
        ),
    ] {
        let started = Instant::now();
        let out = lab.exec("node1", &script).unwrap();
        let elapsed = started.elapsed();
        assert!(!out.status.success(), "`{script}` succeeded in a node");
        let said = format!("{}\n{}", stdout(&out), stderr(&out));
        assert!(
            said.contains(NO_ROUTE_MESSAGE),
            "`{script}` did not say why it failed:\n{said}"
        );
        assert!(elapsed < FAST, "`{script}` took {elapsed:?}");
        eprintln!("`{script}` in a node failed in {elapsed:?}");
    }
}

#[test]
fn name_lookups_inside_a_node_fail_at_once() {
    let lab = TempLab::new(1);
    let started = Instant::now();
    let out = lab.exec("node1", "getent hosts deb.debian.org").unwrap();
    assert!(!out.status.success(), "deb.debian.org resolved in a node");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The node's own names still resolve, from its /etc/hosts.
    exec_ok(&lab, "node1", "getent hosts node1 localhost");
}

#[test]
fn a_package_step_for_a_package_the_host_lacks_fails_fast_with_the_reason() {
    let lab = TempLab::new(1);
    let package = known_but_absent(&lab);
    let dir = lab.dir().join("playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    let playbook = dir.join("absent.yml");
    std::fs::write(
        &playbook,
        format!("steps:\n  - name: a package the host lacks\n    package: {{name: {package}}}\n"),
    )
    .unwrap();
    let started = Instant::now();
    let run = Tandem::new(["deploy", "-i"])
        .run_with(&lab.inventory(), &[playbook.to_str().unwrap(), "--json"]);
    let elapsed = started.elapsed();
    run.expect_code(1);
    let report = run.json();
    let error = report["hosts"]["node1"]["steps"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("the lab has no route out"), "{report}");
    assert!(elapsed < FAST * 2, "the step took {elapsed:?}");
    eprintln!("package step for {package} (absent from the host) failed in {elapsed:?}");
}
