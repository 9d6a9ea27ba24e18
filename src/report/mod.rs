//! What the user sees: text for people, JSON for scripts. Nothing here touches the network.

pub mod color;
pub mod config;
pub mod deploy;
pub mod diff;
pub mod failover_history;
pub mod failover_html;
pub mod failover_text;
mod failover_timeline_svg;
pub mod live;
pub mod ping;
pub mod run;
pub mod vip;

use std::time::Duration;

use crate::error::Error;

/// `53 ms` under ten seconds, `12.3 s` above: the precision people read.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `value` as JSON for `--json`. A value serde cannot write is a bug of tandem: it ends the
/// command as an internal error, never as `null` on stdout that a script would take for a
/// result.
pub fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::internal(format!("the {what} cannot be written as JSON: {e}")))
}

/// A byte string as JSON: text when it is UTF-8, otherwise base64 under a `_base64` key, so
/// binary output survives the trip exactly.
pub fn json_bytes(map: &mut serde_json::Map<String, serde_json::Value>, key: &str, bytes: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_json_cannot_hold_is_an_internal_error_never_null() {
        // JSON object keys are strings: a map keyed by pairs cannot be written.
        let unwritable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = to_json("game day report", &unwritable).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::INTERNAL_EXIT);
        assert!(
            err.to_string()
                .starts_with("internal error: the game day report cannot be written as JSON: "),
            "{err}"
        );
        assert_eq!(to_json("x", &[1, 2]).unwrap(), serde_json::json!([1, 2]));
    }
}
