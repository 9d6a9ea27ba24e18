//! The game day's preflight: everything checked before anything is touched (the service's
//! config alike on both nodes, where OVH routes the VIP, the target ready, the service answering).

use std::time::Duration;

use super::errors::Refusal;
use super::game_day::{Settings, Side};
use super::node_exec::exec;
use super::node_ops;
use super::probe::Prober;
use super::recorder::Recorder;
use super::timeline::NoteLevel;
use crate::ovh::Client;

/// What one node said about the service.
struct Inspection {
    config_sha: String,
    container: String,
    triggers: Vec<String>,
    opensvc: bool,
}

fn parse_inspection(text: &str) -> Inspection {
    let mut i = Inspection {
        config_sha: String::new(),
        container: String::new(),
        triggers: Vec::new(),
        opensvc: false,
    };
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("config", sha)) => i.config_sha = sha.trim().to_string(),
            Some(("container", state)) => i.container = state.trim().to_string(),
            Some(("trigger", name)) => i.triggers.push(name.trim().to_string()),
            Some(("opensvc", _)) => i.opensvc = true,
            _ => {}
        }
    }
    i
}

/// Checks everything before touching anything; returns (source, target) indexes into `sides`.
pub(super) async fn preflight(
    settings: &Settings,
    sides: &[Side; 2],
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) -> Result<(usize, usize), Refusal> {
    let script = node_ops::inspect_script(&settings.spec);
    let mut seen = Vec::new();
    for side in sides {
        let text = exec(side, &script)
            .await
            .map_err(|source| Refusal::Inspect {
                node: side.name.clone(),
                source,
            })?;
        seen.push(parse_inspection(&text));
    }
    let config = settings.spec.config_path();
    if seen[0].config_sha.is_empty() || seen[1].config_sha.is_empty() {
        return Err(Refusal::ConfigMissing {
            config: config.to_string(),
            node: if seen[0].config_sha.is_empty() {
                sides[0].name.clone()
            } else {
                sides[1].name.clone()
            },
        });
    }
    if seen[0].config_sha != seen[1].config_sha {
        return Err(Refusal::ConfigDiffers {
            config: config.to_string(),
            first: sides[0].name.clone(),
            second: sides[1].name.clone(),
        });
    }
    rec.note(
        NoteLevel::Info,
        format!("{config} is the same on both nodes"),
    );

    let routed = client
        .vip_status(settings.vip)
        .await
        .map_err(|source| Refusal::VipStatus {
            vip: settings.vip,
            source,
        })?;
    let Some(routed) = routed else {
        return Err(Refusal::RoutedNowhere { vip: settings.vip });
    };
    let Some(from) = sides.iter().position(|s| s.service_name == routed) else {
        return Err(Refusal::RoutedElsewhere {
            vip: settings.vip,
            routed,
            cluster: settings.cluster.clone(),
        });
    };
    let to = 1 - from;
    if let Some(wanted) = &settings.to
        && *wanted != sides[to].name
    {
        return Err(Refusal::AlreadyThere {
            vip: settings.vip,
            wanted: wanted.clone(),
            other: sides[to].name.clone(),
        });
    }
    rec.note(
        NoteLevel::Info,
        format!(
            "{} is routed to {} ({routed})",
            settings.vip, sides[from].name
        ),
    );

    // OVH must be able to move the VIP there now (the keys' rights, the target, no move
    // pending): asked before anything changes, so a refusal leaves the pair as it was.
    let checked = client
        .preflight_move(settings.vip, &sides[to].service_name, true, &mut |_| {})
        .await
        .map_err(|e| match e {
            crate::ovh::OvhError::Refused(_) => Refusal::OvhRefused(e),
            source => Refusal::MoveCheck {
                vip: settings.vip,
                source,
            },
        })?;
    for line in checked {
        rec.note(NoteLevel::Info, line);
    }

    let target = &seen[to];
    if target.container == "ABSENT" || target.container.is_empty() {
        return Err(Refusal::NoContainer {
            node: sides[to].name.clone(),
            container: settings.spec.container.clone(),
        });
    }
    if settings.direct {
        for side in [from, to] {
            if !seen[side].triggers.iter().any(|t| t == "ovh_routes") {
                return Err(Refusal::NoTrigger {
                    node: sides[side].name.clone(),
                    dir: format!("{}/{}.d", settings.spec.opensvc_etc, settings.spec.service),
                });
            }
        }
    } else if !seen[from].opensvc || !target.opensvc {
        return Err(Refusal::NoAgent {
            node: if seen[from].opensvc {
                sides[to].name.clone()
            } else {
                sides[from].name.clone()
            },
        });
    }
    rec.note(
        NoteLevel::Info,
        format!(
            "{} is ready (container {})",
            sides[to].name, target.container
        ),
    );
    if !settings.direct {
        super::agent_switch::preflight(settings, sides, from, rec).await?;
    }

    // The service must answer on the VIP before anything moves.
    let answered = rec
        .probes_until(prober, Duration::from_secs(5), |p| p.is_ok())
        .await;
    if !answered {
        return Err(Refusal::NoAnswer {
            vip: settings.vip,
            port: settings.probe.target.port(),
            node: sides[from].name.clone(),
        });
    }
    rec.note(
        NoteLevel::Info,
        format!("the service answers on {}", settings.vip),
    );
    Ok((from, to))
}
