//! What is wrong with OVH's credentials or endpoint, with the data to say it: bad input, found
//! before anything is sent (an [`super::OvhError::Config`]).

use std::path::PathBuf;

use super::endpoint::EndpointError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot set up the HTTP client: {detail}")]
    HttpClient { detail: String },
    #[error("OVH endpoint {endpoint}: {url} is not a valid URL: {detail}")]
    BadUrl {
        endpoint: String,
        url: String,
        detail: String,
    },
    /// A key (header `name`) holds characters an HTTP header cannot carry.
    #[error("the OVH {name} value has characters a header cannot carry: check ovh.conf")]
    BadHeader { name: &'static str },
    #[error("OVH_ENDPOINT: {0}")]
    EnvEndpoint(EndpointError),
    #[error("{}:{line}: {source}", .path.display())]
    FileEndpoint {
        path: PathBuf,
        line: usize,
        source: EndpointError,
    },
    /// `searched`: the files read, or looked for when none was found.
    #[error(
        "no OVH endpoint: set `ovh: {{endpoint: ovh-eu}}` in the inventory, OVH_ENDPOINT, or \
         `endpoint=ovh-eu` under [default] in ovh.conf ({searched})"
    )]
    NoEndpoint { searched: String },
    #[error("{}:{line}: `{key}` is empty: give the value OVH issued", .path.display())]
    EmptyKey {
        path: PathBuf,
        line: usize,
        key: &'static str,
    },
    /// `var`: the environment variable that could give it.
    #[error(
        "no OVH {key} for endpoint {endpoint}: set {var}, or add `{key}=...` under [{endpoint}] \
         in ovh.conf ({searched})"
    )]
    NoKey {
        key: &'static str,
        var: &'static str,
        endpoint: String,
        searched: String,
    },
    #[error(
        "{}: no such OVH credentials file: fix `ovh: {{config: ...}}` in the inventory, or \
         create it (mode 600) with [default] endpoint=... and the three keys",
        .path.display()
    )]
    NoFile { path: PathBuf },
    /// `reason`: the I/O error's words without `(os error N)`.
    #[error("{}: cannot read the OVH credentials file: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{}:{line}: not valid UTF-8: save the OVH credentials file as UTF-8 (keys and endpoints \
         are plain ASCII)",
        .path.display()
    )]
    NotUtf8 { path: PathBuf, line: usize },
    /// `mode`: the permission bits (`& 0o7777`).
    #[error(
        "{}: mode {mode:04o} lets group or others read or change the OVH credentials in it: run \
         `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    NotPrivate { path: PathBuf, mode: u32 },
}
