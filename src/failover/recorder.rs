//! The game day's notebook: every event goes into the timeline with its time and, live, to
//! the terminal. Work running concurrently (the OVH move, commands on nodes) reports through a
//! channel; [`Recorder::drive`] runs such work while it records its events and the probes.
//! What is shown live is the caller's [`LiveView`] (the report layer's): nothing here prints.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::clock::Clock;
use super::probe::{ProbeResult, Prober};
use super::timeline::{Event, EventKind, NoteLevel, Timeline};

/// Where concurrent work sends what it saw, stamped when it saw it.
pub type Sink = UnboundedSender<(Instant, EventKind)>;

/// Watches the game day as it is recorded: told of each event as it enters the timeline and of
/// each probe result, in order. The command's view prints them (`report::failover_text`).
pub trait LiveView: Send {
    fn event(&mut self, event: &Event);
    fn probe(&mut self, result: &ProbeResult);
}

pub struct Recorder {
    pub clock: Clock,
    pub timeline: Timeline,
    live: Option<Box<dyn LiveView>>,
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
            live,
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
            live.event(&Event {
                at,
                kind: kind.clone(),
            });
        }
        self.timeline.record(at, kind);
    }

    pub fn probe(&mut self, result: ProbeResult) {
        if let Some(live) = &mut self.live {
            live.probe(&result);
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
