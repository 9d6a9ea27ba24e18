//! Before any move: ask OVH whether it can happen, so that a game day or a `vip move` refuses
//! with one clear line instead of failing half-way (the service stopped, the VIP still on the
//! old server). Three questions, nothing changed:
//!
//! 1. do the keys have the rights the move needs (`GET /auth/currentCredential`'s access
//!    rules cover every call of [`needed_calls`])?
//! 2. may the target server take the IP (`GET /dedicated/server/{to}/ipCanBeMovedTo?ip=`, which
//!    answers nothing on yes and an error saying why on no)?
//! 3. is no move of the IP pending (its `genericMoveFloatingIp` tasks in `todo` or `doing`)?
//!    Skipped with `refuse_pending` false: `vip move --wait-pending` waits for it instead.

use std::net::Ipv4Addr;

use reqwest::Method;

use super::access::{Credential, Needed};
use super::client::{Client, Observer};
use super::error::OvhError;

/// What the preflight checked, one line each, for the report.
pub type Checked = Vec<String>;

/// The calls a move of `ip` to `to_service` makes, as access rules see them.
pub fn needed_calls(ip: Ipv4Addr, to_service: &str) -> Vec<Needed> {
    let block = format!("/ip/{ip}/32");
    vec![
        Needed {
            method: "GET",
            path: block.clone(),
        },
        Needed {
            method: "GET",
            path: format!("{block}/task"),
        },
        Needed {
            method: "POST",
            path: format!("{block}/move"),
        },
        Needed {
            method: "GET",
            path: format!("{block}/task/*"),
        },
        Needed {
            method: "GET",
            path: format!("/dedicated/server/{to_service}/ipCanBeMovedTo"),
        },
    ]
}

impl Client {
    /// Checks, without changing anything, that `ip` can be moved to `to_service` now; `Err`
    /// with [`OvhError::Refused`] (one line saying what to do) when it cannot, or the API error
    /// that kept us from knowing.
    pub async fn preflight_move(
        &self,
        ip: Ipv4Addr,
        to_service: &str,
        refuse_pending: bool,
        observer: Observer<'_>,
    ) -> Result<Checked, OvhError> {
        let mut checked = Vec::new();
        let refused =
            |why: String| OvhError::Refused(format!("moving {ip} to {to_service}: {why}"));

        let credential: Credential = self
            .call(Method::GET, "/auth/currentCredential", None, observer)
            .await?;
        if let Some(status) = credential.status.as_deref().filter(|s| *s != "validated") {
            return Err(refused(format!(
                "the OVH consumer key is {status}, not validated: validate it (or make a new one)"
            )));
        }
        let needed = needed_calls(ip, to_service);
        let missing = credential.missing(&needed);
        if !missing.is_empty() {
            let calls: Vec<String> = missing
                .iter()
                .map(|n| format!("{} {}", n.method, n.path))
                .collect();
            return Err(refused(format!(
                "the OVH keys may not call {}: make a consumer key with these access rules \
                 (e.g. GET /ip/*, POST /ip/*, GET /dedicated/server/*)",
                calls.join(", ")
            )));
        }
        checked.push(format!(
            "the OVH keys may make the {} calls of a move",
            needed.len()
        ));

        let path = format!("/dedicated/server/{to_service}/ipCanBeMovedTo?ip={ip}%2F32");
        match self
            .call::<serde_json::Value>(Method::GET, &path, None, observer)
            .await
        {
            Ok(_) => checked.push(format!("OVH says {ip} can be moved to {to_service}")),
            Err(OvhError::Api(e)) if (400..500).contains(&e.status) && e.status != 429 => {
                return Err(refused(format!(
                    "OVH says it cannot: {} (query id {})",
                    e.message,
                    e.query_id.as_deref().unwrap_or("none")
                )));
            }
            Err(e) => return Err(e),
        }

        if !refuse_pending {
            return Ok(checked);
        }
        let pending = self.pending_moves(ip, observer).await?;
        if let Some(first) = pending.first() {
            return Err(refused(format!(
                "a move of {ip} is pending (OVH task {first}): wait until it ends (`tandem vip \
                 status` shows where the VIP went), then run again"
            )));
        }
        checked.push(format!("no move of {ip} is pending"));
        Ok(checked)
    }
}
