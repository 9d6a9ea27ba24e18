//! tandem: build and operate clustered LXC services on pairs of OVH dedicated servers.
//!
//! The flow (DESIGN.md section 1): `inventory` is what the user wrote; `fleet` turns selected
//! nodes into SSH targets and sessions; `ssh` is the only place bytes reach a node; `report`
//! is what the user sees; `commands` ties one subcommand's pieces together.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod failover;
pub mod fleet;
pub mod inventory;
pub mod modules;
pub mod ovh;
pub mod playbook;
pub mod report;
pub mod rollout;
pub mod service_config;
pub mod ssh;
pub mod template;
pub mod trust;

use std::process::ExitCode;

use clap::Parser;

/// The whole program: parse flags, run the subcommand, turn errors into one line and exit 2.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
