//! `tandem run -- COMMAND`: the same command on every selected node, at once.

use std::process::ExitCode;
use std::time::Instant;

use futures::StreamExt;

use crate::cli::RunArgs;
use crate::error::Error;
use crate::fleet::{Fleet, Selection};
use crate::report::run::{Tally, json_report, print_block, write_output_files};

pub async fn run(args: RunArgs) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let (_inventory, fleet) = Fleet::prepare(
        &super::connect_options(&args.connect),
        Selection::Limit(args.select.limit.as_deref()),
    )?;
    // Joined with spaces and handed to the remote shell, exactly as `ssh HOST a b c` does.
    let command = args.command.join(" ");
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::CannotCreate {
            flag: "--output-dir",
            path: dir.clone(),
            source,
        })?;
    }

    let shared = command.clone();
    let mut outcomes = Vec::with_capacity(fleet.hosts().len());
    let mut tally = Tally::default();
    let mut results = Box::pin(fleet.run(move |_host, session| {
        let command = shared.clone();
        Box::pin(async move { session.exec(&command, b"").await })
    }));
    while let Some(outcome) = results.next().await {
        tally.add(&outcome.result);
        if !args.json {
            print_block(&outcome);
        }
        if let Some(dir) = &args.output_dir
            && let Err(e) = write_output_files(dir, &outcome)
        {
            eprintln!(
                "tandem: cannot write {}'s output to {}: {e}",
                outcome.host.name,
                dir.display()
            );
        }
        outcomes.push(outcome);
    }
    drop(results);

    // Reports list nodes in inventory order, whatever order they finished in.
    let order: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    outcomes.sort_by_key(|o| order.iter().position(|n| *n == o.host.name));
    if args.json {
        println!(
            "{}",
            json_report(&command, &outcomes, tally, started.elapsed())
        );
    } else {
        println!("{}", tally.summary(started.elapsed()));
    }
    super::every_host_answered(&fleet, outcomes.iter().map(|o| o.host.name.as_str()))?;
    Ok(if tally.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
