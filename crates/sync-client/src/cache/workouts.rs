//! Workouts: saved from a local source, deleted, read back, counted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sync_core::{validate_workout, RejectedWorkout, ValidWorkout, WorkoutContent};
use uuid::Uuid;

use super::rows::{now_text, parse_time, CachedWorkoutRow, ContentColumns};
use super::{keys, Cache};
use crate::bodies::wire_workout;
use crate::error::CacheError;
use crate::schema::{pending_batches, workouts};

/// Why the server rejected a workout: for each field, its messages (the `errors` of a
/// [`RejectedWorkout`]).
pub type RejectionReasons = BTreeMap<String, Vec<String>>;

/// A workout as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedWorkout {
    /// The client id (stable; the server's `client_id`).
    pub client_id: String,
    /// The workout data.
    pub content: WorkoutContent,
    /// The UTC offset, in minutes, the workout's start time is sent with.
    pub start_offset_minutes: i32,
    /// The server's id, once known.
    pub server_id: Option<Uuid>,
    /// The server's revision, once known.
    pub revision: Option<i64>,
    /// Deleted here (to be sent while `needs_sync`) or on the server.
    pub deleted: bool,
    /// Saved locally, not yet confirmed by the server.
    pub needs_sync: bool,
    /// When the server last confirmed it.
    pub synced_at: Option<DateTime<Utc>>,
    /// Bumped on every local change.
    pub local_version: i64,
    /// Why the server rejected the current version, when it did.
    pub rejected: Option<RejectionReasons>,
}

/// What [`Cache::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new workout, queued for sync.
    Inserted,
    /// A changed workout, queued for sync.
    Changed,
    /// Nothing changed (the same data was saved before).
    Unchanged,
    /// The workout was deleted (here or on the server) and stays deleted.
    KeptDeleted,
}

/// Counts and state for `rdsync status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheSummary {
    /// Live (not deleted) workouts.
    pub workouts: usize,
    /// Tombstones.
    pub deleted: usize,
    /// Workouts and deletions waiting to be confirmed by the server.
    pub needs_sync: usize,
    /// Workouts whose current version the server rejected.
    pub rejected: usize,
    /// Batches sent (or about to be) and not yet confirmed.
    pub pending_batches: usize,
    /// The last completed sync.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Whether a change-feed position is stored (a pull has run).
    pub has_cursor: bool,
}

/// Validates a workout given as wire JSON (as in a sync request) with the server's own rules.
pub fn workout_from_json(raw: &Value) -> Result<ValidWorkout, RejectedWorkout> {
    validate_workout(0, raw, Utc::now())
}

/// A hash of a workout's content as its source gave it.
fn origin_hash(content: &WorkoutContent, offset_minutes: i32) -> String {
    // Through `Value`, whose keys are sorted: the text, and so the hash, stays what earlier
    // versions of the client stored.
    let wire = serde_json::to_value(wire_workout("", content, offset_minutes))
        .expect("a workout always serialises");
    let digest = Sha256::digest(wire.to_string().as_bytes());
    hex::encode(digest)
}

impl Cache {
    /// Saves a workout from a local source (an import, an edit). A new or changed workout is
    /// queued (`needs_sync = true`); saving what the source gave before changes nothing, even
    /// after the server's copy replaced the local one.
    pub fn save(&self, workout: &ValidWorkout) -> Result<SaveOutcome, CacheError> {
        Ok(self.save_all(std::slice::from_ref(workout))?[0])
    }

    /// [`Cache::save`] for many workouts, in one transaction.
    pub fn save_all(&self, batch: &[ValidWorkout]) -> Result<Vec<SaveOutcome>, CacheError> {
        let now = now_text(Utc::now());
        self.write(|conn| {
            let mut outcomes = Vec::with_capacity(batch.len());
            for workout in batch {
                outcomes.push(Cache::save_in(conn, workout, &now)?);
            }
            Ok(outcomes)
        })
    }

