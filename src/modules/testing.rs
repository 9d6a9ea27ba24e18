//! Runs module scripts for real on this machine, in a temporary directory, with the same
//! prelude and payload handling as the remote shell: module tests check real behaviour
//! (idempotence, check mode, atomic writes) without SSH.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::answer::{StepReport, parse};
use super::{PRELUDE, PlanContext, PlanError, RemoteStep};
use crate::template::TemplateError;

pub const MARK: &str = "@tandem-test-mark";

pub struct Local {
    dir: PathBuf,
}

pub struct LocalRun {
    pub status: i32,
    pub report: StepReport,
    pub stderr: String,
}

impl Local {
    pub fn new() -> Local {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tandem-module-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Local { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn mode(&self, path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// Files tandem may have left in `dir` (temp files of atomic writes).
    pub fn leftovers(&self, dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tandem."))
            .collect()
    }

    /// Runs a step as the remote shell would: prelude, then the script in a subshell.
    pub fn run(&self, step: &RemoteStep, check: bool, diff: bool) -> LocalRun {
        self.run_env(step, check, diff, &[])
    }

    /// Puts an executable `name` (a sh script body) in a directory that `run` puts first in
    /// PATH: lets tests stand in for tools that would alter this machine (apt-get, ...).
    pub fn stub(&self, name: &str, body: &str) {
        let bin = self.dir.join(".bin");
        std::fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `run` with extra environment variables (e.g. a fake /proc/sys root).
    pub fn run_env(
        &self,
        step: &RemoteStep,
        check: bool,
        diff: bool,
        env: &[(&str, &str)],
    ) -> LocalRun {
        let path = format!(
            "{}:{}",
            self.dir.join(".bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let payload = self.dir.join(".payload");
        std::fs::write(&payload, &step.payload).unwrap();
        let script = self.dir.join(".script");
        std::fs::write(&script, &step.script).unwrap();
        let prelude = self.dir.join(".prelude");
        std::fs::write(&prelude, PRELUDE).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            // TANDEM_TEST_BEFORE runs in this shell right before the step: `$$` there is the
            // `$$` the step sees (tests plant files at names derived from it).
            .arg(r#". "$1"; eval "${TANDEM_TEST_BEFORE:-}"; ( . "$2" ) <"$TANDEM_PAYLOAD""#)
            .arg("sh")
            .arg(&prelude)
            .arg(&script)
            .env("TANDEM_MARK", MARK)
            .env("TANDEM_CHECK", if check { "1" } else { "" })
            .env("TANDEM_DIFF", if diff { "1" } else { "" })
            .env("TANDEM_PAYLOAD", &payload)
            .env("TANDEM_TMP", &self.dir)
            .env("PATH", path)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        LocalRun {
            status: out.status.code().unwrap_or(-1),
            report: parse(&out.stdout, MARK),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plan context for tests: files relative to `base`, templates rendered by `render`.
#[derive(Default)]
pub struct TestContext {
    pub base: PathBuf,
    pub rendered: Option<String>,
}

impl PlanContext for TestContext {
    fn base_dir(&self) -> &Path {
        &self.base
    }

    fn render_file(&self, path: &Path) -> Result<String, PlanError> {
        self.rendered.clone().ok_or_else(|| {
            TemplateError::Unreadable(format!("no template {}", path.display())).into()
        })
    }
}
