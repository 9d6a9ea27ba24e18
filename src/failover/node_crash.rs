//! The `node-crash` scenario: the active node dies and its peer's agent takes over, as the
//! cluster exists for. The node is taken down the way a power failure would: OVH's hard reboot
//! (`POST /dedicated/server/{name}/reboot`) cuts its power at once, nothing is stopped cleanly;
//! it boots again by itself. The peer's OpenSVC daemon (orchestrate = ha) notices the lost
//! heartbeats, starts the service, and its failover trigger asks OVH for the VIP.
//!
//! tandem only watches: the probes, the peer's agent, OVH's move task; then it waits for the
//! lost node to come back and for the pair to be whole again (both nodes in the cluster, the
//! service on the survivor, the returned node in standby, nothing failed or frozen).
//!
//! The measurement (detection, OVH task, recovery) is [`super::measurement`]'s, from the
//! timeline this writes: the crash is a `FlipStarted` labelled `node-crash`, the peer's agent
//! phases come from its log.

use std::time::{Duration, Instant};

use super::agent::{self, Instance};
use super::agent_switch::{record_phases, runner, status_notes, watch_ovh};
use super::agent_wait;
use super::errors::{CrashError, NotWhole, Refusal};
use super::game_day::{Settings, Side};
use super::probe::Prober;
use super::recorder::{Recorder, Sink, from_ovh};
use super::timeline::{EventKind, NoteLevel};
use crate::fleet::Fleet;
use crate::ovh::{Client, Task, TaskStatus};

/// The label of the crash on the timeline (and of its measured flip).
pub const LABEL: &str = "node-crash";
/// How long the lost node may take to come back (a dedicated server's reboot takes minutes).
const RETURN_WITHIN: Duration = Duration::from_secs(15 * 60);
/// Between two tries to log in to the lost node.
const RECONNECT_EVERY: Duration = Duration::from_secs(3);
/// How long the agents get, once the node is back, to make the pair whole.
const WHOLE_WITHIN: Duration = Duration::from_secs(180);

/// What the crash came to.
pub struct Outcome {
    /// OVH took the reboot: the node went down.
    pub crashed: bool,
    /// The peer's agent took the service over and the target answered.
    pub took_over: bool,
    /// The crashed node came back (and its session with it).
    pub back: bool,
    /// The pair is whole again (checked last).
    pub whole: bool,
}

/// What the crash needs beyond a switch's preflight: the daemons must fail the service over by
/// themselves (`orchestrate = ha` on both nodes), and the keys must be allowed the reboot.
pub async fn preflight(
    settings: &Settings,
    sides: &[Side; 2],
    from: usize,
    client: &Client,
    rec: &mut Recorder,
) -> Result<(), Refusal> {
    let svc = &settings.spec.service;
    let seen = super::agent_switch::instances(settings, &sides[from]).await?;
    if let Some(i) = seen.iter().find(|i| i.orchestrate != "ha") {
        return Err(Refusal::NotHa {
            service: svc.clone(),
            orchestrate: i.orchestrate.clone(),
            node: i.node.clone(),
        });
    }
    let allowed = client
        .preflight_reboot(&sides[from].service_name, &mut |_| {})
        .await
        .map_err(|e| match e {
            crate::ovh::OvhError::Refused(_) => Refusal::OvhRefused(e),
            source => Refusal::RebootCheck { source },
        })?;
    rec.note(NoteLevel::Info, allowed);
    rec.note(
        NoteLevel::Info,
        format!("{svc} is orchestrated (ha): the agent of the survivor takes it over"),
    );
    Ok(())
}

