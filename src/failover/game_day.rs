//! The game day, start to end: lock, preflight, the flip (and the flip back), the restore when
//! anything goes wrong, and the final check that the VIP's node really serves. Commands on
//! nodes are the scripts of [`super::node_ops`] (`--direct`) or go through the OpenSVC agent
//! ([`super::agent_switch`]); the OVH calls are `ovh::Client`'s; everything
//! seen goes through the [`Recorder`] into the timeline the report is measured from.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::clock::Clock;
use super::measurement::GameDayReport;
use super::node_ops::{self, ServiceSpec};
use super::probe::{ProbeConfig, Prober};
use super::recorder::{LiveView, Recorder, Sink, from_ovh};
use super::scenario::Scenario;
use super::timeline::{EventKind, NoteLevel, ProbeSettings, Timeline};
use crate::fleet::Fleet;
use crate::ovh::{Client, MoveOptions};
use crate::sh::{Script, ShellWord};
use crate::ssh::Session;

/// One node of the pair, connected.
pub struct Side {
    pub name: String,
    /// Its name in OVH's API.
    pub service_name: String,
    pub session: Session,
    /// Not logged in as root: commands go through `sudo -n`.
    pub sudo: bool,
}

/// How this game day goes.
pub struct Settings {
    pub cluster: String,
    pub scenario: Scenario,
    /// How long a network split lasts.
    pub split: Duration,
    /// The RPO budget (`rpo_seconds`, `--rpo`): how old the target's data may be when it takes
    /// over; `None`: measured, not judged.
    pub rpo: Option<Duration>,
    pub vip: Ipv4Addr,
    pub spec: ServiceSpec,
    /// Switch with tandem's own stop/move/start instead of the switch command.
    pub direct: bool,
    /// `om {service} switch --to {to}` by default.
    pub switch_template: String,
    /// The node asked for; `None`: the one the VIP is not routed to.
    pub to: Option<String>,
    pub flip_back: bool,
    pub rto: Duration,
    pub probe: ProbeConfig,
    pub move_options: MoveOptions,
    /// Written into the lock on the nodes: who runs this game day.
    pub holder: String,
}

/// How the game day ended, beyond the report's verdict.
pub struct Ending {
    pub report: GameDayReport,
    /// Why it never started (preflight), if it did not.
    pub refused: Option<String>,
    /// Said loudly at the end: the VIP's node does not serve, a restore failed, ...
    pub alarms: Vec<String>,
}

/// How long, after a flip, the target gets to answer beyond the RTO budget before the flip is
/// declared failed and the service restored.
pub(super) const ANSWER_GRACE: Duration = Duration::from_secs(10);
/// How long the service is probed before anything moves.
const BASELINE: Duration = Duration::from_secs(2);
/// The timeline phase that opens the baseline (the measurement finds it by this name).
pub const BASELINE_PHASE: &str = "baseline";
/// Probes kept after the target's first answer, to show it stays up.
const TAIL: Duration = Duration::from_secs(1);

