//! The `network-split` scenario: the link between the two nodes is cut while both stay up and
//! reachable from outside, and tandem reports what the agents do: does the standby start the
//! service while the active one keeps it (two nodes serving at once), does each ask OVH for
//! the VIP, does the VIP flap? Either of those fails the verdict; then the link is healed and
//! the pair made whole.
//!
//! The cut is a blackhole route on each node to the other's heartbeat addresses (the
//! `addr@NODE` of the cluster config, and the peer's name as the node resolves it): nothing
//! the operator reaches the nodes by is touched. Each node also heals itself after the split's
//! duration and a margin, whatever happens to tandem.

use std::time::{Duration, Instant};

use super::agent_switch::{record_phases, watch_ovh};
use super::clock::Clock;
use super::game_day::{Settings, Side};
use super::node_exec::{CommandError, command, exec};
use super::probe::Prober;
use super::recorder::{Recorder, Sink};
use super::timeline::{EventKind, NoteLevel};
use crate::ovh::Client;
use crate::sh::{Script, ShellWord};

/// The label of the split on the timeline (and of its measured window).
pub const LABEL: &str = "network-split";
/// Between two looks at each node's container while the link is cut.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How much longer than the split a node waits before it heals itself.
const SELF_HEAL_MARGIN: Duration = Duration::from_secs(60);
/// How long the agents get to see each other again once the link is back.
const REJOIN_WITHIN: Duration = Duration::from_secs(90);

const CUT: &str = r#"conf={conf}
me=$(uname -n)
peers=$( { sed -n 's/^[[:space:]]*addr@\([^[:space:]=]*\)[[:space:]]*=[[:space:]]*\([0-9.]*\).*/\1 \2/p' "$conf" | awk -v me="$me" '$1 != me {print $2}'; getent ahostsv4 {peer} | awk '{print $1}'; } | sort -u)
[ -n "$peers" ] || { echo "no address of {peer} in $conf nor in its name service" >&2; exit 1; }
for a in $peers; do ip route replace blackhole "$a/32" || exit 1; done
setsid sh -c "sleep {heal_after}; for a in $peers; do ip route del blackhole \$a/32; done; rm -f /run/tandem-split.pid" </dev/null >/dev/null 2>&1 &
echo $! > /run/tandem-split.pid
echo $peers
"#;

const HEAL: &str = r#"peers={peers}
for a in $peers; do ip route del blackhole "$a/32" 2>/dev/null; done
[ -f /run/tandem-split.pid ] && kill "$(cat /run/tandem-split.pid)" 2>/dev/null
rm -f /run/tandem-split.pid
exit 0
"#;

const CONTAINER_STATE: &str = "lxc-info -n {container} -sH 2>/dev/null || echo ABSENT\n";

/// The blackhole routes on a node to `peer`; prints the addresses cut.
fn cut_script(settings: &Settings, peer: &str, split: Duration) -> Script {
    Script::fill(
        CUT,
        &[
            (
                "conf",
                &ShellWord::quote(&format!("{}/cluster.conf", settings.spec.opensvc_etc)),
            ),
            ("peer", &ShellWord::quote(peer)),
            (
                "heal_after",
                &ShellWord::number((split + SELF_HEAL_MARGIN).as_secs()),
            ),
        ],
    )
}

/// Removes the blackhole routes to `addresses` (what the cut printed) and the self-heal timer.
fn heal_script(addresses: &str) -> Script {
    Script::fill(HEAL, &[("peers", &ShellWord::quote(addresses))])
}

/// What the split came to: the sentences that fail the verdict (two nodes serving at once, the
/// VIP flapping), empty when the agents behaved.
pub struct Outcome {
    pub violations: Vec<String>,
}

/// Cuts the link between the nodes for `split`, watches both nodes and OVH, heals the link.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    settings: &Settings,
    sides: &[Side; 2],
    (from, to): (usize, usize),
    split: Duration,
    client: &Client,
    rec: &mut Recorder,
    prober: &mut Prober,
) -> Result<Outcome, CommandError> {
    let started = rec.clock.offset();
    rec.record(EventKind::FlipStarted {
        label: LABEL.to_string(),
        from: sides[from].name.clone(),
        to: sides[to].name.clone(),
    });
    let sink = rec.sink();
    let mut cut = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        let peer = &sides[1 - i].name;
        let script = cut_script(settings, peer, split);
        match rec
            .drive(
                prober,
                command_output(side, "cut the link to the peer", &script, &sink),
            )
            .await
        {
            Ok(addresses) => cut.push(addresses),
            Err(why) => {
                for (healed, addresses) in sides.iter().zip(&cut) {
                    let _ = exec(healed, &heal_script(addresses)).await;
                }
                return Err(why);
            }
        }
    }
    rec.note(
        NoteLevel::Info,
        format!(
            "the link between {} and {} is cut for {} s",
            sides[0].name,
            sides[1].name,
            split.as_secs()
        ),
    );
    let rec_clock = rec.clock;
    let both = rec
        .drive(prober, async {
            tokio::select! {
                both = watch_containers(settings, sides, split, rec_clock, &sink) => both,
                _ = watch_ovh(settings, client, &sink) => unreachable!("the watch never ends"),
            }
        })
        .await;
    rec.record(EventKind::Phase {
        name: "heal".into(),
    });
    for (side, addresses) in sides.iter().zip(&cut) {
        let _ = rec
            .drive(
                prober,
                command(side, "heal the link", &heal_script(addresses), &sink),
            )
            .await;
    }
    // What each agent did, from its own log.
    record_phases(settings, sides, started, rec).await;
    let rejoined = rec
        .drive(
            prober,
            super::agent_wait::until(
                super::agent_switch::runner(&sides[from]),
                &settings.spec.service,
                REJOIN_WITHIN,
                super::agent_switch::status_notes(&sink),
                |seen| seen.len() == 2,
            ),
        )
        .await;
    if rejoined.is_err() {
        rec.note(
            NoteLevel::Warning,
            format!(
                "the agents do not see each other {} s after the link came back",
                REJOIN_WITHIN.as_secs()
            ),
        );
    }
    rec.flush();
    let mut violations = Vec::new();
    for (start, end) in &both {
        violations.push(format!(
            "{} and {} both ran {} from +{:.1} s to +{:.1} s (split brain)",
            sides[0].name,
            sides[1].name,
            settings.spec.container,
            start.as_secs_f64(),
            end.as_secs_f64()
        ));
    }
    let answering = answering_nodes(rec, started);
    if flapped(&answering) {
        violations.push(format!(
            "the VIP flapped: it was answered by {}",
            answering.join(" -> ")
        ));
    }
    for v in &violations {
        rec.note(NoteLevel::Warning, v.clone());
    }
    Ok(Outcome { violations })
}

