//! `tandem ping`: can we log in everywhere, and what is there.

use std::process::ExitCode;

use futures::StreamExt;

use crate::cli::PingArgs;
use crate::error::Error;
use crate::fleet::{Fleet, Selection};
use crate::report::ping::{NodeFacts, json_report, table};
use crate::ssh::SshError;

pub async fn ping(args: PingArgs) -> Result<ExitCode, Error> {
    let (_inventory, fleet) = Fleet::prepare(
        &super::connect_options(&args.connect),
        Selection::Limit(args.select.limit.as_deref()),
    )?;
    // One exec, three lines: hostname, kernel, OS.
    let script = crate::engine::facts::summary_script();
    let mut outcomes: Vec<_> = fleet
        .run(move |_host, session| {
            let script = script.clone();
            Box::pin(async move {
                let output = session.exec(&script, b"").await?;
                if !output.status.success() {
                    return Err(SshError::Channel {
                        addr: session.addr().to_string(),
                        detail: format!(
                            "the facts script failed: {}",
                            String::from_utf8_lossy(&output.stderr).trim()
                        ),
                    });
                }
                Ok(NodeFacts::parse(&output.stdout))
            })
        })
        .collect()
        .await;
    let order: Vec<&str> = fleet.hosts().iter().map(|h| h.name.as_str()).collect();
    outcomes.sort_by_key(|o| order.iter().position(|n| *n == o.host.name));
    let failures = outcomes.iter().filter(|o| o.result.is_err()).count();
    if args.json {
        println!("{}", json_report(&outcomes));
    } else {
        print!("{}", table(&outcomes));
        println!(
            "{} node(s): {} answered, {} unreachable",
            outcomes.len(),
            outcomes.len() - failures,
            failures
        );
    }
    super::every_host_answered(&fleet, outcomes.iter().map(|o| o.host.name.as_str()))?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
