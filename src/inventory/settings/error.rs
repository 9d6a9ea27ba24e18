//! What can be wrong with a cluster setting; the `Display` is the message after the
//! `FILE:LINE:COL: ` of the value.

use super::{MAX_SECONDS, MIN_SECONDS};

/// A setting's value refused; `shown` is the value as `YamlValue::shown` writes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    #[error(
        "`{key}` is a cluster setting (tandem's commands read it per cluster), not a node's: move \
         it from node {node}'s vars to cluster {cluster}'s vars or the global vars"
    )]
    OnNode {
        key: &'static str,
        node: String,
        cluster: String,
    },
    #[error(
        "switch_command is empty: give the command that switches the service, e.g. om \
         {{service}} switch --to {{to}}"
    )]
    SwitchCommandEmpty,
    #[error("switch_command holds a control character (a newline?): give one command line")]
    SwitchCommandControl,
    #[error(
        "switch_command is not a template: its placeholders are {{service}} and {{to}}, not \
         {{{{ }}}}"
    )]
    SwitchCommandTemplate,
    #[error("switch_command has an unknown placeholder {{{name}}}: use {{service}} and {{to}}")]
    SwitchCommandPlaceholder { name: String },
    #[error("{key} {shown} is not a number of seconds: use e.g. {example}")]
    NotSeconds {
        key: &'static str,
        shown: String,
        example: u64,
    },
    #[error(
        "{key} {shown} is out of range: use {min} to {max} seconds (e.g. {example})",
        min = MIN_SECONDS,
        max = MAX_SECONDS
    )]
    SecondsOutOfRange {
        key: &'static str,
        shown: String,
        example: u64,
    },
    #[error(
        "`{key}` is read by tandem's commands as written, so it cannot be a template \
         ({{{{ }}}}): give the value itself, e.g. {example}"
    )]
    Template {
        key: &'static str,
        example: &'static str,
    },
    #[error("{key} {shown} is not text: give e.g. {example}")]
    NotText {
        key: &'static str,
        shown: String,
        example: &'static str,
    },
    #[error(
        "{key} {shown} is not a valid name: use letters, digits, '.', '_' and '-', starting with \
         a letter or digit, at most 64 characters (e.g. {example})"
    )]
    BadName {
        key: &'static str,
        shown: String,
        example: &'static str,
    },
    #[error(
        "container_dev {shown} is not an interface name: 1 to 15 characters without '/', ':' or \
         spaces (e.g. eth0)"
    )]
    BadInterface { shown: String },
    #[error("{key} {shown} is not an absolute path: give e.g. /etc/opensvc")]
    NotAbsolute { key: &'static str, shown: String },
    #[error(
        "opensvc_secret_file {shown} is not a file name: give a path relative to the inventory, \
         e.g. secrets/pair1.opensvc-secret"
    )]
    BadSecretFile { shown: String },
    #[error(
        "opensvc_cluster_id {shown} is not a UUID: give e.g. \
         0b6c3f5e-8d7a-4c1e-9f2b-3a4d5e6f7a8b (lower case), or leave it out"
    )]
    BadUuid { shown: String },
    #[error(
        "container_address {shown} is not an IPv4 address with an optional /prefix: give e.g. \
         192.168.0.10/24"
    )]
    BadContainerAddress { shown: String },
    #[error(
        "probe_path {shown} is not an HTTP path: it starts with '/', without spaces (e.g. /health)"
    )]
    BadProbePath { shown: String },
    #[error("probe_kind {shown}: use http or tcp")]
    BadProbeKind { shown: String },
    #[error("probe_port {shown} is not a TCP port: use 1 to 65535 (e.g. 80)")]
    BadProbePort { shown: String },
    #[error("probe_status {shown} is not an HTTP status: use 100 to 599 (e.g. 200)")]
    BadProbeStatus { shown: String },
    #[error("{key} is for http probes, and probe_kind is tcp: remove it, or use probe_kind: http")]
    HttpOnly { key: &'static str },
    #[error(
        "health_check {shown} is not true, false or {{within: SECONDS}}: e.g. health_check: \
         {{within: 30}}"
    )]
    BadHealthCheck { shown: String },
    #[error("health_check has an unknown key `{key}`: use {{within: SECONDS}}")]
    HealthCheckKey { key: String },
    #[error("health_check within {shown} is not a number of seconds: use e.g. 30")]
    HealthCheckNotSeconds { shown: String },
    #[error(
        "health_check within {shown} is out of range: use 1 to {max} seconds (e.g. 30)",
        max = MAX_SECONDS
    )]
    HealthCheckOutOfRange { shown: String },
    #[error(
        "health_check needs the cluster's `vip` to probe: add the cluster's vip or remove the \
         health_check"
    )]
    HealthCheckWithoutVip,
}
