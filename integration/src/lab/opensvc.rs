//! The OpenSVC v2 agent in a lab (../shared/opensvc/README.md has the facts this follows).
//!
//! `up` extracts the agent's source tarball once per lab into DIR/opensvc (byte-compiled there,
//! since the nodes only read it), and every node sees that tree read-only at /usr/share/opensvc,
//! laid out as the agent's own packaging does (bin/pkg/makelib.sh): links in /usr/bin, its
//! defaults file, and its directories in the node's own overlay. Once the nodes answer, each
//! node's daemon is started directly (no systemd in a node). `down` removes the cgroups the
//! agent made in the cgroup tree the nodes share with the host.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::error::LabError;
use super::sys::{self, Programs};
use super::{LabNode, node};

/// The environment variable naming the tarball when `--opensvc-tarball` is not given.
pub const TARBALL_ENV: &str = "TANDEM_LAB_OPENSVC_TARBALL";

/// Where the agent lives in a node, as its Debian package puts it.
pub const NODE_ROOT: &str = "usr/share/opensvc";

/// The commands the package links into /usr/bin; each one is the same `om` script, which looks
/// at its own name.
const COMMANDS: [&str; 4] = ["om", "nodemgr", "svcmgr", "svcmon"];

/// The agent's directories (without /var/lib/opensvc/node the daemon's monitor loops on an error).
const DIRECTORIES: [&str; 7] = [
    "etc/opensvc",
    "var/log/opensvc",
    "var/lib/opensvc",
    "var/lib/opensvc/node",
    "var/lib/opensvc/lock",
    "var/lib/opensvc/cache",
    "var/tmp/opensvc",
];

/// Where the agent is extracted on the host: shared read-only by every node of the lab.
pub fn tree(dir: &Path) -> PathBuf {
    dir.join("opensvc")
}

/// The tarball to install: the flag's path, else $TANDEM_LAB_OPENSVC_TARBALL, else the one
/// beside the repository (../shared/opensvc/opensvc-agent-*.tar.gz). A missing file is an error
/// that names it and both ways to give another.
pub fn find_tarball(flag: Option<&Path>) -> Result<PathBuf, LabError> {
    let given = flag
        .map(|p| (p.to_path_buf(), "--opensvc-tarball"))
        .or_else(|| std::env::var_os(TARBALL_ENV).map(|p| (PathBuf::from(p), TARBALL_ENV)));
    if let Some((path, from)) = given {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LabError::Usage(format!(
                "the OpenSVC agent tarball {} (from {from}) is not a file: give the agent's source tarball with --opensvc-tarball PATH or {TARBALL_ENV}, or bring the lab up without the agent (--no-opensvc)",
                path.display()
            )))
        };
    }
    let shared = default_dir();
    let mut found: Vec<PathBuf> = fs::read_dir(&shared)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("opensvc-agent-") && n.ends_with(".tar.gz"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        LabError::Usage(format!(
            "no OpenSVC agent tarball: {}/opensvc-agent-*.tar.gz matches no file; give one with --opensvc-tarball PATH or {TARBALL_ENV}, or bring the lab up without the agent (--no-opensvc)",
            shared.display()
        ))
    })
}

/// ../shared/opensvc, relative to the repository this lab was built from.
fn default_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let repo = fs::canonicalize(&repo).unwrap_or(repo);
    repo.join("../shared/opensvc")
}

