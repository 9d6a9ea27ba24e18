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

mod error;
mod values;

pub use error::SettingError;
use values::{
    absolute_path, container_address, health_check, interface, name, probe, relative_file, seconds,
    text, uuid,
};

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
    "rpo_seconds",
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
    /// `rpo_seconds` (no default): how old the data on a node taking over may be.
    pub rpo: Option<Duration>,
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
            rpo: None,
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
    pub fn parse(text: &str) -> Result<SwitchCommand, SettingError> {
        if text.trim().is_empty() {
            return Err(SettingError::SwitchCommandEmpty);
        }
        if text.chars().any(char::is_control) {
            return Err(SettingError::SwitchCommandControl);
        }
        if text.contains("{{") || text.contains("{%") {
            return Err(SettingError::SwitchCommandTemplate);
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
                return Err(SettingError::SwitchCommandPlaceholder {
                    name: name.to_string(),
                });
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

/// A setting that is wrong: where, and what.
type Refusal = ((usize, usize), SettingError);

/// Checks that a node's vars hold no setting (settings are per cluster).
pub fn check_node_vars(
    path: &Path,
    node: &str,
    cluster: &str,
    vars: &SpannedVars,
) -> Result<(), InventoryError> {
    for key in SETTING_KEYS {
        if let Some(value) = vars.get(*key) {
            return Err(InventoryError::setting(
                path,
                pos(&value.referenced),
                SettingError::OnNode {
                    key,
                    node: node.to_string(),
                    cluster: cluster.to_string(),
                },
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
    let fail = |(at, error): Refusal| InventoryError::setting(path, at, error);
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
            SettingError::HealthCheckWithoutVip,
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
                Some(value) => {
                    Some(($parse)(&value.value).map_err(|e: SettingError| (at(value), e))?)
                }
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
    settings.rpo = get!("rpo_seconds", |v| seconds("rpo_seconds", v, 300));
    if let Some(poll) = get!("ovh_poll_seconds", |v| seconds("ovh_poll_seconds", v, 3)) {
        settings.ovh_poll = poll;
    }
    if let Some(value) = values.get("health_check") {
        settings.health_check = health_check(value)?;
    }
    settings.probe = probe(values)?;
    Ok(settings)
}
