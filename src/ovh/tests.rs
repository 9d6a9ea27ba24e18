//! The client against a scripted HTTP server on loopback: which answers are retried, how often,
//! and what the caller finally sees.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// One canned answer: status and body; `None` never answers (a hung server).
type Script = Vec<Option<(u16, &'static str)>>;

/// Serves `/auth/time` always, and the scripted answers in order for everything else; returns
/// the base URL and the request lines it saw (besides /auth/time).
async fn server(script: Script) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/1.0", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut script = script.into_iter();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = request.lines().next().unwrap_or("").to_string();
            let answer = if line.contains("/auth/time") {
                Some((200, "1700000000"))
            } else {
                log.lock().unwrap().push(line);
                script
                    .next()
                    .unwrap_or(Some((500, r#"{"message":"script ran out"}"#)))
            };
            let Some((status, body)) = answer else {
                // Hold the connection open without answering.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    drop(stream);
                });
                continue;
            };
            let text = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nX-Ovh-Queryid: Q{status}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(text.as_bytes()).await;
        }
    });
    (url, seen)
}

fn client(url: &str, attempts: u32) -> Client {
    let credentials = Credentials {
        endpoint: Endpoint::parse(url).unwrap(),
        application_key: Secret::new("ak"),
        application_secret: Secret::new("as"),
        consumer_key: Secret::new("ck"),
    };
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: attempts,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(5),
        },
    };
    Client::new(credentials, options).unwrap()
}

const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const ROUTED: &str = r#"{"ip":"203.0.113.5/32","routedTo":{"serviceName":"ns1"}}"#;

