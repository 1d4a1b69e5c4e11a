//! The idempotency keys this instance answered lately, so that a retry's first read can leave
//! out the batch lookup it will not need. A fresh sync reads its batch's stored rows in the
//! same statement as the user row and the key's record (one round trip instead of two); a
//! retry is answered by the record, and on PostgreSQL that larger statement cost a replay a
//! quarter more than the sight alone (docs/benchmarks.md, 25). Only the cost depends on this:
//! a retry that was not remembered is answered the same, and a fresh sync whose key was
//! mistaken for a retry loads its rows in a second statement.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

/// Slots of the table: 512 KiB, the keys of half a minute of syncs at the 2,000 a second
/// measured here, of hours at a runner's pace.
const SLOTS: usize = 1 << 16;

/// A direct-mapped table of hashes of `(user, key)`: remembering a key overwrites whatever
/// shared its slot, so it holds the most recent keys, up to `SLOTS`, in fixed memory and
/// without a lock.
pub(crate) struct RecentKeys {
    slots: Box<[AtomicU64]>,
    hasher: std::hash::RandomState,
}

impl RecentKeys {
    pub fn new() -> RecentKeys {
        RecentKeys {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Remembers that `user`'s key `key` has a stored record: a request with it is answered
    /// by that record while it lives.
    pub fn remember(&self, user: Uuid, key: &str) {
        let hash = self.hash(user, key);
        self.slot(hash).store(hash, Ordering::Relaxed);
    }

    /// Whether `user`'s key `key` was remembered and not overwritten since.
    pub fn seen(&self, user: Uuid, key: &str) -> bool {
        let hash = self.hash(user, key);
        self.slot(hash).load(Ordering::Relaxed) == hash
    }

    fn slot(&self, hash: u64) -> &AtomicU64 {
        &self.slots[(hash % SLOTS as u64) as usize]
    }

    /// The hash of `(user, key)`, never 0 (an empty slot).
    fn hash(&self, user: Uuid, key: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        user.hash(&mut hasher);
        key.hash(&mut hasher);
        hasher.finish() | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_seen_once_remembered_and_only_for_its_user() {
        let keys = RecentKeys::new();
        let (runner, other) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!keys.seen(runner, "sync-1"));
        keys.remember(runner, "sync-1");
        assert!(keys.seen(runner, "sync-1"));
        assert!(!keys.seen(other, "sync-1"), "keys are per user");
        assert!(!keys.seen(runner, "sync-2"));
    }

    #[test]
    fn the_table_keeps_the_newest_keys_in_fixed_memory() {
        let keys = RecentKeys::new();
        let runner = Uuid::new_v4();
        let many = SLOTS * 8;
        for i in 0..many {
            keys.remember(runner, &format!("sync-{i}"));
        }
        // The last key of each slot survives, so the newest are nearly all there and the
        // oldest nearly all gone.
        let newest = (many - 100..many)
            .filter(|i| keys.seen(runner, &format!("sync-{i}")))
            .count();
        let oldest = (0..100)
            .filter(|i| keys.seen(runner, &format!("sync-{i}")))
            .count();
        assert!(newest >= 95, "{newest} of the newest 100 kept");
        assert!(oldest <= 5, "{oldest} of the oldest 100 kept");
        assert_eq!(keys.slots.len(), SLOTS);
    }
}
