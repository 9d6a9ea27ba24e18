//! Helpers shared by the end-to-end tests.

use std::process::{Command, Output};

use tandem_integration::lab::{Lab, LabNode};

/// The `tandem-lab` binary cargo built for these tests.
pub fn tandem_lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem-lab"))
}

/// OpenSSH's client logged in as root on `node` with the lab's key, checking host keys strictly
/// against the lab's known_hosts.
pub fn ssh(lab: &Lab, node: &LabNode, command: &str) -> Output {
    Command::new("ssh")
        .arg("-i")
        .arg(lab.identity())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            lab.known_hosts().display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-F",
            "/dev/null",
        ])
        .arg(format!("root@{}", node.address))
        .arg(command)
        .output()
        .expect("running ssh")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Runs a script in a node and returns its stdout, failing the test on a non-zero exit.
pub fn exec_ok(lab: &Lab, node: &str, script: &str) -> String {
    let out = lab.exec(node, script).expect("nsenter into the node");
    assert!(
        out.status.success(),
        "`{script}` failed in {node}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// The agent's LXC driver puts a service's container in a cgroup named after the service only
/// (`opensvc.slice/web.slice/...`), and lab nodes share the host's cgroup tree: two labs whose
/// agent runs `web` at the same time break each other's containers (a start fails, a stop
/// hangs). Tests that let the agent start the service take turns with this.
pub fn agent_lab_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the agents of a lab pair say of themselves, for a failed test's message: each node's
/// cluster.conf (its secret cut to 6 characters), the daemon's view of the cluster, and the last
/// lines of its log that speak of config, cluster or join.
pub fn agent_state(lab: &Lab) -> String {
    let script = "sed 's/^\\(secret = ......\\).*/\\1.../' /etc/opensvc/cluster.conf; \
                  echo '-- om daemon status'; om daemon status 2>&1 | head -30; \
                  echo '-- node.log'; grep -E -i 'config|cluster|join|secret|rejoin|frozen' \
                  /var/log/opensvc/node.log 2>&1 | tail -40";
    let mut out = String::new();
    for node in ["node1", "node2"] {
        let text = match lab.exec(node, script) {
            Ok(o) => format!("{}{}", stdout(&o), stderr(&o)),
            Err(e) => format!("(no answer: {e})"),
        };
        out.push_str(&format!("\n==== {node}\n{text}\n"));
    }
    out
}

/// Writes a test's file (a playbook, an include, a template) into its lab's directory.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A file's content in a node, as the node's own `cat` prints it ("" when it is missing).
pub fn cat(lab: &Lab, node: &str, path: &str) -> String {
    let out = lab.exec(node, &format!("cat {path}")).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
