//! The game day's side of the OpenSVC agent: its preflight (the agent knows the service, runs
//! it on the source, is not busy and holds no failed or frozen instance), the wait for a switch
//! to really end, the agent's own phases put on the timeline, and a restore the way the agent
//! expects it (let it finish, `abort` what it still aims at, `clear` its failed states, `thaw`,
//! then a local stop and start, whose triggers move the VIP).

use std::time::Duration;

use super::agent::{self, Instance};
use super::agent_wait;
use super::errors::{AgentError, FlipError, Refusal};
use super::game_day::{Settings, Side};
use super::node_exec::{ExecError, command, exec};
use super::probe::Prober;
use super::recorder::{Recorder, Sink};
use super::timeline::{EventKind, NoteLevel};
use crate::ovh::Client;
use crate::sh::Script;

/// How long the preflight lets a busy agent finish before it refuses.
const PREFLIGHT_SETTLE: Duration = Duration::from_secs(30);
/// How long a restore lets the agent finish what it is doing before it acts anyway.
const QUIET_WITHIN: Duration = Duration::from_secs(60);

/// Runs a script on `side`.
pub(super) type Answer<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<String, ExecError>> + Send + 'a>>;

pub(super) fn runner<'a>(side: &'a Side) -> impl FnMut(Script) -> Answer<'a> {
    move |script: Script| Box::pin(async move { exec(side, &script).await })
}

/// A sink-backed `seen` callback: each new status of the instances becomes a timeline note.
pub(super) fn status_notes(sink: &Sink) -> impl FnMut(&str) + '_ {
    move |text: &str| {
        let _ = sink.send((
            std::time::Instant::now(),
            EventKind::Note {
                level: NoteLevel::Info,
                text: format!("agent: {text}"),
            },
        ));
    }
}

/// The instances as the agent on `side` sees them.
pub(super) async fn instances(
    settings: &Settings,
    side: &Side,
) -> Result<Vec<Instance>, AgentError> {
    let text = exec(side, &agent::status_script())
        .await
        .map_err(|source| AgentError::Unreadable {
            node: side.name.clone(),
            source,
        })?;
    agent::instances(&text, &settings.spec.service).map_err(|source| AgentError::Status {
        node: side.name.clone(),
        source,
    })
}

/// Refuses a game day the agent could not carry out: it must know the service on both nodes,
/// run it on `source`, rest, and hold no failed or frozen instance.
pub async fn preflight(
    settings: &Settings,
    sides: &[Side; 2],
    source: usize,
    rec: &mut Recorder,
) -> Result<(), Refusal> {
    let svc = &settings.spec.service;
    let mut seen = instances(settings, &sides[source]).await?;
    // Right after a deploy the agent may still be at work (thawing an instance it froze while
    // fetching the config, a status being computed): give it a bounded while before refusing.
    if !agent::is_quiet(&seen) {
        rec.note(
            NoteLevel::Info,
            format!(
                "agent: {} (waiting up to {} s for it to rest)",
                agent::describe(&seen),
                PREFLIGHT_SETTLE.as_secs()
            ),
        );
        let sink = rec.sink();
        match agent_wait::quiet(
            runner(&sides[source]),
            svc,
            PREFLIGHT_SETTLE,
            status_notes(&sink),
        )
        .await
        {
            Ok(rested) => seen = rested,
            Err(last) => {
                return Err(Refusal::Busy {
                    service: svc.clone(),
                    what: last.to_string(),
                });
            }
        }
    }
    for side in sides {
        if !seen.iter().any(|i| i.node == side.name) {
            return Err(Refusal::NotSeen {
                asked: sides[source].name.clone(),
                service: svc.clone(),
                node: side.name.clone(),
            });
        }
    }
    if let Some(i) = seen.iter().find(|i| i.status.ends_with("failed")) {
        return Err(Refusal::InstanceFailed {
            service: svc.clone(),
            node: i.node.clone(),
            status: i.status.clone(),
        });
    }
    if let Some(i) = seen.iter().find(|i| i.frozen) {
        return Err(Refusal::Frozen {
            service: svc.clone(),
            node: i.node.clone(),
        });
    }
    if !agent::is_quiet(&seen) {
        return Err(Refusal::Busy {
            service: svc.clone(),
            what: agent::describe(&seen),
        });
    }
    let on_source = seen.iter().find(|i| i.node == sides[source].name);
    if on_source.is_none_or(|i| i.avail != "up") {
        return Err(Refusal::NotUp {
            service: svc.clone(),
            node: sides[source].name.clone(),
            what: agent::describe(&seen),
        });
    }
    rec.note(
        NoteLevel::Info,
        format!("agent: {}", agent::describe(&seen)),
    );
    Ok(())
}

