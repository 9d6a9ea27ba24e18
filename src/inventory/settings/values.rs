//! Reading one setting's value: each parser takes the value as written (with its place for
//! nested values) and refuses what tandem's commands could not use, with the fix.

use std::net::Ipv4Addr;
use std::time::Duration;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::{
    DEFAULT_HEALTH_WITHIN, MAX_SECONDS, MIN_SECONDS, ProbeKind, ProbeSettings, Refusal,
    SettingError,
};
use crate::inventory::spanned_vars::YamlValue;
use crate::source_file::position as pos;

/// `probe_*`: the kind first, since the others depend on it.
pub(super) fn probe(
    values: &IndexMap<&'static str, &Spanned<YamlValue>>,
) -> Result<ProbeSettings, Refusal> {
    let at = |value: &Spanned<YamlValue>| pos(&value.referenced);
    let mut probe = ProbeSettings::default();
    let http = match values.get("probe_kind") {
        None => true,
        Some(value) => match &value.value {
            YamlValue::String(kind) if kind == "http" => true,
            YamlValue::String(kind) if kind == "tcp" => false,
            other => {
                return Err((
                    at(value),
                    SettingError::BadProbeKind {
                        shown: other.shown(),
                    },
                ));
            }
        },
    };
    if let Some(value) = values.get("probe_port") {
        probe.port = whole(&value.value)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                (
                    at(value),
                    SettingError::BadProbePort {
                        shown: value.value.shown(),
                    },
                )
            })?;
    }
    if http {
        let mut path = "/".to_string();
        let mut status = 200;
        if let Some(value) = values.get("probe_path") {
            path = http_path(&value.value).map_err(|m| (at(value), m))?;
        }
        if let Some(value) = values.get("probe_status") {
            status = whole(&value.value)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (100..600).contains(s))
                .ok_or_else(|| {
                    (
                        at(value),
                        SettingError::BadProbeStatus {
                            shown: value.value.shown(),
                        },
                    )
                })?;
        }
        probe.kind = ProbeKind::Http { path, status };
    } else {
        for key in ["probe_path", "probe_status"] {
            if let Some(value) = values.get(key) {
                return Err((at(value), SettingError::HttpOnly { key }));
            }
        }
        probe.kind = ProbeKind::Tcp;
    }
    Ok(probe)
}

