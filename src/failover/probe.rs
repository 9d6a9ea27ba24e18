//! The game day's stopwatch: probes of the service through the VIP, one every `interval`, for
//! as long as the failover takes. Each probe is its own task so a slow one (a SYN lost while the
//! route moves) never delays the next one's start; how many run at once is bounded, and so is
//! the whole run (a count cap and a time cap), so a forgotten prober cannot flood anything.
//!
//! Results stream through a channel in completion order (a live view shows them as they come);
//! sort by `seq` or `at` for the timeline.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::clock::Clock;
use super::millis;

/// Probing faster than this measures the prober, not the service (and loads the service).
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
/// Ten probes a second: a downtime is measured to within 100 ms.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
/// Long enough for a healthy answer across a WAN, short enough to call a lost SYN a failure
/// before the next probe or two.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(300);
/// A real OVH move takes about a minute and a flip-back doubles it; 15 minutes leaves room for a
/// slow task and still ends a prober nobody stopped.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(15 * 60);
/// 15 minutes at the default interval.
pub const DEFAULT_MAX_PROBES: u64 = 9_000;
/// Answers are read up to this size: the node marker is at the start of a small body.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What one probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeMode {
    /// A TCP connect, closed at once. Says the port is open; cannot say which node answered.
    Tcp,
    /// An HTTP/1.0 GET with an expected status; the answering node is read from the body.
    Http(HttpCheck),
}

/// The HTTP request a probe sends and how it reads the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// Request path, `/` by default.
    pub path: String,
    /// `Host:` header; the target address when `None`.
    pub host: Option<String>,
    /// The status that counts as ok (anything else is `bad_status`).
    pub expect_status: u16,
    /// How to find the answering node in the body.
    pub marker: NodeMarker,
}

impl Default for HttpCheck {
    fn default() -> HttpCheck {
        HttpCheck {
            path: "/".to_string(),
            host: None,
            expect_status: 200,
            marker: NodeMarker::LastWordOfFirstLine,
        }
    }
}

/// How a probe tells which node answered, from the body (plain text rules, no regex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeMarker {
    /// The last whitespace-separated word of the first non-empty line: the lab's service
    /// answers `web on node1`, so this reads `node1`. Spelled `last-word` on a command line.
    LastWordOfFirstLine,
    /// The word right after the first occurrence of the text (up to whitespace or the end), e.g.
    /// `served-by=` in `ok served-by=node2`. Spelled `after:TEXT`.
    WordAfter(String),
    /// The text between the first `prefix` and the next `suffix`, trimmed, e.g. `<h1>` and
    /// `</h1>`. Spelled `between:PREFIX|SUFFIX`.
    Between { prefix: String, suffix: String },
    /// Do not attribute answers. Spelled `none`.
    Disabled,
}

impl NodeMarker {
    /// The node named in `body`, if the rule finds a non-empty one.
    pub fn find(&self, body: &str) -> Option<String> {
        let found = match self {
            NodeMarker::LastWordOfFirstLine => body
                .lines()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.split_whitespace().last()),
            NodeMarker::WordAfter(prefix) => body
                .find(prefix.as_str())
                .and_then(|i| body[i + prefix.len()..].split_whitespace().next()),
            NodeMarker::Between { prefix, suffix } => body.find(prefix.as_str()).and_then(|i| {
                let rest = &body[i + prefix.len()..];
                rest.find(suffix.as_str()).map(|j| rest[..j].trim())
            }),
            NodeMarker::Disabled => None,
        };
        found.filter(|n| !n.is_empty()).map(str::to_string)
    }
}

/// A node marker spelled none of the ways [`NodeMarker`] reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown node marker `{given}`: use last-word, after:TEXT, between:PREFIX|SUFFIX or none")]
pub struct UnknownNodeMarker {
    pub given: String,
}

impl FromStr for NodeMarker {
    type Err = UnknownNodeMarker;