/// Runs the cluster's switch command on the source, then waits (at most the RTO budget and
/// `grace`) for the agent to report the service up on the target with nothing left to do;
/// meanwhile OVH is watched (where the VIP is routed, the moves the triggers started).
pub async fn switch(
    settings: &Settings,
    source: &Side,
    target: &Side,
    client: &Client,
    sink: &Sink,
    grace: Duration,
) -> Result<(), FlipError> {
    let svc = &settings.spec.service;
    let cmd = super::node_ops::switch_command(&settings.switch_template, svc, &target.name)?;
    let within = settings.rto + grace;
    let switching = async {
        command(source, &cmd, &cmd, sink).await?;
        agent_wait::switch_end(
            runner(target),
            svc,
            &target.name,
            within,
            status_notes(sink),
        )
        .await
        .into_result(svc, &target.name, within)?;
        Ok::<(), FlipError>(())
    };
    tokio::select! {
        r = switching => r?,
        _ = watch_ovh(settings, client, sink) => unreachable!("the watch never ends"),
    }
    match client.vip_status(settings.vip).await {
        Ok(Some(routed)) if routed == target.service_name => Ok(()),
        Ok(routed) => Err(FlipError::RoutedElsewhere { routed }),
        Err(e) => Err(FlipError::VipStatus(e)),
    }
}

/// Notes where OVH routes the VIP whenever it changes, and the states of the move tasks the
/// agent's triggers start (so the report has the OVH task's own figures). Never ends.
pub async fn watch_ovh(settings: &Settings, client: &Client, sink: &Sink) {
    let send = |kind: EventKind| {
        let _ = sink.send((std::time::Instant::now(), kind));
    };
    let mut routed = None;
    let mut tasks: Vec<(u64, String)> = Vec::new();
    loop {
        if let Ok(now) = client.vip_status(settings.vip).await
            && now != routed
        {
            send(EventKind::Note {
                level: NoteLevel::Info,
                text: format!(
                    "OVH routes the VIP to {}",
                    now.as_deref().unwrap_or("nowhere")
                ),
            });
            routed = now;
        }
        if let Ok(pending) = client.pending_moves(settings.vip, &mut |_| {}).await {
            for id in pending {
                if !tasks.iter().any(|(known, _)| *known == id) {
                    tasks.push((id, String::new()));
                }
            }
        }
        for (id, last) in tasks.iter_mut() {
            if matches!(
                last.as_str(),
                "done" | "cancelled" | "customerError" | "ovhError"
            ) {
                continue;
            }
            if let Ok(task) = client.task(settings.vip, *id, &mut |_| {}).await
                && task.status.as_str() != last
            {
                *last = task.status.as_str().to_string();
                send(EventKind::TaskStatus {
                    task_id: *id,
                    status: last.clone(),
                });
            }
        }
        tokio::time::sleep(settings.move_options.poll_interval).await;
    }
}

