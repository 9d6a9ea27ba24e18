//! `tandem failover-test -i INVENTORY --cluster C [--to NODE] [--flip-back] [--direct] [--yes]
//! [--json] [--report FILE]`: the game day (see `failover::game_day`). This file reads the
//! inventory and flags into settings, connects both nodes, asks for confirmation, and reports.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{FailoverHistoryArgs, FailoverTestArgs, FailoverTestCli, ScenarioArg};
use crate::commands::plumbing::{client, find_cluster, not_a_node_of, require_vip};
use crate::error::Error;
use crate::failover::game_day::{self, Settings, Side};
use crate::failover::history::{self, PastRun};
use crate::failover::measurement::Verdict;
use crate::failover::node_ops::ServiceSpec;
use crate::failover::probe_vars::probe_config;
use crate::failover::run_info::{RunInfo, SwitchedBy};
use crate::failover::scenario::Scenario;
use crate::fleet::{Fleet, Selection};
use crate::inventory::{Cluster, Inventory};
use crate::ovh::MoveOptions;
use crate::report::{failover_history, failover_html, failover_text};

/// How many earlier runs the HTML report draws next to this one.
const CHART_RUNS: usize = 20;

pub async fn failover_test(cli: FailoverTestCli) -> Result<ExitCode, Error> {
    let args = match cli {
        FailoverTestCli::History(h) => return list_history(&h),
        FailoverTestCli::Run(args) => *args,
    };
    // Where this run is kept, checked before anything is touched.
    let history_dir = history_dir(args.history.as_deref())?;
    let (inventory, fleet) = Fleet::prepare(
        &super::connect_options(&args.connect),
        Selection::Cluster(Some(&args.cluster)),
    )?;
    let cluster = find_cluster(&inventory, &args.cluster)?;
    let vip = require_vip(&inventory, cluster)?;
    if cluster.nodes.len() != 2 {
        return Err(Error::NotAPair {
            inventory: inventory.path.clone(),
            line: cluster.nodes[0].line,
            cluster: cluster.name.clone(),
            nodes: cluster.nodes.len(),
        });
    }
    let mut service_names = Vec::new();
    for node in &cluster.nodes {
        let Some(name) = &node.service_name else {
            return Err(Error::NoServiceName {
                inventory: inventory.path.clone(),
                line: node.line,
                node: node.name.clone(),
                why: "the VIP can only be moved to a server OVH knows",
            });
        };
        service_names.push(name.clone());
    }
    if let Some(to) = &args.to
        && !cluster.nodes.iter().any(|n| n.name == *to)
    {
        return Err(not_a_node_of(cluster, "--to", to));
    }
    let settings = settings(&args, &inventory, cluster, vip)?;
    if settings.scenario != Scenario::Switch && settings.direct {
        return Err(Error::ScenarioNeedsAgent {
            scenario: settings.scenario.name(),
        });
    }
    if settings.scenario == Scenario::NodeCrash && !args.yes_really {
        return Err(Error::CrashNotConfirmed {
            cluster: cluster.name.clone(),
        });
    }
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
        Err(_) => return Err(Error::internal("a game day needs exactly two nodes")),
    };

    let live = failover_text::LiveLines::on_stderr();
    let mut ending = game_day::run(&settings, sides, &client, &fleet, Some(Box::new(live))).await;
    ending.report.run = Some(RunInfo {
        tandem_version: env!("CARGO_PKG_VERSION").to_string(),
        command_line: super::command_line::as_typed(
            std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
        ),
        inventory: inventory.path.display().to_string(),
        switched_by: if settings.direct {
            SwitchedBy::Direct
        } else {
            SwitchedBy::Agent
        },
    });
    let report = &ending.report;
    let doc = super::to_json("game day report", report)?;
    // Kept whatever the verdict: a refused or failed game day is history too. A directory
    // that cannot be written costs the history, never the report.
    let (this_run, earlier) = match history::save(&history_dir, &doc) {
        Ok(file) => {
            let this_run = PastRun::from_json(&file, &doc);
            let scenario = this_run.as_ref().map(|r| r.scenario.clone());
            let mut earlier =
                history::load(&history_dir, Some(&report.cluster), scenario.as_deref())
                    .unwrap_or_default();
            earlier.retain(|r| r.file != file);
            let skip = earlier.len().saturating_sub(CHART_RUNS);
            (this_run, earlier.split_off(skip))
        }
        Err(e) => {
            eprintln!("tandem: warning: this game day is not kept in the history: {e}");
            (None, Vec::new())
        }
    };
    if let Some(path) = &args.report {
        let page = failover_html::render_with_history(report, this_run.as_ref(), &earlier)
            .map_err(Error::internal)?;
        std::fs::write(path, page).map_err(|source| Error::CannotWrite {
            flag: "--report",
            path: path.clone(),
            source,
        })?;
    }
    if args.json {
        println!("{doc}");
    } else {
        print!(
            "{}",
            failover_text::summary(report, crate::report::color::stdout())
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

/// `--history DIR`, or the user's state directory.
fn history_dir(flag: Option<&std::path::Path>) -> Result<std::path::PathBuf, Error> {
    match flag {
        Some(dir) => Ok(dir.to_path_buf()),
        None => history::default_dir(|name| std::env::var(name).ok()).ok_or(Error::NoHistoryDir),
    }
}

/// `tandem failover-test history`: the kept runs, oldest first.
fn list_history(args: &FailoverHistoryArgs) -> Result<ExitCode, Error> {
    let dir = history_dir(args.history.as_deref())?;
    let runs = history::load(&dir, args.cluster.as_deref(), args.scenario.as_deref())
        .map_err(Error::HistoryUnreadable)?;
    if args.json {
        println!("{}", failover_history::json(&dir, &runs));
    } else {
        print!("{}", failover_history::table(&dir, &runs));
    }
    Ok(ExitCode::SUCCESS)
}

/// The game day's settings: the cluster's (checked when the inventory loaded) and the flags,
/// which win.
fn settings(
    args: &FailoverTestArgs,
    inventory: &Inventory,
    cluster: &Cluster,
    vip: std::net::Ipv4Addr,
) -> Result<Settings, Error> {
    let cs = &cluster.settings;
    let Some(service) = cs.service.clone() else {
        return Err(Error::NoServiceVar {
            inventory: inventory.path.clone(),
            line: cluster.line,
            cluster: cluster.name.clone(),
        });
    };
    let mut probe = probe_config(&cs.probe, vip);
    probe.interval = Duration::from_millis(args.probe_interval);
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Ok(Settings {
        cluster: cluster.name.clone(),
        scenario: match args.scenario {
            ScenarioArg::Switch => Scenario::Switch,
            ScenarioArg::NodeCrash => Scenario::NodeCrash,
            ScenarioArg::NetworkSplit => Scenario::NetworkSplit,
        },
        split: Duration::from_secs(args.split_seconds),
        rpo: args.rpo.or(cs.rpo),
        vip,
        spec: ServiceSpec {
            container: cs.container.clone().unwrap_or_else(|| service.clone()),
            service,
            vip: vip.to_string(),
            opensvc_etc: cs.opensvc_etc.clone(),
            container_dev: cs.container_dev.clone(),
        },
        direct: args.direct,
        switch_template: cs.switch_command.as_str().to_string(),
        to: args.to.clone(),
        flip_back: args.flip_back,
        rto: args.rto.unwrap_or(cs.rto),
        probe,
        move_options: MoveOptions {
            poll_interval: args.poll_interval.unwrap_or(cs.ovh_poll),
            timeout: Duration::from_secs(args.move_timeout),
        },
        holder: format!("{user}@{host} pid {}", std::process::id()),
    })
}

/// A game day moves a production VIP: a person says yes, or `--yes` does.
fn confirm(settings: &Settings) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::ConfirmationNeeded);
    }
    let back = if settings.flip_back {
        " (then back)"
    } else {
        ""
    };
    match settings.scenario {
        Scenario::Switch => eprint!(
            "This switches service {} of cluster {} to its other node and moves its VIP {}{back}. Type yes to go on: ",
            settings.spec.service, settings.cluster, settings.vip
        ),
        Scenario::NetworkSplit => eprint!(
            "This cuts the link between the two nodes of cluster {} for {} s (service {}, VIP {}): their agents may both start it. Type yes to go on: ",
            settings.cluster,
            settings.split.as_secs(),
            settings.spec.service,
            settings.vip
        ),
        Scenario::NodeCrash => eprint!(
            "This cuts the power of the server running service {} of cluster {} (OVH hard reboot); its peer must take the service and the VIP {} over{back}. Type yes to go on: ",
            settings.spec.service, settings.cluster, settings.vip
        ),
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::NotConfirmed)
    }
}