/// Crashes `sides[from]` and follows the takeover by `sides[to]`; then brings the lost node's
/// session back (into `sides[from]`) and checks the pair. Everything goes on the timeline;
/// `alarms` gets what a person must act on.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    settings: &Settings,
    sides: &mut [Side; 2],
    (from, to): (usize, usize),
    client: &Client,
    fleet: &Fleet,
    rec: &mut Recorder,
    prober: &mut Prober,
    alarms: &mut Vec<String>,
) -> Outcome {
    let svc = settings.spec.service.clone();
    let flip_started = rec.clock.offset();
    rec.record(EventKind::FlipStarted {
        label: LABEL.to_string(),
        from: sides[from].name.clone(),
        to: sides[to].name.clone(),
    });
    let sink = rec.sink();
    let reboot = rec
        .drive(prober, hard_reboot(client, &sides[from], &sink))
        .await;
    let reboot_task = match reboot {
        Ok(task) => task,
        Err(why) => {
            rec.note(NoteLevel::Warning, format!("{LABEL}: {why}"));
            return Outcome {
                crashed: false,
                took_over: false,
                back: true,
                whole: false,
            };
        }
    };
    // The session to the dead node is gone with it: from here on only the peer is asked.
    let within = settings.rto + super::game_day::ANSWER_GRACE;
    let target = &sides[to];
    let takeover = async {
        let reboot_done = follow_reboot(client, &sides[from], reboot_task, &sink, settings);
        let switched = agent_wait::switch_end(
            runner(target),
            &svc,
            &target.name,
            within,
            status_notes(&sink),
        );
        let (_, switched) = tokio::join!(reboot_done, switched);
        switched
    };
    let outcome = rec
        .drive(prober, async {
            tokio::select! {
                r = takeover => r,
                _ = watch_ovh(settings, client, &sink) => unreachable!("the watch never ends"),
            }
        })
        .await;
    let took_over = match outcome.into_result(&svc, &target.name, within) {
        Ok(()) => {
            let name = target.name.clone();
            let answered = rec
                .probes_until(prober, within, |p| {
                    p.is_ok() && p.node.as_deref().is_none_or(|n| n == name)
                })
                .await;
            if !answered {
                rec.note(
                    NoteLevel::Warning,
                    format!("{name} took the service over but does not answer on the VIP"),
                );
            }
            answered
        }
        Err(why) => {
            rec.note(NoteLevel::Warning, format!("no takeover: {why}"));
            alarms.push(format!(
                "after the crash of {}, {}'s agent did not take {svc} over: {why}",
                sides[from].name, sides[to].name
            ));
            false
        }
    };
    // Where the survivor's agent spent the time, from its own log, while it is fresh; and how
    // old the data it took over was.
    record_phases(
        settings,
        std::slice::from_ref(&sides[to]),
        flip_started,
        rec,
    )
    .await;
    if took_over {
        super::game_day::record_last_syncs(settings, &sides[to], LABEL, rec, prober).await;
    }

    rec.record(EventKind::Phase {
        name: "node back".into(),
    });
    let lost = sides[from].name.clone();
    match rec.drive(prober, reconnect(fleet, &lost)).await {
        Ok(session) => {
            sides[from].session = session;
            rec.note(NoteLevel::Info, format!("{lost} is back: logged in again"));
        }
        Err(why) => {
            let alarm = format!(
                "{lost} did not come back within {} min after its crash ({why}): look at its console (OVH's IPMI/KVM)",
                RETURN_WITHIN.as_secs() / 60
            );
            rec.note(NoteLevel::Warning, alarm.clone());
            alarms.push(alarm);
            return Outcome {
                crashed: true,
                took_over,
                back: false,
                whole: false,
            };
        }
    }
    let whole = make_whole(settings, sides, (from, to), rec, prober).await;
    if let Err(why) = &whole {
        alarms.push(format!("the pair is not whole after the crash: {why}"));
    }
    Outcome {
        crashed: true,
        took_over,
        back: true,
        whole: whole.is_ok(),
    }
}

