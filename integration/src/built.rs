//! The workspace's executables as tests use them: built by cargo on first use (once per test
//! process), their paths taken from cargo's own `compiler-artifact` messages, so a test never
//! runs a stale binary that merely sits beside another one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `tandem` executable: `TANDEM_BIN` when set, else built now by
/// `cargo build -p tandem --bin tandem`.
pub fn tandem() -> &'static Path {
    static TANDEM: OnceLock<PathBuf> = OnceLock::new();
    TANDEM.get_or_init(|| from_env_or_build("TANDEM_BIN", "tandem", "tandem"))
}

/// The `tandem-lab` executable: `TANDEM_LAB_BIN` when set, else built now by
/// `cargo build -p tandem-integration --bin tandem-lab`.
pub fn tandem_lab() -> &'static Path {
    static LAB: OnceLock<PathBuf> = OnceLock::new();
    LAB.get_or_init(|| from_env_or_build("TANDEM_LAB_BIN", "tandem-integration", "tandem-lab"))
}

fn from_env_or_build(var: &str, package: &str, bin: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => build(package, bin).unwrap_or_else(|why| panic!("{why} (or set {var})")),
    }
}

/// Runs `cargo build -p PACKAGE --bin BIN --message-format=json` in the workspace, with the
/// profile the running test was built with, and returns the executable cargo reports. Cargo
/// decides whether anything needs rebuilding, as it does for `cargo run`.
pub fn build(package: &str, bin: &str) -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the integration crate sits in the workspace");
    // `cargo test` sets CARGO to the cargo running it; a bare `cargo` is the fallback.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--quiet", "--message-format=json", "-p", package])
        .args(["--bin", bin]);
    if release_build() {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo to build {bin}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build -p {package} --bin {bin} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    executable(&String::from_utf8_lossy(&output.stdout), bin)
        .ok_or_else(|| format!("cargo built {bin} but reported no executable for it"))
}

/// The test itself was built with `--release` (its path is target/release/deps/...): the
/// binary it drives is built the same way.
fn release_build() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .parent()?
                .file_name()
                .map(|profile| profile == "release")
        })
        .unwrap_or(false)
}

/// The `executable` of the `compiler-artifact` message for binary `bin`, in cargo's JSON lines.
fn executable(messages: &str, bin: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_comes_from_the_binarys_own_artifact_message() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"tandem","kind":["lib"]},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"tandem","kind":["bin"]},"executable":"/t/debug/tandem"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable(messages, "tandem"),
            Some(PathBuf::from("/t/debug/tandem"))
        );
        assert_eq!(executable(messages, "tandem-lab"), None);
    }
}
