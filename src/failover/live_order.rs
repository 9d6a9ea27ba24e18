//! Puts what the live view is shown in time order. Probes reach the recorder in the order they
//! complete, not the order they started (a timeout answers after the probes sent behind it),
//! and only while the game day reads them: between two reads they wait in the prober's
//! channel while events are recorded as they happen. Shown as they arrived, a probe of 2.7 s
//! came after a note of 4.2 s.
//!
//! So lines are held until nothing earlier can still come: probes are numbered in start order
//! and every probe started reports, so once probes 1..=n have all arrived, no probe started
//! before probe n's start is missing. Events up to that time are shown, and the probes in
//! number order; the rest waits. The cost is a lag of about one probe interval (one timeout
//! while probes time out, and until the first probe when none has come yet); what is still
//! held when the game day ends is shown on drop.

use std::collections::BTreeMap;
use std::time::Duration;

use super::probe::ProbeResult;
use super::recorder::LiveView;
use super::timeline::Event;

pub struct LiveOrder {
    view: Box<dyn LiveView>,
    /// In time order; an event recorded at the same time as an earlier one comes after it.
    events: Vec<Event>,
    /// Arrived but not shown, by number.
    probes: BTreeMap<u64, ProbeResult>,
    /// The number of the next probe to show.
    next_seq: u64,
    /// The start of the last probe shown: every probe started before it has been shown.
    shown_until: Option<Duration>,
}

impl LiveOrder {
    pub fn new(view: Box<dyn LiveView>) -> LiveOrder {
        LiveOrder {
            view,
            events: Vec::new(),
            probes: BTreeMap::new(),
            next_seq: 1,
            shown_until: None,
        }
    }

    pub fn event(&mut self, event: Event) {
        let at = self.events.partition_point(|e| e.at <= event.at);
        self.events.insert(at, event);
        self.release();
    }

    pub fn probe(&mut self, result: ProbeResult) {
        if result.seq < self.next_seq {
            // Shown already (a number seen twice): nothing left to wait for.
            self.view.probe(&result);
            return;
        }
        self.probes.insert(result.seq, result);
        self.release();
    }

    /// Shows the next probes in number order, each after the events that came before it,
    /// then the events no missing probe can precede.
    fn release(&mut self) {
        while let Some(probe) = self.probes.remove(&self.next_seq) {
            self.events_until(Some(probe.at));
            self.view.probe(&probe);
            self.next_seq += 1;
            self.shown_until = Some(probe.at);
        }
        if let Some(until) = self.shown_until {
            self.events_until(Some(until));
        }
    }

    /// Shows the held events at or before `until` (all of them for `None`).
    fn events_until(&mut self, until: Option<Duration>) {
        let n = match until {
            Some(t) => self.events.partition_point(|e| e.at <= t),
            None => self.events.len(),
        };
        for event in self.events.drain(..n) {
            self.view.event(&event);
        }
    }
}

impl Drop for LiveOrder {
    /// The game day is over: nothing more will come, show what is held, in time order.
    fn drop(&mut self) {
        for (_, probe) in std::mem::take(&mut self.probes) {
            self.events_until(Some(probe.at));
            self.view.probe(&probe);
        }
        self.events_until(None);
    }
}
