//! The game day's notebook: every event goes into the timeline with its time and, live, to
//! the terminal. Work running concurrently (the OVH move, commands on nodes) reports through a
//! channel; [`Recorder::drive`] runs such work while it records its events and the probes.
//! What is shown live is the caller's [`LiveView`] (the report layer's): nothing here prints.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::clock::Clock;
use super::live_order::LiveOrder;
use super::probe::{ProbeResult, Prober};
use super::timeline::{Event, EventKind, NoteLevel, Timeline};

/// Where concurrent work sends what it saw, stamped when it saw it.
pub type Sink = UnboundedSender<(Instant, EventKind)>;

/// Watches the game day as it is recorded: told of each event and each probe result, in time
/// order (held back until nothing earlier can still come: [`LiveOrder`]). The command's view prints them (`report::failover_text`).
pub trait LiveView: Send {
    fn event(&mut self, event: &Event);
    fn probe(&mut self, result: &ProbeResult);
}

pub struct Recorder {
    pub clock: Clock,
    pub timeline: Timeline,
    /// Shown in time order, not arrival order: [`LiveOrder`].
    live: Option<LiveOrder>,
    sink: Sink,
    inbox: UnboundedReceiver<(Instant, EventKind)>,
}

impl Recorder {
    /// `live`: shown each event and probe as it is recorded.
    pub fn new(timeline: Timeline, clock: Clock, live: Option<Box<dyn LiveView>>) -> Recorder {
        let (sink, inbox) = unbounded_channel();
        Recorder {
            clock,
            timeline,
            live: live.map(LiveOrder::new),
            sink,
            inbox,
        }
    }

    pub fn sink(&self) -> Sink {
        self.sink.clone()
    }

    pub fn record(&mut self, kind: EventKind) {
        self.record_at(Instant::now(), kind);
    }

    pub fn note(&mut self, level: NoteLevel, text: impl Into<String>) {
        self.record(EventKind::Note {
            level,
            text: text.into(),
        });
    }

    fn record_at(&mut self, instant: Instant, kind: EventKind) {
        let at = self.clock.offset_of(instant);
        if let Some(live) = &mut self.live {
            live.event(Event {
                at,
                kind: kind.clone(),
            });
        }
        self.timeline.record(at, kind);
    }

    pub fn probe(&mut self, result: ProbeResult) {
        if let Some(live) = &mut self.live {
            live.probe(result.clone());
        }
        self.timeline.add_probe(result);
    }

    /// Records what is already in the inbox.
    pub fn flush(&mut self) {
        while let Ok((instant, kind)) = self.inbox.try_recv() {
            self.record_at(instant, kind);
        }
    }

    /// Runs `work` to its end while recording the events it sends and every probe.
    pub async fn drive<F: Future>(&mut self, prober: &mut Prober, work: F) -> F::Output {
        tokio::pin!(work);
        let mut probing = true;
        loop {
            tokio::select! {
                out = &mut work => {
                    self.flush();
                    return out;
                }
                Some((instant, kind)) = self.inbox.recv() => self.record_at(instant, kind),
                next = prober.next(), if probing => match next {
                    Some(result) => self.probe(result),
                    None => probing = false,
                },
            }
        }
    }

    /// Records probes (and events) until one satisfies `done` or `limit` has passed; returns
    /// whether one did.
    pub async fn probes_until(
        &mut self,
        prober: &mut Prober,
        limit: Duration,
        done: impl Fn(&ProbeResult) -> bool,
    ) -> bool {
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return false,
                Some((instant, kind)) = self.inbox.recv() => self.record_at(instant, kind),
                next = prober.next() => match next {
                    Some(result) => {
                        let hit = done(&result);
                        self.probe(result);
                        if hit {
                            return true;
                        }
                    }
                    None => return false,
                },
            }
        }
    }
}

