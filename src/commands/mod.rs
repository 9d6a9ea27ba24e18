//! One file per subcommand: each turns its arguments into work and an exit status.

pub(crate) mod become_password;
mod command_line;
pub mod config;
mod cookbook_path;
pub mod deploy;
mod deploy_listing;
pub mod extra_vars;
pub mod failover_test;
mod generated;
pub mod inventory;
pub(crate) mod inventory_import;
pub mod keys;
pub mod ping;
mod plumbing;
pub mod run;
pub mod vip;

use std::process::ExitCode;

use crate::cli::Command;
use crate::error::Error;

/// Every host of the fleet must have an outcome: one that has none is an internal error, never
/// left out of the count (which would let the exit status say all went well).
pub(crate) fn every_host_answered<'a>(
    fleet: &crate::fleet::Fleet,
    answered: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    let answered: std::collections::BTreeSet<&str> = answered.into_iter().collect();
    let missing: Vec<&str> = fleet
        .hosts()
        .iter()
        .map(|h| h.name.as_str())
        .filter(|name| !answered.contains(name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "no outcome for {}: they may not have run at all",
            missing.join(", ")
        )))
    }
}

/// `value` as JSON for `--json`. A value serde cannot write is a bug of tandem: it ends the
/// command as an internal error, never as `null` on stdout that a script would take for a
/// result.
pub(crate) fn to_json<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::internal(format!("the {what} cannot be written as JSON: {e}")))
}

/// The connection flags as the fleet takes them.
pub(crate) fn connect_options(args: &crate::cli::ConnectArgs) -> crate::fleet::ConnectOptions {
    crate::fleet::ConnectOptions {
        inventory: args.inventory.clone(),
        forks: args.forks,
        accept_new: args.accept_new,
        kex: args.kex.clone(),
        connect_timeout: args.connect_timeout,
        user: args.user.clone(),
        private_key: args.private_key.clone(),
        // The SSH layer only reports a learned key; saying so is the command's (word for word
        // OpenSSH's notice, which scripts and the e2e tests look for).
        on_host_key_learned: Some(crate::ssh::OnHostKeyLearned::new(|learned| {
            eprintln!("tandem: {learned}");
        })),
    }
}

pub async fn dispatch(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Deploy(args) => deploy::deploy(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Ping(args) => ping::ping(args).await,
        Command::Keys(args) => keys::keys(args).await,
        Command::Config(args) => config::config(args).await,
        Command::Vip(args) => vip::vip(args).await,
        Command::Inventory(args) => inventory::inventory(args).await,
        Command::FailoverTest(args) => failover_test::failover_test(args).await,
        Command::Completions { shell } => generated::completions(shell),
        Command::Man => generated::man_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_json_cannot_hold_is_an_internal_error_never_null() {
        // JSON object keys are strings: a map keyed by pairs cannot be written.
        let unwritable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = to_json("game day report", &unwritable).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::INTERNAL_EXIT);
        assert!(
            err.to_string()
                .starts_with("internal error: the game day report cannot be written as JSON: "),
            "{err}"
        );
        assert_eq!(to_json("x", &[1, 2]).unwrap(), serde_json::json!([1, 2]));
    }
}