/// A whole number: an integer, or text holding one.
fn whole(value: &YamlValue) -> Option<i128> {
    match value {
        YamlValue::Int(i) => Some(i128::from(*i)),
        YamlValue::UInt(u) => Some(i128::from(*u)),
        YamlValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A number: an integer, a decimal, or text holding one (NaN and infinities included, for the
/// range check to refuse).
fn number(value: &YamlValue) -> Option<f64> {
    match value {
        YamlValue::Int(i) => Some(*i as f64),
        YamlValue::UInt(u) => Some(*u as f64),
        YamlValue::Float(f) => Some(*f),
        YamlValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Seconds, decimals allowed, within [`MIN_SECONDS`]..=[`MAX_SECONDS`]: never a `Duration`
/// built from a negative, NaN, infinite or huge number.
pub(super) fn seconds(
    key: &'static str,
    value: &YamlValue,
    example: u64,
) -> Result<Duration, SettingError> {
    let Some(seconds) = number(value) else {
        return Err(SettingError::NotSeconds {
            key,
            shown: value.shown(),
            example,
        });
    };
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(SettingError::SecondsOutOfRange {
            key,
            shown: value.shown(),
            example,
        });
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub(super) fn health_check(value: &Spanned<YamlValue>) -> Result<Option<Duration>, Refusal> {
    let at = |value: &Spanned<YamlValue>| pos(&value.referenced);
    match &value.value {
        YamlValue::Null | YamlValue::Bool(false) => Ok(None),
        YamlValue::Bool(true) => Ok(Some(DEFAULT_HEALTH_WITHIN)),
        YamlValue::Map(map) => {
            let mut within = DEFAULT_HEALTH_WITHIN;
            for (key, item) in map {
                if key != "within" {
                    return Err((at(item), SettingError::HealthCheckKey { key: key.clone() }));
                }
                let seconds = number(&item.value).ok_or_else(|| {
                    (
                        at(item),
                        SettingError::HealthCheckNotSeconds {
                            shown: item.value.shown(),
                        },
                    )
                })?;
                if !(1.0..=MAX_SECONDS).contains(&seconds) {
                    return Err((
                        at(item),
                        SettingError::HealthCheckOutOfRange {
                            shown: item.value.shown(),
                        },
                    ));
                }
                within = Duration::from_secs_f64(seconds);
            }
            Ok(Some(within))
        }
        _ => Err((
            at(value),
            SettingError::BadHealthCheck {
                shown: value.value.shown(),
            },
        )),
    }
}

/// Text as written (a template would not be rendered: tandem reads these itself).
pub(super) fn text(
    key: &'static str,
    value: &YamlValue,
    example: &'static str,
) -> Result<String, SettingError> {
    match value {
        YamlValue::String(s) => {
            if s.contains("{{") || s.contains("{%") {
                return Err(SettingError::Template { key, example });
            }
            Ok(s.clone())
        }
        other => Err(SettingError::NotText {
            key,
            shown: other.shown(),
            example,
        }),
    }
}

/// A service or container name: what OpenSVC and LXC accept, safe in paths and commands.
pub(super) fn name(
    key: &'static str,
    value: &YamlValue,
    example: &'static str,
) -> Result<String, SettingError> {
    let name = text(key, value, example)?;
    let mut chars = name.chars();
    let valid = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(SettingError::BadName {
            key,
            shown: value.shown(),
            example,
        });
    }
    Ok(name)
}

/// A network interface name as the kernel takes it: 1 to 15 bytes, no '/', ':' or space.
pub(super) fn interface(value: &YamlValue) -> Result<String, SettingError> {
    let dev = text("container_dev", value, "eth0")?;
    let valid = !dev.is_empty()
        && dev.len() <= 15
        && dev != "."
        && dev != ".."
        && !dev
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if !valid {
        return Err(SettingError::BadInterface {
            shown: value.shown(),
        });
    }
    Ok(dev)
}

pub(super) fn absolute_path(key: &'static str, value: &YamlValue) -> Result<String, SettingError> {
    let path = text(key, value, "/etc/opensvc")?;
    if !path.starts_with('/') || path.chars().any(char::is_control) {
        return Err(SettingError::NotAbsolute {
            key,
            shown: value.shown(),
        });
    }
    Ok(path)
}

/// A local file, absolute or relative to the inventory's directory.
pub(super) fn relative_file(value: &YamlValue) -> Result<String, SettingError> {
    let path = text("opensvc_secret_file", value, "secrets/pair1.opensvc-secret")?;
    if path.trim().is_empty() || path.ends_with('/') || path.chars().any(char::is_control) {
        return Err(SettingError::BadSecretFile {
            shown: value.shown(),
        });
    }
    Ok(path)
}

/// A UUID in its usual text form, lower case.
pub(super) fn uuid(value: &YamlValue) -> Result<String, SettingError> {
    let id = text(
        "opensvc_cluster_id",
        value,
        "0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b",
    )?;
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups.iter().all(|g| {
        g.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if lengths != [8, 4, 4, 4, 12] || !hex {
        return Err(SettingError::BadUuid {
            shown: value.shown(),
        });
    }
    Ok(id)
}

/// `192.168.0.10` or `192.168.0.10/24`.
pub(super) fn container_address(value: &YamlValue) -> Result<Ipv4Addr, SettingError> {
    let bad = || SettingError::BadContainerAddress {
        shown: value.shown(),
    };
    let text = text("container_address", value, "192.168.0.10/24")?;
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text.as_str(), None),
    };
    if let Some(prefix) = prefix
        && !prefix.parse::<u8>().is_ok_and(|p| p <= 32)
    {
        return Err(bad());
    }
    address.parse().map_err(|_| bad())
}

/// An HTTP path for the probe's request line: starts with '/', no space or control character
/// (either would break the request line, or add headers to it).
fn http_path(value: &YamlValue) -> Result<String, SettingError> {
    let path = text("probe_path", value, "/health")?;
    if !path.starts_with('/')
        || path.len() > 2048
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(SettingError::BadProbePath {
            shown: value.shown(),
        });
    }
    Ok(path)
}
