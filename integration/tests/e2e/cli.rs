//! A small builder for "run the tandem binary with these arguments, expect this output", the
//! way a user would run it (casey/just's test style).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `tandem` binary, as cargo builds it now (or `TANDEM_BIN`).
pub fn tandem_bin() -> PathBuf {
    tandem_integration::built::tandem().to_path_buf()
}

/// One `tandem` invocation being put together.
pub struct Tandem {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    dir: Option<PathBuf>,
}

/// What one invocation did.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Tandem {
    pub fn new<I, S>(args: I) -> Tandem
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Tandem {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            dir: None,
        }
    }

    /// Run from this directory (default: the test's own), as a user who `cd`ed there.
    pub fn dir(mut self, dir: &Path) -> Tandem {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Tandem {
        self.env.push((key.into(), value.into()));
        self
    }

    /// `self` + INVENTORY + extra args, then run.
    pub fn run_with(mut self, inventory: &Path, extra: &[&str]) -> Run {
        self.args.push(inventory.into());
        self.args.extend(extra.iter().map(OsString::from));
        self.run()
    }

    pub fn run(self) -> Run {
        let mut cmd = Command::new(tandem_bin());
        cmd.args(&self.args);
        // A user's agent must not change what these tests prove about identity files.
        cmd.env_remove("SSH_AUTH_SOCK");
        // Game days keep their JSON in the user's state directory: the suite's go under target/,
        // not into the home of whoever runs it.
        cmd.env(
            "XDG_STATE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-state"),
        );
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        let out = cmd.output().expect("tandem runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr
            )
        })
    }

    /// Fails with everything printed, so a failing test explains itself.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            code,
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr
        );
        self
    }
}

/// `tandem run -i INVENTORY --json EXTRA... -- COMMAND`
pub fn run_json(inventory: &Path, extra: &[&str], command: &str) -> Run {
    let mut args: Vec<&str> = vec!["--json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", command]);
    Tandem::new(["run", "-i"]).run_with(inventory, &args)
}

/// A fresh ed25519 key pair in `dir`, made by ssh-keygen; returns the private key's path.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    path
}

/// The public half of a key made by [`keygen`], as `type base64`.
pub fn public_key(private: &Path) -> String {
    let text = std::fs::read_to_string(format!("{}.pub", private.display())).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}