/// Reads the agent's service log on `sides` and puts its phases from `since` (a timeline
/// offset: the flip's start) on the timeline, where they happened.
pub async fn record_phases(
    settings: &Settings,
    sides: &[Side],
    since: Duration,
    rec: &mut Recorder,
) {
    let origin = rec.timeline.started_unix_ms;
    let since_unix = origin + since.as_millis() as u64;
    for side in sides {
        let Ok(text) = exec(side, &agent::logs_script(&settings.spec.service)).await else {
            rec.note(
                NoteLevel::Warning,
                format!(
                    "cannot read the agent's log on {}: no phases from it",
                    side.name
                ),
            );
            continue;
        };
        let lines = agent::parse_log(&text);
        for phase in agent::phases(&lines, since_unix, &settings.spec.service) {
            rec.timeline.record(
                Duration::from_millis(phase.start_unix_ms.saturating_sub(origin)),
                EventKind::AgentPhase {
                    node: side.name.clone(),
                    name: phase.name,
                    duration: Duration::from_millis(phase.end_unix_ms - phase.start_unix_ms),
                    ok: phase.ok,
                },
            );
        }
    }
}

/// Before a restore: lets the agent finish (bounded), then cancels what it still aims at and
/// clears its failed states, so that it takes new orders.
pub async fn settle(
    settings: &Settings,
    sides: &[Side; 2],
    rec: &mut Recorder,
    prober: &mut Prober,
) {
    let svc = &settings.spec.service;
    let sink = rec.sink();
    let quiet = rec
        .drive(
            prober,
            agent_wait::quiet(runner(&sides[0]), svc, QUIET_WITHIN, status_notes(&sink)),
        )
        .await;
    let abort = match &quiet {
        Ok(seen) => seen.iter().any(|i| i.global_expect.is_some()),
        Err(last) => {
            rec.note(
                NoteLevel::Warning,
                format!(
                    "the agent is still at work after {} s ({last}): restoring anyway",
                    QUIET_WITHIN.as_secs()
                ),
            );
            true
        }
    };
    let clear = agent::clear_script(svc, abort);
    let what = if abort { "om abort, clear" } else { "om clear" };
    let _ = rec
        .drive(prober, command(&sides[0], what, &clear, &sink))
        .await;
}

/// Puts the service on `serving` through the agent: a local stop on the other node, then a
/// local start here (thawed first if frozen), whose failover trigger routes the VIP here; then
/// waits (bounded) for the agent to rest.
pub async fn put_service(
    settings: &Settings,
    sides: &[Side; 2],
    serving: usize,
    rec: &mut Recorder,
    prober: &mut Prober,
    why: &str,
) {
    let svc = &settings.spec.service;
    let sink = rec.sink();
    let other = 1 - serving;
    let seen = rec
        .drive(prober, instances(settings, &sides[serving]))
        .await;
    let frozen = seen
        .as_ref()
        .map(|s| s.iter().any(|i| i.node == sides[serving].name && i.frozen))
        .unwrap_or(true);
    if seen
        .as_ref()
        .is_ok_and(|s| s.iter().any(|i| i.status.ends_with("failed")))
    {
        let clear = agent::clear_script(svc, false);
        let _ = rec
            .drive(prober, command(&sides[serving], "om clear", &clear, &sink))
            .await;
    }
    let stop = agent::stop_local_script(svc);
    let stopped = rec
        .drive(
            prober,
            command(&sides[other], "om stop --local (restore)", &stop, &sink),
        )
        .await;
    let start = agent::start_local_script(svc, frozen);
    let started = rec
        .drive(
            prober,
            command(&sides[serving], "om start --local (restore)", &start, &sink),
        )
        .await;
    // The CLI's action tells the daemon its end asynchronously: a monitor can read `starting`
    // for a while after `om start` returned. The game day hands the agent back at rest, so
    // that the next switch (or a game day right after) is not refused as busy.
    let rested = rec
        .drive(
            prober,
            agent_wait::quiet(
                runner(&sides[serving]),
                svc,
                QUIET_WITHIN,
                status_notes(&sink),
            ),
        )
        .await;
    if let Err(last) = rested {
        rec.note(
            NoteLevel::Warning,
            format!(
                "the agent is still at work {} s after the restore ({last})",
                QUIET_WITHIN.as_secs()
            ),
        );
    }
    rec.record(super::restore::back_on(
        &sides[serving].name,
        " through the agent",
        why,
        &stopped,
        &started,
    ));
}
