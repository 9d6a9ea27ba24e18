//! One file per subcommand: each turns its arguments into work and an exit status.

pub mod config;
pub mod deploy;
pub mod failover_test;
pub mod keys;
pub mod ping;
pub mod run;
pub mod vip;

use std::process::ExitCode;

use crate::cli::Command;
use crate::error::Error;

pub async fn dispatch(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Deploy(args) => deploy::deploy(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Ping(args) => ping::ping(args).await,
        Command::Keys(args) => keys::keys(args).await,
        Command::Config(args) => config::config(args).await,
        Command::Vip(args) => vip::vip(args).await,
        Command::FailoverTest(args) => failover_test::failover_test(args).await,
    }
}
