//! A dedicated server's own calls: its hard reboot and that reboot's task. The game day's
//! `node-crash` scenario takes the active server down this way, as a power failure would: OVH
//! cuts the power, and the server boots again by itself.

use reqwest::Method;

use super::access::{Credential, Needed};
use super::client::{Client, Observer};
use super::error::OvhError;
use super::ip::Task;

/// `/dedicated/server/{name}`
fn server_path(service: &str) -> String {
    format!("/dedicated/server/{service}")
}

/// The calls a hard reboot and its follow-up need.
pub fn reboot_calls(service: &str) -> Vec<Needed> {
    vec![
        Needed {
            method: "POST",
            path: format!("{}/reboot", server_path(service)),
        },
        Needed {
            method: "GET",
            path: format!("{}/task/*", server_path(service)),
        },
    ]
}

impl Client {
    /// Checks, without changing anything, that the keys may hard-reboot `service` and follow
    /// the task; `Err` with [`OvhError::Refused`] (what to do) when they may not.
    pub async fn preflight_reboot(
        &self,
        service: &str,
        observer: Observer<'_>,
    ) -> Result<String, OvhError> {
        let credential: Credential = self
            .call(Method::GET, "/auth/currentCredential", None, observer)
            .await?;
        let needed = reboot_calls(service);
        let missing: Vec<String> = credential
            .missing(&needed)
            .iter()
            .map(|n| format!("{} {}", n.method, n.path))
            .collect();
        if !missing.is_empty() {
            return Err(OvhError::Refused(format!(
                "rebooting {service}: the OVH keys may not call {}: add these access rules to the consumer key (e.g. POST /dedicated/server/*/reboot, GET /dedicated/server/*)",
                missing.join(", ")
            )));
        }
        Ok(format!("the OVH keys may hard-reboot {service}"))
    }

    /// `POST /dedicated/server/{name}/reboot`: a hard reboot (the power is cut, then the server
    /// boots); returns its task.
    pub async fn hard_reboot(
        &self,
        service: &str,
        observer: Observer<'_>,
    ) -> Result<Task, OvhError> {
        let path = format!("{}/reboot", server_path(service));
        self.call(Method::POST, &path, None, observer).await
    }

    /// `GET /dedicated/server/{name}/task/{id}`.
    pub async fn server_task(
        &self,
        service: &str,
        task_id: u64,
        observer: Observer<'_>,
    ) -> Result<Task, OvhError> {
        let path = format!("{}/task/{task_id}", server_path(service));
        self.call(Method::GET, &path, None, observer).await
    }
}