    /// `last-word`, `after:TEXT`, `between:PREFIX|SUFFIX` or `none`.
    fn from_str(s: &str) -> Result<NodeMarker, UnknownNodeMarker> {
        if s == "last-word" {
            Ok(NodeMarker::LastWordOfFirstLine)
        } else if s == "none" {
            Ok(NodeMarker::Disabled)
        } else if let Some(prefix) = s.strip_prefix("after:").filter(|p| !p.is_empty()) {
            Ok(NodeMarker::WordAfter(prefix.to_string()))
        } else if let Some((prefix, suffix)) = s
            .strip_prefix("between:")
            .and_then(|r| r.split_once('|'))
            .filter(|(p, s)| !p.is_empty() && !s.is_empty())
        {
            Ok(NodeMarker::Between {
                prefix: prefix.to_string(),
                suffix: suffix.to_string(),
            })
        } else {
            Err(UnknownNodeMarker {
                given: s.to_string(),
            })
        }
    }
}

/// Everything a prober needs. Start from [`ProbeConfig::http`] or [`ProbeConfig::tcp`] and
/// change the public fields.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The VIP and port of the service.
    pub target: SocketAddr,
    pub mode: ProbeMode,
    /// Time between probe starts; raised to [`MIN_INTERVAL`] if lower.
    pub interval: Duration,
    /// Per probe, from connect to the last byte read.
    pub timeout: Duration,
    /// Probes in flight at once; `None` allows just enough that a probe hanging until its
    /// timeout never holds back the next start (`timeout / interval + 1`).
    pub max_in_flight: Option<usize>,
    /// Hard cap on probes sent.
    pub max_probes: u64,
    /// Hard cap on the run's length.
    pub max_duration: Duration,
}

impl ProbeConfig {
    /// `GET /` expecting 200, node = last word of the body's first line, default timings.
    pub fn http(target: SocketAddr) -> ProbeConfig {
        ProbeConfig::with_mode(target, ProbeMode::Http(HttpCheck::default()))
    }

    /// TCP connects, default timings.
    pub fn tcp(target: SocketAddr) -> ProbeConfig {
        ProbeConfig::with_mode(target, ProbeMode::Tcp)
    }

    fn with_mode(target: SocketAddr, mode: ProbeMode) -> ProbeConfig {
        ProbeConfig {
            target,
            mode,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: None,
            max_probes: DEFAULT_MAX_PROBES,
            max_duration: DEFAULT_MAX_DURATION,
        }
    }

    /// The interval actually used.
    pub fn effective_interval(&self) -> Duration {
        self.interval.max(MIN_INTERVAL)
    }

    fn in_flight_limit(&self) -> usize {
        let interval = self.effective_interval().as_micros().max(1);
        let needed = self.timeout.as_micros().div_ceil(interval) as usize + 1;
        self.max_in_flight.unwrap_or(needed).clamp(1, 1024)
    }
}

/// How one probe ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Connected (TCP), or answered with the expected status (HTTP).
    Ok,
    /// Nothing listens: the service is stopped, or the VIP reaches a node without it.
    Refused,
    /// No answer within the probe timeout (typically while the route moves).
    Timeout,
    /// The connection was reset or aborted mid-exchange.
    Reset,
    /// No route to the address (host or network unreachable).
    Unreachable,
    /// An HTTP answer with another status than expected.
    BadStatus { status: u16 },
    /// Connected, then closed without sending anything.
    Closed,
    /// Bytes that are not an HTTP answer.
    Malformed,
    /// Any other error, as the OS described it.
    Error { message: String },
}

impl ProbeOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeOutcome::Ok)
    }

    /// A few words for people: `ok`, `refused`, `bad status 503`, ...
    pub fn describe(&self) -> String {
        match self {
            ProbeOutcome::Ok => "ok".into(),
            ProbeOutcome::Refused => "refused".into(),
            ProbeOutcome::Timeout => "timeout".into(),
            ProbeOutcome::Reset => "reset".into(),
            ProbeOutcome::Unreachable => "unreachable".into(),
            ProbeOutcome::BadStatus { status } => format!("bad status {status}"),
            ProbeOutcome::Closed => "closed without answer".into(),
            ProbeOutcome::Malformed => "not an HTTP answer".into(),
            ProbeOutcome::Error { message } => message.clone(),
        }
    }

    fn from_io(e: &std::io::Error) -> ProbeOutcome {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::ConnectionRefused => ProbeOutcome::Refused,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                ProbeOutcome::Reset
            }
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => ProbeOutcome::Unreachable,
            ErrorKind::TimedOut => ProbeOutcome::Timeout,
            _ => ProbeOutcome::Error {
                message: e.to_string(),
            },
        }
    }
}

