//! The prober against tiny servers on 127.0.0.1: what a failover looks like from the probe's
//! side (node1 answers, nothing answers, node2 answers), TCP mode, and a server that hangs.
//! Every loop here is bounded by a probe cap and a test timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::*;

/// No test here may run longer than this, whatever the prober does.
const TEST_LIMIT: Duration = Duration::from_secs(20);

/// A listener on `addr` (port 0 for any) that can be re-bound on the same port at once.
fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind on loopback");
    socket.listen(64).expect("listen")
}

/// The lab's service: every request gets `200` and `web on {node}\n`.
fn serve_web(listener: TcpListener, node: &'static str) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_request(&mut stream).await;
                let body = format!("web on {node}\n");
                let answer = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    })
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn fast(mut config: ProbeConfig) -> ProbeConfig {
    config.interval = Duration::from_millis(20);
    config.timeout = Duration::from_millis(200);
    config.max_probes = 400;
    config.max_duration = Duration::from_secs(15);
    config
}

/// Reads results until `enough` says so (or the prober ends); returns everything read.
async fn read_until(
    prober: &mut Prober,
    seen: &mut Vec<ProbeResult>,
    enough: impl Fn(&[ProbeResult]) -> bool,
) {
    while let Some(r) = prober.next().await {
        seen.push(r);
        if enough(seen) {
            return;
        }
    }
    panic!("the prober ended before the expected results: {seen:?}");
}

fn count_since_last_change(seen: &[ProbeResult], pred: impl Fn(&ProbeResult) -> bool) -> usize {
    seen.iter().rev().take_while(|r| pred(r)).count()
}

