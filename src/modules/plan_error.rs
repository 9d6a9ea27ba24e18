//! [`PlanError`]: why a module could not plan its step from local inputs (a `src` file it
//! cannot read, a template that does not render, a secret file it refuses). The caller adds
//! where (the step's file:line).

use std::path::PathBuf;

use super::secret_file::SecretFileError;
use crate::template::TemplateError;

/// A step's local inputs that failed while planning; `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A local template (`src`, `config_src`) that does not render: the template's own
    /// words, which already name the file, the line and the undefined variable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A local file the module ships (copy's `src`).
    #[error("{module}: cannot read {field} {}: {source}", .path.display())]
    Unreadable {
        module: &'static str,
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// One of a template step's `secrets` files.
    #[error("{module}: secrets.{name}: {source}")]
    Secret {
        module: &'static str,
        name: String,
        source: SecretFileError,
    },
    /// A plan context with no way to hand secrets to a rendering (only tests build one).
    #[error("{}: this context cannot render with secrets", .path.display())]
    NoSecrets { path: PathBuf },
}
