//! Built-in modules. Each is a pure function of desired state: it validates its arguments and
//! turns them into one POSIX `sh` script that checks the node and, unless in check mode,
//! applies the change, in a single round trip (pyinfra's operation model, with check and apply
//! fused). A module never touches SSH: the engine ships its [`RemoteStep`] and hands the answer
//! back through [`answer::parse`].
//!
//! Scripts may use the helpers of `prelude.sh` (tandem_changed, tandem_install, ...), run with
//! `set -u` off, in a subshell, with `$TANDEM_PAYLOAD` naming a file that holds the payload.

pub mod answer;
mod args;
mod authorized_key;
mod block;
mod command;
mod copy;
mod file;
mod filesystem;
mod line;
mod loop_device;
mod lvm;
mod lxc;
mod mount;
mod package;
mod rewrite;
mod secret_file;
mod size;
mod sysctl;
mod tagged_lines;
mod template;
#[cfg(test)]
pub mod testing;

use std::fmt;
use std::path::Path;

use crate::sh::Script;

pub use answer::{FileDiff, StepReport};

/// The shell functions every step may call; sent once per host.
pub const PRELUDE: &str = include_str!("prelude.sh");

/// What the engine ships to a node for one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteStep {
    /// Built only from tandem's own code and quoted words (see `crate::sh`).
    pub script: Script,
    /// Bytes the script reads from `$TANDEM_PAYLOAD` (file content), exact and binary-safe.
    pub payload: Vec<u8>,
}

/// What planning may need from the controller: local files, local templates. No node access.
pub trait PlanContext {
    /// Directory that relative `src` paths start from (the playbook file's directory).
    fn base_dir(&self) -> &Path;
    /// Renders a local template file with the host's variables (strict: undefined is an error).
    fn render_file(&self, path: &Path) -> Result<String, String>;
    /// `render_file`, with `extra` names (a template step's secrets) seen by this one rendering
    /// only: they never become variables other steps, errors or reports could show.
    fn render_file_with(
        &self,
        path: &Path,
        extra: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, String> {
        if extra.is_empty() {
            self.render_file(path)
        } else {
            Err(format!(
                "{}: this context cannot render with secrets",
                path.display()
            ))
        }
    }
}

pub trait Module: fmt::Debug + Send + Sync {
    /// The script (and payload) that brings the node to the desired state. Errors are about
    /// local inputs (a missing `src` file, a template error), worded for the user.
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, String>;
}

/// Every module name, for "unknown module" errors and docs.
pub const NAMES: &[&str] = &[
    "copy",
    "line",
    "block",
    "authorized_key",
    "sysctl",
    "file",
    "template",
    "command",
    "package",
    "filesystem",
    "mount",
    "lvm",
    "loop_device",
    "lxc",
    "tagged_lines",
];

/// Seconds a step of module `name` may run when nothing else sets a limit (`timeout` on the
/// step or its include, `--step-timeout`, the playbook's `timeout`): apt's downloads and
/// maintainer scripts take minutes at most on a node that reaches its mirror, and one that
/// cannot reach it must fail, not hang the deploy (15 minutes). Other modules have none.
pub fn default_timeout(name: &str) -> Option<u32> {
    match name {
        "package" => Some(package::DEFAULT_TIMEOUT_SECS),
        _ => None,
    }
}

/// Builds a module from its arguments (already rendered). `Err` is a one-line message such as
/// serde's "unknown field `dst`, expected one of ...": the caller adds file:line.
pub fn build(name: &str, args: &serde_json::Value) -> Result<Box<dyn Module>, String> {
    // Messages quote the user's values; a newline in one must not split the one-line error.
    build_module(name, args).map_err(|e| e.replace('\n', "\\n").replace('\r', "\\r"))
}

fn build_module(name: &str, args: &serde_json::Value) -> Result<Box<dyn Module>, String> {
    // File content travels in the payload, binary-safe: only the script's values are checked.
    let payload_fields: &[&str] = match name {
        "copy" => &["content"],
        "lxc" => &["config"],
        _ => &[],
    };
    if let Some(field) = args::nul_field(args, payload_fields) {
        let field = if field.is_empty() {
            "the argument".to_string()
        } else {
            field
        };
        return Err(format!(
            "{name}: {field} holds a NUL byte, which no file name or shell word can carry"
        ));
    }
    match name {
        "copy" => copy::Copy::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "line" => line::Line::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "filesystem" => {
            filesystem::Filesystem::from_args(args).map(|m| Box::new(m) as Box<dyn Module>)
        }
        "mount" => mount::Mount::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "lvm" => lvm::Lvm::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "loop_device" => {
            loop_device::LoopDevice::from_args(args).map(|m| Box::new(m) as Box<dyn Module>)
        }
        "lxc" => lxc::Lxc::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "block" => block::Block::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "authorized_key" => {
            authorized_key::AuthorizedKey::from_args(args).map(|m| Box::new(m) as Box<dyn Module>)
        }
        "sysctl" => sysctl::Sysctl::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "file" => file::File::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "template" => template::Template::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "command" => command::Command::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "package" => package::Package::from_args(args).map(|m| Box::new(m) as Box<dyn Module>),
        "tagged_lines" => {
            tagged_lines::TaggedLines::from_args(args).map(|m| Box::new(m) as Box<dyn Module>)
        }
        other => Err(format!(
            "unknown module '{other}' (known: {})",
            NAMES.join(", ")
        )),
    }
}
