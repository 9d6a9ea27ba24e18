//! When to try a request again, and how long to wait first.
//!
//! 400, 401, 403 and 404 are final (a wrong key or a wrong IP does not get better by asking
//! again); 429 and 5xx, timeouts and refused connections are retried with exponential backoff,
//! within a bounded number of attempts and a bounded total time. A `Retry-After` from OVH is
//! honoured, never beyond `max_delay`.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub base_delay: Duration,
    /// No single wait is longer.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(16),
            max_elapsed: Duration::from_secs(90),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1), capped;
    /// or the server's `Retry-After`, capped the same way.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        retry_after.unwrap_or(exponential).min(self.max_delay)
    }

    /// Whether another attempt may start after `attempt` attempts, `elapsed` after the first,
    /// given that the next one would first wait `delay`.
    pub fn allows(&self, attempt: u32, elapsed: Duration, delay: Duration) -> bool {
        attempt < self.max_attempts && elapsed + delay <= self.max_elapsed
    }
}

/// Whether an HTTP error status may succeed when asked again.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_are_retried() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 200] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            max_elapsed: Duration::from_secs(10),
        };
        let waits: Vec<u128> = (1..=5).map(|a| policy.delay(a, None).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(700)
        );
        // No overflow for absurd attempt numbers.
        assert_eq!(policy.delay(u32::MAX, None), Duration::from_millis(700));
    }

    #[test]
    fn attempts_and_total_time_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(2),
        };
        let short = Duration::from_millis(100);
        assert!(policy.allows(1, Duration::ZERO, short));
        assert!(policy.allows(2, Duration::ZERO, short));
        assert!(!policy.allows(3, Duration::ZERO, short));
        assert!(!policy.allows(1, Duration::from_millis(1950), short));
        assert!(RetryPolicy::default().max_attempts > 1);
    }
}
