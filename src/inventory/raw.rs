//! The inventory file as written, before validation.
//!
//! serde does the shape (unknown keys, types, duplicate keys); `super::load` does the rules that
//! need more than one value or a better message than serde's. Fields checked there are wrapped in
//! `Spanned` so the error can point at them, and are deliberately looser than the final type
//! (`i64` for a port, `String` for the VIP, `Option` for required keys) so that the message is
//! ours ("port 70000 is out of range") rather than a generic "expected u16".

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::spanned_vars::SpannedVars;

/// Cluster name -> cluster. The value is optional so that a bare `pair1:` gets our "has no
/// nodes" message instead of a type error.
pub(super) type RawClusters = IndexMap<Spanned<String>, Spanned<Option<RawCluster>>>;

/// Node name -> node; optional for the same reason ("has no `address`").
pub(super) type RawNodes = IndexMap<Spanned<String>, Spanned<Option<RawNode>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInventory {
    #[serde(default)]
    pub ssh: Option<RawSsh>,
    #[serde(default)]
    pub ovh: Option<RawOvh>,
    #[serde(default)]
    pub vars: Option<SpannedVars>,
    #[serde(default)]
    pub clusters: Option<Spanned<RawClusters>>,
}

/// `ovh: {endpoint: ovh-eu, config: ovh.conf}`: where the API is and which ovh.conf holds the
/// keys (the keys themselves never go in the inventory).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOvh {
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub config: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSsh {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    #[serde(default)]
    pub identity: Option<Spanned<String>>,
    #[serde(default)]
    pub known_hosts: Option<Spanned<String>>,
    #[serde(default)]
    pub connect_timeout: Option<Spanned<i64>>,
    #[serde(default)]
    pub keepalive_interval: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    #[serde(default)]
    pub vip: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: Option<SpannedVars>,
    #[serde(default)]
    pub nodes: Option<RawNodes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub identity: Option<Spanned<String>>,
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub vars: Option<SpannedVars>,
}