#[tokio::test]
async fn a_404_is_final_and_shows_the_query_id() {
    let (url, seen) = server(vec![Some((404, r#"{"message":"no such IP"}"#))]).await;
    let err = client(&url, 5).vip_status(VIP).await.unwrap_err();
    assert_eq!(err.api().unwrap().status, 404);
    assert!(
        err.to_string().ends_with("no such IP (query id Q404)"),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "a 404 must not be retried");
}

#[tokio::test]
async fn answers_5xx_and_429_are_retried_until_an_answer_comes() {
    let (url, seen) = server(vec![
        Some((503, r#"{"message":"busy"}"#)),
        Some((429, r#"{"message":"slow down"}"#)),
        Some((200, ROUTED)),
    ])
    .await;
    let c = client(&url, 5);
    let mut events = Vec::new();
    let info = c.ip_info(VIP, &mut |e| events.push(e)).await.unwrap();
    assert_eq!(info.routed_service(), Some("ns1"));
    assert_eq!(seen.lock().unwrap().len(), 3);
    let retries = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Retrying { .. }))
        .count();
    assert_eq!(retries, 2);
    // The exact, encoded URL went out.
    assert!(seen.lock().unwrap()[0].starts_with("GET /1.0/ip/203.0.113.5%2F32 HTTP/1.1"));
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_kept() {
    let (url, seen) = server(vec![Some((500, r#"{"message":"down"}"#)); 10]).await;
    let err = client(&url, 3).vip_status(VIP).await.unwrap_err();
    assert!(
        matches!(&err, OvhError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("HTTP 500 Internal Server Error: down"),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_hung_server_times_out_and_is_retried() {
    let (url, seen) = server(vec![None, Some((200, ROUTED))]).await;
    let routed = client(&url, 3).vip_status(VIP).await.unwrap();
    assert_eq!(routed.as_deref(), Some("ns1"));
    assert_eq!(seen.lock().unwrap().len(), 2);

    let (url, _) = server(vec![None, None]).await;
    let err = client(&url, 2).vip_status(VIP).await.unwrap_err();
    let OvhError::GaveUp { last, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            **last,
            OvhError::Transport {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
}

/// OVH refuses our move (409) because a move the lagging task list did not show yet is under
/// way: the mover waits until the list shows it, follows it, and finds the VIP already there.
#[tokio::test]
async fn a_409_move_waits_for_the_hidden_pending_move() {
    let (url, seen) = server(vec![
        Some((200, ROUTED)),                                           // GET /ip: on ns1
        Some((200, "[]")), // pending todo: none listed yet
        Some((200, "[]")), // pending doing
        Some((409, r#"{"message":"A move is already in progress"}"#)), // POST
        Some((200, "[]")), // list, still lagging
        Some((200, "[]")),
        Some((200, "[7]")), // now it shows
        Some((200, "[]")),
        Some((
            200,
            r#"{"taskId":7,"function":"genericMoveFloatingIp","status":"doing"}"#,
        )),
        Some((
            200,
            r#"{"taskId":7,"function":"genericMoveFloatingIp","status":"done"}"#,
        )),
        Some((
            200,
            r#"{"ip":"203.0.113.5/32","routedTo":{"serviceName":"ns2"}}"#,
        )),
    ])
    .await;
    let options = MoveOptions {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    let outcome = client(&url, 1)
        .move_vip(VIP, "ns2", &options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome,
        MoveOutcome::AlreadyThere {
            service: "ns2".into()
        }
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("POST")).count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen[9].starts_with("GET /1.0/ip/203.0.113.5%2F32/task/7 "),
        "{seen:?}"
    );
}

/// The move that made OVH answer 409 ended before the lagging list ever showed it: tandem must
/// not wait for it until the deadline, but look at the route again after a few polls.
#[tokio::test]
async fn a_409_whose_move_never_shows_looks_at_the_route_again_soon() {
    let mut answers = vec![
        Some((200, ROUTED)),                                           // GET /ip: on ns1
        Some((200, "[]")),                                             // pending todo
        Some((200, "[]")),                                             // pending doing
        Some((409, r#"{"message":"A move is already in progress"}"#)), // POST
    ];
    // Five looks at todo and doing: never listed.
    answers.extend(std::iter::repeat_n(Some((200, "[]")), 10));
    answers.push(Some((
        200,
        r#"{"ip":"203.0.113.5/32","routedTo":{"serviceName":"ns2"}}"#,
    )));
    let (url, seen) = server(answers).await;
    let options = MoveOptions {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(30),
    };
    let started = std::time::Instant::now();
    let outcome = client(&url, 1)
        .move_vip(VIP, "ns2", &options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome,
        MoveOutcome::AlreadyThere {
            service: "ns2".into()
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 15, "{seen:?}");
}

/// Our POST gets a 503, is retried, and the retry is refused with 409: the first attempt may
/// well have reached OVH (a lost answer), or another move is under way. Either way that 409 is
/// OVH's final word on this request, not retries running out: the mover waits for the move
/// under way and finds the VIP where it was asked to go, instead of reporting "gave up" while
/// OVH moves it.
#[tokio::test]
async fn a_retried_post_refused_with_409_waits_for_the_move_under_way() {
    let (url, seen) = server(vec![
        Some((200, ROUTED)),                                           // GET /ip: on ns1
        Some((200, "[]")),                                             // pending todo
        Some((200, "[]")),                                             // pending doing
        Some((503, r#"{"message":"busy"}"#)),                          // POST, retried
        Some((409, r#"{"message":"A move is already in progress"}"#)), // POST again
        Some((200, "[8]")),                                            // the move shows
        Some((200, "[]")),
        Some((
            200,
            r#"{"taskId":8,"function":"genericMoveFloatingIp","status":"doing"}"#,
        )),
        Some((
            200,
            r#"{"taskId":8,"function":"genericMoveFloatingIp","status":"done"}"#,
        )),
        Some((
            200,
            r#"{"ip":"203.0.113.5/32","routedTo":{"serviceName":"ns2"}}"#,
        )),
    ])
    .await;
    let options = MoveOptions {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    let outcome = client(&url, 3)
        .move_vip(VIP, "ns2", &options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome,
        MoveOutcome::AlreadyThere {
            service: "ns2".into()
        }
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("POST")).count(),
        2,
        "{seen:?}"
    );
    assert!(
        seen[7].starts_with("GET /1.0/ip/203.0.113.5%2F32/task/8 "),
        "{seen:?}"
    );
}

/// A final answer after retries is that answer, with its status (a 404 after a 503 is a 404);
/// only a failure still worth retrying when the attempts run out is "gave up".
#[tokio::test]
async fn a_final_answer_after_a_retry_is_not_gave_up() {
    let (url, _) = server(vec![
        Some((503, r#"{"message":"busy"}"#)),
        Some((404, r#"{"message":"no such IP"}"#)),
    ])
    .await;
    let err = client(&url, 5).vip_status(VIP).await.unwrap_err();
    assert!(
        matches!(&err, OvhError::Api(api) if api.status == 404),
        "{err:?}"
    );
}

const ALL_RIGHTS: &str = r#"{"credentialId":1,"status":"validated","rules":[{"method":"GET","path":"/*"},{"method":"POST","path":"/*"}]}"#;

#[tokio::test]
async fn preflight_asks_rights_target_and_pending_moves_in_that_order() {
    let (url, seen) = server(vec![
        Some((200, ALL_RIGHTS)),
        Some((200, "null")),
        Some((200, "[]")),
        Some((200, "[]")),
    ])
    .await;
    let checked = client(&url, 1)
        .preflight_move(VIP, "ns2", true, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(checked.len(), 3, "{checked:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "GET /1.0/auth/currentCredential HTTP/1.1",
            "GET /1.0/dedicated/server/ns2/ipCanBeMovedTo?ip=203.0.113.5%2F32 HTTP/1.1",
            "GET /1.0/ip/203.0.113.5%2F32/task?function=genericMoveFloatingIp&status=todo HTTP/1.1",
            "GET /1.0/ip/203.0.113.5%2F32/task?function=genericMoveFloatingIp&status=doing HTTP/1.1",
        ]
    );
}

#[tokio::test]
async fn preflight_refuses_a_read_only_key_before_asking_anything_else() {
    let (url, seen) = server(vec![Some((
        200,
        r#"{"status":"validated","rules":[{"method":"GET","path":"/*"}]}"#,
    ))])
    .await;
    let e = client(&url, 1)
        .preflight_move(VIP, "ns2", true, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, OvhError::Refused(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "OVH preflight refused moving 203.0.113.5 to ns2: the OVH keys may not call POST \
         /ip/203.0.113.5/32/move: make a consumer key with these access rules (e.g. GET /ip/*, \
         POST /ip/*, GET /dedicated/server/*)"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn preflight_refuses_a_target_ovh_refuses_and_a_pending_move() {
    let (url, _) = server(vec![
        Some((200, ALL_RIGHTS)),
        Some((
            400,
            r#"{"message":"The IP cannot be moved to this server"}"#,
        )),
    ])
    .await;
    let e = client(&url, 1)
        .preflight_move(VIP, "ns2", true, &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "OVH preflight refused moving 203.0.113.5 to ns2: OVH says it cannot: The IP cannot be \
         moved to this server (query id Q400)"
    );

    let pending = vec![
        Some((200, ALL_RIGHTS)),
        Some((200, "null")),
        Some((200, "[]")),
        Some((200, "[17]")),
    ];
    let (url, _) = server(pending.clone()).await;
    let e = client(&url, 1)
        .preflight_move(VIP, "ns2", true, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("a move of 203.0.113.5 is pending (OVH task 17): wait until it ends"),
        "{e}"
    );
    // `vip move --wait-pending`: the mover waits for it instead.
    let (url, seen) = server(pending).await;
    client(&url, 1)
        .preflight_move(VIP, "ns2", false, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}