/// Runs `script` on `side` as a timeline command; its output (trimmed) when it succeeds.
async fn command_output(
    side: &Side,
    what: &str,
    script: &Script,
    sink: &Sink,
) -> Result<String, CommandError> {
    let _ = sink.send((
        Instant::now(),
        EventKind::CommandStarted {
            node: side.name.clone(),
            command: what.to_string(),
        },
    ));
    let result = exec(side, script).await;
    let _ = sink.send((
        Instant::now(),
        EventKind::CommandFinished {
            node: side.name.clone(),
            command: what.to_string(),
            ok: result.is_ok(),
            detail: Some(match &result {
                Ok(out) => format!("cut: {out}"),
                Err(why) => why.detail.clone(),
            }),
        },
    ));
    result.map_err(|e| CommandError {
        what: what.to_string(),
        node: side.name.clone(),
        detail: e.detail,
    })
}

/// Looks at each node's container every second for `split`; notes each change and returns
/// the spans (timeline offsets, as far as seen) during which both ran it.
async fn watch_containers(
    settings: &Settings,
    sides: &[Side; 2],
    split: Duration,
    clock: Clock,
    sink: &Sink,
) -> Vec<(Duration, Duration)> {
    let script = Script::fill(
        CONTAINER_STATE,
        &[("container", &ShellWord::quote(&settings.spec.container))],
    );
    let origin = Instant::now();
    let mut last = [String::new(), String::new()];
    let mut spans = Vec::new();
    let mut both_since: Option<Instant> = None;
    let mut last_both = None;
    while origin.elapsed() < split {
        let round = Instant::now();
        let (a, b) = tokio::join!(exec(&sides[0], &script), exec(&sides[1], &script));
        let now = [a, b].map(|r| {
            r.map(|s| s.trim().to_string())
                .unwrap_or_else(|why| format!("unknown ({why})"))
        });
        for (i, state) in now.iter().enumerate() {
            if *state != last[i] {
                let _ = sink.send((
                    Instant::now(),
                    EventKind::Note {
                        level: NoteLevel::Info,
                        text: format!(
                            "{}: container {} {state}",
                            sides[i].name, settings.spec.container
                        ),
                    },
                ));
                last[i] = state.clone();
            }
        }
        let running = now.iter().all(|s| s == "RUNNING");
        match (running, both_since) {
            (true, None) => both_since = Some(round),
            (true, Some(_)) => last_both = Some(Instant::now()),
            (false, Some(since)) => {
                spans.push((since, last_both.unwrap_or(since)));
                both_since = None;
                last_both = None;
            }
            (false, None) => {}
        }
        tokio::time::sleep(LOOK_EVERY.saturating_sub(round.elapsed())).await;
    }
    if let Some(since) = both_since {
        spans.push((since, Instant::now()));
    }
    spans
        .into_iter()
        .map(|(a, b)| (clock.offset_of(a), clock.offset_of(b)))
        .collect()
}

/// The nodes that answered on the VIP since `since`, one entry per run of answers.
fn answering_nodes(rec: &Recorder, since: Duration) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for p in rec
        .timeline
        .probes
        .iter()
        .filter(|p| p.at >= since && p.is_ok())
    {
        if let Some(node) = &p.node
            && runs.last() != Some(node)
        {
            runs.push(node.clone());
        }
    }
    runs
}

/// Whether a node answered again after another had: the VIP went back and forth.
pub fn flapped(runs: &[String]) -> bool {
    runs.iter()
        .enumerate()
        .any(|(i, node)| runs[..i.saturating_sub(1)].contains(node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(nodes: &[&str]) -> Vec<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    /// A move from one node to the other is no flap; coming back after it is.
    #[test]
    fn a_vip_flaps_when_a_node_answers_again_after_another() {
        assert!(!flapped(&runs(&[])));
        assert!(!flapped(&runs(&["node1"])));
        assert!(!flapped(&runs(&["node1", "node2"])));
        assert!(flapped(&runs(&["node1", "node2", "node1"])));
        assert!(flapped(&runs(&["node2", "node1", "node2", "node1"])));
    }

    /// The cut's addresses go back to the heal as one quoted word split by the shell, so an
    /// address list never becomes code.
    #[test]
    fn the_heal_takes_the_addresses_the_cut_printed() {
        let script = heal_script("198.18.0.12 198.18.0.13");
        assert!(
            script
                .as_str()
                .starts_with("peers='198.18.0.12 198.18.0.13'\n"),
            "{}",
            script.as_str()
        );
        let hostile = heal_script("1.2.3.4; reboot");
        assert!(
            hostile.as_str().starts_with("peers='1.2.3.4; reboot'\n"),
            "{}",
            hostile.as_str()
        );
    }
}
