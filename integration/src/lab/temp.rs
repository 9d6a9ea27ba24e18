//! A lab for one test: a fresh directory under /tmp/tandem-lab-tests/, taken down when dropped.

use std::fs;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::LabError;
use super::{Lab, UpOptions, sys};

pub const TEMP_ROOT: &str = "/tmp/tandem-lab-tests";

pub struct TempLab {
    lab: Lab,
    /// Set by `close`, so that drop does not take the lab down twice.
    closed: bool,
}

impl TempLab {
    /// Brings up a lab of `nodes` nodes; panics with the lab's error message if it cannot (this
    /// is for tests: the message says what to install or fix).
    pub fn new(nodes: usize) -> TempLab {
        TempLab::try_new(nodes).unwrap_or_else(|e| panic!("tandem-lab up failed: {e}"))
    }

    pub fn try_new(nodes: usize) -> Result<TempLab, LabError> {
        TempLab::try_with_latency(nodes, None)
    }

    /// A lab whose nodes are reached through the delay proxy (`up --latency-ms MS`).
    pub fn with_latency(nodes: usize, latency_ms: u32) -> TempLab {
        TempLab::try_with_latency(nodes, Some(latency_ms))
            .unwrap_or_else(|e| panic!("tandem-lab up failed: {e}"))
    }

    pub fn try_with_latency(nodes: usize, latency_ms: Option<u32>) -> Result<TempLab, LabError> {
        let options = UpOptions {
            latency_ms,
            ..UpOptions::default()
        };
        TempLab::try_with(nodes, &options)
    }

    /// A lab with the OpenSVC agent in every node, its daemon running (the inventory says
    /// `opensvc: true`); the tarball as `tandem-lab up` finds it.
    pub fn with_opensvc(nodes: usize) -> TempLab {
        let options = UpOptions {
            opensvc: true,
            ..UpOptions::default()
        };
        TempLab::try_with(nodes, &options).unwrap_or_else(|e| panic!("tandem-lab up failed: {e}"))
    }

    pub fn try_with(nodes: usize, options: &UpOptions) -> Result<TempLab, LabError> {
        let dir = fresh_dir()?;
        match super::up::up_with_options(&dir, nodes, true, options) {
            Ok(lab) => Ok(TempLab { lab, closed: false }),
            Err(e) => {
                let _ = sys::remove_tree(&dir);
                Err(e)
            }
        }
    }

    /// Takes the lab down now and reports how that went (dropping does the same, silently).
    pub fn close(mut self) -> Result<(), LabError> {
        self.closed = true;
        self.lab
            .down()
            .and_then(|()| sys::remove_tree(self.lab.dir()))
    }
}

/// A new directory nobody else uses: parallel test processes differ by pid, tests inside one
/// process by a counter.
fn fresh_dir() -> Result<PathBuf, LabError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    fs::create_dir_all(TEMP_ROOT).map_err(|e| LabError::io(format!("creating {TEMP_ROOT}"), e))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(TEMP_ROOT).join(format!(
        "lab-{}-{}-{nanos:09}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir).map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

impl Deref for TempLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Drop for TempLab {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let dir = self.lab.dir().to_path_buf();
        if let Err(e) = self.lab.down().and_then(|()| sys::remove_tree(&dir)) {
            eprintln!(
                "tandem-lab: taking down the test lab in {}: {e}",
                dir.display()
            );
        }
    }
}
