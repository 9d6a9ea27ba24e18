//! What the account holds, for `tandem inventory import --from-ovh`: its dedicated servers
//! (`GET /dedicated/server`, then each one's `GET /dedicated/server/{name}`) and its failover
//! IPs (`GET /ip?type=failover`, then each one's `GET /ip/{ip}` for where it is routed).

use std::net::Ipv4Addr;

use reqwest::Method;
use serde::Deserialize;

use super::client::{Client, Observer};
use super::error::OvhError;

/// `GET /dedicated/server/{name}`, the fields tandem reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// The service name (`ns3001234.ip-51-68-1.eu`).
    pub name: String,
    /// Its main public IPv4 address.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub reverse: Option<String>,
    #[serde(default)]
    pub datacenter: Option<String>,
}

/// A failover IP of the account and the server it is routed to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverIp {
    pub ip: Ipv4Addr,
    pub routed_to: Option<String>,
}

impl Client {
    /// Every dedicated server of the account, by service name.
    pub async fn dedicated_servers(&self, observer: Observer<'_>) -> Result<Vec<Server>, OvhError> {
        let mut names: Vec<String> = self
            .call(Method::GET, "/dedicated/server", None, observer)
            .await?;
        names.sort();
        let mut servers = Vec::new();
        for name in names {
            let path = format!("/dedicated/server/{name}");
            servers.push(self.call(Method::GET, &path, None, observer).await?);
        }
        Ok(servers)
    }

    /// Every single-address failover IP of the account (a larger block cannot be a cluster's
    /// VIP), with where it is routed.
    pub async fn failover_ips(&self, observer: Observer<'_>) -> Result<Vec<FailoverIp>, OvhError> {
        let blocks: Vec<String> = self
            .call(Method::GET, "/ip?type=failover", None, observer)
            .await?;
        let mut ips = Vec::new();
        for block in blocks {
            let address = block.strip_suffix("/32").unwrap_or(&block);
            let Ok(ip) = address.parse::<Ipv4Addr>() else {
                continue;
            };
            if block.contains('/') && !block.ends_with("/32") {
                continue;
            }
            let info = self.ip_info(ip, observer).await?;
            ips.push(FailoverIp {
                ip,
                routed_to: info.routed_service().map(str::to_string),
            });
        }
        ips.sort_by_key(|f| f.ip);
        Ok(ips)
    }
}
