//! How a cluster's service is probed, from its settings (`probe_kind`, `probe_port`,
//! `probe_path`, `probe_status`, checked when the inventory loaded: see
//! `inventory::settings`). Shared by the game day and the rollout's health checks, so both ask
//! the service the same question.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::probe::{HttpCheck, ProbeConfig, ProbeMode};
use crate::inventory::{ProbeKind, ProbeSettings};

pub fn probe_config(settings: &ProbeSettings, vip: Ipv4Addr) -> ProbeConfig {
    let target = SocketAddr::new(IpAddr::V4(vip), settings.port);
    match &settings.kind {
        ProbeKind::Tcp => ProbeConfig::tcp(target),
        ProbeKind::Http { path, status } => {
            let mut config = ProbeConfig::http(target);
            if let ProbeMode::Http(check) = &mut config.mode {
                *check = HttpCheck {
                    path: path.clone(),
                    expect_status: *status,
                    ..check.clone()
                };
            }
            config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let vip = Ipv4Addr::new(203, 0, 113, 9);
        let c = probe_config(&ProbeSettings::default(), vip);
        assert_eq!(c.target.port(), 80);
        match &c.mode {
            ProbeMode::Http(check) => {
                assert_eq!((check.path.as_str(), check.expect_status), ("/", 200));
            }
            ProbeMode::Tcp => panic!("http expected"),
        }
        let tcp = ProbeSettings {
            port: 5432,
            kind: ProbeKind::Tcp,
        };
        let c = probe_config(&tcp, vip);
        assert!(matches!(c.mode, ProbeMode::Tcp));
        assert_eq!(c.target.port(), 5432);
        let http = ProbeSettings {
            port: 8080,
            kind: ProbeKind::Http {
                path: "/health".into(),
                status: 204,
            },
        };
        match probe_config(&http, vip).mode {
            ProbeMode::Http(check) => {
                assert_eq!(check.expect_status, 204);
                assert_eq!(check.path, "/health");
            }
            ProbeMode::Tcp => panic!("http expected"),
        }
    }
}
