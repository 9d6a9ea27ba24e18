//! `-v`/`-vv`/`-vvv` and `--log-file`, on `tracing`: the engine and the SSH layer emit events
//! (a step's output, each script sent, the SSH conversation), and what is shown is chosen here,
//! once per process.
//!
//! - `-v`: what each step printed on the node (the deploy report shows it under the step);
//! - `-vv`: also each script sent to a node (`tandem::script`), on stderr;
//! - `-vvv`: also the SSH conversation: frames and their answers (`tandem::ssh`) and russh's
//!   own log (its `log` records, bridged).
//!
//! `--log-file FILE` gets everything `-vvv` shows, with timestamps and no colour, whatever
//! `-v` says: the record to read after a run that went wrong. It is appended to, created 0600
//! (scripts hold file contents).
//!
//! `tracing` (with `tracing-subscriber`): the ecosystem's standard, already a dependency of
//! tokio's tree; spans carry the node name into every event of that node's work, and russh's
//! `log` records come in through the same filter.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where each kind of event goes (their `target`).
pub const SCRIPT: &str = "tandem::script";
pub const SSH: &str = "tandem::ssh";

static VERBOSITY: OnceLock<u8> = OnceLock::new();

/// How many `-v` were given.
pub fn verbosity() -> u8 {
    VERBOSITY.get().copied().unwrap_or(0)
}

/// What stderr shows at `verbosity`.
pub fn terminal_filter(verbosity: u8) -> Targets {
    let base = Targets::new().with_default(LevelFilter::OFF);
    match verbosity {
        0 | 1 => base,
        2 => base.with_target(SCRIPT, Level::DEBUG),
        _ => base
            .with_target(SCRIPT, Level::DEBUG)
            .with_target(SSH, Level::TRACE)
            .with_target("russh", Level::DEBUG),
    }
}

/// What `--log-file` records: all of it.
pub fn file_filter() -> Targets {
    terminal_filter(3).with_target("tandem", Level::DEBUG)
}

/// Why logging could not be set up (bad input, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The io error's words without its "(os error N)".
    #[error("--log-file {}: cannot open it: {}", .path.display(), crate::source_file::io_message(.source))]
    LogFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set up logging: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Sets the subscriber up (`ansi`: colour on stderr, as the report decides); a log file that cannot be opened is bad input (exit 2).
pub fn init(verbosity: u8, log_file: Option<&Path>, ansi: bool) -> Result<(), LoggingError> {
    let _ = VERBOSITY.set(verbosity);
    let file = match log_file {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| LoggingError::LogFile {
                    path: path.to_path_buf(),
                    source,
                })?,
        ),
        None => None,
    };
    if verbosity < 2 && file.is_none() {
        // Nothing would be shown: no subscriber, no cost.
        return Ok(());
    }
    let terminal = (verbosity >= 2).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .without_time()
            .with_filter(terminal_filter(verbosity))
    });
    let file = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_filter(file_filter())
    });
    tracing_subscriber::registry()
        .with(terminal)
        .with(file)
        .try_init()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_adds_a_kind_of_event() {
        let at =
            |v: u8, target: &str, level: Level| terminal_filter(v).would_enable(target, &level);
        assert!(!at(1, SCRIPT, Level::DEBUG));
        assert!(at(2, SCRIPT, Level::DEBUG));
        assert!(!at(2, SSH, Level::TRACE));
        assert!(!at(2, "russh::client", Level::DEBUG));
        assert!(at(3, SSH, Level::TRACE));
        assert!(at(3, "russh::client", Level::DEBUG));
        assert!(!at(3, "hyper", Level::DEBUG), "other crates stay quiet");
        assert!(file_filter().would_enable(SSH, &Level::TRACE));
    }

    #[test]
    fn a_log_file_that_cannot_be_opened_is_named_without_the_os_error_number() {
        // Verbosity 0 is what an unset one reads as: nothing else here is changed.
        let err = init(0, Some(Path::new("/nonexistent/tandem.log")), false).unwrap_err();
        assert!(matches!(err, LoggingError::LogFile { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "--log-file /nonexistent/tandem.log: cannot open it: No such file or directory"
        );
    }
}
