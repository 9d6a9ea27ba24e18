//! Errors of the OVH layer. Every message is one line; an API error shows the HTTP status, OVH's
//! own message and the query id OVH support asks for.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::config_error::ConfigError;
use super::ini::IniError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OvhError {
    /// Credentials or endpoint unusable (missing keys, a bad ovh.conf, wrong file mode): bad
    /// input, nothing was sent.
    Config(ConfigError),
    /// ovh.conf has a line that is not read (bad input, as `Config`).
    Ini(IniError),
    /// OVH answered with an error (boxed: it is the largest variant by far).
    Api(Box<ApiError>),
    /// No usable answer: connection refused, timeout, reset.
    Transport {
        method: String,
        path: String,
        detail: String,
        timed_out: bool,
    },
    /// An answer we cannot read (not the JSON the API documents).
    BadAnswer {
        method: String,
        path: String,
        detail: String,
    },
    /// Retries ran out; `last` is the last failure.
    GaveUp {
        attempts: u32,
        elapsed: Duration,
        last: Box<OvhError>,
    },
    /// The move task ended in `cancelled`, `customerError` or `ovhError`.
    TaskFailed {
        task_id: u64,
        status: String,
        comment: Option<String>,
    },
    /// The preflight found the move cannot happen now (no rights, a target OVH refuses, a
    /// move pending); nothing was changed. The message says what to do.
    Refused(String),
    /// The move task was still running when the time allowed ran out.
    TaskTimedOut {
        task_id: u64,
        status: String,
        waited: Duration,
    },
}

/// An OVH error answer: `{"message", "errorCode"?, "httpCode"?}` plus the `X-Ovh-Queryid` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub message: String,
    pub error_code: Option<String>,
    pub query_id: Option<String>,
}

/// The JSON body of an error answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
}

impl ApiError {
    /// From a non-2xx answer; a body that is not OVH's JSON is shown as text (truncated).
    /// Public only for the fuzz target.
    #[doc(hidden)]
    pub fn from_answer(
        method: &str,
        path: &str,
        status: u16,
        query_id: Option<String>,
        body: &[u8],
    ) -> ApiError {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let message = match parsed.as_ref().and_then(|b| b.message.clone()) {
            Some(message) => message,
            None => {
                let text = String::from_utf8_lossy(body);
                let text: String = text.chars().take(200).collect();
                if text.trim().is_empty() {
                    "(no message)".to_string()
                } else {
                    text
                }
            }
        };
        ApiError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            message: one_line(&message),
            error_code: parsed.and_then(|b| b.error_code),
            query_id,
        }
    }
}

impl OvhError {
    /// True for a problem of the user's input (exit 2), false for a failure of the API or the
    /// move (exit 1).
    pub fn is_config(&self) -> bool {
        matches!(self, OvhError::Config(_) | OvhError::Ini(_))
    }

    /// The API error behind this one, if any (also through `GaveUp`).
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            OvhError::Api(e) => Some(e),
            OvhError::GaveUp { last, .. } => last.api(),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OVH API {} {}: HTTP {}",
            self.method, self.path, self.status
        )?;
        if let Some(reason) = http_reason(self.status) {
            write!(f, " {reason}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(code) = &self.error_code {
            write!(f, " [{code}]")?;
        }
        match &self.query_id {
            Some(id) => write!(f, " (query id {id})"),
            None => f.write_str(" (no query id)"),
        }
    }
}

impl fmt::Display for OvhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvhError::Config(e) => e.fmt(f),
            OvhError::Ini(e) => e.fmt(f),
            OvhError::Refused(message) => write!(f, "OVH preflight refused {message}"),
            OvhError::Api(e) => e.fmt(f),
            OvhError::Transport {
                method,
                path,
                detail,
                timed_out,
            } => {
                if *timed_out {
                    write!(f, "OVH API {method} {path}: no answer in time ({detail})")
                } else {
                    write!(f, "OVH API {method} {path}: {detail}")
                }
            }
            OvhError::BadAnswer {
                method,
                path,
                detail,
            } => write!(f, "OVH API {method} {path}: unexpected answer: {detail}"),
            OvhError::GaveUp {
                attempts,
                elapsed,
                last,
            } => write!(
                f,
                "gave up after {attempts} attempts in {:.1} s: {last}",
                elapsed.as_secs_f64()
            ),
            OvhError::TaskFailed {
                task_id,
                status,
                comment,
            } => {
                write!(f, "OVH move task {task_id} ended in status {status}")?;
                match comment.as_deref().filter(|c| !c.is_empty()) {
                    Some(comment) => write!(f, ": {}", one_line(comment)),
                    None => f.write_str(" (no comment)"),
                }
            }
            OvhError::TaskTimedOut {
                task_id,
                status,
                waited,
            } => write!(
                f,
                "OVH move task {task_id} still {status} after {:.1} s: gave up waiting (the move \
                 may still happen; check with `tandem vip status`)",
                waited.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for OvhError {}

fn http_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_shows_status_message_and_query_id() {
        let e = ApiError::from_answer(
            "GET",
            "/ip/203.0.113.5%2F32",
            404,
            Some("EU.ext-3.6283a3ba.1234.abcd".into()),
            br#"{"message":"The requested object (ip = 203.0.113.5/32) does not exist","errorCode":"OBJECT_NOT_FOUND","httpCode":"404 Not Found"}"#,
        );
        assert_eq!(
            OvhError::Api(Box::new(e)).to_string(),
            "OVH API GET /ip/203.0.113.5%2F32: HTTP 404 Not Found: The requested object \
             (ip = 203.0.113.5/32) does not exist [OBJECT_NOT_FOUND] (query id \
             EU.ext-3.6283a3ba.1234.abcd)"
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_shown_as_text() {
        let e = ApiError::from_answer("POST", "/ip/x/move", 502, None, b"<html>bad\ngateway");
        assert_eq!(
            e.to_string(),
            "OVH API POST /ip/x/move: HTTP 502 Bad Gateway: <html>bad gateway (no query id)"
        );
        let e = ApiError::from_answer("GET", "/x", 500, None, b"");
        assert!(e.to_string().contains(": (no message)"));
    }

    #[test]
    fn gave_up_and_task_errors_read_well() {
        let last = OvhError::Api(Box::new(ApiError::from_answer(
            "GET",
            "/ip/x",
            503,
            Some("Q1".into()),
            br#"{"message":"busy"}"#,
        )));
        let e = OvhError::GaveUp {
            attempts: 5,
            elapsed: Duration::from_millis(3100),
            last: Box::new(last),
        };
        assert_eq!(
            e.to_string(),
            "gave up after 5 attempts in 3.1 s: OVH API GET /ip/x: HTTP 503 Service Unavailable: \
             busy (query id Q1)"
        );
        assert_eq!(e.api().unwrap().status, 503);
        let e = OvhError::TaskFailed {
            task_id: 7,
            status: "ovhError".into(),
            comment: Some("routing failed".into()),
        };
        assert_eq!(
            e.to_string(),
            "OVH move task 7 ended in status ovhError: routing failed"
        );
        assert!(!e.is_config());
        assert!(OvhError::Config(ConfigError::BadHeader { name: "x" }).is_config());
    }
}
