//! Failover IP calls: where an IP is routed, where it may go, moving it, and its move tasks.
//!
//! IPs go in the path as the block OVH names them, `203.0.113.5/32`, with the `/` encoded as
//! `%2F`: the signature covers that exact text.

use std::fmt;
use std::net::Ipv4Addr;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{Client, Observer};
use super::error::OvhError;

/// The function name OVH gives failover IP moves.
pub const MOVE_FUNCTION: &str = "genericMoveFloatingIp";

/// `/ip/203.0.113.5%2F32`
pub fn ip_path(ip: Ipv4Addr) -> String {
    format!("/ip/{ip}%2F32")
}

/// `GET /ip/{ip}`, the fields tandem reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpInfo {
    pub ip: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub routed_to: Option<RoutedTo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutedTo {
    #[serde(default)]
    pub service_name: Option<String>,
}

impl IpInfo {
    /// The service (server name) the IP is routed to now.
    pub fn routed_service(&self) -> Option<&str> {
        self.routed_to.as_ref()?.service_name.as_deref()
    }
}

/// A task's status. Only `Done` is success; `Cancelled`, `CustomerError` and `OvhError` are
/// failures; the others mean "not finished yet".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum TaskStatus {
    Init,
    Todo,
    Doing,
    Done,
    Cancelled,
    CustomerError,
    OvhError,
    /// A status this version does not know; treated as not finished.
    Other(String),
}

impl From<String> for TaskStatus {
    fn from(text: String) -> Self {
        match text.as_str() {
            "init" => TaskStatus::Init,
            "todo" => TaskStatus::Todo,
            "doing" => TaskStatus::Doing,
            "done" => TaskStatus::Done,
            "cancelled" => TaskStatus::Cancelled,
            "customerError" => TaskStatus::CustomerError,
            "ovhError" => TaskStatus::OvhError,
            _ => TaskStatus::Other(text),
        }
    }
}

impl TaskStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Init => "init",
            TaskStatus::Todo => "todo",
            TaskStatus::Doing => "doing",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::CustomerError => "customerError",
            TaskStatus::OvhError => "ovhError",
            TaskStatus::Other(text) => text,
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            TaskStatus::Cancelled | TaskStatus::CustomerError | TaskStatus::OvhError
        )
    }

    pub fn is_finished(&self) -> bool {
        *self == TaskStatus::Done || self.is_failure()
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /ip/{ip}/task/{id}` and the answer of `POST /ip/{ip}/move`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: u64,
    #[serde(default)]
    pub function: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub done_date: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// `{"serviceName": ...}` on the real API; kept loose, only shown.
    #[serde(default)]
    pub destination: Option<serde_json::Value>,
}

/// `GET /ip/{ip}/move`: one list per kind of service (`dedicatedServer`, `vps`, ...).
type Destinations = std::collections::BTreeMap<String, Option<Vec<Destination>>>;

#[derive(Debug, Clone, Deserialize)]
struct Destination {
    service: String,
}

impl Client {
    /// `GET /ip/{ip}`.
    pub async fn ip_info(&self, ip: Ipv4Addr, observer: Observer<'_>) -> Result<IpInfo, OvhError> {
        self.call(Method::GET, &ip_path(ip), None, observer).await
    }

    /// Where the VIP is routed now (`routedTo.serviceName`), `None` when nowhere.
    pub async fn vip_status(&self, ip: Ipv4Addr) -> Result<Option<String>, OvhError> {
        let info = self.ip_info(ip, &mut |_| {}).await?;
        Ok(info.routed_service().map(str::to_string))
    }

    /// `GET /ip/{ip}/move`: the services this IP may be moved to.
    pub async fn move_destinations(
        &self,
        ip: Ipv4Addr,
        observer: Observer<'_>,
    ) -> Result<Vec<String>, OvhError> {
        let path = format!("{}/move", ip_path(ip));
        let all: Destinations = self.call(Method::GET, &path, None, observer).await?;
        Ok(all
            .into_values()
            .flatten()
            .flatten()
            .map(|d| d.service)
            .collect())
    }

    /// `POST /ip/{ip}/move {"to": SERVICE}`: starts a move, returns its task.
    pub async fn start_move(
        &self,
        ip: Ipv4Addr,
        to_service: &str,
        observer: Observer<'_>,
    ) -> Result<Task, OvhError> {
        let path = format!("{}/move", ip_path(ip));
        let body = json!({ "to": to_service });
        self.call(Method::POST, &path, Some(&body), observer).await
    }

    /// `GET /ip/{ip}/task/{id}`.
    pub async fn task(
        &self,
        ip: Ipv4Addr,
        task_id: u64,
        observer: Observer<'_>,
    ) -> Result<Task, OvhError> {
        let path = format!("{}/task/{task_id}", ip_path(ip));
        self.call(Method::GET, &path, None, observer).await
    }

    /// Ids of this IP's move tasks that are `todo` or `doing`. Right after a POST the new task
    /// may be missing here for a while (OVH's list lags): never poll this for our own task.
    pub async fn pending_moves(
        &self,
        ip: Ipv4Addr,
        observer: Observer<'_>,
    ) -> Result<Vec<u64>, OvhError> {
        let mut ids = Vec::new();
        for status in ["todo", "doing"] {
            let path = format!(
                "{}/task?function={MOVE_FUNCTION}&status={status}",
                ip_path(ip)
            );
            let found: Vec<u64> = self.call(Method::GET, &path, None, observer).await?;
            ids.extend(found);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_block() {
        assert_eq!(
            ip_path(Ipv4Addr::new(203, 0, 113, 5)),
            "/ip/203.0.113.5%2F32"
        );
    }

    #[test]
    fn real_shapes_parse() {
        let info: IpInfo = serde_json::from_str(
            r#"{"ip":"203.0.113.5/32","type":"failover","routedTo":{"serviceName":"ns1.ip-1-2-3.eu"},"description":null,"canBeTerminated":false}"#,
        )
        .unwrap();
        assert_eq!(info.routed_service(), Some("ns1.ip-1-2-3.eu"));
        let nowhere: IpInfo =
            serde_json::from_str(r#"{"ip":"203.0.113.5/32","routedTo":null}"#).unwrap();
        assert_eq!(nowhere.routed_service(), None);

        let task: Task = serde_json::from_str(
            r#"{"taskId":42,"function":"genericMoveFloatingIp","status":"customerError","startDate":"2024-01-01T00:00:00+01:00","doneDate":null,"comment":"nope","destination":{"serviceName":"x"},"lastUpdate":"2024-01-01T00:00:00+01:00"}"#,
        )
        .unwrap();
        assert_eq!(task.task_id, 42);
        assert_eq!(task.status, TaskStatus::CustomerError);
        assert!(task.status.is_failure() && task.status.is_finished());
        let odd: TaskStatus = TaskStatus::from("paused".to_string());
        assert_eq!(odd.as_str(), "paused");
        assert!(!odd.is_finished());
        assert!(TaskStatus::Done.is_finished() && !TaskStatus::Done.is_failure());
    }
}