/// What an OVH client event means on the timeline.
pub fn from_ovh(event: &crate::ovh::EventKind) -> Option<EventKind> {
    use crate::ovh::EventKind as O;
    Some(match event {
        O::RequestSent { method, path, .. } => EventKind::ApiRequest {
            method: method.clone(),
            path: path.clone(),
        },
        O::Answered {
            method,
            path,
            status,
            ..
        } => EventKind::ApiResponse {
            method: method.clone(),
            path: path.clone(),
            status: Some(*status),
            error: None,
        },
        O::NoAnswer {
            method,
            path,
            detail,
        } => EventKind::ApiResponse {
            method: method.clone(),
            path: path.clone(),
            status: None,
            error: Some(detail.clone()),
        },
        O::TaskCreated { task_id, status } => EventKind::TaskStatus {
            task_id: *task_id,
            status: status.as_str().to_string(),
        },
        O::TaskStatusChanged { task_id, to, .. } => EventKind::TaskStatus {
            task_id: *task_id,
            status: to.as_str().to_string(),
        },
        // The status change to `done` is already on the timeline.
        O::Done { .. } => return None,
        O::Failed { reason } => EventKind::Note {
            level: NoteLevel::Warning,
            text: format!("the VIP move failed: {reason}"),
        },
        other => EventKind::Note {
            level: NoteLevel::Info,
            text: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::failover::probe::ProbeOutcome;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Writes down what the live view was shown, in order: `probe #2 @300`, `note @500`.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl LiveView for Capture {
        fn event(&mut self, event: &Event) {
            let line = format!("{} @{}", event.kind.tag(), event.at.as_millis());
            self.0.lock().unwrap().push(line);
        }
        fn probe(&mut self, result: &ProbeResult) {
            let line = format!("probe #{} @{}", result.seq, result.at.as_millis());
            self.0.lock().unwrap().push(line);
        }
    }

    fn probe(seq: u64, at_ms: u64) -> ProbeResult {
        ProbeResult {
            seq,
            at: ms(at_ms),
            unix_ms: 0,
            latency: ms(1),
            outcome: ProbeOutcome::Ok,
            node: Some("node1".into()),
        }
    }

    fn note() -> EventKind {
        EventKind::Note {
            level: NoteLevel::Info,
            text: "x".into(),
        }
    }

    #[test]
    fn the_live_view_sees_probes_and_events_in_time_order() {
        let clock = Clock::start();
        // Within microseconds of the clock's origin: offsets below read to the millisecond.
        let origin = Instant::now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let timeline = Timeline::new("web", "203.0.113.10", &clock);
        let mut rec = Recorder::new(timeline, clock, Some(Box::new(Capture(seen.clone()))));
        rec.probe(probe(1, 0));
        // Probe #2 started at 300 ms but is read after an event of 500 ms was recorded (the
        // game day was busy elsewhere, or #2 was slow to answer); #4 answers before #3.
        rec.record_at(origin + ms(500), note());
        rec.probe(probe(2, 300));
        rec.probe(probe(4, 900));
        rec.record_at(origin + ms(700), note());
        rec.probe(probe(3, 600));
        // After the last probe: shown when the game day ends (the recorder is dropped).
        rec.record_at(origin + ms(950), note());
        drop(rec);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "probe #1 @0",
                "probe #2 @300",
                "note @500",
                "probe #3 @600",
                "note @700",
                "probe #4 @900",
                "note @950",
            ]
        );
    }

    #[test]
    fn events_before_the_first_probe_wait_for_it_and_a_slow_probe_holds_the_rest() {
        let clock = Clock::start();
        let origin = Instant::now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let timeline = Timeline::new("web", "203.0.113.10", &clock);
        let mut rec = Recorder::new(timeline, clock, Some(Box::new(Capture(seen.clone()))));
        rec.record_at(origin + ms(20), note());
        assert!(
            seen.lock().unwrap().is_empty(),
            "a probe may have started before"
        );
        rec.probe(probe(1, 10));
        assert_eq!(*seen.lock().unwrap(), ["probe #1 @10"]);
        rec.probe(probe(2, 30));
        assert_eq!(
            *seen.lock().unwrap(),
            ["probe #1 @10", "note @20", "probe #2 @30"]
        );
        // #3 (a timeout) has not answered: #4 and what came after #3 started wait for it.
        rec.record_at(origin + ms(150), note());
        rec.probe(probe(4, 230));
        assert_eq!(seen.lock().unwrap().len(), 3);
        rec.probe(probe(3, 130));
        assert_eq!(
            seen.lock().unwrap()[3..],
            ["probe #3 @130", "note @150", "probe #4 @230"]
        );
    }
}
