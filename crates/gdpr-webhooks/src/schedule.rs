//! When a failed delivery is tried again: exponentially later, with jitter so that the
//! retries of an outage do not arrive together, for three days; then it is dead-lettered (and
//! its endpoint disabled, the tenant told).

use time::Duration;

/// How long deliveries are retried, from the first attempt.
pub const RETRY_WINDOW: Duration = Duration::days(3);

/// The delays before each retry, nominally: 5 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, then
/// every 12 h. Their sum passes three days at the 13th attempt.
const DELAYS: [Duration; 9] = [
    Duration::seconds(5),
    Duration::minutes(1),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(1),
    Duration::hours(2),
    Duration::hours(4),
    Duration::hours(8),
    Duration::hours(12),
];

/// Attempts at most (the first and its retries) before the window closes them anyway.
pub const MAX_ATTEMPTS: u32 = 16;

/// The delay before retrying after `attempts` failed attempts (1 for the first), with
/// `jitter` in `[0, 1)` spreading it by ±20%; `None` once the delivery has been failing for
/// the whole retry window (`failing_for`, since its first attempt) or has used every attempt.
#[must_use]
pub fn retry_delay(attempts: u32, failing_for: Duration, jitter: f64) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS || failing_for >= RETRY_WINDOW {
        return None;
    }
    let index = (attempts.max(1) - 1) as usize;
    let nominal = DELAYS[index.min(DELAYS.len() - 1)];
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    let delay = nominal * factor;
    // The last retry lands inside the window, not after it.
    Some(delay.min(RETRY_WINDOW - failing_for))
}

#[cfg(test)]
mod tests {
    use super::{RETRY_WINDOW, retry_delay};
    use time::Duration;

    #[test]
    fn retries_grow_spread_by_jitter_and_stop_after_three_days() {
        assert_eq!(
            retry_delay(1, Duration::ZERO, 0.5),
            Some(Duration::seconds(5))
        );
        assert_eq!(
            retry_delay(1, Duration::ZERO, 0.0),
            Some(Duration::seconds(4))
        );
        assert_eq!(
            retry_delay(1, Duration::ZERO, 1.0),
            Some(Duration::seconds(6))
        );
        let mut failing = Duration::ZERO;
        let mut attempts = 1;
        let mut last = Duration::ZERO;
        while let Some(d) = retry_delay(attempts, failing, 0.5) {
            assert!(
                d >= last || failing + d >= RETRY_WINDOW - Duration::hours(12),
                "{d}"
            );
            last = d;
            failing += d;
            attempts += 1;
        }
        assert_eq!(
            failing, RETRY_WINDOW,
            "the last retry is at the end of the window"
        );
        assert!((12..=16).contains(&attempts), "{attempts}");
        assert_eq!(retry_delay(2, RETRY_WINDOW, 0.5), None);
    }
}
