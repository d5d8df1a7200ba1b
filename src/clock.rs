//! Time as lanceur stores it: whole seconds, or nanoseconds, since the Unix epoch. A clock set before
//! 1970 reads as 0 rather than failing: these values order and age state, never decide a deposit.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch of `time`.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since the epoch, now.
pub fn now_unix_seconds() -> u64 {
    unix_seconds(SystemTime::now())
}

/// Nanoseconds since the epoch of `time` (a file's modification time in journal keys).
pub fn unix_nanos(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn before_the_epoch_is_zero() {
        let early = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(unix_seconds(early), 0);
        assert_eq!(unix_nanos(early), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(2500)), 2);
        assert!(now_unix_seconds() > 1_700_000_000);
    }
}
