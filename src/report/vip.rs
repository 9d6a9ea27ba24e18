//! Output of `tandem vip status` and `tandem vip move`: text for people, JSON for scripts.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::human_duration;
use crate::ovh::{Event, MoveOutcome, OvhError};

/// One cluster's line of `vip status`.
pub struct VipRow {
    pub cluster: String,
    pub vip: Option<Ipv4Addr>,
    /// `None` when the cluster has no VIP (nothing asked); else the routed service (or nowhere)
    /// and the inventory node holding that service, or the API's error.
    pub routed: Option<Result<Routed, OvhError>>,
}

pub struct Routed {
    pub service: Option<String>,
    pub node: Option<String>,
}

pub fn status_table(rows: &[VipRow]) -> String {
    let mut lines = vec![["CLUSTER", "VIP", "ROUTED TO (OVH SERVICE)", "NODE"].map(String::from)];
    let mut errors = Vec::new();
    for row in rows {
        let vip = row.vip.map_or("-".to_string(), |v| v.to_string());
        let (service, node) = match &row.routed {
            None => ("(no vip in the inventory)".to_string(), "-".to_string()),
            Some(Ok(r)) => (
                r.service.clone().unwrap_or_else(|| "(nowhere)".into()),
                r.node
                    .clone()
                    .unwrap_or_else(|| "(not in the inventory)".into()),
            ),
            Some(Err(e)) => {
                errors.push(format!("{}: {e}", row.cluster));
                ("(error)".to_string(), "-".to_string())
            }
        };
        lines.push([row.cluster.clone(), vip, service, node]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for e in errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}

pub fn status_json(rows: &[VipRow]) -> Value {
    let mut clusters = serde_json::Map::new();
    for row in rows {
        let value = match &row.routed {
            None => json!({"vip": null, "service_name": null, "node": null}),
            Some(Ok(r)) => json!({
                "vip": row.vip.map(|v| v.to_string()),
                "service_name": r.service,
                "node": r.node,
            }),
            Some(Err(e)) => json!({
                "vip": row.vip.map(|v| v.to_string()),
                "error": e.to_string(),
            }),
        };
        clusters.insert(row.cluster.clone(), value);
    }
    json!({ "clusters": clusters })
}

/// `12:30:01.123 +0.004s -> GET /ip/...`: UTC wall clock, then the time since the command began.
pub fn event_line(start: Instant, event: &Event) -> String {
    format!(
        "{} +{:.3}s {}",
        clock(event.time),
        event.instant.saturating_duration_since(start).as_secs_f64(),
        event.kind
    )
}

pub fn event_json(start: Instant, event: &Event) -> Value {
    json!({
        "t_ms": event.instant.saturating_duration_since(start).as_millis() as u64,
        "time": clock(event.time),
        "event": event.kind.name(),
        "text": event.kind.to_string(),
    })
}

/// What `vip move` is about, for its summary.
pub struct MoveRequest<'a> {
    pub cluster: &'a str,
    pub vip: Ipv4Addr,
    pub to_node: &'a str,
    pub to_service: &'a str,
}

pub fn move_summary(request: &MoveRequest, outcome: &MoveOutcome, total: Duration) -> String {
    match outcome {
        MoveOutcome::AlreadyThere { service } => format!(
            "VIP {} of {} is already routed to {} ({service}): nothing to do",
            request.vip, request.cluster, request.to_node
        ),
        MoveOutcome::Moved {
            task_id,
            task_duration,
            ..
        } => format!(
            "VIP {} of {} moved to {} ({}): task {task_id} took {}, {} in all",
            request.vip,
            request.cluster,
            request.to_node,
            request.to_service,
            human_duration(*task_duration),
            human_duration(total)
        ),
    }
}

pub fn move_json(
    request: &MoveRequest,
    result: &Result<MoveOutcome, OvhError>,
    start: Instant,
    events: &[Event],
) -> Value {
    let (outcome, task_id, task_ms, from, error) = match result {
        Ok(MoveOutcome::AlreadyThere { service }) => {
            ("skipped", None, None, Some(service.clone()), None)
        }
        Ok(MoveOutcome::Moved {
            task_id,
            task_duration,
            from,
        }) => (
            "moved",
            Some(*task_id),
            Some(task_duration.as_millis() as u64),
            from.clone(),
            None,
        ),
        Err(e) => ("failed", None, None, None, Some(e.to_string())),
    };
    json!({
        "cluster": request.cluster,
        "vip": request.vip.to_string(),
        "to": request.to_node,
        "to_service": request.to_service,
        "outcome": outcome,
        "from_service": from,
        "task_id": task_id,
        "task_duration_ms": task_ms,
        "duration_ms": start.elapsed().as_millis() as u64,
        "error": error,
        "events": events.iter().map(|e| event_json(start, e)).collect::<Vec<_>>(),
    })
}

/// HH:MM:SS.mmm in UTC (no time zone database needed, and logs of both nodes compare).
fn clock(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(86_400_000 * 3 + 3_723_045);
        assert_eq!(clock(t), "01:02:03.045");
    }

    #[test]
    fn table_lists_clusters_and_errors() {
        let rows = vec![
            VipRow {
                cluster: "pair1".into(),
                vip: Some(Ipv4Addr::new(203, 0, 113, 7)),
                routed: Some(Ok(Routed {
                    service: Some("node1.lab.invalid".into()),
                    node: Some("node1".into()),
                })),
            },
            VipRow {
                cluster: "pair2".into(),
                vip: Some(Ipv4Addr::new(203, 0, 113, 8)),
                routed: Some(Err(OvhError::Transport {
                    method: "GET".into(),
                    path: "/ip/203.0.113.8".into(),
                    detail: "HTTP 404".into(),
                    timed_out: false,
                })),
            },
        ];
        let text = status_table(&rows);
        assert!(
            text.contains("pair1    203.0.113.7  node1.lab.invalid"),
            "{text}"
        );
        assert!(
            text.ends_with("error: pair2: OVH API GET /ip/203.0.113.8: HTTP 404\n"),
            "{text}"
        );
        let json = status_json(&rows);
        assert_eq!(json["clusters"]["pair1"]["node"], "node1");
        assert_eq!(
            json["clusters"]["pair2"]["error"],
            "OVH API GET /ip/203.0.113.8: HTTP 404"
        );
    }
}
