//! `tandem vip status|move`: where each cluster's VIP (OVH failover IP) is routed, and moving
//! it to another node of its cluster. The work is in `ovh`; this file picks the cluster and the
//! node from the inventory and reports.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::plumbing::{client, find_cluster, node_of_service, not_a_node_of, require_vip};
use crate::cli::{VipArgs, VipCommand, VipMoveArgs, VipStatusArgs};
use crate::error::Error;
use crate::inventory::{Cluster, Inventory};
use crate::ovh::{Client, Event, MoveOptions};
use crate::report::vip::{
    MoveRequest, Routed, VipRow, event_line, move_json, move_summary, status_json, status_table,
};

pub async fn vip(args: VipArgs) -> Result<ExitCode, Error> {
    match args.command {
        VipCommand::Status(args) => status(args).await,
        VipCommand::Move(args) => move_vip(args).await,
    }
}

async fn status(args: VipStatusArgs) -> Result<ExitCode, Error> {
    let inventory = Inventory::load(&args.inventory)?;
    let clusters: Vec<&Cluster> = match &args.cluster {
        Some(name) => {
            let cluster = find_cluster(&inventory, name)?;
            require_vip(&inventory, cluster)?;
            vec![cluster]
        }
        None => inventory.clusters.iter().collect(),
    };
    if clusters.iter().all(|c| c.vip.is_none()) {
        return Err(Error::NoVipAnywhere {
            inventory: inventory.path.clone(),
        });
    }
    let client = client(&inventory, &args.api)?;
    let lookups = clusters.iter().map(|cluster| {
        let client = &client;
        let inventory = &inventory;
        async move {
            let routed = match cluster.vip {
                None => None,
                Some(vip) => Some(client.vip_status(vip).await.map(|service| {
                    Routed {
                        node: service
                            .as_deref()
                            .and_then(|s| node_of_service(inventory, cluster, s)),
                        service,
                    }
                })),
            };
            VipRow {
                cluster: cluster.name.clone(),
                vip: cluster.vip,
                routed,
            }
        }
    });
    let rows = futures::future::join_all(lookups).await;
    if args.json {
        println!("{}", status_json(&rows));
    } else {
        print!("{}", status_table(&rows));
    }
    let failed = rows.iter().any(|r| matches!(r.routed, Some(Err(_))));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn move_vip(args: VipMoveArgs) -> Result<ExitCode, Error> {
    let inventory = Inventory::load(&args.inventory)?;
    let cluster = find_cluster(&inventory, &args.cluster)?;
    let vip = require_vip(&inventory, cluster)?;
    let node = cluster
        .nodes
        .iter()
        .find(|n| n.name == args.to)
        .ok_or_else(|| not_a_node_of(cluster, "--to", &args.to))?;
    let service = node
        .service_name
        .as_deref()
        .ok_or_else(|| Error::NoServiceName {
            inventory: inventory.path.clone(),
            line: node.line,
            node: node.name.clone(),
            why: "add its OVH server name (e.g. ns3001234.ip-51-68-1.eu) to move the VIP there",
        })?;
    let client = client(&inventory, &args.api)?;
    let options = MoveOptions {
        poll_interval: args.poll_interval,
        timeout: Duration::from_secs(args.timeout),
    };

    let start = Instant::now();
    let mut events: Vec<Event> = Vec::new();
    let json = args.json;
    let mut on_event = |event: Event| {
        if !json {
            println!("{}", event_line(start, &event));
        }
        events.push(event);
    };
    // Nothing is asked of a VIP already there; anything else is checked before it moves.
    let result = match preflight(&client, vip, service, !args.wait_pending, &mut on_event).await {
        Ok(()) => client.move_vip(vip, service, &options, on_event).await,
        Err(e) => Err(e),
    };
    let request = MoveRequest {
        cluster: &cluster.name,
        vip,
        to_node: &node.name,
        to_service: service,
    };
    if let Err(e) = &result
        && e.is_config()
    {
        return Err(Error::Ovh(e.clone()));
    }
    if json {
        println!("{}", move_json(&request, &result, start, &events));
    }
    match result {
        Ok(outcome) => {
            if !json {
                println!("{}", move_summary(&request, &outcome, start.elapsed()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("tandem: error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The move preflight (`ovh::Client::preflight_move`), unless the VIP already is on `service`;
/// its findings go to `on_event`'s caller as they happen.
async fn preflight(
    client: &Client,
    vip: std::net::Ipv4Addr,
    service: &str,
    refuse_pending: bool,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<(), crate::ovh::OvhError> {
    if client.ip_info(vip, on_event).await?.routed_service() == Some(service) {
        return Ok(());
    }
    client
        .preflight_move(vip, service, refuse_pending, on_event)
        .await?;
    Ok(())
}
