//! The fault knobs tests turn at run time (`/_lab/faults`), and the counters they read back to
//! prove a fault was really served.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the next move task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Fate {
    /// `todo -> doing -> done`, and the route moves.
    #[default]
    #[serde(rename = "normal")]
    Normal,
    /// `todo -> doing -> ovhError`; the route stays.
    #[serde(rename = "ovhError")]
    OvhError,
    /// `todo -> doing`, forever.
    #[serde(rename = "stuck")]
    Stuck,
}

/// An access rule of the consumer key, as `GET /auth/currentCredential` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub method: String,
    pub path: String,
}

/// What a key made with OVH's usual "all rights" request gets: every method on `/*`.
pub fn all_rights() -> Vec<Rule> {
    ["GET", "POST", "PUT", "DELETE"]
        .into_iter()
        .map(|method| Rule {
            method: method.to_string(),
            path: "/*".to_string(),
        })
        .collect()
}

/// The knobs and counters, as `GET /_lab/faults` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Knobs {
    /// The next this many API requests (any route under /1.0) answer `fail_status`.
    pub fail_next: u32,
    /// 500 (or any 5xx) or 429.
    pub fail_status: u16,
    /// Only requests whose `METHOD /path?query` contains this get the faults (empty: any), so a
    /// test can aim at the move's POST or at the task polls in the middle of a game day.
    pub fail_only: String,
    /// Applies to the next move task only, then goes back to `normal`.
    pub next_task: Fate,
    pub task_duration_ms: u64,
    pub list_lag_ms: u64,
    /// The consumer key's access rules: a call none grants is refused (403 NOT_GRANTED_CALL).
    pub rules: Vec<Rule>,
    /// Servers `ipCanBeMovedTo` says no for (and a move to them is refused).
    pub cannot_receive: Vec<String>,
    /// API requests seen (under /1.0, faults included).
    pub requests: u64,
    /// Requests answered with an injected fault.
    pub faults_served: u64,
    /// Requests refused for their credentials (key, timestamp, signature).
    pub auth_refused: u64,
    /// Move tasks created.
    pub moves: u64,
    /// Hard reboots asked for.
    pub reboots: u64,
}

/// `POST /_lab/faults`: only the fields given change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsUpdate {
    #[serde(default)]
    pub fail_next: Option<u32>,
    #[serde(default)]
    pub fail_status: Option<u16>,
    #[serde(default)]
    pub fail_only: Option<String>,
    #[serde(default)]
    pub next_task: Option<Fate>,
    #[serde(default)]
    pub task_duration_ms: Option<u64>,
    #[serde(default)]
    pub list_lag_ms: Option<u64>,
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    #[serde(default)]
    pub cannot_receive: Option<Vec<String>>,
    /// Ends every unfinished move task now with this status (`cancelled`, `ovhError`, ...), as
    /// OVH's support does with a task stuck for good; the routes stay where they are.
    #[serde(default)]
    pub end_pending: Option<String>,
}

impl Knobs {
    pub fn new(task_duration: Duration, list_lag: Duration) -> Knobs {
        Knobs {
            fail_next: 0,
            fail_status: 500,
            fail_only: String::new(),
            next_task: Fate::Normal,
            task_duration_ms: task_duration.as_millis() as u64,
            list_lag_ms: list_lag.as_millis() as u64,
            rules: all_rights(),
            cannot_receive: Vec::new(),
            requests: 0,
            faults_served: 0,
            auth_refused: 0,
            moves: 0,
            reboots: 0,
        }
    }

    pub fn apply(&mut self, update: KnobsUpdate) -> Result<(), String> {
        if let Some(status) = update.fail_status
            && status != 429
            && !(500..=599).contains(&status)
        {
            return Err(format!("fail_status {status}: use 429 or a 5xx"));
        }
        if update.task_duration_ms.is_some_and(|ms| ms > 600_000) {
            return Err("task_duration_ms: at most 600000".into());
        }
        if let Some(n) = update.fail_next {
            self.fail_next = n;
        }
        if let Some(status) = update.fail_status {
            self.fail_status = status;
        }
        if let Some(only) = update.fail_only {
            self.fail_only = only;
        }
        if let Some(fate) = update.next_task {
            self.next_task = fate;
        }
        if let Some(ms) = update.task_duration_ms {
            self.task_duration_ms = ms;
        }
        if let Some(ms) = update.list_lag_ms {
            self.list_lag_ms = ms;
        }
        if let Some(rules) = update.rules {
            self.rules = rules;
        }
        if let Some(servers) = update.cannot_receive {
            self.cannot_receive = servers;
        }
        Ok(())
    }

    /// Whether the key's rules grant `method` on `path` (unencoded: `/ip/203.0.113.5/32/move`).
    pub fn granted(&self, method: &str, path: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.method == method && matches_pattern(r.path.as_bytes(), path.as_bytes()))
    }

    /// Whether this request (`METHOD /path?query`) gets an injected fault (and counts it).
    pub fn take_fault(&mut self, request: &str) -> Option<u16> {
        if self.fail_next == 0 || !request.contains(&self.fail_only) {
            return None;
        }
        self.fail_next -= 1;
        self.faults_served += 1;
        Some(self.fail_status)
    }
}

/// OVH's rule patterns: `*` is any text, slashes included.
fn matches_pattern(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| matches_pattern(rest, &text[skip..])),
        Some((c, rest)) => text.first() == Some(c) && matches_pattern(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_grant_by_method_and_pattern() {
        let mut knobs = Knobs::new(Duration::from_secs(1), Duration::from_secs(1));
        assert!(knobs.granted("POST", "/ip/203.0.113.5/32/move"));
        knobs.rules = vec![Rule {
            method: "GET".into(),
            path: "/ip/*".into(),
        }];
        assert!(knobs.granted("GET", "/ip/203.0.113.5/32/task/3"));
        assert!(!knobs.granted("POST", "/ip/203.0.113.5/32/move"));
        assert!(!knobs.granted("GET", "/dedicated/server"));
        assert!(matches_pattern(b"/a*b*c", b"/aXbYc"));
        assert!(!matches_pattern(b"/a*b*c", b"/aXcYb"));
    }
}