/// `live`: shown every event and probe as it happens. `fleet` logs in to a node again (after
/// a crash).
pub async fn run(
    settings: &Settings,
    mut sides: [Side; 2],
    client: &Client,
    fleet: &Fleet,
    live: Option<Box<dyn LiveView>>,
) -> Ending {
    let clock = Clock::start();
    let mut timeline = Timeline::new(&settings.cluster, &settings.vip.to_string(), &clock);
    timeline.scenario = settings.scenario.name().to_string();
    timeline.rpo_budget_ms = settings.rpo.map(|b| b.as_millis() as u64);
    timeline.probe = Some(ProbeSettings::from_config(&settings.probe));
    let mut rec = Recorder::new(timeline, clock, live);
    let mut alarms = Vec::new();

    // A switch command that cannot be filled is refused before anything is touched.
    if !settings.direct
        && let Err(e) = node_ops::check_switch_command(&settings.switch_template)
    {
        return refused(rec, settings, format!("switch_command: {e}"));
    }
    rec.record(EventKind::Phase {
        name: "lock".into(),
    });
    if let Err(why) = lock(settings, &sides, &mut rec).await {
        return refused(rec, settings, why);
    }
    rec.record(EventKind::Phase {
        name: "preflight".into(),
    });
    let mut prober = Prober::spawn(settings.probe.clone(), rec.clock);
    let checked =
        match super::preflight::preflight(settings, &sides, client, &mut rec, &mut prober).await {
            Ok((from, to)) if settings.scenario == Scenario::NodeCrash => {
                super::node_crash::preflight(settings, &sides, from, client, &mut rec)
                    .await
                    .map(|()| (from, to))
            }
            other => other,
        };
    let (from, to) = match checked {
        Ok(pair) => pair,
        Err(why) => {
            prober.stop_handle().stop();
            let (rest, _) = prober.finish().await;
            rest.into_iter().for_each(|r| rec.probe(r));
            unlock(settings, &sides).await;
            return refused(rec, settings, why);
        }
    };

    // A baseline of probes before anything moves: what the service's answers look like when
    // all is well (their latency), for the report to compare the flips with.
    rec.record(EventKind::Phase {
        name: BASELINE_PHASE.into(),
    });
    rec.probes_until(&mut prober, BASELINE, |_| false).await;
    let mut flips = Vec::new();
    let mut go_on = true;
    match settings.scenario {
        Scenario::Switch => flips.push((from, to, "switch")),
        Scenario::NodeCrash => {
            rec.record(EventKind::Phase {
                name: super::node_crash::LABEL.into(),
            });
            let crash = super::node_crash::run(
                settings,
                &mut sides,
                (from, to),
                client,
                fleet,
                &mut rec,
                &mut prober,
                &mut alarms,
            )
            .await;
            go_on = crash.took_over && crash.whole;
            after_crash(
                settings,
                &sides,
                (from, to),
                &crash,
                client,
                &mut rec,
                &mut prober,
                &mut alarms,
            )
            .await;
            if !go_on && settings.flip_back {
                rec.note(
                    NoteLevel::Warning,
                    "no flip back: the crash did not end in a whole pair",
                );
            }
        }
        Scenario::NetworkSplit => {
            rec.record(EventKind::Phase {
                name: super::network_split::LABEL.into(),
            });
            let split = super::network_split::run(
                settings,
                &sides,
                (from, to),
                settings.split,
                client,
                &mut rec,
                &mut prober,
            )
            .await;
            match split {
                Ok(outcome) => rec.timeline.violations.extend(outcome.violations),
                Err(why) => rec.note(NoteLevel::Warning, format!("the link was not cut: {why}")),
            }
            // Whatever the agents did, the service ends where OVH routes the VIP, stopped
            // on the other node, and the pair at rest.
            rec.record(EventKind::Phase {
                name: "restore".into(),
            });
            make_whole_after_split(settings, &sides, client, &mut rec, &mut prober).await;
            go_on = false;
            if settings.flip_back {
                rec.note(NoteLevel::Info, "no flip back after a network split");
            }
        }
    }
    if settings.flip_back && go_on {
        flips.push((to, from, "flip-back"));
    }
    for (source, target, label) in flips {
        let ok = flip(
            settings,
            &sides,
            (source, target, label),
            client,
            &mut rec,
            &mut prober,
            &mut alarms,
        )
        .await;
        if !ok {
            break;
        }
    }

    // Whatever happened: the node the VIP is routed to must serve.
    rec.record(EventKind::Phase {
        name: "final check".into(),
    });
    if let Some(alarm) = final_check(settings, &sides, client, &mut rec, &mut prober).await {
        alarms.push(alarm);
    }
    prober.stop_handle().stop();
    let (rest, _) = prober.finish().await;
    rest.into_iter().for_each(|r| rec.probe(r));
    unlock(settings, &sides).await;
    rec.record(EventKind::Phase {
        name: "finished".into(),
    });
    rec.flush();
    rec.timeline.end();
    Ending {
        report: GameDayReport::measure(rec.timeline, settings.rto),
        refused: None,
        alarms,
    }
}

fn refused(mut rec: Recorder, settings: &Settings, why: String) -> Ending {
    rec.note(NoteLevel::Warning, format!("refused to start: {why}"));
    rec.flush();
    rec.timeline.end();
    Ending {
        report: GameDayReport::measure(rec.timeline, settings.rto),
        refused: Some(why),
        alarms: Vec::new(),
    }
}

/// Runs a script on a node, as root; `Err` carries the last lines it printed.
pub(super) async fn exec(side: &Side, script: &Script) -> Result<String, (Option<u32>, String)> {
    exec_as_root(&side.session, side.sudo, script).await
}

/// Runs a script as root over `session` (through `sudo -n` when `sudo`); `Err` carries the
/// exit code, if any, and the last lines it printed.
pub async fn exec_as_root(
    session: &Session,
    sudo: bool,
    script: &Script,
) -> Result<String, (Option<u32>, String)> {
    let script = ShellWord::quote(script);
    let command = if sudo {
        format!("sudo -n sh -c {script}")
    } else {
        format!("sh -c {script}")
    };
    match session.exec(&command, b"").await {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match out.status {
                crate::ssh::ExitStatus::Code(0) => Ok(stdout),
                crate::ssh::ExitStatus::Code(code) => {
                    Err((Some(code), last_words(&out.stderr, &stdout)))
                }
                _ => Err((None, last_words(&out.stderr, &stdout))),
            }
        }
        Err(e) => Err((None, e.to_string())),
    }
}

