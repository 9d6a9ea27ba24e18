//! The `timeout` key (seconds a step may run on a node), on a step, an include or the playbook.
//! One parser for all three places, so they accept and refuse the same values.

use serde_json::Value;

/// The longest limit: a day. A step that needs longer is a job for something else than a
/// deploy; a bigger number is almost certainly a unit mix-up (milliseconds).
pub const MAX_TIMEOUT_SECS: u32 = 86_400;

/// A `timeout` that is not a whole number of seconds in range; `what` names the place
/// ("step 'x'", "include 'y'", "the playbook"), `shown` what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what}: `timeout` is a whole number of seconds from 1 to {max} (got {shown}), e.g. \
     `timeout: 600`",
    max = MAX_TIMEOUT_SECS
)]
pub struct TimeoutError {
    what: String,
    shown: String,
}

/// A whole number of seconds from 1 to a day; `what` names the place for the message
/// ("step 'x'", "include 'y'", "the playbook").
pub fn parse_timeout(what: &str, value: &Value) -> Result<u32, TimeoutError> {
    let wrong = |shown: String| TimeoutError {
        what: what.to_string(),
        shown,
    };
    match value {
        Value::Number(n) => match n.as_u64() {
            Some(secs) if (1..=u64::from(MAX_TIMEOUT_SECS)).contains(&secs) => Ok(secs as u32),
            _ => Err(wrong(n.to_string())),
        },
        Value::String(text) => Err(wrong(format!("'{text}'"))),
        other => Err(wrong(kind(other).to_string())),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
        Value::Number(_) | Value::String(_) => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_seconds_from_one_to_a_day_are_accepted() {
        assert_eq!(parse_timeout("step 's'", &json!(1)), Ok(1));
        assert_eq!(parse_timeout("step 's'", &json!(900)), Ok(900));
        assert_eq!(parse_timeout("step 's'", &json!(86_400)), Ok(86_400));
    }

    #[test]
    fn zero_negative_huge_fractional_and_words_are_refused_with_the_range() {
        for bad in [
            json!(0),
            json!(-5),
            json!(86_401),
            json!(1e30),
            json!(2.5),
            json!("ten"),
            json!("60"),
            json!(true),
            json!([60]),
            json!(null),
        ] {
            let err = parse_timeout("step 's'", &bad).unwrap_err().to_string();
            assert!(
                err.starts_with("step 's': `timeout` is a whole number of seconds from 1 to 86400"),
                "{bad}: {err}"
            );
        }
    }
}