#[tokio::test]
async fn http_probes_follow_the_service_from_node1_to_node2() {
    tokio::time::timeout(TEST_LIMIT, async {
        let first = listen("127.0.0.1:0".parse().unwrap());
        let addr = first.local_addr().unwrap();
        let node1 = serve_web(first, "node1");
        let mut prober = Prober::spawn(fast(ProbeConfig::http(addr)), Clock::start());
        let mut seen = Vec::new();

        read_until(&mut prober, &mut seen, |s| {
            count_since_last_change(s, |r| r.answered_by("node1")) >= 3
        })
        .await;
        node1.abort();
        let _ = node1.await;
        read_until(&mut prober, &mut seen, |s| {
            count_since_last_change(s, |r| !r.is_ok()) >= 3
        })
        .await;
        let node2 = serve_web(listen(addr), "node2");
        read_until(&mut prober, &mut seen, |s| {
            count_since_last_change(s, |r| r.answered_by("node2")) >= 3
        })
        .await;
        let (rest, end) = prober.finish().await;
        node2.abort();
        seen.extend(rest);
        assert_eq!(end.reason, StopReason::Stopped);
        assert_eq!(end.sent, seen.len() as u64, "every probe sent reports once");

        seen.sort_by_key(|r| r.seq);
        // In start order: node1's answers, then failures, then node2's, never mixed back.
        let phases: Vec<&str> = seen
            .iter()
            .map(|r| match (&r.outcome, r.node.as_deref()) {
                (ProbeOutcome::Ok, Some("node1")) => "node1",
                (ProbeOutcome::Ok, Some("node2")) => "node2",
                (ProbeOutcome::Ok, other) => panic!("ok from {other:?}"),
                _ => "failed",
            })
            .collect();
        let mut order = phases.clone();
        order.dedup();
        assert_eq!(order, ["node1", "failed", "node2"], "{phases:?}");
        let failure = seen.iter().find(|r| !r.is_ok()).unwrap();
        assert!(
            matches!(failure.outcome, ProbeOutcome::Refused | ProbeOutcome::Reset),
            "a stopped server refuses: {failure:?}"
        );
        assert!(
            seen.windows(2)
                .all(|w| w[0].at <= w[1].at && w[0].seq + 1 == w[1].seq)
        );
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn tcp_probes_report_connects_then_refusals() {
    tokio::time::timeout(TEST_LIMIT, async {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        let mut prober = Prober::spawn(fast(ProbeConfig::tcp(addr)), Clock::start());
        let mut seen = Vec::new();
        read_until(&mut prober, &mut seen, |s| {
            s.iter().filter(|r| r.is_ok()).count() >= 3
        })
        .await;
        accepting.abort();
        let _ = accepting.await;
        read_until(&mut prober, &mut seen, |s| {
            count_since_last_change(s, |r| r.outcome == ProbeOutcome::Refused) >= 3
        })
        .await;
        let (rest, _) = prober.finish().await;
        seen.extend(rest);
        assert!(
            seen.iter().all(|r| r.node.is_none()),
            "TCP cannot tell the node"
        );
        assert!(seen.iter().filter(|r| r.is_ok()).count() >= 3);
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_without_delaying_the_next_probe() {
    tokio::time::timeout(TEST_LIMIT, async {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        // Accepts and holds every connection, never writes a byte.
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let mut config = ProbeConfig::http(addr);
        config.interval = Duration::from_millis(20);
        config.timeout = Duration::from_millis(150);
        config.max_probes = 8;
        let prober = Prober::spawn(config, Clock::start());
        let mut results = Vec::new();
        let mut prober = prober;
        while let Some(r) = prober.next().await {
            results.push(r);
        }
        let (_, end) = prober.finish().await;
        silent.abort();

        assert_eq!(end.reason, StopReason::CountCap);
        assert_eq!(results.len(), 8);
        results.sort_by_key(|r| r.seq);
        for r in &results {
            assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
            assert!(r.latency >= Duration::from_millis(150), "{r:?}");
            assert!(r.latency < Duration::from_millis(1000), "{r:?}");
        }
        // Probes overlap: 8 starts 20 ms apart take far less than 8 timeouts.
        let spread = results[7].at - results[0].at;
        assert!(
            spread < Duration::from_millis(600),
            "starts spread over {spread:?}"
        );
    })
    .await
    .expect("test took too long");
}

#[tokio::test]
async fn the_prober_is_bounded_in_count_and_time() {
    tokio::time::timeout(TEST_LIMIT, async {
        // A closed port: every probe is refused at once.
        let addr = listen("127.0.0.1:0".parse().unwrap()).local_addr().unwrap();
        let mut config = ProbeConfig::tcp(addr);
        config.interval = Duration::from_millis(1); // raised to MIN_INTERVAL
        config.max_probes = 5;
        let (results, end) = drain(Prober::spawn(config.clone(), Clock::start())).await;
        assert_eq!((end.sent, end.reason), (5, StopReason::CountCap));
        assert_eq!(results.len(), 5);
        assert!(results[4].at - results[0].at >= MIN_INTERVAL * 3);

        config.max_probes = 1000;
        config.max_duration = Duration::from_millis(200);
        let (results, end) = drain(Prober::spawn(config, Clock::start())).await;
        assert_eq!(end.reason, StopReason::TimeCap);
        assert!(results.len() <= 12, "{} probes in 200 ms", results.len());
    })
    .await
    .expect("test took too long");
}

async fn drain(mut prober: Prober) -> (Vec<ProbeResult>, ProbeRunEnd) {
    let mut results = Vec::new();
    while let Some(r) = prober.next().await {
        results.push(r);
    }
    let (rest, end) = prober.finish().await;
    results.extend(rest);
    results.sort_by_key(|r| r.seq);
    (results, end)
}

#[test]
fn node_markers_read_the_answering_node() {
    let last = NodeMarker::LastWordOfFirstLine;
    assert_eq!(last.find("web on node1\n").as_deref(), Some("node1"));
    assert_eq!(
        last.find("\n  web on node2  \nmore").as_deref(),
        Some("node2")
    );
    assert_eq!(last.find(""), None);
    let after: NodeMarker = "after:served-by=".parse().unwrap();
    assert_eq!(after.find("ok served-by=node2 x").as_deref(), Some("node2"));
    assert_eq!(after.find("ok"), None);
    let between: NodeMarker = "between:<h1>|</h1>".parse().unwrap();
    assert_eq!(between.find("<h1> node1 </h1>").as_deref(), Some("node1"));
    assert_eq!(between.find("<h1></h1>"), None);
    assert_eq!("none".parse::<NodeMarker>(), Ok(NodeMarker::Disabled));
    assert!("regex:.*".parse::<NodeMarker>().is_err());
}

#[test]
fn http_answers_parse_status_and_body() {
    let a = HttpAnswer::parse(b"HTTP/1.0 503 Busy\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    assert_eq!(
        (a.status, a.content_length, a.body),
        (503, Some(3), &b"abc"[..])
    );
    assert!(HttpAnswer::complete(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    ));
    assert!(!HttpAnswer::complete(
        b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok"
    ));
    assert!(HttpAnswer::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
}

#[test]
fn results_serialize_flat() {
    let r = ProbeResult {
        seq: 7,
        at: Duration::from_micros(1_234_500),
        unix_ms: 1_700_000_000_000,
        latency: Duration::from_micros(412),
        outcome: ProbeOutcome::BadStatus { status: 503 },
        node: Some("node2".into()),
    };
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"seq": 7, "at_ms": 1234.5, "unix_ms": 1_700_000_000_000u64,
            "latency_ms": 0.412, "result": "bad_status", "status": 503, "node": "node2"})
    );
    let back: ProbeResult = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}
