//! The cluster settings tandem's own commands read from the vars (`failover-test`, `vip`,
//! `deploy --rolling`'s health checks, `keys`): read once, typed and checked when the inventory
//! loads, so a bad value is a one-line `FILE:LINE:COL` error (exit 2) before anything connects,
//! and no command ever reads these vars raw (no default hides a value of the wrong type, no
//! number reaches a `Duration` unchecked).
//!
//! A setting is a var of the global `vars:` or of a cluster's `vars:` (the cluster's wins); it
//! applies to the whole cluster, so a node's own vars may not hold one. Templates and modules
//! still see the same vars as before, untouched.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::error::InventoryError;
use super::pos;
use super::spanned_vars::{SpannedVars, YamlValue};

/// The vars read as settings, in the order the README lists them.
pub const SETTING_KEYS: &[&str] = &[
    "service",
    "container",
    "container_address",
    "container_dev",
    "opensvc_etc",
    "opensvc_secret_file",
    "opensvc_cluster_id",
    "switch_command",
    "rto_seconds",
    "ovh_poll_seconds",
    "health_check",
    "probe_kind",
    "probe_port",
    "probe_path",
    "probe_status",
];

/// Durations in seconds (decimals allowed) take this range, as the `--rto` and
/// `--poll-interval` flags do.
pub const MIN_SECONDS: f64 = 0.05;
pub const MAX_SECONDS: f64 = 3600.0;

/// `health_check: true` waits this long for the service to answer.
pub const DEFAULT_HEALTH_WITHIN: Duration = Duration::from_secs(30);

/// The switch command OpenSVC provides.
pub const DEFAULT_SWITCH_COMMAND: &str = "om {service} switch --to {to}";

/// One cluster's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// `service`: the OpenSVC service (a name); `failover-test` needs it.
    pub service: Option<String>,
    /// `container`: the LXC container (a name); `failover-test` falls back to the service.
    pub container: Option<String>,
    /// `container_address` (IPv4, an optional `/prefix` dropped): where the nodes reach the
    /// container (`keys` pins its host key under it).
    pub container_address: Option<Ipv4Addr>,
    /// `container_dev` (default eth0): the container's interface holding the VIP.
    pub container_dev: String,
    /// `opensvc_etc` (default /etc/opensvc): an absolute path.
    pub opensvc_etc: String,
    /// `opensvc_secret_file`: the local file (root only) keeping the OpenSVC cluster's secret,
    /// relative to the inventory's directory; made once by the first deploy that needs it.
    /// Default: CLUSTER.opensvc-secret beside the inventory (see [`Self::opensvc_secret_path`]).
    pub opensvc_secret_file: Option<String>,
    /// `opensvc_cluster_id`: the OpenSVC cluster's id (a UUID); default derived from the
    /// cluster's name (see [`Self::opensvc_cluster_id`]).
    pub opensvc_cluster_id: Option<String>,
    /// `switch_command` (default `om {service} switch --to {to}`).
    pub switch_command: SwitchCommand,
    /// `rto_seconds` (default 120): the game day's outage budget.
    pub rto: Duration,
    /// `ovh_poll_seconds` (default 3): between two looks at an OVH move task.
    pub ovh_poll: Duration,
    /// `health_check` (`true`, or `{within: SECONDS}`): how long a rollout waits for the
    /// service to answer on its VIP after a batch; `None`: no check.
    pub health_check: Option<Duration>,
    /// `probe_kind`, `probe_port`, `probe_path`, `probe_status`.
    pub probe: ProbeSettings,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            service: None,
            container: None,
            container_address: None,
            container_dev: "eth0".to_string(),
            opensvc_etc: "/etc/opensvc".to_string(),
            opensvc_secret_file: None,
            opensvc_cluster_id: None,
            switch_command: SwitchCommand::default(),
            rto: Duration::from_secs(120),
            ovh_poll: Duration::from_secs(3),
            health_check: None,
            probe: ProbeSettings::default(),
        }
    }
}

impl ClusterSettings {
    /// Where cluster CLUSTER of the inventory at INVENTORY keeps its OpenSVC secret: the
    /// setting, relative to the inventory's directory, or CLUSTER.opensvc-secret beside it.
    pub fn opensvc_secret_path(&self, inventory: &Path, cluster: &str) -> std::path::PathBuf {
        let dir = inventory
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        match &self.opensvc_secret_file {
            Some(file) => dir.join(file),
            None => dir.join(format!("{cluster}.opensvc-secret")),
        }
    }

