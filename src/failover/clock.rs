//! One time base for a whole game day. Probes and events are stamped as offsets from the same
//! origin, so the measurement never mixes clocks: the offsets come from the monotonic clock (a
//! wall-clock step during a game day cannot fake a downtime) and the wall clock is read once, at
//! the origin, to put a date on the report.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The origin of a game day's times. Cheap to copy: give the same clock to the prober and to
/// whatever records the command's events.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_unix_ms: u64,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            origin: Instant::now(),
            origin_unix_ms: unix_ms(SystemTime::now()),
        }
    }

    /// Time elapsed since the origin (monotonic).
    pub fn offset(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The offset of an instant taken elsewhere (zero if it is before the origin).
    pub fn offset_of(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }

    /// Wall-clock time of the origin, in milliseconds since the Unix epoch.
    pub fn origin_unix_ms(&self) -> u64 {
        self.origin_unix_ms
    }

    /// Wall-clock time of an offset, in milliseconds since the Unix epoch (origin + offset, so
    /// it stays consistent with the monotonic offsets even if the system clock is stepped).
    pub fn unix_ms_at(&self, offset: Duration) -> u64 {
        self.origin_unix_ms + offset.as_millis() as u64
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2024-05-06 07:08:09 UTC`: the date people read on a report (UTC, so two engineers in two
/// time zones read the same thing).
pub fn utc_datetime(unix_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms as i64)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// `07:08:09.123`: a wall-clock time of day (UTC) with milliseconds, for event tables.
pub fn utc_time_of_day(unix_ms: u64) -> String {
    let rem = unix_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem % 3_600_000 / 60_000,
        rem % 60_000 / 1000,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00 UTC");
        // 2024-02-29 12:34:56 UTC, a leap day.
        assert_eq!(utc_datetime(1_709_210_096_000), "2024-02-29 12:34:56 UTC");
        assert_eq!(utc_time_of_day(1_709_210_096_789), "12:34:56.789");
    }

    #[test]
    fn offsets_share_the_origin() {
        let clock = Clock::start();
        let later = clock.unix_ms_at(Duration::from_millis(1500));
        assert_eq!(later, clock.origin_unix_ms() + 1500);
        if let Some(before) = Instant::now().checked_sub(Duration::from_secs(3600)) {
            assert_eq!(clock.offset_of(before), Duration::ZERO);
        }
    }
}
