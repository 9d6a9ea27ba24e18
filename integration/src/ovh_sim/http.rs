//! The HTTP side: hyper 1 over tokio, one task per connection; routing of `/1.0/...` and
//! `/_lab/...`, OVH-shaped JSON answers, each with an `X-Ovh-Queryid` header.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::Sim;
use super::auth;
use super::control::KnobsUpdate;
use super::world::not_found;

/// Requests are small JSON documents; anything bigger is refused unread.
const MAX_BODY: usize = 64 * 1024;
/// A client that sends nothing for this long is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn accept_loop(listener: TcpListener, sim: Arc<Sim>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ovh api: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let sim = sim.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let sim = sim.clone();
                async move { Ok::<_, Infallible>(handle(&sim, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
        });
    }
}

type Answer = Response<Full<Bytes>>;

/// A fresh query id per answer, in the shape OVH support knows (`EU.ext-1.5f3a...`).
fn query_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    format!(
        "LAB.ext-1.{:08x}.{}.{:x}",
        auth::unix_now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn answer(status: u16, body: Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        "Content-Type",
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(id) = hyper::header::HeaderValue::from_str(&query_id()) {
        headers.insert("X-Ovh-Queryid", id);
    }
    response
}

/// An OVH error body: `message`, plus `errorCode` and `httpCode` as the auth layer sends them.
fn error(status: u16, message: &str, error_code: Option<&str>) -> Answer {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut body = json!({ "message": message });
    if let Some(code) = error_code {
        body["errorCode"] = json!(code);
        body["httpCode"] = json!(format!("{status} {reason}"));
    }
    answer(status, body)
}

async fn handle(sim: &Sim, request: Request<Incoming>) -> Answer {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let headers = request.headers().clone();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(400, "Request body too large or unreadable", None),
    };

    if let Some(rest) = path.strip_prefix("/_lab/") {
        return control(sim, &method, rest, &body);
    }
    let Some(route) = path.strip_prefix("/1.0/") else {
        return error(404, "Got an invalid (or empty) URL", None);
    };
    let request_line = match &query {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    let fault = match sim.world.lock() {
        Ok(mut world) => {
            world.knobs.requests += 1;
            world.knobs.take_fault(&request_line)
        }
        Err(_) => return error(500, "simulator state poisoned", None),
    };
    if let Some(status) = fault {
        let message = if status == 429 {
            "Too much requests, please retry later"
        } else {
            "Internal server error"
        };
        return error(status, message, None);
    }

    let segments: Vec<&str> = route.split('/').collect();
    if segments == ["auth", "time"] && method == Method::GET {
        return answer(200, json!(auth::unix_now()));
    }

    let full_url = match &query {
        Some(q) => format!("{}/{route}?{q}", sim.base_url),
        None => format!("{}/{route}", sim.base_url),
    };
    if let Err(refusal) = auth::check(&sim.keys, &headers, method.as_str(), &full_url, &body) {
        if let Ok(mut world) = sim.world.lock() {
            world.knobs.auth_refused += 1;
        }
        return error(refusal.status, refusal.message, Some(refusal.error_code));
    }
    // The key's access rules, matched against the unencoded path as OVH does; the credential's
    // own description is always readable.
    let plain = format!("/{}", route.replace("%2F", "/").replace("%2f", "/"));
    if segments != ["auth", "currentCredential"]
        && let Ok(world) = sim.world.lock()
        && !world.knobs.granted(method.as_str(), &plain)
    {
        return error(
            403,
            "This call has not been granted",
            Some("NOT_GRANTED_CALL"),
        );
    }
    api(sim, &method, &segments, query.as_deref(), &body)
}

/// `GET /auth/currentCredential`: the one credential and its rules.
fn current_credential(world: &super::world::World) -> Value {
    json!({
        "credentialId": 4242,
        "applicationId": 42,
        "status": "validated",
        "creation": "2026-01-01T00:00:00+00:00",
        "expiration": null,
        "lastUse": null,
        "ovhSupport": false,
        "allowedIPs": null,
        "rules": world.knobs.rules,
    })
}

/// `/dedicated/server...` routes.
fn dedicated(world: &super::world::World, rest: &[&str], query: Option<&str>) -> Answer {
    match rest {
        [] => answer(200, json!(world.services.keys().collect::<Vec<_>>())),
        [name] => match world.server_json(name) {
            Some(v) => answer(200, v),
            None => error(
                404,
                &format!("The requested object (serviceName = {name}) does not exist"),
                None,
            ),
        },
        [name, "task"] => {
            if !world.services.contains_key(*name) {
                let (status, message) = super::reboot::unknown_server(name);
                return error(status, &message, None);
            }
            let (function, status) = task_filters(query);
            answer(
                200,
                json!(world.server_task_ids(name, function.as_deref(), status.as_deref())),
            )
        }
        [name, "task", id] => {
            match id
                .parse::<u64>()
                .ok()
                .and_then(|id| world.server_task(name, id))
            {
                Some(task) => answer(200, task.json()),
                None => error(
                    404,
                    &format!("The requested object (taskId = {id}) does not exist"),
                    None,
                ),
            }
        }
        [name, "ipCanBeMovedTo"] => {
            let Some(ip) = query_value(query, "ip").and_then(|v| parse_ip(&v)) else {
                return error(400, "Invalid or missing parameter: ip", None);
            };
            match world.can_be_moved_to(ip, name) {
                Ok(()) => answer(200, Value::Null),
                Err((status, message)) => error(status, &message, None),
            }
        }
        _ => error(404, "Got an invalid (or empty) URL", None),
    }
}

/// One `key=value` of a query string, as sent (values here need no decoding but `%2F`).
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key))
        .map(|(_, v)| v.to_string())
}

