//! A moment that threads share and move forward without a lock: when the heartbeat was last
//! answered, when SQLite last checkpointed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A point in time, kept as milliseconds after the moment's creation.
pub(crate) struct Moment {
    origin: Instant,
    at_ms: AtomicU64,
}

impl Moment {
    /// A moment set to now.
    pub(crate) fn now() -> Moment {
        Moment {
            origin: Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long ago the moment is.
    pub(crate) fn ago(&self) -> Duration {
        let at = self.at_ms.load(Ordering::Acquire);
        Duration::from_millis(self.elapsed_ms().saturating_sub(at))
    }

    /// Moves the moment to now.
    pub(crate) fn set_now(&self) {
        self.at_ms.store(self.elapsed_ms(), Ordering::Release);
    }

    /// Moves the moment to now if it is more than `after` ago, and says whether this call did:
    /// of several threads asking at once, one is told yes.
    pub(crate) fn claim_after(&self, after: Duration) -> bool {
        let now = self.elapsed_ms();
        let at = self.at_ms.load(Ordering::Acquire);
        Duration::from_millis(now.saturating_sub(at)) > after
            && self
                .at_ms
                .compare_exchange(at, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_is_claimed_once_it_is_old_enough_and_then_is_new_again() {
        let moment = Moment::now();
        assert!(!moment.claim_after(Duration::from_secs(3600)), "just set");
        std::thread::sleep(Duration::from_millis(5));
        assert!(moment.ago() >= Duration::from_millis(5));
        assert!(moment.claim_after(Duration::from_millis(1)), "old enough");
        assert!(
            moment.ago() < Duration::from_millis(5),
            "claiming moved it to now"
        );
        assert!(
            !moment.claim_after(Duration::from_secs(3600)),
            "claimed once"
        );
        std::thread::sleep(Duration::from_millis(5));
        moment.set_now();
        assert!(moment.ago() < Duration::from_millis(5));
    }
}
