//! Durations in JSON as milliseconds: what the `--json` contract (`downtime_ms`) and people
//! reading a report expect, instead of serde's `{secs, nanos}`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

fn from_ms(ms: f64) -> Duration {
    // Through whole nanoseconds, rounded: `0.412` ms comes back as exactly 412 us.
    Duration::from_nanos((ms.max(0.0) * 1e6).round() as u64)
}

/// Whole milliseconds (`"at_ms": 1234`).
pub mod whole {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        f64::deserialize(d).map(from_ms)
    }
}

/// Milliseconds with microsecond precision (`"latency_ms": 0.412`): a loopback probe answers
/// well under a millisecond.
pub mod fine {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_micros() as f64 / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        f64::deserialize(d).map(from_ms)
    }
}

/// An optional duration in whole milliseconds (`null` when unknown).
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d).map(|o| o.map(from_ms))
    }
}
