//! Where a lab keeps its files under DIR, and lab.json: the state `down`, `status` and the tests read.
//!
//! lab.json is written twice by `up`: right after the slot is claimed (`complete: false`, no init
//! pids yet), so a crash in the middle still tells `down` what to remove, and once every node
//! answers (`complete: true`).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::Lab;
use super::error::LabError;
use super::sys;

/// Bumped when lab.json changes incompatibly.
pub const VERSION: u32 = 1;

pub fn lab_json(dir: &Path) -> PathBuf {
    dir.join("lab.json")
}

pub fn nodes_dir(dir: &Path) -> PathBuf {
    dir.join("nodes")
}

pub fn node_dir(dir: &Path, node: &str) -> PathBuf {
    nodes_dir(dir).join(node)
}

pub fn inventory(dir: &Path) -> PathBuf {
    dir.join("inventory.yml")
}

pub fn known_hosts(dir: &Path) -> PathBuf {
    dir.join("known_hosts")
}

pub fn identity(dir: &Path) -> PathBuf {
    dir.join("id_ed25519")
}

pub fn identity_pub(dir: &Path) -> PathBuf {
    dir.join("id_ed25519.pub")
}

/// The files `up` writes directly in DIR (besides nodes/), which `down` removes.
pub fn top_files(dir: &Path) -> Vec<PathBuf> {
    vec![
        inventory(dir),
        known_hosts(dir),
        identity(dir),
        identity_pub(dir),
        dir.join("lab.json.tmp"),
        dir.join("inventory.yml.tmp"),
        dir.join("delay-proxy.log"),
        dir.join("ovh-api.log"),
        dir.join("ovh.conf"),
    ]
}

pub fn save(lab: &Lab) -> Result<(), LabError> {
    let json = serde_json::to_vec_pretty(lab).map_err(|e| LabError::Io {
        what: "encoding lab.json".into(),
        source: e.into(),
    })?;
    sys::write_file_atomic(&lab_json(lab.dir()), &json, 0o644)
}

/// The lab recorded in DIR, complete or not; `Ok(None)` when there is no lab.json.
pub fn read(dir: &Path) -> Result<Option<Lab>, LabError> {
    let path = lab_json(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LabError::io(format!("reading {}", path.display()), e)),
    };
    let lab: Lab = serde_json::from_slice(&bytes).map_err(|e| LabError::NoLab {
        dir: dir.to_path_buf(),
        why: format!("{} is not a lab state file: {e}", path.display()),
    })?;
    if lab.version != VERSION {
        return Err(LabError::NoLab {
            dir: dir.to_path_buf(),
            why: format!(
                "{} has version {} (this tandem-lab reads {VERSION})",
                path.display(),
                lab.version
            ),
        });
    }
    Ok(Some(lab))
}
