//! One file per subcommand: each turns its arguments into work and an exit status.

pub mod deploy;
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
        Command::Vip(args) => vip::vip(args).await,
    }
}
