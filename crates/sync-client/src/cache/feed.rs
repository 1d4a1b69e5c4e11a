//! The change feed: its stored cursor, and pages of it applied to the cache.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sync_core::WorkoutView;

use super::rows::{content_of_view, now_text, offset_for_view, CachedWorkoutRow, ContentColumns};
use super::{keys, Cache};
use crate::error::CacheError;
use crate::schema::workouts;

/// One entry of the server's change feed, as the cache applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedChange {
    /// Whether the workout is a tombstone.
    pub deleted: bool,
    /// The workout at its latest state.
    pub workout: WorkoutView,
}

/// What applying change-feed entries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Workouts new to this cache (from another device).
    pub added: usize,
    /// Local copies replaced by the server's newer one.
    pub updated: usize,
    /// Local copies marked deleted.
    pub deleted: usize,
    /// Entries that changed nothing here (already known, or a local change is queued).
    pub unchanged: usize,
}

impl Cache {
    /// The stored change-feed cursor (the position after the last pulled change).
    pub fn change_cursor(&self) -> Result<Option<String>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::CHANGE_CURSOR))
    }

    /// Applies a page of the change feed and stores `next_cursor`, in one transaction. The
    /// server's copy replaces a local one that has no queued change; a local change that is
    /// queued is left for the next sync (where the server's copy wins anyway); tombstones mark
    /// the local copy deleted.
    pub(crate) fn apply_changes(
        &self,
        changes: &[FeedChange],
        next_cursor: &str,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, CacheError> {
        let now = now_text(now);
        self.write(|conn| {
            let mut outcome = ApplyOutcome::default();
            for change in changes {
                let server = &change.workout;
                let existing = workouts::table
                    .find(&server.client_id)
                    .select(CachedWorkoutRow::as_select())
                    .first(conn)
                    .optional()?;
                let target = workouts::table.find(&server.client_id);
                match existing {
                    None if change.deleted => outcome.unchanged += 1,
                    None => {
                        let columns =
                            ContentColumns::of_view(server, offset_for_view(server, None));
                        let row = CachedWorkoutRow {
                            server_id: Some(server.id.to_string()),
                            revision: Some(server.revision),
                            needs_sync: false,
                            synced_at: Some(now.clone()),
                            ..CachedWorkoutRow::new(server.client_id.clone(), columns, &now)
                        };
                        diesel::insert_into(workouts::table)
                            .values(&row)
                            .execute(conn)?;
                        outcome.added += 1;
                    }
                    Some(row) if change.deleted => {
                        if row.deleted && !row.needs_sync {
                            outcome.unchanged += 1;
                            continue;
                        }
                        diesel::update(target)
                            .set((
                                workouts::deleted.eq(true),
                                workouts::needs_sync.eq(false),
                                workouts::rejected.eq(None::<String>),
                                workouts::server_id.eq(server.id.to_string()),
                                workouts::revision.eq(server.revision),
                                workouts::synced_at.eq(&now),
                            ))
                            .execute(conn)?;
                        outcome.deleted += 1;
                    }
                    Some(row) if row.needs_sync || row.batch_key.is_some() => {
                        diesel::update(target)
                            .set((
                                workouts::server_id.eq(server.id.to_string()),
                                workouts::revision.eq(server.revision),
                            ))
                            .execute(conn)?;
                        outcome.unchanged += 1;
                    }
                    Some(row) => {
                        let offset = offset_for_view(server, Some(row.start_offset_minutes()));
                        let same = row.content()? == content_of_view(server)
                            && row.start_offset_minutes() == offset
                            && !row.deleted;
                        diesel::update(target)
                            .set((
                                &ContentColumns::of_view(server, offset),
                                workouts::server_id.eq(server.id.to_string()),
                                workouts::revision.eq(server.revision),
                                workouts::deleted.eq(false),
                                workouts::synced_at.eq(&now),
                            ))
                            .execute(conn)?;
                        if same {
                            outcome.unchanged += 1;
                        } else {
                            outcome.updated += 1;
                        }
                    }
                }
            }
            Cache::set_in(conn, keys::CHANGE_CURSOR, next_cursor)?;
            Ok(outcome)
        })
    }
}
