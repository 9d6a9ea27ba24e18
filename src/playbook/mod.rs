//! Playbooks: loading YAML (with includes) into [`model`] types, validated up front.
//!
//! Loading is two passes, as for the inventory: serde-saphyr turns each file into the loose maps
//! of [`raw`] (syntax, wrong types and duplicate keys come back with its messages and positions),
//! then [`load`] applies tandem's rules: one module per step, known keywords, module arguments
//! (checked by the module itself), template and `when` syntax, includes flattened, handlers and
//! `notify`. Every error is one line starting with `PATH:LINE:COL: `.

pub(crate) mod control;
#[cfg(test)]
mod control_tests;
mod error;
#[cfg(test)]
mod handlers_tests;
mod include_path;
mod load;
pub(crate) mod model;
mod raw;
#[cfg(test)]
mod roles_tests;
mod suggest;
#[cfg(test)]
mod tests;
mod timeout;

pub use error::PlaybookError;
pub(crate) use include_path::{IncludeVars, NodeVars};
pub use load::load;
pub(crate) use load::{MAX_PLAYBOOK_BYTES, load_with};
pub use model::Playbook;
pub(crate) use model::{Location, Step};
pub(crate) use suggest::suggestion;
