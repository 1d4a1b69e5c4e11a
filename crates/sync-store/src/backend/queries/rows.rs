//! Diesel rows and their conversion to and from domain values.

use chrono::NaiveDate;
use diesel::prelude::*;
use sync_core::running::{parse_time_zone, Goal, Tz};
use sync_core::{Fingerprint, IdempotencyRecord, StoredWorkout, SyncCounts, WorkoutContent};
use uuid::Uuid;

use super::schema::{goals, idempotency_records, ingest_tokens, sessions, syncs, users, workouts};
use crate::history::HistoryMark;
use crate::records::{Credentials, IngestToken, Session, SessionUse, SyncRecord, User};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = workouts)]
// Batch upserts on SQLite need every column bound explicitly.
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct WorkoutRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub client_id: String,
    pub start_time: DbTime,
    pub start_offset_minutes: i32,
    pub start_date: NaiveDate,
    pub end_time: DbTime,
    pub duration_seconds: i64,
    pub distance_meters: f64,
    pub energy_burned_kcal: Option<f64>,
    pub avg_heart_rate: Option<i32>,
    pub max_heart_rate: Option<i32>,
    pub avg_pace_seconds_per_km: Option<f64>,
    pub source: String,
    pub client_version: i64,
    pub revision: i64,
    pub change_seq: i64,
    pub deleted_at: Option<DbTime>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl WorkoutRow {
    pub fn from_stored(user_id: Uuid, w: &StoredWorkout) -> Self {
        WorkoutRow {
            id: DbUuid(w.id),
            user_id: DbUuid(user_id),
            client_id: w.client_id.clone(),
            start_time: DbTime(w.content.start_time),
            start_offset_minutes: w.start_offset_minutes,
            start_date: w.start_date,
            end_time: DbTime(w.content.end_time),
            duration_seconds: w.content.duration_seconds,
            distance_meters: w.content.distance_meters,
            energy_burned_kcal: w.content.energy_burned_kcal,
            avg_heart_rate: w.content.avg_heart_rate,
            max_heart_rate: w.content.max_heart_rate,
            avg_pace_seconds_per_km: w.content.avg_pace_seconds_per_km,
            source: w.content.source.clone(),
            client_version: w.client_version,
            revision: w.revision,
            change_seq: w.change_seq,
            deleted_at: w.deleted_at.map(DbTime),
            created_at: DbTime(w.created_at),
            updated_at: DbTime(w.updated_at),
        }
    }

    pub fn into_stored(self) -> StoredWorkout {
        StoredWorkout {
            id: self.id.0,
            client_id: self.client_id,
            content: WorkoutContent {
                start_time: self.start_time.0,
                end_time: self.end_time.0,
                duration_seconds: self.duration_seconds,
                distance_meters: self.distance_meters,
                energy_burned_kcal: self.energy_burned_kcal,
                avg_heart_rate: self.avg_heart_rate,
                max_heart_rate: self.max_heart_rate,
                avg_pace_seconds_per_km: self.avg_pace_seconds_per_km,
                source: self.source,
            },
            start_offset_minutes: self.start_offset_minutes,
            start_date: self.start_date,
            client_version: self.client_version,
            revision: self.revision,
            change_seq: self.change_seq,
            deleted_at: self.deleted_at.map(|t| t.0),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: DbUuid,
    pub email: String,
    pub password_hash: String,
    pub change_seq: i64,
    pub workout_count: i64,
    pub sync_count: i64,
    pub last_sync_at: Option<DbTime>,
    pub created_at: DbTime,
    pub time_zone: String,
}

impl UserRow {
    pub fn user(&self) -> User {
        User {
            id: self.id.0,
            email: self.email.clone(),
            created_at: self.created_at.0,
            time_zone: self.time_zone.clone(),
        }
    }

    pub fn into_credentials(self) -> Credentials {
        Credentials {
            user: self.user(),
            password_hash: self.password_hash,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub user_agent: Option<String>,
    pub created_at: DbTime,
    pub last_used_at: DbTime,
    pub expires_at: DbTime,
    pub revoked_at: Option<DbTime>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id.0,
            user_id: r.user_id.0,
            user_agent: r.user_agent,
            created_at: r.created_at.0,
            last_used_at: r.last_used_at.0,
            expires_at: r.expires_at.0,
            revoked_at: r.revoked_at.map(|t| t.0),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_records)]
pub(crate) struct IdempotencyRow {
    pub user_id: DbUuid,
    pub key: String,
    pub fingerprint: String,
    pub response_body: String,
    pub sync_id: DbUuid,
    pub created_at: DbTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = syncs)]
pub(crate) struct SyncRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub seq: i64,
    pub mode: String,
    pub idempotency_key: Option<String>,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub deleted: i32,
    pub conflicts: i32,
    pub rejected: i32,
    pub change_seq: i64,
    pub client_sync_timestamp: Option<DbTime>,
    pub created_at: DbTime,
}

impl SyncRow {
    pub fn into_record(self) -> Result<SyncRecord, StoreError> {
        let count = |n: i32| {
            usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
        };
        Ok(SyncRecord {
            id: self.id.0,
            seq: self.seq,
            mode: self.mode,
            idempotency_key: self.idempotency_key,
            counts: SyncCounts {
                created: count(self.created)?,
                updated: count(self.updated)?,
                unchanged: count(self.unchanged)?,
                deleted: count(self.deleted)?,
                conflicts: count(self.conflicts)?,
                rejected: count(self.rejected)?,
            },
            change_seq: self.change_seq,
            client_sync_timestamp: self.client_sync_timestamp.map(|t| t.0),
            created_at: self.created_at.0,
        })
    }
}

/// What a sync records besides its workouts, in the same transaction: the user row's change
/// position, sync count, last sync time and live-workout count; the sync record; and, when a
/// key was given, the response to replay. Written by the backend's `hooks::write_sync`, with
/// the sync's workouts.
pub(crate) struct SyncBookkeeping {
    pub new_seq: i64,
    pub now: DbTime,
    /// Live workouts added (created minus deleted).
    pub live_delta: i64,
    /// The sync record; its `seq` is the user's sync count after the update.
    pub sync: SyncRow,
    pub idempotency: Option<IdempotencyRow>,
    /// The user's settled-history mark after the sync.
    pub history: HistoryMark,
}

/// A key's record as stored: what `sync-core` decides a repeated request by.
pub(crate) fn key_record(
    fingerprint: String,
    response_body: String,
    created_at: DbTime,
) -> IdempotencyRecord {
    IdempotencyRecord {
        fingerprint: Fingerprint::from_stored(fingerprint),
        response_body,
        created_at: created_at.0,
    }
}

/// What a write reads before it changes anything (`hooks::key_and_subscriptions`), in one
/// statement on PostgreSQL: the stored record of the sync's idempotency key (`None` without a
/// key or a record), and the user's webhook subscriptions (id and stored event list) that its
/// events go to.
pub(crate) struct KeyAndSubscriptions {
    pub stored_key: Option<IdempotencyRecord>,
    pub subscriptions: Vec<(DbUuid, String)>,
}

/// The user row as a write transaction holds it (`hooks::lock_user`): their change-feed
/// position and the time zone that dates the workouts written under the lock.
pub(crate) struct UserLock {
    pub change_seq: i64,
    /// Moved on by every sync, whether or not it changed a workout.
    pub sync_count: i64,
    pub time_zone: String,
    /// The settled history's mark, which the change writes back moved on (`crate::history`).
    pub history: HistoryMark,
}

/// What a sync reads before it plans, without a lock (`hooks::sync_sight`): the user row, the
/// caller's session as read with it (`None` when it is not the user's or none was named), the
/// key's record, and the user's subscriptions, `None` when they were not read (SQLite reads
/// them only when no record was found: a record usually decides the request, and a sync that
/// goes on without them takes the locked path, which reads them).
pub(crate) struct SyncSight {
    pub user: UserLock,
    pub session: Option<SessionUse>,
    pub stored_key: Option<IdempotencyRecord>,
    pub subscriptions: Option<Vec<(DbUuid, String)>>,
    /// The batch's stored rows, read with the rest when the sync goes on to be planned here:
    /// client ids were given, no key record was found and the user has no subscriptions.
    /// `None` when they were not read.
    pub stored: Option<Vec<WorkoutRow>>,
}

impl SyncSight {
    /// Whether a sync with this sight is planned without the lock, so that its batch's stored
    /// rows are read with the sight: no key record decides it and no webhook events must be
    /// queued with its write.
    pub fn plans_unlocked(&self) -> bool {
        self.stored_key.is_none() && self.subscriptions.as_ref().is_some_and(|s| s.is_empty())
    }
}

/// What a sync planned without the user's lock depends on, for the write to check in the
/// statement (or the transaction) that writes it (`hooks::write_sync`): the user row as the
/// plan read it, and the caller's session still active. Every change a plan reads moves the
/// row: each workout write moves `change_seq`, each sync `sync_count` (and only a sync writes a
/// key's record), and a zone change `time_zone`; the history mark moves only with
/// `change_seq`. So a row that still holds these three values means the plan's reads stand.
pub(crate) struct SyncGuard {
    pub user: DbUuid,
    pub change_seq: i64,
    pub sync_count: i64,
    pub time_zone: String,
    pub session: Option<DbUuid>,
    pub now: DbTime,
}

impl SyncGuard {
    /// The guard of a plan made from `seen`, the user row, for the command's session.
    pub fn of(user: Uuid, seen: &UserLock, session: Option<Uuid>, now: DbTime) -> SyncGuard {
        SyncGuard {
            user: DbUuid(user),
            change_seq: seen.change_seq,
            sync_count: seen.sync_count,
            time_zone: seen.time_zone.clone(),
            session: session.map(DbUuid),
            now,
        }
    }
}

/// A session's columns as the user lock reads them beside the user row (`expires_at`,
/// `revoked_at`, `last_used_at`), left-joined: `None` when the claimed session is not the
/// user's.
pub(crate) type SessionColumns = Option<(DbTime, Option<DbTime>, DbTime)>;

/// What a request's check of its session needs from [`SessionColumns`].
pub(crate) fn session_use(columns: SessionColumns) -> Option<SessionUse> {
    columns.map(|(expires_at, revoked_at, last_used_at)| SessionUse {
        expires_at: expires_at.0,
        revoked_at: revoked_at.map(|t| t.0),
        last_used_at: last_used_at.0,
    })
}

impl UserLock {
    /// The stored zone; only names `parse_time_zone` accepted are ever written.
    pub fn zone(&self) -> Result<Tz, StoreError> {
        parse_time_zone(&self.time_zone)
            .map_err(|e| StoreError::Corrupt(format!("stored time zone {:?}: {e}", e.name)))
    }
}

/// A year's goal as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = goals)]
pub(crate) struct GoalRow {
    pub user_id: DbUuid,
    pub year: i32,
    pub target_days: i32,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl GoalRow {
    /// The goal as served; the table's check constraint keeps `target_days` within 1–366.
    pub fn into_goal(self) -> Result<Goal, StoreError> {
        let target_days = u16::try_from(self.target_days)
            .map_err(|_| StoreError::Corrupt(format!("goal target {}", self.target_days)))?;
        Ok(Goal {
            year: self.year,
            target_days,
            created_at: Some(self.created_at.0),
            updated_at: Some(self.updated_at.0),
        })
    }
}

/// An ingest token as stored (its secret only as a hash).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ingest_tokens)]
pub(crate) struct IngestTokenRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub name: String,
    pub token_hash: String,
    pub created_at: DbTime,
    pub last_used_at: Option<DbTime>,
}

impl From<IngestTokenRow> for IngestToken {
    fn from(r: IngestTokenRow) -> Self {
        IngestToken {
            id: r.id.0,
            user_id: r.user_id.0,
            name: r.name,
            created_at: r.created_at.0,
            last_used_at: r.last_used_at.map(|t| t.0),
        }
    }
}

/// Counts are bounded by the batch limit, far below `i32::MAX`.
pub(crate) fn count_column(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
