//! The game day, start to end: lock, preflight, the flip (and the flip back), the restore when
//! anything goes wrong and the final check that the VIP's node really serves (both in
//! [`super::restore`]). Commands on
//! nodes are the scripts of [`super::node_ops`] (`--direct`) or go through the OpenSVC agent
//! ([`super::agent_switch`]); the OVH calls are `ovh::Client`'s; everything
//! seen goes through the [`Recorder`] into the timeline the report is measured from.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::clock::Clock;
use super::errors::{FlipError, Refusal};
use super::measurement::GameDayReport;
use super::node_exec::{ExecError, command, exec};
use super::node_ops::{self, ServiceSpec};
use super::probe::{ProbeConfig, Prober};
use super::recorder::{LiveView, Recorder, Sink, from_ovh};
use super::restore::{after_crash, final_check, make_whole_after_split, restore};
use super::scenario::Scenario;
use super::timeline::{EventKind, NoteLevel, ProbeSettings, Timeline};
use crate::fleet::Fleet;
use crate::ovh::{Client, MoveOptions};
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
        return refused(rec, settings, Refusal::from(e));
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

/// The report of a game day that never started; `why` ends there as text.
fn refused(mut rec: Recorder, settings: &Settings, why: Refusal) -> Ending {
    let why = why.to_string();
    rec.note(NoteLevel::Warning, format!("refused to start: {why}"));
    rec.flush();
    rec.timeline.end();
    Ending {
        report: GameDayReport::measure(rec.timeline, settings.rto),
        refused: Some(why),
        alarms: Vec::new(),
    }
}

async fn lock(settings: &Settings, sides: &[Side; 2], rec: &mut Recorder) -> Result<(), Refusal> {
    let script = node_ops::lock_script(&settings.cluster, &settings.holder);
    for (i, side) in sides.iter().enumerate() {
        match exec(side, &script).await {
            Ok(_) => {}
            Err(ExecError { code, detail }) => {
                for taken in &sides[..i] {
                    let _ = exec(
                        taken,
                        &node_ops::unlock_script(&settings.cluster, &settings.holder),
                    )
                    .await;
                }
                return Err(if code == Some(3) {
                    Refusal::Locked {
                        cluster: settings.cluster.clone(),
                        lock: node_ops::lock_path(&settings.cluster),
                        node: side.name.clone(),
                        detail,
                    }
                } else {
                    Refusal::Lock {
                        node: side.name.clone(),
                        detail,
                    }
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
                _ = interrupted => Err(FlipError::Interrupted),
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
        Err(e) => rec.note(
            NoteLevel::Warning,
            format!(
                "cannot read the last syncs on {}: no RPO ({})",
                target.name, e.detail
            ),
        ),
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
) -> Result<(), FlipError> {
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
    moved.map_err(FlipError::MoveVip)?;
    Ok(handed?)
}