/// One probe, as the timeline keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// 1 for the first probe sent, in start order.
    pub seq: u64,
    /// When it started, from the game day's [`Clock`] origin (monotonic).
    #[serde(rename = "at_ms", with = "millis::fine")]
    pub at: Duration,
    /// When it started, wall clock (ms since the Unix epoch).
    pub unix_ms: u64,
    /// From start to outcome (about the timeout for a timeout).
    #[serde(rename = "latency_ms", with = "millis::fine")]
    pub latency: Duration,
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
    /// The node named in the answer, when the mode and the marker tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl ProbeResult {
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// An ok probe answered by `node`.
    pub fn answered_by(&self, node: &str) -> bool {
        self.is_ok() && self.node.as_deref() == Some(node)
    }
}

/// Why a prober ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// [`StopHandle::stop`] was called (or every handle was dropped).
    Stopped,
    /// `max_probes` were sent.
    CountCap,
    /// `max_duration` elapsed.
    TimeCap,
}

/// How a prober's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRunEnd {
    pub sent: u64,
    pub reason: StopReason,
}

/// Stops a prober from anywhere (clone it into the task that knows when the game day is over).
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// No new probe starts; those in flight finish (each within its timeout) and report.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A running prober. Read results with [`Prober::next`]; end with [`Prober::finish`].
#[derive(Debug)]
pub struct Prober {
    results: mpsc::UnboundedReceiver<ProbeResult>,
    stop: StopHandle,
    task: JoinHandle<ProbeRunEnd>,
}

impl Prober {
    /// Starts probing now (the first probe goes out at once). Must be called within a tokio
    /// runtime. Stamps come from `clock`, so share it with the game day's events.
    pub fn spawn(config: ProbeConfig, clock: Clock) -> Prober {
        // Unbounded is safe: at most `max_probes` results ever enter, and a slow reader must
        // not hold back probe starts.
        let (tx, results) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(config, clock, tx, stop_rx));
        Prober {
            results,
            stop: StopHandle(Arc::new(stop_tx)),
            task,
        }
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The next result, in completion order; `None` once the prober ended and every probe in
    /// flight reported.
    pub async fn next(&mut self) -> Option<ProbeResult> {
        self.results.recv().await
    }

    /// Stops the prober, waits for the probes in flight and returns the results not read yet
    /// (sorted by `seq`) with how the run ended.
    pub async fn finish(mut self) -> (Vec<ProbeResult>, ProbeRunEnd) {
        self.stop.stop();
        let mut rest = Vec::new();
        while let Some(r) = self.results.recv().await {
            rest.push(r);
        }
        rest.sort_by_key(|r| r.seq);
        let end = self.task.await.unwrap_or(ProbeRunEnd {
            sent: rest.len() as u64,
            reason: StopReason::Stopped,
        });
        (rest, end)
    }
}

async fn run(
    config: ProbeConfig,
    clock: Clock,
    tx: mpsc::UnboundedSender<ProbeResult>,
    mut stop: watch::Receiver<bool>,
) -> ProbeRunEnd {
    let interval = config.effective_interval();
    let permits = Arc::new(Semaphore::new(config.in_flight_limit()));
    let deadline = tokio::time::Instant::now() + config.max_duration;
    let mode = Arc::new(config.mode.clone());
    let mut ticker = tokio::time::interval(interval);
    // After a stall (a busy runtime), keep the rhythm instead of firing a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut in_flight = JoinSet::new();
    let mut sent = 0u64;
    let reason = loop {
        if sent >= config.max_probes {
            break StopReason::CountCap;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => {}
            _ = tokio::time::sleep_until(deadline) => break StopReason::TimeCap,
            _ = ticker.tick() => {}
        }
        // A dropped handle (changed() erred) also means stop.
        if *stop.borrow() || stop.has_changed().is_err() {
            break StopReason::Stopped;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = stop.changed() => break StopReason::Stopped,
        };
        let Ok(permit) = permit else {
            break StopReason::Stopped;
        };
        sent += 1;
        let (seq, target, timeout, mode, tx) = (
            sent,
            config.target,
            config.timeout,
            mode.clone(),
            tx.clone(),
        );
        let at = clock.offset();
        in_flight.spawn(async move {
            let started = Instant::now();
            let (outcome, node) = tokio::time::timeout(timeout, probe_once(target, &mode))
                .await
                .unwrap_or((ProbeOutcome::Timeout, None));
            let result = ProbeResult {
                seq,
                at,
                unix_ms: clock.unix_ms_at(at),
                latency: started.elapsed(),
                outcome,
                node,
            };
            drop(permit);
            // The reader may be gone (the command ended early): nothing left to tell.
            let _ = tx.send(result);
        });
        // Reap finished probes so the set does not grow with the run.
        while in_flight.try_join_next().is_some() {}
    };
    // Each probe ends within its timeout, so this wait is bounded.
    while in_flight.join_next().await.is_some() {}
    ProbeRunEnd { sent, reason }
}

