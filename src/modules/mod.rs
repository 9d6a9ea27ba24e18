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
mod error;
mod file;
mod filesystem;
mod line;
mod loop_device;
mod lvm;
mod lxc;
mod mount;
mod package;
mod plan_error;
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
pub use error::ModuleError;
pub use plan_error::PlanError;
pub use secret_file::SecretFileError;

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
    fn render_file(&self, path: &Path) -> Result<String, PlanError>;
    /// `render_file`, with `extra` names (a template step's secrets) seen by this one rendering
    /// only: they never become variables other steps, errors or reports could show.
    fn render_file_with(
        &self,
        path: &Path,
        extra: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, PlanError> {
        if extra.is_empty() {
            self.render_file(path)
        } else {
            Err(PlanError::NoSecrets { path: path.into() })
        }
    }
}

pub trait Module: fmt::Debug + Send + Sync {
    /// The script (and payload) that brings the node to the desired state. Errors are about
    /// local inputs (a missing `src` file, a template error), worded for the user.
    fn plan(&self, cx: &dyn PlanContext) -> Result<RemoteStep, PlanError>;
}

/// One built-in module: its name, its default step timeout, the arguments that travel as the
/// payload, and how it is built from its (rendered) arguments. [`KINDS`] lists them all.
pub struct Kind {
    pub name: &'static str,
    /// Seconds a step of this module may run when nothing else sets a limit (`timeout` on the
    /// step or its include, `--step-timeout`, the playbook's `timeout`); `None`: no limit.
    pub default_timeout: Option<u32>,
    /// Top-level arguments that travel in the payload, binary-safe: the only ones that may
    /// hold a NUL byte.
    payload_fields: &'static [&'static str],
    from_args: fn(&serde_json::Value) -> Result<Box<dyn Module>, ModuleError>,
}

/// Every built-in module, the one list of them (names, timeouts and builders all come from
/// here).
pub const KINDS: &[Kind] = &[
    Kind::new("copy", |a| Ok(Box::new(copy::Copy::from_args(a)?))).payload(&["content"]),
    Kind::new("line", |a| Ok(Box::new(line::Line::from_args(a)?))),
    Kind::new("block", |a| Ok(Box::new(block::Block::from_args(a)?))),
    Kind::new("authorized_key", |a| {
        Ok(Box::new(authorized_key::AuthorizedKey::from_args(a)?))
    }),
    Kind::new("sysctl", |a| Ok(Box::new(sysctl::Sysctl::from_args(a)?))),
    Kind::new("file", |a| Ok(Box::new(file::File::from_args(a)?))),
    Kind::new("template", |a| {
        Ok(Box::new(template::Template::from_args(a)?))
    }),
    Kind::new("command", |a| Ok(Box::new(command::Command::from_args(a)?))),
    // apt's downloads and maintainer scripts take minutes at most on a node that reaches its
    // mirror, and one that cannot reach it must fail, not hang the deploy.
    Kind::new("package", |a| Ok(Box::new(package::Package::from_args(a)?)))
        .timeout(package::DEFAULT_TIMEOUT_SECS),
    Kind::new("filesystem", |a| {
        Ok(Box::new(filesystem::Filesystem::from_args(a)?))
    }),
    Kind::new("mount", |a| Ok(Box::new(mount::Mount::from_args(a)?))),
    Kind::new("lvm", |a| Ok(Box::new(lvm::Lvm::from_args(a)?))),
    Kind::new("loop_device", |a| {
        Ok(Box::new(loop_device::LoopDevice::from_args(a)?))
    }),
    Kind::new("lxc", |a| Ok(Box::new(lxc::Lxc::from_args(a)?))).payload(&["config"]),
    Kind::new("tagged_lines", |a| {
        Ok(Box::new(tagged_lines::TaggedLines::from_args(a)?))
    }),
];

impl Kind {
    const fn new(
        name: &'static str,
        from_args: fn(&serde_json::Value) -> Result<Box<dyn Module>, ModuleError>,
    ) -> Kind {
        Kind {
            name,
            default_timeout: None,
            payload_fields: &[],
            from_args,
        }
    }

    const fn timeout(self, secs: u32) -> Kind {
        Kind {
            default_timeout: Some(secs),
            ..self
        }
    }

    const fn payload(self, fields: &'static [&'static str]) -> Kind {
        Kind {
            payload_fields: fields,
            ..self
        }
    }

    /// The module named `name`, if there is one.
    pub fn find(name: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|kind| kind.name == name)
    }
}

/// Every module name, for "unknown module" errors and docs: [`KINDS`]' names, in its order.
pub const NAMES: &[&str] = &names::<{ KINDS.len() }>();

const fn names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = KINDS[i].name;
        i += 1;
    }
    out
}

/// Seconds a step of module `name` may run when nothing else sets a limit (see
/// [`Kind::default_timeout`]).
pub fn default_timeout(name: &str) -> Option<u32> {
    Kind::find(name).and_then(|kind| kind.default_timeout)
}

/// Builds a module from its arguments (already rendered). The error is one line such as
/// serde's "unknown field `dst`, expected one of ...": the caller adds file:line.
pub fn build(name: &str, args: &serde_json::Value) -> Result<Box<dyn Module>, ModuleError> {
    let Some(kind) = Kind::find(name) else {
        return Err(ModuleError::Unknown {
            name: name.to_string(),
        });
    };
    // File content travels in the payload, binary-safe: only the script's values are checked.
    if let Some(field) = args::nul_field(args, kind.payload_fields) {
        let field = if field.is_empty() {
            "the argument".to_string()
        } else {
            field
        };
        return Err(ModuleError::NulByte {
            module: kind.name,
            field,
        });
    }
    (kind.from_args)(args)
}
