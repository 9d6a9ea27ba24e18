//! What the user sees: text for people, JSON for scripts. Nothing here touches the network.

pub(crate) mod color;
pub(crate) mod config;
pub(crate) mod deploy;
pub(crate) mod diff;
pub(crate) mod failover_history;
pub mod failover_html;
mod failover_phase_bar;
pub(crate) mod failover_text;
mod failover_timeline_svg;
pub(crate) mod live;
pub mod ping;
pub(crate) mod run;
pub(crate) mod vip;

use std::time::Duration;

/// `53 ms` under ten seconds, `12.3 s` above: the precision people read.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A byte string as JSON: text when it is UTF-8, otherwise base64 under a `_base64` key, so
/// binary output survives the trip exactly.
pub(crate) fn json_bytes(
    map: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    bytes: &[u8],
) {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            map.insert(key.to_string(), text.into());
        }
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            map.insert(format!("{key}_base64"), encoded.into());
        }
    }
}
