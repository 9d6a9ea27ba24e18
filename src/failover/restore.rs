//! Putting the pair right when a flip, a crash or a split did not end well (the service back
//! where it should run, stopped on the other node), and the final check that the VIP's node
//! really serves. `--direct` does it with tandem's own stop/start scripts; otherwise through
//! the OpenSVC agent ([`super::agent_switch`]).

use std::time::Duration;

use super::game_day::{Settings, Side};
use super::node_exec::command;
use super::node_ops;
use super::probe::Prober;
use super::recorder::{Recorder, from_ovh};
use super::timeline::{EventKind, NoteLevel};
use crate::ovh::Client;

/// Puts the pair right after a crash that did not end well: no takeover (the service goes
/// back on the crashed node once it is back, as after a failed switch; on the survivor when
/// the crashed node stays away), or a takeover that left the pair unwhole (the service kept on
/// the survivor, stopped on the returned node).
#[allow(clippy::too_many_arguments)]
pub(super) async fn after_crash(
    settings: &Settings,
    sides: &[Side; 2],
    (from, to): (usize, usize),
    crash: &super::node_crash::Outcome,
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
    alarms: &mut Vec<String>,
) {
    if !crash.crashed {
        return;
    }
    match (crash.took_over, crash.back, crash.whole) {
        (true, _, true) => {}
        (false, true, _) => restore(settings, sides, from, client, rec, prober, None, alarms).await,
        (false, false, _) => {
            rec.record(EventKind::Phase {
                name: "restore".into(),
            });
            put_service(
                settings,
                sides,
                to,
                rec,
                prober,
                "the crashed node being away",
            )
            .await;
        }
        (true, true, false) => {
            rec.record(EventKind::Phase {
                name: "restore".into(),
            });
            put_service(settings, sides, to, rec, prober, "where it was taken over").await;
        }
        (true, false, false) => {}
    }
}

/// After a split: the service where OVH routes the VIP (stopped on the other node), through the
/// agent, once it has settled.
pub(super) async fn make_whole_after_split(
    settings: &Settings,
    sides: &[Side; 2],
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) {
    super::agent_switch::settle(settings, sides, rec, prober).await;
    put_service_where_routed(settings, sides, client, rec, prober).await;
}

/// Puts the service back after a failed flip from `source`. `--direct`: where the VIP is
/// routed (after waiting for a move still under way: ours, `known_task`, or any other), stopped
/// on the other node. Through the agent: once the agent has settled (finished, aborted,
/// cleared), on the source, which served before the flip (the target may be the node that
/// failed); its failover trigger routes the VIP back. A move that is still pending after the
/// move timeout is an alarm: it may re-route the VIP later.
#[allow(clippy::too_many_arguments)]
pub(super) async fn restore(
    settings: &Settings,
    sides: &[Side; 2],
    source: usize,
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
    known_task: Option<u64>,
    alarms: &mut Vec<String>,
) {
    rec.record(EventKind::Phase {
        name: "restore".into(),
    });
    if !settings.direct {
        super::agent_switch::settle(settings, sides, rec, prober).await;
    }
    let sink = rec.sink();
    let waited = rec
        .drive(
            prober,
            client.wait_for_pending_moves(settings.vip, known_task, &settings.move_options, |e| {
                if let Some(kind) = from_ovh(&e.kind) {
                    let _ = sink.send((e.instant, kind));
                }
            }),
        )
        .await;
    if let Err(e) = waited {
        let alarm = format!(
            "a move of {} may still be pending ({e}): when OVH ends it, the VIP may be re-routed away from the service; watch `tandem vip status` and start the service where it points",
            settings.vip
        );
        rec.note(NoteLevel::Warning, alarm.clone());
        alarms.push(alarm);
    }
    if !settings.direct {
        put_service(settings, sides, source, rec, prober, "where it ran before").await;
        return;
    }
    put_service_where_routed(settings, sides, client, rec, prober).await;
}

