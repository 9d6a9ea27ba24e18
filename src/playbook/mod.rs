//! Playbooks: loading YAML (with includes) into [`model`] types, validated up front.

pub mod model;

pub use model::{Location, Playbook, Step};
