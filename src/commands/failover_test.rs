//! `tandem failover-test -i INVENTORY --cluster C [--to NODE] [--flip-back] [--direct] [--yes]
//! [--json] [--report FILE]`: the game day (see `failover::game_day`). This file reads the
//! inventory and flags into settings, connects both nodes, asks for confirmation, and reports.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::cli::FailoverTestArgs;
use crate::commands::vip::{client, find_cluster, require_vip};
use crate::error::Error;
use crate::failover::game_day::{self, Settings, Side};
use crate::failover::measurement::Verdict;
use crate::failover::node_ops::ServiceSpec;
use crate::failover::probe_vars::probe_config;
use crate::fleet::{Fleet, Selection};
use crate::inventory::{Inventory, Vars};
use crate::ovh::MoveOptions;
use crate::report::{failover_html, failover_text};

pub async fn failover_test(args: FailoverTestArgs) -> Result<ExitCode, Error> {
    let (inventory, fleet) =
        Fleet::prepare(&args.connect, Selection::Cluster(Some(&args.cluster)))?;
    let cluster = find_cluster(&inventory, &args.cluster)?;
    let vip = require_vip(&inventory, cluster)?;
    if cluster.nodes.len() != 2 {
        return Err(Error::Usage(format!(
            "{}:{}: cluster {} has {} nodes; a game day needs a pair",
            inventory.path.display(),
            cluster.nodes[0].line,
            cluster.name,
            cluster.nodes.len()
        )));
    }
    let mut service_names = Vec::new();
    for node in &cluster.nodes {
        let Some(name) = &node.service_name else {
            return Err(Error::Usage(format!(
                "{}:{}: node {} has no service_name: the VIP can only be moved to a server OVH knows",
                inventory.path.display(),
                node.line,
                node.name
            )));
        };
        service_names.push(name.clone());
    }
    if let Some(to) = &args.to
        && !cluster.nodes.iter().any(|n| n.name == *to)
    {
        return Err(Error::Usage(format!(
            "--to {to}: not a node of cluster {} ({})",
            cluster.name,
            cluster
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let vars = inventory.cluster_vars(&cluster.name);
    let settings = settings(&args, &inventory, &cluster.name, vip, &vars)?;
    let client = client(&inventory, &args.api)?;

    if !args.yes {
        confirm(&settings)?;
    }

    let connected = fleet.connect_all().await;
    let mut sides = Vec::new();
    for ((host, session), service_name) in connected.into_iter().zip(service_names) {
        match session {
            Ok(session) => sides.push(Side {
                name: host.name.clone(),
                service_name,
                session,
                sudo: host.target.user != "root",
            }),
            Err(e) => {
                eprintln!(
                    "tandem: failover-test refused: {} is unreachable ({e}); nothing was changed",
                    host.name
                );
                for side in sides {
                    side.session.close().await;
                }
                return Ok(ExitCode::from(1));
            }
        }
    }
    let sides: [Side; 2] = match sides.try_into() {
        Ok(pair) => pair,
        Err(_) => return Err(Error::Usage("a game day needs exactly two nodes".into())),
    };

    let ending = game_day::run(&settings, sides, &client).await;
    let report = &ending.report;
    if let Some(path) = &args.report {
        std::fs::write(path, failover_html::render(report)).map_err(|e| {
            Error::Usage(format!("--report {}: cannot write it: {e}", path.display()))
        })?;
    }
    if args.json {
        let doc = crate::report::to_json("game day report", report)?;
        println!("{doc}");
    } else {
        print!(
            "{}",
            failover_text::summary(report, std::io::stdout().is_terminal())
        );
        if let Some(path) = &args.report {
            println!("report: {}", path.display());
        }
    }
    if let Some(why) = &ending.refused {
        eprintln!("tandem: failover-test refused: {why}; nothing was changed");
    }
    for alarm in &ending.alarms {
        eprintln!("tandem: ALARM: {alarm}");
    }
    Ok(
        if report.verdict == Verdict::Pass && ending.alarms.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

fn text_var(vars: &Vars, name: &str, default: &str) -> String {
    vars.get(name)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_string()
}

fn number_var(vars: &Vars, name: &str) -> Option<f64> {
    vars.get(name).and_then(Value::as_f64)
}

fn settings(
    args: &FailoverTestArgs,
    inventory: &Inventory,
    cluster: &str,
    vip: std::net::Ipv4Addr,
    vars: &Vars,
) -> Result<Settings, Error> {
    let Some(service) = vars.get("service").and_then(Value::as_str) else {
        return Err(Error::Usage(format!(
            "{}: cluster {cluster} has no `service` var (the OpenSVC service to switch)",
            inventory.path.display()
        )));
    };
    let container = text_var(vars, "container", service);
    let mut probe = probe_config(vars, vip).map_err(|e| {
        Error::Usage(format!(
            "{}: cluster {cluster}: {e}",
            inventory.path.display()
        ))
    })?;
    probe.interval = Duration::from_millis(args.probe_interval);
    let rto = args.rto.unwrap_or_else(|| {
        Duration::from_secs_f64(number_var(vars, "rto_seconds").unwrap_or(120.0).max(0.0))
    });
    let poll_interval = args.poll_interval.unwrap_or_else(|| {
        Duration::from_secs_f64(
            number_var(vars, "ovh_poll_seconds")
                .unwrap_or(3.0)
                .max(0.05),
        )
    });
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Ok(Settings {
        cluster: cluster.to_string(),
        vip,
        spec: ServiceSpec {
            service: service.to_string(),
            container,
            vip: vip.to_string(),
            opensvc_etc: text_var(vars, "opensvc_etc", "/etc/opensvc"),
            container_dev: text_var(vars, "container_dev", "eth0"),
        },
        direct: args.direct,
        switch_template: text_var(vars, "switch_command", "om {service} switch --to {to}"),
        to: args.to.clone(),
        flip_back: args.flip_back,
        rto,
        probe,
        move_options: MoveOptions {
            poll_interval,
            timeout: Duration::from_secs(args.move_timeout),
        },
        holder: format!("{user}@{host} pid {}", std::process::id()),
        live: true,
    })
}

/// A game day moves a production VIP: a person says yes, or `--yes` does.
fn confirm(settings: &Settings) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "failover-test moves the cluster's VIP and switches its service: pass --yes to confirm (stdin is not a terminal)".into(),
        ));
    }
    eprint!(
        "This switches service {} of cluster {} to its other node and moves its VIP {}{}. Type yes to go on: ",
        settings.spec.service,
        settings.cluster,
        settings.vip,
        if settings.flip_back {
            " (then back)"
        } else {
            ""
        }
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Usage(
            "failover-test: not confirmed, nothing was done".into(),
        ))
    }
}