fn last_words(stderr: &[u8], stdout: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = if text.trim().is_empty() {
        stdout
    } else {
        text.trim()
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

/// A command on a node, on the timeline: started, then finished with its outcome.
pub(super) async fn command(
    side: &Side,
    what: &str,
    script: &Script,
    sink: &Sink,
) -> Result<(), String> {
    let _ = sink.send((
        std::time::Instant::now(),
        EventKind::CommandStarted {
            node: side.name.clone(),
            command: what.to_string(),
        },
    ));
    let result = exec(side, script).await;
    let (ok, detail) = match &result {
        Ok(_) => (true, None),
        Err((_, why)) => (false, Some(why.clone())),
    };
    let _ = sink.send((
        std::time::Instant::now(),
        EventKind::CommandFinished {
            node: side.name.clone(),
            command: what.to_string(),
            ok,
            detail: detail.clone(),
        },
    ));
    result
        .map(|_| ())
        .map_err(|(_, why)| format!("{what} on {}: {why}", side.name))
}

async fn lock(settings: &Settings, sides: &[Side; 2], rec: &mut Recorder) -> Result<(), String> {
    let script = node_ops::lock_script(&settings.cluster, &settings.holder);
    for (i, side) in sides.iter().enumerate() {
        match exec(side, &script).await {
            Ok(_) => {}
            Err((code, detail)) => {
                for taken in &sides[..i] {
                    let _ = exec(
                        taken,
                        &node_ops::unlock_script(&settings.cluster, &settings.holder),
                    )
                    .await;
                }
                return Err(if code == Some(3) {
                    format!(
                        "another game day holds cluster {} (lock {} on {}: {detail}); if it is gone, remove that directory",
                        settings.cluster,
                        node_ops::lock_path(&settings.cluster),
                        side.name
                    )
                } else {
                    format!("cannot take the lock on {}: {detail}", side.name)
                });
            }
        }
    }
    rec.note(NoteLevel::Info, format!("locked: {}", settings.holder));
    Ok(())
}

async fn unlock(settings: &Settings, sides: &[Side; 2]) {
    let script = node_ops::unlock_script(&settings.cluster, &settings.holder);
    for side in sides {
        let _ = exec(side, &script).await;
    }
}

/// One flip (source, target, label); false when it failed (the service was restored: no flip
/// back then).
async fn flip(
    settings: &Settings,
    sides: &[Side; 2],
    (from, to, label): (usize, usize, &str),
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
    alarms: &mut Vec<String>,
) -> bool {
    let (source, target) = (&sides[from], &sides[to]);
    let flip_started = rec.clock.offset();
    rec.record(EventKind::FlipStarted {
        label: label.to_string(),
        from: source.name.clone(),
        to: target.name.clone(),
    });
    let sink = rec.sink();
    // The task our move started, if any: the restore must wait for it, and OVH's task list may
    // not show it yet.
    let started_task = std::sync::Mutex::new(None);
    let work = async {
        if settings.direct {
            switch_direct(settings, source, target, client, &sink, &started_task).await
        } else {
            super::agent_switch::switch(settings, source, target, client, &sink, ANSWER_GRACE).await
        }
    };
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = rec
        .drive(prober, async {
            tokio::select! {
                r = work => r,
                _ = interrupted => Err("interrupted (Ctrl-C): restoring".to_string()),
            }
        })
        .await;
    if !settings.direct {
        // Where the agent spent the time, from its own log, while it is fresh.
        super::agent_switch::record_phases(settings, sides, flip_started, rec).await;
    }
    if let Err(why) = result {
        rec.note(NoteLevel::Warning, format!("{label} failed: {why}"));
        let known = *started_task.lock().unwrap_or_else(|e| e.into_inner());
        restore(settings, sides, from, client, rec, prober, known, alarms).await;
        return false;
    }
    // The move is done: wait for the target's answer (within the budget and a grace period).
    let target_name = target.name.clone();
    let answered = rec
        .probes_until(prober, settings.rto + ANSWER_GRACE, |p| {
            p.is_ok() && p.node.as_deref().is_none_or(|n| n == target_name)
        })
        .await;
    if !answered {
        rec.note(
            NoteLevel::Warning,
            format!("{} did not answer on the VIP after the move", target.name),
        );
        let known = *started_task.lock().unwrap_or_else(|e| e.into_inner());
        restore(settings, sides, from, client, rec, prober, known, alarms).await;
        return false;
    }
    rec.probes_until(prober, TAIL, |_| false).await;
    record_last_syncs(settings, target, label, rec, prober).await;
    true
}

/// Reads on `target` (which just took the service over) when each rsync resource last
/// completed a sync to it: the flip's RPO. A node that cannot say is noted, never fatal.
pub(super) async fn record_last_syncs(
    settings: &Settings,
    target: &Side,
    label: &str,
    rec: &mut Recorder,
    prober: &mut Prober,
) {
    let script = super::rpo::last_syncs_script(&settings.spec.service, &target.name);
    match rec.drive(prober, exec(target, &script)).await {
        Ok(text) => rec.timeline.last_syncs.push(super::rpo::TargetSyncs {
            flip: label.to_string(),
            node: target.name.clone(),
            syncs: super::rpo::parse_last_syncs(&text),
        }),
        Err((_, why)) => rec.note(
            NoteLevel::Warning,
            format!(
                "cannot read the last syncs on {}: no RPO ({why})",
                target.name
            ),
        ),
    }
}

/// Puts the pair right after a crash that did not end well: no takeover (the service goes
/// back on the crashed node once it is back, as after a failed switch; on the survivor when
/// the crashed node stays away), or a takeover that left the pair unwhole (the service kept on
/// the survivor, stopped on the returned node).
#[allow(clippy::too_many_arguments)]
async fn after_crash(
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
async fn make_whole_after_split(
    settings: &Settings,
    sides: &[Side; 2],
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) {
    super::agent_switch::settle(settings, sides, rec, prober).await;
    let routed = rec.drive(prober, client.vip_status(settings.vip)).await;
    let serving = match &routed {
        Ok(Some(service)) => sides.iter().position(|s| s.service_name == *service),
        _ => None,
    };
    match serving {
        Some(serving) => {
            put_service(
                settings,
                sides,
                serving,
                rec,
                prober,
                "where OVH routes the VIP",
            )
            .await
        }
        None => rec.record(EventKind::Restore {
            action: format!(
                "cannot tell which node the VIP is routed to ({}): the service was left as it is",
                match routed {
                    Ok(r) => r.unwrap_or_else(|| "nowhere".into()),
                    Err(e) => e.to_string(),
                }
            ),
            ok: Some(false),
        }),
    }
}

/// tandem's own switch. OVH is asked for the move first: the route flips only when its task is
/// done (a minute on the real API), and meanwhile the service is handed over, never running on
/// both nodes: stopped on the source, then started on the target, so the target is ready when
/// the route reaches it. A stop that fails leaves the target alone (the restore then puts the
/// service where OVH routes the VIP).
async fn switch_direct(
    settings: &Settings,
    source: &Side,
    target: &Side,
    client: &Client,
    sink: &Sink,
    started_task: &std::sync::Mutex<Option<u64>>,
) -> Result<(), String> {
    let moving = client.move_vip(
        settings.vip,
        &target.service_name,
        &settings.move_options,
        |e| {
            if let crate::ovh::EventKind::TaskCreated { task_id, .. } = &e.kind {
                *started_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(*task_id);
            }
            if let Some(kind) = from_ovh(&e.kind) {
                let _ = sink.send((e.instant, kind));
            }
        },
    );
    let (stop_script, start_script) = (
        node_ops::stop_script(&settings.spec),
        node_ops::start_script(&settings.spec),
    );
    let handover = async {
        command(source, "stop the service", &stop_script, sink).await?;
        command(target, "start the service", &start_script, sink).await
    };
    let (moved, handed) = tokio::join!(moving, handover);
    moved.map_err(|e| format!("moving the VIP: {e}"))?;
    handed
}

/// Puts the service back after a failed flip from `source`. `--direct`: where the VIP is
/// routed (after waiting for a move still under way: ours, `known_task`, or any other), stopped
/// on the other node. Through the agent: once the agent has settled (finished, aborted,
/// cleared), on the source, which served before the flip (the target may be the node that
/// failed); its failover trigger routes the VIP back. A move that is still pending after the
/// move timeout is an alarm: it may re-route the VIP later.
#[allow(clippy::too_many_arguments)]
async fn restore(
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

/// Stops the service on the other node and starts it on `serving` (a `Restore` event on the
/// timeline says how that went); `why` ends its sentence.
async fn put_service(
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
    rec.record(EventKind::Restore {
        action: format!(
            "service back on {}, {why}{}",
            sides[serving].name,
            match (&stopped, &started) {
                (Ok(()), Ok(())) => String::new(),
                (Err(e), _) | (_, Err(e)) => format!(" (but: {e})"),
            }
        ),
        ok: Some(stopped.is_ok() && started.is_ok()),
    });
}

/// The VIP's node must answer; returns an alarm when it does not.
async fn final_check(
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