    /// The OpenSVC cluster id: the setting, or a UUID made from the cluster's name (stable
    /// from one run to the next, and the same on every node).
    pub fn opensvc_cluster_id(&self, cluster: &str) -> String {
        match &self.opensvc_cluster_id {
            Some(id) => id.clone(),
            None => derived_uuid(&format!("tandem opensvc cluster {cluster}")),
        }
    }

    /// The OpenSVC service's id (`[DEFAULT] id`, which the agent would otherwise add to the
    /// file itself, making every deploy rewrite it): a UUID made from the cluster's and the
    /// service's names. `None` without a `service` setting.
    pub fn opensvc_service_id(&self, cluster: &str) -> Option<String> {
        let service = self.service.as_ref()?;
        Some(derived_uuid(&format!(
            "tandem opensvc service {cluster} {service}"
        )))
    }
}

/// A version 4 (random-looking), RFC 4122 variant UUID made from SEED's SHA-256: the same seed
/// always gives the same UUID.
fn derived_uuid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    // A version 4 (random-looking), RFC 4122 variant UUID, as OpenSVC makes its own.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// How the service is probed through its VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// `probe_port` (default 80).
    pub port: u16,
    pub kind: ProbeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    /// `probe_kind: http` (the default): `GET probe_path` (default `/`) answered with
    /// `probe_status` (default 200).
    Http { path: String, status: u16 },
    /// `probe_kind: tcp`: the port accepts a connection.
    Tcp,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            port: 80,
            kind: ProbeKind::Http {
                path: "/".to_string(),
                status: 200,
            },
        }
    }
}

/// The cluster's switch command: text with the placeholders `{service}` and `{to}`, checked
/// when the inventory loads (an unknown placeholder is an error there, not a command that
/// fails on a node mid-game-day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchCommand(String);

impl SwitchCommand {
    pub const PLACEHOLDERS: &[&str] = &["service", "to"];