/// Extracts TARBALL into DIR/opensvc (its top directory stripped) and byte-compiles the agent's
/// Python there: the nodes mount it read-only, where Python could not cache its bytecode and
/// every `om` call would compile the whole agent again.
pub fn extract(tarball: &Path, dir: &Path) -> Result<(), LabError> {
    let tree = tree(dir);
    sys::remove_tree(&tree)?;
    sys::mkdir(&tree, 0o755)?;
    let tar = find("tar", "tar")?;
    sys::run(
        sys::command(&tar)
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(&tree)
            .args(["--strip-components=1", "--no-same-owner"]),
        &format!("extracting the OpenSVC agent from {}", tarball.display()),
    )?;
    for needed in ["bin/om", "opensvc"] {
        if !tree.join(needed).exists() {
            return Err(LabError::Usage(format!(
                "{} is not the OpenSVC v2 agent's source tarball: it has no {needed}",
                tarball.display()
            )));
        }
    }
    let python = find("python3", "python3")?;
    // Quiet, two workers (the machine has 2 cores), and not the agent's own test suite. Its
    // exit status is not checked: a few Python 2 compatibility modules never compile (and are
    // never imported on Python 3); an interpreter that cannot run at all fails on its start.
    sys::command(&python)
        .args([
            "-m",
            "compileall",
            "-q",
            "-j",
            "2",
            "-x",
            "/tests/|_py2\\.py$",
        ])
        .arg(tree.join("opensvc"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| LabError::io("byte-compiling the OpenSVC agent", e))?;
    Ok(())
}

fn find(program: &'static str, package: &'static str) -> Result<PathBuf, LabError> {
    sys::SAFE_PATH
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .ok_or(LabError::MissingProgram { program, package })
}

/// The node's side of the packaging, in its overlay upper dir: the mount point of the shared
/// tree, the /usr/bin links, /etc/default/opensvc and the agent's directories.
pub fn prepare_node(n: &LabNode) -> Result<(), LabError> {
    let upper = &n.upper_dir;
    sys::mkdir(&upper.join(NODE_ROOT), 0o755)?;
    sys::mkdir(&upper.join("usr/bin"), 0o755)?;
    for command in COMMANDS {
        let link = upper.join("usr/bin").join(command);
        match fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io(format!("removing {}", link.display()), e)),
        }
        symlink(Path::new("/").join(NODE_ROOT).join("bin/om"), &link)
            .map_err(|e| LabError::io(format!("linking {}", link.display()), e))?;
    }
    sys::mkdir(&upper.join("etc/default"), 0o755)?;
    sys::write_file(
        &upper.join("etc/default/opensvc"),
        b"# Written by tandem-lab up, as the agent's Debian package does.\nOSVC_PYTHON=/usr/bin/python3\n",
        0o644,
    )?;
    for d in DIRECTORIES {
        sys::mkdir(&upper.join(d), 0o755)?;
    }
    Ok(())
}

/// Starts the agent's daemon in a running node, without systemd (`LOGNAME` unset: with it the
/// agent hands the start to systemctl), and waits until it runs. Its output goes to the node's
/// /var/log/opensvc/lab-daemon-start.log: the daemon inherits the descriptors, and a pipe would
/// keep the caller waiting for as long as the daemon lives.
pub fn start_daemon(p: &Programs, n: &LabNode) -> Result<(), LabError> {
    // `start` may return before the daemon counts as running (a loaded machine): ask again,
    // every second, for a bounded time (each `om` call costs 1.5-2 s of CPU itself).
    let script = "env -u LOGNAME om daemon start </dev/null >/var/log/opensvc/lab-daemon-start.log 2>&1; \
                  i=0; until om daemon running >/dev/null 2>&1; do \
                  i=$((i + 1)); [ \"$i\" -lt 20 ] || exit 1; sleep 1; done";
    let out = sys::command(&p.nsenter)
        .args([
            "-t",
            &n.init_pid.to_string(),
            "-m",
            "-u",
            "-n",
            "-p",
            "-r",
            "-w",
        ])
        .args(["--", "/bin/sh", "-c", script])
        .env("HOME", "/root")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| LabError::io(format!("starting the OpenSVC daemon on {}", n.name), e))?;
    if out.status.success() {
        return wait_for_own_cluster_config(n);
    }
    let log = n.upper_dir.join("var/log/opensvc/lab-daemon-start.log");
    Err(LabError::Node {
        node: n.name.clone(),
        detail: format!(
            "the OpenSVC daemon did not start ({}); {}",
            out.status,
            sys::tail(&log, 5)
        ),
    })
}