/// One probe on its own, within `config.timeout`: for health checks between rollout batches.
pub async fn check_once(config: &ProbeConfig) -> ProbeOutcome {
    match tokio::time::timeout(config.timeout, probe_once(config.target, &config.mode)).await {
        Ok((outcome, _)) => outcome,
        Err(_) => ProbeOutcome::Timeout,
    }
}

async fn probe_once(target: SocketAddr, mode: &ProbeMode) -> (ProbeOutcome, Option<String>) {
    let stream = match TcpStream::connect(target).await {
        Ok(stream) => stream,
        Err(e) => return (ProbeOutcome::from_io(&e), None),
    };
    match mode {
        ProbeMode::Tcp => (ProbeOutcome::Ok, None),
        ProbeMode::Http(check) => http_exchange(stream, target, check).await,
    }
}

async fn http_exchange(
    mut stream: TcpStream,
    target: SocketAddr,
    check: &HttpCheck,
) -> (ProbeOutcome, Option<String>) {
    let _ = stream.set_nodelay(true);
    let host = check.host.clone().unwrap_or_else(|| target.to_string());
    // HTTP/1.0 with Connection: close: the server ends the answer by closing, no chunking.
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tandem-failover-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return (ProbeOutcome::from_io(&e), None);
    }
    let mut answer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() >= MAX_RESPONSE_BYTES || HttpAnswer::complete(&answer) {
                    break;
                }
            }
            // Some servers reset right after a full answer; keep what arrived.
            Err(_) if HttpAnswer::parse(&answer).is_some() => break,
            Err(e) => return (ProbeOutcome::from_io(&e), None),
        }
    }
    if answer.is_empty() {
        return (ProbeOutcome::Closed, None);
    }
    let Some(parsed) = HttpAnswer::parse(&answer) else {
        return (ProbeOutcome::Malformed, None);
    };
    let node = check.marker.find(&String::from_utf8_lossy(parsed.body));
    let outcome = if parsed.status == check.expect_status {
        ProbeOutcome::Ok
    } else {
        ProbeOutcome::BadStatus {
            status: parsed.status,
        }
    };
    (outcome, node)
}

/// The parts of an HTTP answer a probe reads.
struct HttpAnswer<'a> {
    status: u16,
    content_length: Option<usize>,
    body: &'a [u8],
}

impl<'a> HttpAnswer<'a> {
    fn parse(bytes: &'a [u8]) -> Option<HttpAnswer<'a>> {
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
        let mut lines = head.split("\r\n");
        let mut status_line = lines.next()?.split_whitespace();
        if !status_line.next()?.starts_with("HTTP/") {
            return None;
        }
        let status = status_line.next()?.parse().ok()?;
        let content_length = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok());
        Some(HttpAnswer {
            status,
            content_length,
            body: &bytes[head_end + 4..],
        })
    }

    /// The whole answer arrived (its Content-Length is met), so there is no need to wait for
    /// the server to close.
    fn complete(bytes: &[u8]) -> bool {
        HttpAnswer::parse(bytes)
            .and_then(|a| a.content_length.map(|len| a.body.len() >= len))
            .unwrap_or(false)
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