/// Stops the service on the other node and starts it on `serving` (a `Restore` event on the
/// timeline says how that went); `why` ends its sentence.
pub(super) async fn put_service(
    settings: &Settings,
    sides: &[Side; 2],
    serving: usize,
    rec: &mut Recorder,
    prober: &mut Prober,
    why: &str,
) {
    if !settings.direct {
        return super::agent_switch::put_service(settings, sides, serving, rec, prober, why).await;
    }
    let sink = rec.sink();
    let other = 1 - serving;
    let (stop_script, start_script) = (
        node_ops::stop_script(&settings.spec),
        node_ops::start_script(&settings.spec),
    );
    let stop = command(
        &sides[other],
        "stop the service (restore)",
        &stop_script,
        &sink,
    );
    let stopped = rec.drive(prober, stop).await;
    let start = command(
        &sides[serving],
        "start the service (restore)",
        &start_script,
        &sink,
    );
    let started = rec.drive(prober, start).await;
    rec.record(back_on(&sides[serving].name, "", why, &stopped, &started));
}

/// The Restore event of a stop on the other node and a start on `node`: "service back on
/// NODE{how}, WHY", with the first failure after it.
pub(super) fn back_on<E: std::fmt::Display>(
    node: &str,
    how: &str,
    why: &str,
    stopped: &Result<(), E>,
    started: &Result<(), E>,
) -> EventKind {
    EventKind::Restore {
        action: format!(
            "service back on {node}{how}, {why}{}",
            match (stopped, started) {
                (Ok(()), Ok(())) => String::new(),
                (Err(e), _) | (_, Err(e)) => format!(" (but: {e})"),
            }
        ),
        ok: Some(stopped.is_ok() && started.is_ok()),
    }
}

/// Puts the service where OVH routes the VIP (stopped on the other node); a Restore event says
/// so when OVH cannot tell.
async fn put_service_where_routed(
    settings: &Settings,
    sides: &[Side; 2],
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) {
    let routed = rec.drive(prober, client.vip_status(settings.vip)).await;
    let serving = match &routed {
        Ok(Some(service)) => sides.iter().position(|s| s.service_name == *service),
        _ => None,
    };
    let Some(serving) = serving else {
        rec.record(EventKind::Restore {
            action: format!(
                "cannot tell which node the VIP is routed to ({}): the service was left as it is",
                match routed {
                    Ok(r) => r.unwrap_or_else(|| "nowhere".into()),
                    Err(e) => e.to_string(),
                }
            ),
            ok: Some(false),
        });
        return;
    };
    put_service(
        settings,
        sides,
        serving,
        rec,
        prober,
        "where OVH routes the VIP",
    )
    .await;
}

/// The VIP's node must answer; returns an alarm when it does not.
pub(super) async fn final_check(
    settings: &Settings,
    sides: &[Side; 2],
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) -> Option<String> {
    let routed = rec.drive(prober, client.vip_status(settings.vip)).await;
    let node = match &routed {
        Ok(Some(service)) => sides
            .iter()
            .find(|s| s.service_name == *service)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| service.clone()),
        Ok(None) => "no server".into(),
        Err(e) => format!("an unknown node ({e})"),
    };
    let expected = node.clone();
    let mut answers = rec
        .probes_until(prober, Duration::from_secs(10), |p| {
            p.is_ok() && p.node.as_deref().is_none_or(|n| n == expected)
        })
        .await;
    // A move OVH ended late (after the restore looked) can leave the VIP on the node where the
    // service was just stopped: put the service there once more, then look again.
    let routed_side = match &routed {
        Ok(Some(service)) => sides.iter().position(|s| s.service_name == *service),
        _ => None,
    };
    if let (false, Some(serving)) = (answers, routed_side) {
        rec.note(
            NoteLevel::Warning,
            format!("the VIP is routed to {node}, which does not serve: moving the service there"),
        );
        put_service(
            settings,
            sides,
            serving,
            rec,
            prober,
            "where OVH routes the VIP now",
        )
        .await;
        answers = rec
            .probes_until(prober, Duration::from_secs(10), |p| {
                p.is_ok() && p.node.as_deref().is_none_or(|n| n == expected)
            })
            .await;
    }
    if answers {
        rec.note(
            NoteLevel::Info,
            format!("the VIP is routed to {node}, and it serves"),
        );
        None
    } else {
        let alarm = format!(
            "THE VIP {} IS ROUTED TO {node} AND THE SERVICE DOES NOT ANSWER THERE: fix it now (tandem vip status, then start the service)",
            settings.vip
        );
        rec.note(NoteLevel::Warning, alarm.clone());
        Some(alarm)
    }
}
