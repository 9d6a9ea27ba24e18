//! Checking a default with the flag's own parser, and making it the flag's clap default.

use clap::{Arg, ArgAction, Command};

use super::{Default, DefaultsError};

/// Every non-positional arg with this id, in `command` and its subcommands.
fn find<'c>(command: &'c Command, id: &str, out: &mut Vec<&'c Arg>) {
    out.extend(
        command
            .get_arguments()
            .filter(|a| a.get_id() == id && !a.is_positional()),
    );
    for sub in command.get_subcommands() {
        find(sub, id, out);
    }
}

fn takes_many(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
        || arg.get_value_delimiter().is_some()
}

/// Refuses a value the flag would refuse on the command line, with where it was written. A
/// list flag (`kex`) takes a TOML list or comma-separated text; the values are split here.
pub fn check(built: &Command, default: &mut Default) -> Result<(), DefaultsError> {
    let mut args = Vec::new();
    find(built, default.key, &mut args);
    let Some(first) = args.first() else {
        return Err(DefaultsError::NoSuchFlag {
            origin: default.origin.clone(),
            key: default.key,
        });
    };
    if takes_many(first) {
        default.values = default
            .values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
    } else if default.values.len() != 1 {
        return Err(DefaultsError::OneValue {
            origin: default.origin.clone(),
            key: default.key,
        });
    }
    for arg in args {
        // A one-flag command holding only what parsing the value needs (no `requires` or
        // conflicts pointing at flags it does not have).
        let probe = Arg::new(default.key)
            .long("value")
            .action(match arg.get_action() {
                ArgAction::Count => ArgAction::Set,
                other => other.clone(),
            })
            .value_parser(arg.get_value_parser().clone())
            .default_values(default.values.clone());
        if let Err(e) = Command::new("tandem")
            .no_binary_name(true)
            .arg(probe)
            .try_get_matches_from(Vec::<String>::new())
        {
            return Err(DefaultsError::BadValue {
                origin: default.origin.clone(),
                key: default.key,
                values: default.values.join(","),
                reason: clap_reason(&e),
            });
        }
    }
    Ok(())
}

/// What clap says is wrong with the value, without the flag name it made up for the probe;
/// the possible values, when clap lists them, on the same line.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first_paragraph = text.split("\n\n").next().unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    for line in first_paragraph
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let line = line.trim_start_matches("error: ");
        // "invalid value 'x' for '--value <forks>': REASON" or "... '--value'" alone.
        let line = match line.find(" for '--value") {
            Some(at) if line.starts_with("invalid value") => {
                let rest = &line[at + " for '--value".len()..];
                match rest.split_once("': ") {
                    Some((_, reason)) => reason.to_string(),
                    None => "not a value this key takes".to_string(),
                }
            }
            _ => line.to_string(),
        };
        parts.push(line);
    }
    parts.join(" ")
}

/// Makes each default the default of every flag of that name, in every subcommand; a flag
/// that was required (`--inventory`) is not any more once it has a default.
pub fn apply(command: Command, defaults: &[Default]) -> Command {
    let command = command.mut_args(|arg| {
        match defaults
            .iter()
            .find(|d| d.key == arg.get_id() && !arg.is_positional())
        {
            Some(d) => arg.default_values(d.values.clone()).required(false),
            None => arg,
        }
    });
    command.mut_subcommands(|sub| apply(sub, defaults))
}