/// The signed API routes.
fn api(sim: &Sim, method: &Method, segments: &[&str], query: Option<&str>, body: &[u8]) -> Answer {
    let Ok(mut world) = sim.world.lock() else {
        return error(500, "simulator state poisoned", None);
    };
    match (method, segments) {
        (&Method::GET, ["auth", "currentCredential"]) => {
            return answer(200, current_credential(&world));
        }
        (&Method::GET, ["dedicated", "server", rest @ ..]) => {
            return dedicated(&world, rest, query);
        }
        (&Method::POST, ["dedicated", "server", name, "reboot"]) => {
            return match world.start_reboot(name) {
                Ok(task) => answer(200, task.json()),
                Err((status, message)) => error(status, &message, None),
            };
        }
        (&Method::GET, ["ip"]) => {
            return answer(
                200,
                world.ip_list_json(query_value(query, "type").as_deref()),
            );
        }
        _ => {}
    }
    let ["ip", ip, rest @ ..] = segments else {
        return error(404, "Got an invalid (or empty) URL", None);
    };
    let Some(ip) = parse_ip(ip) else {
        return error(400, &format!("Invalid IP block: {ip}"), None);
    };
    let not_found = || {
        let (status, message) = not_found(ip);
        error(status, &message, None)
    };
    match (method, rest) {
        (&Method::GET, []) => world.ip_json(ip).map_or_else(not_found, |v| answer(200, v)),
        (&Method::GET, ["move"]) => world
            .destinations_json(ip)
            .map_or_else(not_found, |v| answer(200, v)),
        (&Method::POST, ["move"]) => {
            let to = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("to").and_then(Value::as_str).map(str::to_string));
            let Some(to) = to else {
                return error(400, "Missing parameter: to", None);
            };
            match world.start_move(ip, &to) {
                Ok(task) => answer(200, task.json()),
                Err((status, message)) => error(status, &message, None),
            }
        }
        (&Method::GET, ["task"]) => {
            if world.ip_json(ip).is_none() {
                return not_found();
            }
            let (function, status) = task_filters(query);
            answer(
                200,
                json!(world.task_ids(ip, function.as_deref(), status.as_deref())),
            )
        }
        (&Method::GET, ["task", id]) => {
            match id.parse::<u64>().ok().and_then(|id| world.task(ip, id)) {
                Some(task) => answer(200, task.json()),
                None => error(
                    404,
                    &format!("The requested object (taskId = {id}) does not exist"),
                    None,
                ),
            }
        }
        _ => error(404, "Got an invalid (or empty) URL", None),
    }
}

/// `203.0.113.5` or `203.0.113.5%2F32` (either case of the escape).
fn parse_ip(segment: &str) -> Option<Ipv4Addr> {
    let lower = segment.to_ascii_lowercase();
    let address = lower.strip_suffix("%2f32").unwrap_or(&lower);
    address.parse().ok()
}

/// `function=...&status=...` (values are plain words: no decoding needed).
fn task_filters(query: Option<&str>) -> (Option<String>, Option<String>) {
    let mut function = None;
    let mut status = None;
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("function", v)) => function = Some(v.to_string()),
            Some(("status", v)) => status = Some(v.to_string()),
            _ => {}
        }
    }
    (function, status)
}

/// `/_lab/faults`: the knobs (GET) and changing them (POST).
fn control(sim: &Sim, method: &Method, rest: &str, body: &[u8]) -> Answer {
    if rest != "faults" {
        return error(404, "unknown control endpoint: use /_lab/faults", None);
    }
    let Ok(mut world) = sim.world.lock() else {
        return error(500, "simulator state poisoned", None);
    };
    if *method == Method::POST {
        let update: KnobsUpdate = match serde_json::from_slice(body) {
            Ok(u) => u,
            Err(e) => return error(400, &format!("bad knobs: {e}"), None),
        };
        let end_pending = update.end_pending.clone();
        if let Err(e) = world.knobs.apply(update) {
            return error(400, &e, None);
        }
        if let Some(status) = end_pending
            && let Err(e) = world.end_pending(&status)
        {
            return error(400, &e, None);
        }
    } else if *method != Method::GET {
        return error(405, "use GET or POST", None);
    }
    answer(200, json!(world.knobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_segments() {
        let ip = Ipv4Addr::new(203, 0, 113, 5);
        assert_eq!(parse_ip("203.0.113.5"), Some(ip));
        assert_eq!(parse_ip("203.0.113.5%2F32"), Some(ip));
        assert_eq!(parse_ip("203.0.113.5%2f32"), Some(ip));
        assert_eq!(parse_ip("203.0.113.5%2F24"), None);
        assert_eq!(parse_ip("x"), None);
    }

    #[test]
    fn filters() {
        assert_eq!(
            task_filters(Some("function=genericMoveFloatingIp&status=todo")),
            (Some("genericMoveFloatingIp".into()), Some("todo".into()))
        );
        assert_eq!(task_filters(None), (None, None));
    }
}
