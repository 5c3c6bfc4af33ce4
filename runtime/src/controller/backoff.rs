//! Per-object exponential backoff between failed reconciles.
//!
//! A failing object is retried after `min`, then `2·min`, `4·min`, ... up to
//! `max` (`--min-retry-delay` 750ms / `--max-retry-delay` 15m), like
//! controller-runtime's per-item exponential failure rate limiter. Each
//! object backs off on its own, and one success resets it, so a flapping
//! object never slows down the others.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// The delay after `failures` previous consecutive failures:
/// `min · 2^failures`, capped at `max`.
pub fn delay(min: Duration, max: Duration, failures: u32) -> Duration {
    // 2^31 · 1ns already exceeds any sensible cap; avoid overflow beyond it.
    let factor = 2u32.saturating_pow(failures.min(31));
    min.checked_mul(factor).map_or(max, |d| d.min(max))
}

/// Consecutive-failure counts per object key.
#[derive(Debug)]
pub struct Backoff<Key> {
    min: Duration,
    max: Duration,
    failures: HashMap<Key, u32>,
}

impl<Key: Eq + Hash> Backoff<Key> {
    /// A backoff between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            failures: HashMap::new(),
        }
    }

    /// Records one more failure of `key` and returns how long to wait
    /// before retrying it.
    pub fn next_delay(&mut self, key: Key) -> Duration {
        let failures = self.failures.entry(key).or_insert(0);
        let wait = delay(self.min, self.max, *failures);
        *failures = failures.saturating_add(1);
        wait
    }

    /// Forgets the failures of `key` (after a success or deletion).
    pub fn reset(&mut self, key: &Key) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(750);
    const MAX: Duration = Duration::from_secs(15 * 60);

    #[test]
    fn grows_exponentially_from_min() {
        let mut b = Backoff::new(MIN, MAX);
        let delays: Vec<_> = (0..5).map(|_| b.next_delay("a")).collect();
        assert_eq!(
            delays,
            [750, 1500, 3000, 6000, 12000].map(Duration::from_millis)
        );
    }

    #[test]
    fn caps_at_max() {
        let mut b = Backoff::new(MIN, MAX);
        let last = (0..100).map(|_| b.next_delay("a")).last();
        assert_eq!(last, Some(MAX));
        assert_eq!(delay(MIN, MAX, u32::MAX), MAX);
        // 750ms · 2^10 = 768s < 900s; 2^11 is capped.
        assert_eq!(delay(MIN, MAX, 10), Duration::from_secs(768));
        assert_eq!(delay(MIN, MAX, 11), MAX);
    }

    #[test]
    fn objects_back_off_independently_and_reset_on_success() {
        let mut b = Backoff::new(MIN, MAX);
        b.next_delay("a");
        b.next_delay("a");
        assert_eq!(b.next_delay("b"), MIN);
        b.reset(&"a");
        assert_eq!(b.next_delay("a"), MIN);
    }
}
