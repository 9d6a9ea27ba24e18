//! Playbooks: loading YAML (with includes) into [`model`] types, validated up front.
//!
//! Loading is two passes, as for the inventory: serde-saphyr turns each file into the loose maps
//! of [`raw`] (syntax, wrong types and duplicate keys come back with its messages and positions),
//! then [`load`] applies tandem's rules: one module per step, known keywords, module arguments
//! (checked by the module itself), template and `when` syntax, includes flattened, handlers and
//! `notify`. Every error is one line starting with `PATH:LINE:COL: `.

pub mod control;
#[cfg(test)]
mod control_tests;
mod error;
#[cfg(test)]
mod handlers_tests;
mod include_path;
mod load;
pub mod model;
mod raw;
#[cfg(test)]
mod roles_tests;
mod suggest;
#[cfg(test)]
mod tests;
mod timeout;

pub use error::{PlaybookError, PlaybookErrorKind};
pub use include_path::{IncludeVars, NodeVars};
pub use load::{MAX_INCLUDE_DEPTH, MAX_PLAYBOOK_BYTES, load, load_with};
pub use model::{FLUSH_HANDLERS, Location, Playbook, Step};
pub use suggest::suggestion;
pub use timeout::{MAX_TIMEOUT_SECS, parse_timeout};
