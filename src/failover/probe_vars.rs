//! How a cluster's service is probed, from its vars: `probe_kind` (http or tcp), `probe_port`
//! (80), `probe_path` (/), `probe_status` (200). Shared by the game day and the rollout's
//! health checks, so both ask the service the same question.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;

use super::probe::{HttpCheck, ProbeConfig, ProbeMode};
use crate::inventory::Vars;

pub fn probe_config(vars: &Vars, vip: Ipv4Addr) -> Result<ProbeConfig, String> {
    let port = match vars.get("probe_port") {
        None => 80,
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("probe_port {v} is not a TCP port"))?,
    };
    let target = SocketAddr::new(IpAddr::V4(vip), port);
    let kind = vars
        .get("probe_kind")
        .and_then(Value::as_str)
        .unwrap_or("http");
    let mut config = match kind {
        "http" => ProbeConfig::http(target),
        "tcp" => ProbeConfig::tcp(target),
        other => return Err(format!("probe_kind '{other}': use http or tcp")),
    };
    if let ProbeMode::Http(check) = &mut config.mode {
        let path = vars
            .get("probe_path")
            .and_then(Value::as_str)
            .unwrap_or(&check.path)
            .to_string();
        let expect_status = match vars.get("probe_status") {
            None => check.expect_status,
            Some(v) => v
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (100..600).contains(s))
                .ok_or_else(|| format!("probe_status {v} is not an HTTP status"))?,
        };
        *check = HttpCheck {
            path,
            expect_status,
            ..check.clone()
        };
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        let vip = Ipv4Addr::new(203, 0, 113, 9);
        let c = probe_config(&Vars::default(), vip).unwrap();
        assert_eq!(c.target.port(), 80);
        let mut vars = Vars::default();
        vars.insert("probe_kind".into(), json!("tcp"));
        vars.insert("probe_port".into(), json!(5432));
        let c = probe_config(&vars, vip).unwrap();
        assert!(matches!(c.mode, ProbeMode::Tcp));
        assert_eq!(c.target.port(), 5432);
        vars.insert("probe_kind".into(), json!("icmp"));
        assert!(
            probe_config(&vars, vip)
                .unwrap_err()
                .contains("use http or tcp")
        );
        let mut vars = Vars::default();
        vars.insert("probe_status".into(), json!(204));
        vars.insert("probe_path".into(), json!("/health"));
        let c = probe_config(&vars, vip).unwrap();
        match c.mode {
            ProbeMode::Http(check) => {
                assert_eq!(check.expect_status, 204);
                assert_eq!(check.path, "/health");
            }
            ProbeMode::Tcp => panic!("http expected"),
        }
    }
}
