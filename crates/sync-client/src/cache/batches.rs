//! Batches: workouts claimed into a request that is persisted (key and exact body) before
//! it is sent, then confirmed with the server's answer or dropped when it was refused.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use sync_core::{ConflictReason, SyncMode, SyncResponse};

use super::rows::{now_text, offset_for_view, CachedWorkoutRow, ContentColumns};
use super::{Cache, RejectionReasons};
use crate::bodies::{self, wire_workout, SentBatch};
use crate::error::CacheError;
use crate::schema::{pending_batches, workouts};

/// A batch persisted before sending: its key and exact body are reused on every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    /// The idempotency key.
    pub key: String,
    /// `incremental` or `full`.
    pub mode: String,
    /// The JSON request body, byte for byte as sent.
    pub body: String,
}

/// What confirming a batch did to the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmOutcome {
    /// Workouts and deletions now marked synced.
    pub confirmed: usize,
    /// Workouts replaced by the server's copy (server wins).
    pub replaced_by_server: usize,
    /// Workouts rejected by the server (still queued, with the reason stored).
    pub rejected: Vec<(String, RejectionReasons)>,
    /// Workouts changed locally while the batch was out: still queued.
    pub changed_meanwhile: usize,
}

impl Cache {
    fn selection(mode: SyncMode) -> workouts::BoxedQuery<'static, diesel::sqlite::Sqlite> {
        let query = workouts::table
            .filter(workouts::batch_key.is_null())
            .into_boxed();
        match mode {
            // What changed since the last sync, except versions the server already rejected
            // (those go again with the next full sync or once changed).
            SyncMode::Incremental => query
                .filter(workouts::needs_sync.eq(true))
                .filter(workouts::rejected.is_null()),
            // Everything live, plus the deletions not yet confirmed.
            SyncMode::Full => query.filter(
                workouts::deleted
                    .eq(false)
                    .or(workouts::needs_sync.eq(true)),
            ),
        }
    }

    /// How many workouts and deletions a sync in `mode` would send (not counting those already
    /// in an unconfirmed batch).
    pub fn count_to_sync(&self, mode: SyncMode) -> Result<usize, CacheError> {
        self.with(|conn| {
            let n: i64 = Cache::selection(mode)
                .select(diesel::dsl::count_star())
                .first(conn)?;
            Ok(n as usize)
        })
    }

    /// The batches persisted and not yet confirmed, oldest first.
    pub fn pending_batches(&self) -> Result<Vec<PendingBatch>, CacheError> {
        self.with(|conn| {
            let rows: Vec<(String, String, String)> = pending_batches::table
                .order(pending_batches::seq.asc())
                .select((
                    pending_batches::idempotency_key,
                    pending_batches::mode,
                    pending_batches::body,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(key, mode, body)| PendingBatch { key, mode, body })
                .collect())
        })
    }

    /// Takes up to `limit` workouts (ids after `after`, in id order) into a new batch under
    /// `key`, persisting the batch and its exact body before anything is sent. `None` when
    /// nothing is left. Returns the batch and the last id it took (for the next call).
    pub(crate) fn claim_batch(
        &self,
        mode: SyncMode,
        limit: usize,
        after: Option<&str>,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(PendingBatch, String)>, CacheError> {
        self.write(|conn| {
            let mut query = Cache::selection(mode);
            if let Some(after) = after {
                query = query.filter(workouts::id.gt(after.to_owned()));
            }
            let rows: Vec<CachedWorkoutRow> = query
                .order(workouts::id.asc())
                .limit(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
                .select(CachedWorkoutRow::as_select())
                .load(conn)?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                return Ok(None);
            };
            let mut live = Vec::new();
            let mut deleted = Vec::new();
            for row in &rows {
                if row.deleted {
                    deleted.push(row.id.clone());
                } else {
                    live.push(wire_workout(
                        &row.id,
                        &row.content()?,
                        row.start_offset_minutes(),
                    ));
                }
            }
            let body = bodies::sync_request(live, deleted, mode, key, now);
            diesel::insert_into(pending_batches::table)
                .values((
                    pending_batches::idempotency_key.eq(key),
                    pending_batches::mode.eq(mode.as_str()),
                    pending_batches::body.eq(&body),
                    pending_batches::created_at.eq(now_text(now)),
                ))
                .execute(conn)?;
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            diesel::update(workouts::table.filter(workouts::id.eq_any(&ids)))
                .set((
                    workouts::batch_key.eq(key),
                    workouts::batch_version.eq(workouts::local_version.nullable()),
                ))
                .execute(conn)?;
            Ok(Some((
                PendingBatch {
                    key: key.to_owned(),
                    mode: mode.as_str().to_owned(),
                    body,
                },
                last,
            )))
        })
    }

    /// Forgets an unconfirmed batch that the server refused as a whole (nothing of it was
    /// applied): its workouts stay queued and go into a new batch next time.
    pub(crate) fn drop_batch(&self, key: &str) -> Result<(), CacheError> {
        self.write(|conn| {
            Cache::release_batch(conn, key)?;
            diesel::delete(pending_batches::table.filter(pending_batches::idempotency_key.eq(key)))
                .execute(conn)?;
            Ok(())
        })
    }

    fn release_batch(conn: &mut SqliteConnection, key: &str) -> Result<(), CacheError> {
        diesel::update(workouts::table.filter(workouts::batch_key.eq(key)))
            .set((
                workouts::batch_key.eq(None::<String>),
                workouts::batch_version.eq(None::<i64>),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Applies the server's answer to a batch: confirmed workouts leave the queue, conflicts
    /// take the server's copy (server wins), rejected ones stay queued with the reason; the
    /// batch and its key are then forgotten. A workout changed locally while the batch was out
    /// stays queued whatever the answer.
    pub(crate) fn confirm_batch(
        &self,
        key: &str,
        response: &SyncResponse,
        now: DateTime<Utc>,
    ) -> Result<ConfirmOutcome, CacheError> {
        let now = now_text(now);
        self.write(|conn| {
            let body: String = pending_batches::table
                .filter(pending_batches::idempotency_key.eq(key))
                .select(pending_batches::body)
                .first(conn)
                .optional()?
                .ok_or_else(|| CacheError::Corrupt {
                    what: "pending_batches".into(),
                    message: format!("no batch with key {key:?}"),
                })?;
            let sent = SentBatch::parse(&body).map_err(|e| CacheError::Corrupt {
                what: "pending_batches.body".into(),
                message: e.to_string(),
            })?;
            let conflicts: HashMap<&str, _> = response
                .conflicts
                .iter()
                .map(|c| (c.client_id.as_str(), c))
                .collect();
            let mut rejected: HashMap<String, RejectionReasons> = HashMap::new();
            for r in &response.rejected {
                let id = r
                    .client_id
                    .clone()
                    .or_else(|| sent.workout_ids.get(r.index).cloned())
                    .unwrap_or_default();
                rejected.insert(id, r.errors.clone());
            }

            let rows: Vec<CachedWorkoutRow> = workouts::table
                .filter(workouts::batch_key.eq(key))
                .select(CachedWorkoutRow::as_select())
                .load(conn)?;
            let mut outcome = ConfirmOutcome::default();
            for row in rows {
                let target = workouts::table.find(&row.id);
                let unchanged_since_sent = row.batch_version == Some(row.local_version);
                if !unchanged_since_sent {
                    outcome.changed_meanwhile += 1;
                    continue;
                }
                if sent.deleted_ids.contains(row.id.as_str()) {
                    diesel::update(target)
                        .set((workouts::needs_sync.eq(false), workouts::synced_at.eq(&now)))
                        .execute(conn)?;
                    outcome.confirmed += 1;
                } else if let Some(conflict) = conflicts.get(row.id.as_str()) {
                    let server = &conflict.server_workout;
                    let columns = ContentColumns::of_view(
                        server,
                        offset_for_view(server, Some(row.start_offset_minutes())),
                    );
                    diesel::update(target)
                        .set((
                            &columns,
                            workouts::server_id.eq(server.id.to_string()),
                            workouts::revision.eq(server.revision),
                            workouts::deleted
                                .eq(conflict.reason == ConflictReason::DeletedOnServer),
                            workouts::needs_sync.eq(false),
                            workouts::rejected.eq(None::<String>),
                            workouts::synced_at.eq(&now),
                        ))
                        .execute(conn)?;
                    outcome.replaced_by_server += 1;
                } else if let Some(errors) = rejected.get(&row.id) {
                    let text = serde_json::to_string(errors).unwrap_or_else(|_| "{}".into());
                    diesel::update(target)
                        .set(workouts::rejected.eq(text))
                        .execute(conn)?;
                    outcome.rejected.push((row.id.clone(), errors.clone()));
                } else {
                    diesel::update(target)
                        .set((
                            workouts::needs_sync.eq(false),
                            workouts::rejected.eq(None::<String>),
                            workouts::synced_at.eq(&now),
                        ))
                        .execute(conn)?;
                    outcome.confirmed += 1;
                }
            }
            Cache::release_batch(conn, key)?;
            diesel::delete(pending_batches::table.filter(pending_batches::idempotency_key.eq(key)))
                .execute(conn)?;
            Ok(outcome)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::cache::test_support::workout;

    #[test]
    fn a_claimed_batch_is_persisted_with_its_body_and_excluded_from_the_next_claim() {
        let cache = Cache::open(":memory:").unwrap();
        for id in ["a", "b", "c"] {
            cache.save(&workout(id, 5000.0)).unwrap();
        }
        let now = Utc::now();
        let (batch, last) = cache
            .claim_batch(SyncMode::Incremental, 2, None, "k1", now)
            .unwrap()
            .unwrap();
        assert_eq!(last, "b");
        assert_eq!(cache.pending_batches().unwrap(), vec![batch.clone()]);
        let body: Value = serde_json::from_str(&batch.body).unwrap();
        assert_eq!(body["idempotency_key"], "k1");
        assert_eq!(body["workouts"].as_array().unwrap().len(), 2);
        assert_eq!(cache.count_to_sync(SyncMode::Incremental).unwrap(), 1);
        cache.drop_batch("k1").unwrap();
        assert_eq!(cache.count_to_sync(SyncMode::Incremental).unwrap(), 3);
        assert!(cache.pending_batches().unwrap().is_empty());
    }
}
