//! Warnings that a failure repeated thousands of times a second (a database
//! outage under OCSP load, a PKCS#11 token gone) would otherwise flood the
//! log with: one line per period, saying how many were held back.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::model::now_ms;

/// Lets a warning through at most once per period.
pub(crate) struct Throttle {
    period_ms: i64,
    next_ms: AtomicI64,
    suppressed: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new(period_ms: i64) -> Throttle {
        Throttle {
            period_ms,
            next_ms: AtomicI64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(warnings suppressed since the last one)` when this one may be
    /// logged.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.period_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn a_throttle_lets_one_warning_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new(50);
        assert_eq!(throttle.allow(), Some(0));
        for _ in 0..3 {
            assert_eq!(throttle.allow(), None);
        }
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(throttle.allow(), Some(3));
        assert_eq!(throttle.allow(), None);
    }
}
