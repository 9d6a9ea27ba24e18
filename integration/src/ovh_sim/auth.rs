//! Checking a request's credentials the way OVH does, independently of tandem's own signing
//! code (a shared bug would otherwise pass unnoticed).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;
use sha1::Digest;

/// A request whose timestamp is further than this from the server clock is refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 180;

/// The one application and consumer key the simulated account knows.
#[derive(Clone)]
pub struct Keys {
    pub application_key: String,
    pub application_secret: String,
    pub consumer_key: String,
}

impl Keys {
    /// `AK AS CK` on one line.
    pub fn parse(line: &str) -> Option<Keys> {
        let mut words = line.split_whitespace();
        let keys = Keys {
            application_key: words.next()?.to_string(),
            application_secret: words.next()?.to_string(),
            consumer_key: words.next()?.to_string(),
        };
        words.next().is_none().then_some(keys)
    }
}

/// Why a request was refused: HTTP status, OVH's message and error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: &'static str,
    pub error_code: &'static str,
}

const fn refusal(status: u16, message: &'static str, error_code: &'static str) -> Refusal {
    Refusal {
        status,
        message,
        error_code,
    }
}

/// Checks the `X-Ovh-*` headers of a request for `full_url` with `body`, in OVH's order:
/// application key, consumer key, timestamp, signature.
pub fn check(
    keys: &Keys,
    headers: &HeaderMap,
    method: &str,
    full_url: &str,
    body: &[u8],
) -> Result<(), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("X-Ovh-Application") != Some(keys.application_key.as_str()) {
        return Err(refusal(403, "Invalid application key", "INVALID_KEY"));
    }
    if header("X-Ovh-Consumer") != Some(keys.consumer_key.as_str()) {
        return Err(refusal(
            403,
            "This credential does not exist",
            "INVALID_CREDENTIAL",
        ));
    }
    let Some(timestamp) = header("X-Ovh-Timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(refusal(400, "Missing timestamp", "QUERY_TIME_OUT"));
    };
    if (timestamp - unix_now()).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(refusal(400, "Query out of time", "QUERY_TIME_OUT"));
    }
    let expected = signature(
        &keys.application_secret,
        &keys.consumer_key,
        method,
        full_url,
        body,
        timestamp,
    );
    if header("X-Ovh-Signature") != Some(expected.as_str()) {
        return Err(refusal(400, "Invalid signature", "INVALID_SIGNATURE"));
    }
    Ok(())
}

pub fn signature(
    secret: &str,
    consumer_key: &str,
    method: &str,
    full_url: &str,
    body: &[u8],
    timestamp: i64,
) -> String {
    let mut text = Vec::new();
    for part in [secret, consumer_key, method, full_url] {
        text.extend_from_slice(part.as_bytes());
        text.push(b'+');
    }
    text.extend_from_slice(body);
    text.push(b'+');
    text.extend_from_slice(timestamp.to_string().as_bytes());
    let mut out = String::from("$1$");
    for byte in sha1::Sha1::digest(&text).iter() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_vector() {
        assert_eq!(
            signature(
                "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk",
                "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY",
                "POST",
                "https://eu.api.ovh.com/1.0/auth",
                br#"{"a":"b","c":"d"}"#,
                1457018875
            ),
            "$1$ec2fb5c7a81f64723c77d2e5b609ae6f58a84fc1"
        );
    }

    #[test]
    fn keys_line() {
        let keys = Keys::parse("ak as ck\n").unwrap();
        assert_eq!(keys.consumer_key, "ck");
        assert!(Keys::parse("ak as").is_none());
        assert!(Keys::parse("ak as ck x").is_none());
    }
}
