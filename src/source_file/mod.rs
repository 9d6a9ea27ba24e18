//! The files users write (inventory, playbooks, role defaults), read the same way by every
//! loader: within a size limit, checked as UTF-8, parsed by serde-saphyr with budgets, and
//! every problem worded as one line with its place. The bottom layer: it imports nothing of
//! tandem's.

mod read;
mod suggest;
mod yaml;

pub use read::{NotUtf8, ReadError, read_limited, utf8};
pub use suggest::closest;
pub use yaml::{error_position, parse, position, yaml_message};

/// An I/O error's text without the "(os error 2)" that says nothing more to the user.
pub fn io_message(err: &std::io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error ")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Values quoted in messages come from the file: keep the promise of one line whatever the
/// file holds.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
