//! tandem: build and operate clustered LXC services on pairs of OVH dedicated servers.
//!
//! The flow (DESIGN.md section 1): `inventory` is what the user wrote; `fleet` turns selected
//! nodes into SSH targets and sessions; `ssh` is the only place bytes reach a node; `report`
//! is what the user sees; `commands` ties one subcommand's pieces together.

// Only what the binary (`main`), the integration tests and the fuzz targets use is public, so
// that rustc's dead-code lint sees every other item: a `pub` item in a crate-private module is
// checked like a private one.
mod cli;
mod cli_values;
mod commands;
mod defaults;
mod engine;
mod error;
pub mod failover;
mod fleet;
pub mod inventory;
#[cfg(test)]
mod layers_check;
mod logging;
pub mod modules;
pub mod ovh;
pub mod playbook;
pub mod report;
mod rollout;
#[cfg(test)]
mod script_checks;
mod service_config;
mod sh;
mod source_file;
pub mod ssh;
mod template;
pub mod trust;

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

/// The whole program: parse flags, run the subcommand, turn errors into one line and exit 2.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // tandem.toml and TANDEM_* become the flags' defaults before clap parses the command line.
    let command = match defaults::Sources::from_process(&args)
        .and_then(|sources| defaults::resolve(&cli::Cli::command(), &sources))
    {
        Ok(found) => defaults::apply(cli::Cli::command(), &found),
        Err(e) => {
            eprintln!("tandem: error: {e}");
            return ExitCode::from(2);
        }
    };
    // clap draws --help while it parses: it learns --color first, so the help follows it too.
    let parsed = command
        .color(help_color(args.iter().cloned()))
        .try_get_matches_from(args)
        .and_then(|matches| cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    report::color::init(cli.color);
    if let Err(e) = logging::init(
        cli.verbose,
        cli.log_file.as_deref(),
        report::color::stderr(),
    ) {
        eprintln!("tandem: error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tandem: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tandem: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version go out as clap prints them; a bad flag or value becomes the same one-line
/// `tandem: error:` as every other bad input (clap's own text spans several lines, with a usage
/// block scripts cannot tell from output), still with exit status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    eprintln!("tandem: error: {}", one_line_usage(&e));
    ExitCode::from(2)
}

/// `--color` as given on the command line, read before clap parses, for clap's own output
/// (help). `auto` leaves it to clap, which honours NO_COLOR and TERM=dumb as we do.
fn help_color(args: impl IntoIterator<Item = std::ffi::OsString>) -> clap::ColorChoice {
    let mut args = args.into_iter().skip(1);
    let mut choice = None;
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--" {
            break;
        }
        if let Some(value) = arg.strip_prefix("--color=") {
            choice = Some(value.to_string());
        } else if arg == "--color" {
            choice = args.next().map(|v| v.to_string_lossy().into_owned());
        }
    }
    match choice.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

fn one_line_usage(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    // clap's first paragraph is "error: WHAT" (and, for missing arguments, one per line); then
    // come a tip, the usage and "try --help", each after a blank line.
    let what = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let what = what.trim_start_matches("error: ");
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::SuggestedArg) {
        return format!("{what}; did you mean '{arg}'? (see --help)");
    }
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(usage)) => usage
            .to_string()
            .lines()
            .map(|line| line.trim().trim_start_matches("Usage:").trim().to_string())
            .find(|line| !line.is_empty()),
        _ => None,
    };
    match usage {
        Some(usage) => format!("{what}; usage: {usage} (see --help)"),
        None => format!("{what}; see --help"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_follows_the_color_flag_wherever_it_is() {
        let choice = |line: &str| help_color(line.split(' ').map(std::ffi::OsString::from));
        assert_eq!(
            choice("tandem --color never deploy --help"),
            clap::ColorChoice::Never
        );
        assert_eq!(
            choice("tandem deploy --help --color=always"),
            clap::ColorChoice::Always
        );
        assert_eq!(choice("tandem deploy --help"), clap::ColorChoice::Auto);
        assert_eq!(
            choice("tandem run -- echo --color never"),
            clap::ColorChoice::Auto,
            "after --, words belong to the command"
        );
    }
}
