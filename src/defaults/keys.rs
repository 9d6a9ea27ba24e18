//! The keys `tandem.toml` and `TANDEM_<KEY>` may set: each is the flag of the same name (with
//! `_` for `-`), wherever a subcommand has that flag. Only flags that make sense as a standing
//! default are here: not the ones that select what one run does (`--limit`, `--tags`, `-e`,
//! `--check`, `--resume`, `--yes`...), whose default would surprise the next run.

/// How a key's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain value, checked by the flag's own parser.
    Value,
    /// A path: in the file, relative to the file's directory (the file travels with the files
    /// it names); in the environment, relative to the current directory, as a shell would.
    Path,
}

/// Every key, in the order the README lists them.
pub const KEYS: &[(&str, Kind)] = &[
    ("inventory", Kind::Path),
    ("forks", Kind::Value),
    ("serial", Kind::Value),
    ("max_fail_percent", Kind::Value),
    ("user", Kind::Value),
    ("private_key", Kind::Path),
    ("accept_new", Kind::Value),
    ("kex", Kind::Value),
    ("connect_timeout", Kind::Value),
    ("step_timeout", Kind::Value),
    ("diff", Kind::Value),
    ("json", Kind::Value),
    ("color", Kind::Value),
    ("verbose", Kind::Value),
    ("log_file", Kind::Path),
    ("playbook", Kind::Path),
    ("become_password_file", Kind::Path),
    ("ovh_config", Kind::Path),
    ("request_timeout", Kind::Value),
    ("retry_base_ms", Kind::Value),
    ("poll_interval", Kind::Value),
    ("probe_interval", Kind::Value),
    ("move_timeout", Kind::Value),
    ("rto", Kind::Value),
];

/// The environment variable for a key: `TANDEM_` and the key in capitals.
pub fn env_name(key: &str) -> String {
    format!("TANDEM_{}", key.to_ascii_uppercase())
}

/// The closest key to a misspelt one, for "did you mean".
pub fn closest(key: &str) -> Option<&'static str> {
    crate::source_file::closest(key, KEYS.iter().map(|(k, _)| *k))
}