    fn save_in(
        conn: &mut SqliteConnection,
        workout: &ValidWorkout,
        now: &str,
    ) -> Result<SaveOutcome, CacheError> {
        let hash = origin_hash(&workout.content, workout.start_offset_minutes);
        let existing = workouts::table
            .find(&workout.client_id)
            .select(CachedWorkoutRow::as_select())
            .first(conn)
            .optional()?;
        let columns = ContentColumns::of(&workout.content, workout.start_offset_minutes);
        let Some(row) = existing else {
            let row = CachedWorkoutRow {
                origin_hash: Some(hash),
                ..CachedWorkoutRow::new(workout.client_id.clone(), columns, now)
            };
            diesel::insert_into(workouts::table)
                .values(&row)
                .execute(conn)?;
            return Ok(SaveOutcome::Inserted);
        };
        if row.deleted {
            return Ok(SaveOutcome::KeptDeleted);
        }
        if row.origin_hash.as_deref() == Some(hash.as_str()) {
            return Ok(SaveOutcome::Unchanged);
        }
        let same_content = row.content()? == workout.content
            && row.start_offset_minutes() == workout.start_offset_minutes;
        if same_content {
            diesel::update(workouts::table.find(&row.id))
                .set(workouts::origin_hash.eq(&hash))
                .execute(conn)?;
            return Ok(SaveOutcome::Unchanged);
        }
        diesel::update(workouts::table.find(&row.id))
            .set((
                &columns,
                workouts::origin_hash.eq(&hash),
                workouts::needs_sync.eq(true),
                workouts::local_version.eq(row.local_version + 1),
                workouts::rejected.eq(None::<String>),
                workouts::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(SaveOutcome::Changed)
    }

    /// Marks a workout deleted locally; the deletion is queued for the server
    /// (`deleted_client_ids`). Returns whether the workout was there (and live).
    pub fn delete(&self, client_id: &str) -> Result<bool, CacheError> {
        let now = now_text(Utc::now());
        self.write(|conn| {
            let updated = diesel::update(
                workouts::table
                    .find(client_id)
                    .filter(workouts::deleted.eq(false)),
            )
            .set((
                workouts::deleted.eq(true),
                workouts::needs_sync.eq(true),
                workouts::local_version.eq(workouts::local_version + 1),
                workouts::rejected.eq(None::<String>),
                workouts::updated_at.eq(&now),
            ))
            .execute(conn)?;
            Ok(updated > 0)
        })
    }

    /// One workout by client id.
    pub fn workout(&self, client_id: &str) -> Result<Option<CachedWorkout>, CacheError> {
        self.with(|conn| {
            workouts::table
                .find(client_id)
                .select(CachedWorkoutRow::as_select())
                .first(conn)
                .optional()?
                .map(CachedWorkoutRow::into_cached)
                .transpose()
        })
    }

    /// Every workout, tombstones included, by client id.
    pub fn workouts(&self) -> Result<Vec<CachedWorkout>, CacheError> {
        self.with(|conn| {
            workouts::table
                .order(workouts::id.asc())
                .select(CachedWorkoutRow::as_select())
                .load(conn)?
                .into_iter()
                .map(CachedWorkoutRow::into_cached)
                .collect()
        })
    }

    /// Counts for a status display.
    pub fn summary(&self) -> Result<CacheSummary, CacheError> {
        self.with(|conn| {
            let count = |conn: &mut SqliteConnection, deleted: bool| -> Result<usize, CacheError> {
                let n: i64 = workouts::table
                    .filter(workouts::deleted.eq(deleted))
                    .count()
                    .get_result(conn)?;
                Ok(n as usize)
            };
            let live = count(conn, false)?;
            let deleted = count(conn, true)?;
            let needs_sync: i64 = workouts::table
                .filter(workouts::needs_sync.eq(true))
                .count()
                .get_result(conn)?;
            let rejected: i64 = workouts::table
                .filter(workouts::rejected.is_not_null())
                .count()
                .get_result(conn)?;
            let pending: i64 = pending_batches::table.count().get_result(conn)?;
            let last_sync_at = Cache::get_in(conn, keys::LAST_SYNC_AT)?
                .map(|t| parse_time("last_sync_at", &t))
                .transpose()?;
            Ok(CacheSummary {
                workouts: live,
                deleted,
                needs_sync: needs_sync as usize,
                rejected: rejected as usize,
                pending_batches: pending as usize,
                last_sync_at,
                has_cursor: Cache::get_in(conn, keys::CHANGE_CURSOR)?.is_some(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_support::workout;

    #[test]
    fn saving_queues_new_and_changed_workouts_only() {
        let cache = Cache::open(":memory:").unwrap();
        assert_eq!(
            cache.save(&workout("a", 5000.0)).unwrap(),
            SaveOutcome::Inserted
        );
        assert_eq!(
            cache.save(&workout("a", 5000.0)).unwrap(),
            SaveOutcome::Unchanged
        );
        assert_eq!(
            cache.save(&workout("a", 5100.0)).unwrap(),
            SaveOutcome::Changed
        );
        let stored = cache.workout("a").unwrap().unwrap();
        assert!(stored.needs_sync);
        assert_eq!(stored.local_version, 2);
        assert!(cache.delete("a").unwrap());
        assert_eq!(
            cache.save(&workout("a", 5100.0)).unwrap(),
            SaveOutcome::KeptDeleted
        );
    }
}
