//! One file per subcommand: each turns its arguments into work and an exit status.

mod become_password;
pub mod config;
mod cookbook_path;
pub mod deploy;
mod deploy_listing;
pub mod extra_vars;
pub mod failover_test;
mod generated;
pub mod inventory;
pub mod keys;
pub mod ping;
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
