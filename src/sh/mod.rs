//! Shell words and scripts: the one way a value reaches a script tandem sends to a node.
//!
//! Every remote script is a [`Script`]: static code written in tandem's source, with each value
//! that comes from outside (an inventory, a playbook, a node's answer) put in as a
//! [`ShellWord`], quoted by the one quoting function of the crate ([`ShellWord::quote`]). A
//! `Script` cannot be made from a runtime `String`, so a builder that forgets to quote a value
//! does not compile (DESIGN.md section 1: this module imports nothing above it; modules, ssh,
//! failover and trust all build on it).

mod script;
mod word;

pub use script::{QuotedPlaceholder, Script};
pub use word::ShellWord;