    /// Checks `text`; the error says what to fix.
    pub fn parse(text: &str) -> Result<SwitchCommand, String> {
        if text.trim().is_empty() {
            return Err(
                "switch_command is empty: give the command that switches the service, \
                 e.g. om {service} switch --to {to}"
                    .to_string(),
            );
        }
        if text.chars().any(char::is_control) {
            return Err(
                "switch_command holds a control character (a newline?): give one command line"
                    .to_string(),
            );
        }
        if text.contains("{{") || text.contains("{%") {
            return Err(
                "switch_command is not a template: its placeholders are {service} and {to}, \
                 not {{ }}"
                    .to_string(),
            );
        }
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            if !name.is_empty()
                && after[name_len..].starts_with('}')
                && !Self::PLACEHOLDERS.contains(&name)
            {
                return Err(format!(
                    "switch_command has an unknown placeholder {{{name}}}: use {{service}} and {{to}}"
                ));
            }
            rest = after;
        }
        Ok(SwitchCommand(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SwitchCommand {
    fn default() -> Self {
        SwitchCommand(DEFAULT_SWITCH_COMMAND.to_string())
    }
}

/// A setting that is wrong: where, and the message.
type Refusal = ((usize, usize), String);

/// Checks that a node's vars hold no setting (settings are per cluster).
pub fn check_node_vars(
    path: &Path,
    node: &str,
    cluster: &str,
    vars: &SpannedVars,
) -> Result<(), InventoryError> {
    for key in SETTING_KEYS {
        if let Some(value) = vars.get(*key) {
            return Err(InventoryError::invalid(
                path,
                pos(&value.referenced),
                format!(
                    "`{key}` is a cluster setting (tandem's commands read it per cluster), not a \
                     node's: move it from node {node}'s vars to cluster {cluster}'s vars or the \
                     global vars"
                ),
            ));
        }
    }
    Ok(())
}

/// The settings of a cluster: `levels` from the lowest precedence (global vars) to the highest
/// (the cluster's). Every level's own values are checked, also those a higher level overrides
/// (a broken value is broken input wherever it is). `has_vip` says whether the cluster has a
/// VIP, which a health check probes.
pub fn cluster_settings(
    path: &Path,
    levels: &[&SpannedVars],
    has_vip: bool,
) -> Result<ClusterSettings, InventoryError> {
    let fail = |(at, message): Refusal| InventoryError::invalid(path, at, message);
    for level in levels {
        read(&collect(&[level])).map_err(fail)?;
    }
    let merged = collect(levels);
    let settings = read(&merged).map_err(fail)?;
    if settings.health_check.is_some()
        && !has_vip
        && let Some(value) = merged.get("health_check")
    {
        return Err(fail((
            pos(&value.referenced),
            "health_check needs the cluster's `vip` to probe: add the cluster's vip or remove \
             the health_check"
                .to_string(),
        )));
    }
    Ok(settings)
}

/// The settings' values, the highest level winning.
fn collect<'a>(levels: &[&'a SpannedVars]) -> IndexMap<&'static str, &'a Spanned<YamlValue>> {
    let mut out = IndexMap::new();
    for level in levels {
        for key in SETTING_KEYS {
            if let Some(value) = level.get(*key) {
                out.insert(*key, value);
            }
        }
    }
    out
}

fn read(values: &IndexMap<&'static str, &Spanned<YamlValue>>) -> Result<ClusterSettings, Refusal> {
    let mut settings = ClusterSettings::default();
    let at = |value: &Spanned<YamlValue>| pos(&value.referenced);
    // Parses one setting where it is given; its errors point at its value.
    macro_rules! get {
        ($key:literal, $parse:expr) => {
            match values.get($key) {
                Some(value) => Some(($parse)(&value.value).map_err(|m: String| (at(value), m))?),
                None => None,
            }
        };
    }
    settings.service = get!("service", |v| name("service", v, "web"));
    settings.container = get!("container", |v| name("container", v, "web"));
    settings.container_address = get!("container_address", container_address);
    if let Some(dev) = get!("container_dev", interface) {
        settings.container_dev = dev;
    }
    if let Some(etc) = get!("opensvc_etc", |v| absolute_path("opensvc_etc", v)) {
        settings.opensvc_etc = etc;
    }
    settings.opensvc_secret_file = get!("opensvc_secret_file", relative_file);
    settings.opensvc_cluster_id = get!("opensvc_cluster_id", uuid);
    if let Some(command) = get!("switch_command", |v| {
        let text = text("switch_command", v, "om {service} switch --to {to}")?;
        SwitchCommand::parse(&text)
    }) {
        settings.switch_command = command;
    }
    if let Some(rto) = get!("rto_seconds", |v| seconds("rto_seconds", v, 120)) {
        settings.rto = rto;
    }
    if let Some(poll) = get!("ovh_poll_seconds", |v| seconds("ovh_poll_seconds", v, 3)) {
        settings.ovh_poll = poll;
    }
    if let Some(value) = values.get("health_check") {
        settings.health_check = health_check(value)?;
    }
    settings.probe = probe(values)?;
    Ok(settings)
}

/// `probe_*`: the kind first, since the others depend on it.
fn probe(values: &IndexMap<&'static str, &Spanned<YamlValue>>) -> Result<ProbeSettings, Refusal> {
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
                    format!("probe_kind {}: use http or tcp", other.shown()),
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
                    format!(
                        "probe_port {} is not a TCP port: use 1 to 65535 (e.g. 80)",
                        value.value.shown()
                    ),
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
                        format!(
                            "probe_status {} is not an HTTP status: use 100 to 599 (e.g. 200)",
                            value.value.shown()
                        ),
                    )
                })?;
        }
        probe.kind = ProbeKind::Http { path, status };
    } else {
        for key in ["probe_path", "probe_status"] {
            if let Some(value) = values.get(key) {
                return Err((
                    at(value),
                    format!(
                        "{key} is for http probes, and probe_kind is tcp: remove it, or use \
                         probe_kind: http"
                    ),
                ));
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
fn seconds(key: &str, value: &YamlValue, example: u64) -> Result<Duration, String> {
    let Some(seconds) = number(value) else {
        return Err(format!(
            "{key} {} is not a number of seconds: use e.g. {example}",
            value.shown()
        ));
    };
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(format!(
            "{key} {} is out of range: use {MIN_SECONDS} to {MAX_SECONDS} seconds (e.g. {example})",
            value.shown()
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn health_check(value: &Spanned<YamlValue>) -> Result<Option<Duration>, Refusal> {
    let at = |value: &Spanned<YamlValue>| pos(&value.referenced);
    let bad = |value: &Spanned<YamlValue>| {
        (
            at(value),
            format!(
                "health_check {} is not true, false or {{within: SECONDS}}: e.g. health_check: \
                 {{within: 30}}",
                value.value.shown()
            ),
        )
    };
    match &value.value {
        YamlValue::Null | YamlValue::Bool(false) => Ok(None),
        YamlValue::Bool(true) => Ok(Some(DEFAULT_HEALTH_WITHIN)),
        YamlValue::Map(map) => {
            let mut within = DEFAULT_HEALTH_WITHIN;
            for (key, item) in map {
                if key != "within" {
                    return Err((
                        at(item),
                        format!("health_check has an unknown key `{key}`: use {{within: SECONDS}}"),
                    ));
                }
                let seconds = number(&item.value).ok_or_else(|| {
                    (
                        at(item),
                        format!(
                            "health_check within {} is not a number of seconds: use e.g. 30",
                            item.value.shown()
                        ),
                    )
                })?;
                if !(1.0..=MAX_SECONDS).contains(&seconds) {
                    return Err((
                        at(item),
                        format!(
                            "health_check within {} is out of range: use 1 to {MAX_SECONDS} \
                             seconds (e.g. 30)",
                            item.value.shown()
                        ),
                    ));
                }
                within = Duration::from_secs_f64(seconds);
            }
            Ok(Some(within))
        }
        _ => Err(bad(value)),
    }
}

/// Text as written (a template would not be rendered: tandem reads these itself).
fn text(key: &str, value: &YamlValue, example: &str) -> Result<String, String> {
    match value {
        YamlValue::String(s) => {
            if s.contains("{{") || s.contains("{%") {
                return Err(format!(
                    "`{key}` is read by tandem's commands as written, so it cannot be a template \
                     ({{{{ }}}}): give the value itself, e.g. {example}"
                ));
            }
            Ok(s.clone())
        }
        other => Err(format!(
            "{key} {} is not text: give e.g. {example}",
            other.shown()
        )),
    }
}

/// A service or container name: what OpenSVC and LXC accept, safe in paths and commands.
fn name(key: &str, value: &YamlValue, example: &str) -> Result<String, String> {
    let name = text(key, value, example)?;
    let mut chars = name.chars();
    let valid = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(format!(
            "{key} {} is not a valid name: use letters, digits, '.', '_' and '-', starting with a \
             letter or digit, at most 64 characters (e.g. {example})",
            value.shown()
        ));
    }
    Ok(name)
}

/// A network interface name as the kernel takes it: 1 to 15 bytes, no '/', ':' or space.
fn interface(value: &YamlValue) -> Result<String, String> {
    let dev = text("container_dev", value, "eth0")?;
    let valid = !dev.is_empty()
        && dev.len() <= 15
        && dev != "."
        && dev != ".."
        && !dev
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if !valid {
        return Err(format!(
            "container_dev {} is not an interface name: 1 to 15 characters without '/', ':' or \
             spaces (e.g. eth0)",
            value.shown()
        ));
    }
    Ok(dev)
}

fn absolute_path(key: &str, value: &YamlValue) -> Result<String, String> {
    let path = text(key, value, "/etc/opensvc")?;
    if !path.starts_with('/') || path.chars().any(char::is_control) {
        return Err(format!(
            "{key} {} is not an absolute path: give e.g. /etc/opensvc",
            value.shown()
        ));
    }
    Ok(path)
}

/// A local file, absolute or relative to the inventory's directory.
fn relative_file(value: &YamlValue) -> Result<String, String> {
    let path = text("opensvc_secret_file", value, "secrets/pair1.opensvc-secret")?;
    if path.trim().is_empty() || path.ends_with('/') || path.chars().any(char::is_control) {
        return Err(format!(
            "opensvc_secret_file {} is not a file name: give a path relative to the inventory, e.g. secrets/pair1.opensvc-secret",
            value.shown()
        ));
    }
    Ok(path)
}

/// A UUID in its usual text form, lower case.
fn uuid(value: &YamlValue) -> Result<String, String> {
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
        return Err(format!(
            "opensvc_cluster_id {} is not a UUID: give e.g. 0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b (lower case), or leave it out",
            value.shown()
        ));
    }
    Ok(id)
}

/// `192.168.0.10` or `192.168.0.10/24`.
fn container_address(value: &YamlValue) -> Result<Ipv4Addr, String> {
    let bad = || {
        format!(
            "container_address {} is not an IPv4 address with an optional /prefix: give e.g. \
             192.168.0.10/24",
            value.shown()
        )
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
fn http_path(value: &YamlValue) -> Result<String, String> {
    let path = text("probe_path", value, "/health")?;
    if !path.starts_with('/')
        || path.len() > 2048
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "probe_path {} is not an HTTP path: it starts with '/', without spaces (e.g. /health)",
            value.shown()
        ));
    }
    Ok(path)
}