/// Asks OVH for the hard reboot of `victim`; `Err` says why it did not happen.
async fn hard_reboot(client: &Client, victim: &Side, sink: &Sink) -> Result<Task, CrashError> {
    let _ = sink.send((
        Instant::now(),
        EventKind::CommandStarted {
            node: victim.name.clone(),
            command: "hard reboot (OVH): power cut".into(),
        },
    ));
    let result = client
        .hard_reboot(&victim.service_name, &mut |e| {
            if let Some(kind) = from_ovh(&e.kind) {
                let _ = sink.send((e.instant, kind));
            }
        })
        .await
        .map_err(|source| CrashError::RebootRefused {
            service: victim.service_name.clone(),
            source,
        });
    let _ = sink.send((
        Instant::now(),
        EventKind::CommandFinished {
            node: victim.name.clone(),
            command: "hard reboot (OVH): power cut".into(),
            ok: result.is_ok(),
            detail: Some(match &result {
                Ok(task) => format!("OVH task {}", task.task_id),
                Err(why) => why.to_string(),
            }),
        },
    ));
    result
}

/// Notes the reboot task's states until it ends (bounded by the move timeout); never fails.
async fn follow_reboot(
    client: &Client,
    victim: &Side,
    task: Task,
    sink: &Sink,
    settings: &Settings,
) {
    let note = |text: String| {
        let _ = sink.send((
            Instant::now(),
            EventKind::Note {
                level: NoteLevel::Info,
                text,
            },
        ));
    };
    let started = Instant::now();
    let mut last = task.status.clone();
    note(format!("OVH reboot task {}: {last}", task.task_id));
    while !last.is_finished() && started.elapsed() < settings.move_options.timeout {
        tokio::time::sleep(settings.move_options.poll_interval).await;
        if let Ok(now) = client
            .server_task(&victim.service_name, task.task_id, &mut |_| {})
            .await
            && now.status != last
        {
            last = now.status;
            note(format!("OVH reboot task {}: {last}", task.task_id));
        }
    }
    if last != TaskStatus::Done {
        note(format!(
            "OVH reboot task {} ended {last}: the node may not have been reset",
            task.task_id
        ));
    }
}

