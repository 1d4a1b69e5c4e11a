//! The rendered bodies of the stats reads (`GET /stats/dashboard`, `GET /stats/insights`),
//! kept by runner, endpoint and year together with the `ETag` they were made under.
//!
//! A numbers body is a function of exactly what its `ETag` digests (`routes::running::
//! numbers_etag`): the endpoint, the year, today, the runner's zone, their change-feed
//! position, the goal and the default target. So a body kept under an `ETag` is the body the
//! server would make again for as long as the runner's state still gives that `ETag`, and a
//! read that finds it answers 200 from the one small state read the 304 path makes, without
//! reading or folding a year of workouts. Every device of a runner, the widget, and any client
//! that keeps no `ETag` of its own gets that 200.
//!
//! Nothing is ever invalidated: a change to the runner's workouts, zone or goal, or a new day,
//! gives another `ETag`, which the kept one no longer matches; the next full read replaces
//! it. Each instance keeps its own, bounded by `STATS_CACHE_BYTES`; several instances need no
//! coordination, since each checks the database's current state on every request.

use std::sync::Arc;

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use uuid::Uuid;

/// What a kept body costs besides its own bytes: the key, the `ETag` and the cache's slot.
const ENTRY_OVERHEAD_BYTES: u64 = 128;

/// A rough size of one body, for the cache's first allocation only (a ten-year daily runner's
/// dashboard is 6.9 KB of JSON, their insights 10.2 KB).
const TYPICAL_BODY_BYTES: usize = 8 * 1024;

/// Which read a body answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumbersRead {
    /// `GET /stats/dashboard`.
    Dashboard,
    /// `GET /stats/insights`.
    Insights,
}

impl NumbersRead {
    /// The name the `ETag` digests.
    pub fn name(self) -> &'static str {
        match self {
            NumbersRead::Dashboard => "dashboard",
            NumbersRead::Insights => "insights",
        }
    }
}

/// One runner's read of one year: a later body of the same replaces an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user_id: Uuid,
    read: NumbersRead,
    year: i32,
}

/// A body and the `ETag` it was made under.
struct Kept {
    etag: EntityTag,
    body: Bytes,
}

/// Weighs an entry by the memory it holds.
#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Arc<Kept>> for ByBytes {
    fn weight(&self, _key: &Key, kept: &Arc<Kept>) -> u64 {
        kept.body.len() as u64 + kept.etag.tag().len() as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// The kept bodies of this instance (shared by every worker through `AppState`). With a
/// budget of 0 bytes it keeps nothing and every read is a full read.
pub struct NumbersCache {
    /// Shared entries: a hit clones a pointer, not the `ETag`'s text.
    bodies: Option<Cache<Key, Arc<Kept>, ByBytes>>,
}

impl NumbersCache {
    /// A cache holding at most `budget_bytes` of bodies (0: none).
    pub fn new(budget_bytes: u64) -> NumbersCache {
        let bodies = (budget_bytes > 0).then(|| {
            let items = usize::try_from(budget_bytes)
                .unwrap_or(usize::MAX)
                .div_ceil(TYPICAL_BODY_BYTES);
            Cache::with_weighter(items, budget_bytes, ByBytes)
        });
        NumbersCache { bodies }
    }

    /// Whether any body is kept; when not, a read need not ask for the runner's state first.
    pub fn is_enabled(&self) -> bool {
        self.bodies.is_some()
    }

    /// The body of `read` for the runner's `year`, if the one kept was made under `etag`.
    pub fn get(
        &self,
        user_id: Uuid,
        read: NumbersRead,
        year: i32,
        etag: &EntityTag,
    ) -> Option<Bytes> {
        let kept = self.bodies.as_ref()?.get(&Key {
            user_id,
            read,
            year,
        })?;
        // Strong comparison: the body is byte-for-byte the one this `ETag` names.
        kept.etag.strong_eq(etag).then(|| kept.body.clone())
    }

    /// Keeps `body`, made under `etag`, in place of any earlier body of the same read. A
    /// body larger than the cache's share for it is not kept.
    pub fn put(&self, user_id: Uuid, read: NumbersRead, year: i32, etag: EntityTag, body: Bytes) {
        if let Some(bodies) = &self.bodies {
            let key = Key {
                user_id,
                read,
                year,
            };
            bodies.insert(key, Arc::new(Kept { etag, body }));
        }
    }

    /// The bytes held now, by the weighing above.
    #[cfg(test)]
    fn held_bytes(&self) -> u64 {
        self.bodies.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> EntityTag {
        EntityTag::new_strong(name.to_owned())
    }

    #[test]
    fn a_body_is_served_only_under_the_etag_it_was_made_under() {
        let cache = NumbersCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        let body = Bytes::from_static(b"{\"progress\":1}");
        cache.put(runner, NumbersRead::Dashboard, 2026, tag("a"), body.clone());
        assert_eq!(
            cache.get(runner, NumbersRead::Dashboard, 2026, &tag("a")),
            Some(body)
        );
        // The runner's state moved on: another ETag, and the kept body is not served.
        assert_eq!(
            cache.get(runner, NumbersRead::Dashboard, 2026, &tag("b")),
            None
        );
        // A weak ETag of the same name does not name these bytes.
        let weak = EntityTag::new_weak("a".to_owned());
        assert_eq!(cache.get(runner, NumbersRead::Dashboard, 2026, &weak), None);
    }

    #[test]
    fn bodies_are_kept_apart_by_runner_read_and_year() {
        let cache = NumbersCache::new(1024 * 1024);
        let (runner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let body = Bytes::from_static(b"{}");
        cache.put(runner, NumbersRead::Dashboard, 2026, tag("a"), body.clone());
        assert_eq!(
            cache.get(other, NumbersRead::Dashboard, 2026, &tag("a")),
            None
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Insights, 2026, &tag("a")),
            None
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Dashboard, 2025, &tag("a")),
            None
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Dashboard, 2026, &tag("a")),
            Some(body)
        );
    }

    #[test]
    fn a_newer_body_replaces_the_older_one() {
        let cache = NumbersCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        cache.put(
            runner,
            NumbersRead::Insights,
            2026,
            tag("old"),
            Bytes::from_static(b"[1]"),
        );
        let newer = Bytes::from_static(b"[1,2]");
        cache.put(
            runner,
            NumbersRead::Insights,
            2026,
            tag("new"),
            newer.clone(),
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Insights, 2026, &tag("old")),
            None
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Insights, 2026, &tag("new")),
            Some(newer)
        );
        assert_eq!(cache.held_bytes(), 5 + 3 + ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn the_budget_bounds_what_is_held() {
        let budget = 64 * 1024;
        let cache = NumbersCache::new(budget);
        let body = Bytes::from(vec![b' '; 1024]);
        for _ in 0..1_000 {
            cache.put(
                Uuid::new_v4(),
                NumbersRead::Dashboard,
                2026,
                tag("a"),
                body.clone(),
            );
        }
        assert!(
            cache.held_bytes() <= budget,
            "{} > {budget}",
            cache.held_bytes()
        );
        assert!(cache.held_bytes() > 0);
    }

    #[test]
    fn a_budget_of_nothing_keeps_nothing() {
        let cache = NumbersCache::new(0);
        assert!(!cache.is_enabled());
        let runner = Uuid::new_v4();
        cache.put(
            runner,
            NumbersRead::Dashboard,
            2026,
            tag("a"),
            Bytes::from_static(b"{}"),
        );
        assert_eq!(
            cache.get(runner, NumbersRead::Dashboard, 2026, &tag("a")),
            None
        );
    }
}