/// How long a started daemon may take to write its first cluster settings.
const FIRST_CONFIG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long cluster.conf must have stayed unchanged for the daemon's first writes to be over.
const FIRST_CONFIG_REST: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits (bounded) until the daemon has written its own cluster settings to cluster.conf. It
/// writes each of them (secret, id, nodes) once, early in its start, from whichever of its
/// threads needs it first, rewriting the whole file each time, for a few seconds: a cluster
/// config a deploy writes before the last of those writes can get the daemon's secret or id
/// put into it (seen: the secret already there, the id written 2 s later). So: the three are
/// there and the file has rested.
fn wait_for_own_cluster_config(n: &LabNode) -> Result<(), LabError> {
    let conf = n.upper_dir.join("etc/opensvc/cluster.conf");
    let settled = || {
        let rested = fs::metadata(&conf)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= FIRST_CONFIG_REST);
        rested
            && fs::read_to_string(&conf)
                .map(|text| has_own_cluster_settings(&text))
                .unwrap_or(false)
    };
    if node::poll_until(FIRST_CONFIG_TIMEOUT, settled) {
        return Ok(());
    }
    Err(LabError::Node {
        node: n.name.clone(),
        detail: format!(
            "the OpenSVC daemon did not finish writing its cluster settings (secret, id, nodes) to /etc/opensvc/cluster.conf within {} s; {}",
            FIRST_CONFIG_TIMEOUT.as_secs(),
            sys::tail(&n.upper_dir.join("var/log/opensvc/node.log"), 5)
        ),
    })
}

/// Whether the `[cluster]` section of a cluster.conf holds the secret, id and nodes that a new
/// daemon writes.
fn has_own_cluster_settings(text: &str) -> bool {
    let mut in_cluster = false;
    let mut found = [false; 3];
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_cluster = line == "[cluster]";
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        if in_cluster {
            for (i, wanted) in ["secret", "id", "nodes"].iter().enumerate() {
                found[i] |= key.trim() == *wanted;
            }
        }
    }
    found.iter().all(|f| *f)
}

/// Removes the cgroups the agent made (`opensvc.slice` and below) in the cgroup tree the nodes
/// share with the host. Only empty cgroups can be removed: those of an agent still running in
/// another lab stay (rmdir refuses them), so this never disturbs another lab's services.
pub fn remove_cgroups() {
    remove_slices(Path::new("/sys/fs/cgroup"), 0);
}

/// Deepest a slice is looked for: /sys/fs/cgroup/CONTROLLER/[PARENT/]opensvc.slice.
const SLICE_DEPTH: usize = 3;

fn remove_slices(dir: &Path, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == "opensvc.slice" {
            remove_empty_cgroups(&path);
        } else if depth < SLICE_DEPTH {
            remove_slices(&path, depth + 1);
        }
    }
}

/// Depth first: a cgroup can only go once its children are gone. Busy ones stay.
fn remove_empty_cgroups(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_cgroups(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::has_own_cluster_settings;

    #[test]
    fn own_cluster_settings_are_the_secret_id_and_nodes_of_the_cluster_section() {
        let whole = "[DEFAULT]\nid = a\n\n[cluster]\nnodes = node2\nsecret = 450a\nid = 452e\n";
        assert!(has_own_cluster_settings(whole));
        // Seen between two of the daemon's writes: the secret there, not yet the id (the
        // DEFAULT section's id is another one).
        let partial = "[DEFAULT]\nid = a\n\n[cluster]\nnodes = node2\nsecret = 450a\n";
        assert!(!has_own_cluster_settings(partial));
        let elsewhere = "[hb#1]\nsecret = x\nid = y\nnodes = z\n[cluster]\n";
        assert!(!has_own_cluster_settings(elsewhere));
    }
}