/// Logs in to `name` again, trying every few seconds until it answers (bounded).
async fn reconnect(fleet: &Fleet, name: &str) -> Result<crate::ssh::Session, CrashError> {
    let started = Instant::now();
    let mut last = String::from("not tried");
    while started.elapsed() < RETURN_WITHIN {
        match fleet.connect(name).await {
            Some(Ok(session)) => return Ok(session),
            Some(Err(e)) => last = e.to_string(),
            None => {
                return Err(CrashError::NotInFleet {
                    node: name.to_string(),
                });
            }
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
    Err(CrashError::NotBack { last })
}

/// Waits for the pair to be whole, as the survivor's agent sees it: both nodes know the
/// service, it is up on the survivor, the returned node does not run it, every monitor idle, no
/// failed or frozen instance. A failed or frozen instance on the returned node is cleared once
/// (the agent's `clear`, `thaw`), as a person would after a crash.
async fn make_whole(
    settings: &Settings,
    sides: &[Side; 2],
    (from, to): (usize, usize),
    rec: &mut Recorder,
    prober: &mut Prober,
) -> Result<(), NotWhole> {
    let svc = settings.spec.service.clone();
    let (lost, survivor) = (sides[from].name.clone(), sides[to].name.clone());
    let sink = rec.sink();
    let is_whole = |seen: &[Instance]| whole(seen, &lost, &survivor).is_ok();
    let mut waited = rec
        .drive(
            prober,
            agent_wait::until(
                runner(&sides[to]),
                &svc,
                WHOLE_WITHIN,
                status_notes(&sink),
                is_whole,
            ),
        )
        .await;
    if let Err(seen) = &waited
        && seen
            .iter()
            .any(|i| i.node == lost && (i.frozen || i.status.ends_with("failed")))
    {
        rec.note(
            NoteLevel::Info,
            format!("{svc} is failed or frozen on {lost} after its crash: clearing it"),
        );
        let clear = agent::clear_script(&svc, false);
        let thaw = agent::thaw_local_script(&svc);
        let _ = rec
            .drive(
                prober,
                super::node_exec::command(&sides[from], "om clear", &clear, &sink),
            )
            .await;
        let _ = rec
            .drive(
                prober,
                super::node_exec::command(&sides[from], "om thaw --local", &thaw, &sink),
            )
            .await;
        waited = rec
            .drive(
                prober,
                agent_wait::until(
                    runner(&sides[to]),
                    &svc,
                    WHOLE_WITHIN,
                    status_notes(&sink),
                    is_whole,
                ),
            )
            .await;
    }
    match waited {
        Ok(seen) => {
            rec.note(
                NoteLevel::Info,
                format!("the pair is whole again: {}", agent::describe(&seen)),
            );
            Ok(())
        }
        Err(seen) => {
            let why = match whole(&seen, &lost, &survivor) {
                Err(why) => why,
                Ok(()) => NotWhole::AgentUnreachable,
            };
            rec.note(NoteLevel::Warning, format!("the pair is not whole: {why}"));
            Err(why)
        }
    }
}

/// Whether the instances describe a whole pair after `lost` came back; `Err` says what is off.
pub fn whole(seen: &[Instance], lost: &str, survivor: &str) -> Result<(), NotWhole> {
    let find = |node: &str| seen.iter().find(|i| i.node == node);
    let (Some(back), Some(serving)) = (find(lost), find(survivor)) else {
        return Err(NotWhole::NotBothSeen {
            seen: agent::describe(seen),
        });
    };
    if serving.avail != "up" {
        return Err(NotWhole::NotUp {
            survivor: survivor.to_string(),
            seen: agent::describe(seen),
        });
    }
    if back.avail == "up" {
        return Err(NotWhole::RunsOnBoth {
            lost: lost.to_string(),
            seen: agent::describe(seen),
        });
    }
    if let Some(i) = seen
        .iter()
        .find(|i| i.frozen || i.status.ends_with("failed"))
    {
        return Err(NotWhole::NotAtRest {
            instance: i.describe(),
        });
    }
    if !agent::is_quiet(seen) {
        return Err(NotWhole::AtWork {
            seen: agent::describe(seen),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(node: &str, avail: &str, status: &str, frozen: bool) -> Instance {
        Instance {
            node: node.into(),
            avail: avail.into(),
            frozen,
            status: status.into(),
            global_expect: None,
            orchestrate: "ha".into(),
        }
    }

    #[test]
    fn a_pair_is_whole_with_the_service_on_the_survivor_and_the_returned_node_at_rest() {
        let whole_pair = [
            inst("node1", "stdby up", "idle", false),
            inst("node2", "up", "idle", false),
        ];
        assert_eq!(whole(&whole_pair, "node1", "node2"), Ok(()));
        for (seen, why) in [
            (
                vec![inst("node2", "up", "idle", false)],
                "does not see both nodes",
            ),
            (
                vec![
                    inst("node1", "up", "idle", false),
                    inst("node2", "up", "idle", false),
                ],
                "runs on node1 too",
            ),
            (
                vec![
                    inst("node1", "down", "idle", false),
                    inst("node2", "down", "idle", false),
                ],
                "not up on node2",
            ),
            (
                vec![
                    inst("node1", "down", "idle", true),
                    inst("node2", "up", "idle", false),
                ],
                "node1 down idle frozen",
            ),
            (
                vec![
                    inst("node1", "down", "start failed", false),
                    inst("node2", "up", "idle", false),
                ],
                "start failed",
            ),
            (
                vec![
                    inst("node1", "down", "idle", false),
                    inst("node2", "up", "starting", false),
                ],
                "still at work",
            ),
        ] {
            let got = whole(&seen, "node1", "node2");
            assert!(
                got.as_ref().is_err_and(|e| e.to_string().contains(why)),
                "{seen:?}: {got:?}"
            );
        }
    }
}
