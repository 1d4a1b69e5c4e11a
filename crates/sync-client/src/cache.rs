//! The local cache: a SQLite file (through Diesel) holding the runner's workouts, the session,
//! the change-feed cursor, and the batches sent but not yet confirmed.
//!
//! Every workout saved or changed locally gets `needs_sync = true` first; the flag is cleared
//! only when the server has confirmed that version (created, updated, unchanged, or a conflict
//! whose server copy then replaced the local one). A batch is written here, with its
//! idempotency key and its exact body, *before* it is sent, so that a crash or a lost response
//! is followed by a retry of the same body under the same key, never by a second apply.
//!
//! ```
//! use sync_client::Cache;
//! let cache = Cache::open(":memory:").unwrap();
//! let workout = sync_client::cache::workout_from_json(&serde_json::json!({
//!     "client_id": "run-1", "start_time": "2024-01-15T08:00:00+01:00",
//!     "end_time": "2024-01-15T08:35:00+01:00", "duration_seconds": 2100,
//!     "distance_meters": 5000.0, "source": "apple_watch"})).unwrap();
//! assert_eq!(cache.save(&workout).unwrap(), sync_client::SaveOutcome::Inserted);
//! assert_eq!(cache.save(&workout).unwrap(), sync_client::SaveOutcome::Unchanged);
//! assert_eq!(cache.summary().unwrap().needs_sync, 1);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sync_core::time::format_workout_time;
use sync_core::{
    validate_workout, ConflictReason, RejectedWorkout, SyncMode, SyncResponse, ValidWorkout,
    WorkoutContent, WorkoutView,
};
use uuid::Uuid;

use crate::error::CacheError;
use crate::schema::{kv, pending_batches, workouts};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Keys of the key-value table.
mod keys {
    pub const SERVER_URL: &str = "session.server_url";
    pub const EMAIL: &str = "session.email";
    pub const USER_ID: &str = "session.user_id";
    pub const ACCESS_TOKEN: &str = "session.access_token";
    pub const REFRESH_TOKEN: &str = "session.refresh_token";
    pub const CHANGE_CURSOR: &str = "sync.change_cursor";
    pub const LAST_SYNC_AT: &str = "sync.last_sync_at";
    /// The server and account the cached sync state (server ids, cursor) belongs to.
    pub const SYNC_OWNER: &str = "sync.owner";
}

/// A logged-in session. Its `Debug` never shows the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub server_url: String,
    /// The account's email.
    pub email: String,
    /// The account's id on the server.
    pub user_id: String,
    /// The bearer token (a JWT, short-lived).
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server_url", &self.server_url)
            .field("email", &self.email)
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

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
    /// Why the server rejected the current version, when it did (field → messages).
    pub rejected: Option<BTreeMap<String, Vec<String>>>,
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
    pub rejected: Vec<(String, BTreeMap<String, Vec<String>>)>,
    /// Workouts changed locally while the batch was out: still queued.
    pub changed_meanwhile: usize,
}

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

/// Validates a workout given as wire JSON (as in a sync request) with the server's own rules.
pub fn workout_from_json(raw: &Value) -> Result<ValidWorkout, RejectedWorkout> {
    validate_workout(0, raw, Utc::now())
}

/// The local cache. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Cache {
    conn: Mutex<SqliteConnection>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = workouts, check_for_backend(diesel::sqlite::Sqlite))]
struct WorkoutRow {
    id: String,
    start_time: String,
    start_offset_minutes: i32,
    end_time: String,
    duration_seconds: i64,
    distance_meters: f64,
    energy_burned_kcal: Option<f64>,
    avg_heart_rate: Option<i32>,
    max_heart_rate: Option<i32>,
    avg_pace_seconds_per_km: Option<f64>,
    source: String,
    origin_hash: Option<String>,
    server_id: Option<String>,
    revision: Option<i64>,
    deleted: bool,
    needs_sync: bool,
    synced_at: Option<String>,
    local_version: i64,
    batch_key: Option<String>,
    batch_version: Option<i64>,
    rejected: Option<String>,
    updated_at: String,
}

/// The content columns, for updates.
#[derive(AsChangeset, Debug, Clone)]
#[diesel(table_name = workouts, treat_none_as_null = true)]
struct ContentColumns {
    start_time: String,
    start_offset_minutes: i32,
    end_time: String,
    duration_seconds: i64,
    distance_meters: f64,
    energy_burned_kcal: Option<f64>,
    avg_heart_rate: Option<i32>,
    max_heart_rate: Option<i32>,
    avg_pace_seconds_per_km: Option<f64>,
    source: String,
}

impl ContentColumns {
    fn of(content: &WorkoutContent, offset_minutes: i32) -> ContentColumns {
        ContentColumns {
            start_time: format_workout_time(content.start_time),
            start_offset_minutes: offset_minutes,
            end_time: format_workout_time(content.end_time),
            duration_seconds: content.duration_seconds,
            distance_meters: content.distance_meters,
            energy_burned_kcal: content.energy_burned_kcal,
            avg_heart_rate: content.avg_heart_rate,
            max_heart_rate: content.max_heart_rate,
            avg_pace_seconds_per_km: content.avg_pace_seconds_per_km,
            source: content.source.clone(),
        }
    }

    fn of_view(view: &WorkoutView, offset_minutes: i32) -> ContentColumns {
        ContentColumns::of(&content_of_view(view), offset_minutes)
    }
}

fn content_of_view(view: &WorkoutView) -> WorkoutContent {
    WorkoutContent {
        start_time: view.start_time,
        end_time: view.end_time,
        duration_seconds: view.duration_seconds,
        distance_meters: view.distance_meters,
        energy_burned_kcal: view.energy_burned_kcal,
        avg_heart_rate: view.avg_heart_rate,
        max_heart_rate: view.max_heart_rate,
        avg_pace_seconds_per_km: view.avg_pace_seconds_per_km,
        source: view.source.clone(),
    }
}

/// The offset a server copy's start time was sent with, as far as its `date` tells: the local
/// offset when it gives the same calendar day, else whole hours that do (else UTC).
fn offset_for_view(view: &WorkoutView, local_offset: Option<i32>) -> i32 {
    let date_at = |minutes: i32| sync_core::time::calendar_date(view.start_time, minutes);
    if let Some(local) = local_offset {
        if date_at(local) == view.date {
            return local;
        }
    }
    if date_at(0) == view.date {
        return 0;
    }
    (-12..=14)
        .map(|h| h * 60)
        .find(|m| date_at(*m) == view.date)
        .unwrap_or(0)
}

fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>, CacheError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CacheError::Corrupt {
            what: what.to_owned(),
            message: format!("{text:?}: {e}"),
        })
}

/// A timestamp as sent on the wire: in the offset the workout was recorded in, with a
/// fraction only when it has one.
fn wire_time(instant: DateTime<Utc>, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes.saturating_mul(60))
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    let format = if instant.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    instant.with_timezone(&offset).to_rfc3339_opts(format, true)
}

/// The workout as a sync request carries it (`client_version` never sent: the server's copy
/// wins every disagreement, as the seed's conflict table says).
fn wire_workout(client_id: &str, content: &WorkoutContent, offset_minutes: i32) -> Value {
    let mut object = Map::new();
    object.insert("client_id".into(), client_id.into());
    object.insert(
        "start_time".into(),
        wire_time(content.start_time, offset_minutes).into(),
    );
    object.insert(
        "end_time".into(),
        wire_time(content.end_time, offset_minutes).into(),
    );
    object.insert("duration_seconds".into(), content.duration_seconds.into());
    object.insert("distance_meters".into(), content.distance_meters.into());
    let optional = [
        (
            "energy_burned_kcal",
            content.energy_burned_kcal.map(Value::from),
        ),
        ("avg_heart_rate", content.avg_heart_rate.map(Value::from)),
        ("max_heart_rate", content.max_heart_rate.map(Value::from)),
        (
            "avg_pace_seconds_per_km",
            content.avg_pace_seconds_per_km.map(Value::from),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            object.insert(name.into(), value);
        }
    }
    object.insert("source".into(), content.source.clone().into());
    Value::Object(object)
}

/// A hash of a workout's content as its source gave it.
fn origin_hash(content: &WorkoutContent, offset_minutes: i32) -> String {
    let wire = wire_workout("", content, offset_minutes);
    let digest = Sha256::digest(wire.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl WorkoutRow {
    fn content(&self) -> Result<WorkoutContent, CacheError> {
        Ok(WorkoutContent {
            start_time: parse_time("workouts.start_time", &self.start_time)?,
            end_time: parse_time("workouts.end_time", &self.end_time)?,
            duration_seconds: self.duration_seconds,
            distance_meters: self.distance_meters,
            energy_burned_kcal: self.energy_burned_kcal,
            avg_heart_rate: self.avg_heart_rate,
            max_heart_rate: self.max_heart_rate,
            avg_pace_seconds_per_km: self.avg_pace_seconds_per_km,
            source: self.source.clone(),
        })
    }

    fn into_cached(self) -> Result<CachedWorkout, CacheError> {
        let content = self.content()?;
        let server_id = match &self.server_id {
            Some(text) => Some(Uuid::parse_str(text).map_err(|e| CacheError::Corrupt {
                what: "workouts.server_id".into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let synced_at = match &self.synced_at {
            Some(text) => Some(parse_time("workouts.synced_at", text)?),
            None => None,
        };
        let rejected = match &self.rejected {
            Some(text) => serde_json::from_str(text).ok(),
            None => None,
        };
        Ok(CachedWorkout {
            client_id: self.id,
            content,
            start_offset_minutes: self.start_offset_minutes,
            server_id,
            revision: self.revision,
            deleted: self.deleted,
            needs_sync: self.needs_sync,
            synced_at,
            local_version: self.local_version,
            rejected,
        })
    }
}

impl Cache {
    /// Opens (creating when absent) the cache at `path` and brings its schema up to date.
    /// `":memory:"` gives a cache that lives as long as the value.
    pub fn open(path: &str) -> Result<Cache, CacheError> {
        let mut conn = SqliteConnection::establish(path).map_err(|e| CacheError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| CacheError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| CacheError::Migration(e.to_string()))?;
        Ok(Cache {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        let mut conn = self.conn.lock().map_err(|_| CacheError::Poisoned)?;
        f(&mut conn)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        self.with(|conn| conn.immediate_transaction(f))
    }

    // ---- key-value ------------------------------------------------------------------------

    fn get_in(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, CacheError> {
        Ok(kv::table
            .find(key)
            .select(kv::value)
            .first::<String>(conn)
            .optional()?)
    }

    fn set_in(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<(), CacheError> {
        diesel::replace_into(kv::table)
            .values((kv::key.eq(key), kv::value.eq(value)))
            .execute(conn)?;
        Ok(())
    }

    fn delete_in(conn: &mut SqliteConnection, key: &str) -> Result<(), CacheError> {
        diesel::delete(kv::table.find(key)).execute(conn)?;
        Ok(())
    }

    // ---- session --------------------------------------------------------------------------

    /// The stored session, if logged in.
    pub fn session(&self) -> Result<Option<Session>, CacheError> {
        self.with(|conn| {
            let get = |conn: &mut SqliteConnection, key| Cache::get_in(conn, key);
            let (Some(server_url), Some(access_token), Some(refresh_token)) = (
                get(conn, keys::SERVER_URL)?,
                get(conn, keys::ACCESS_TOKEN)?,
                get(conn, keys::REFRESH_TOKEN)?,
            ) else {
                return Ok(None);
            };
            Ok(Some(Session {
                server_url,
                email: get(conn, keys::EMAIL)?.unwrap_or_default(),
                user_id: get(conn, keys::USER_ID)?.unwrap_or_default(),
                access_token,
                refresh_token,
            }))
        })
    }

    /// The server URL of the stored session (kept after logout), if any.
    pub fn server_url(&self) -> Result<Option<String>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::SERVER_URL))
    }

    /// Stores a new session. When it is for another account or server than the cached sync
    /// state, that state is reset: every live workout is queued again for the new account, and
    /// server ids, the change-feed cursor and unconfirmed batches are forgotten.
    pub fn store_session(&self, session: &Session) -> Result<(), CacheError> {
        self.write(|conn| {
            let owner = format!("{} {}", session.server_url, session.user_id);
            match Cache::get_in(conn, keys::SYNC_OWNER)? {
                Some(previous) if previous == owner => {}
                None => {}
                Some(_) => Cache::reset_sync_state(conn)?,
            }
            Cache::set_in(conn, keys::SYNC_OWNER, &owner)?;
            Cache::set_in(conn, keys::SERVER_URL, &session.server_url)?;
            Cache::set_in(conn, keys::EMAIL, &session.email)?;
            Cache::set_in(conn, keys::USER_ID, &session.user_id)?;
            Cache::set_in(conn, keys::ACCESS_TOKEN, &session.access_token)?;
            Cache::set_in(conn, keys::REFRESH_TOKEN, &session.refresh_token)?;
            Ok(())
        })
    }

    /// Replaces the token pair (after a refresh rotated it).
    pub fn store_tokens(&self, access_token: &str, refresh_token: &str) -> Result<(), CacheError> {
        self.write(|conn| {
            Cache::set_in(conn, keys::ACCESS_TOKEN, access_token)?;
            Cache::set_in(conn, keys::REFRESH_TOKEN, refresh_token)
        })
    }

    /// Forgets the tokens (the workouts and the sync state stay).
    pub fn clear_session(&self) -> Result<(), CacheError> {
        self.write(|conn| {
            Cache::delete_in(conn, keys::ACCESS_TOKEN)?;
            Cache::delete_in(conn, keys::REFRESH_TOKEN)
        })
    }

    fn reset_sync_state(conn: &mut SqliteConnection) -> Result<(), CacheError> {
        diesel::delete(workouts::table.filter(workouts::deleted.eq(true))).execute(conn)?;
        diesel::update(workouts::table)
            .set((
                workouts::needs_sync.eq(true),
                workouts::server_id.eq(None::<String>),
                workouts::revision.eq(None::<i64>),
                workouts::synced_at.eq(None::<String>),
                workouts::rejected.eq(None::<String>),
                workouts::batch_key.eq(None::<String>),
                workouts::batch_version.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::delete(pending_batches::table).execute(conn)?;
        Cache::delete_in(conn, keys::CHANGE_CURSOR)?;
        Cache::delete_in(conn, keys::LAST_SYNC_AT)?;
        Ok(())
    }

    // ---- sync bookkeeping -----------------------------------------------------------------

    /// The stored change-feed cursor (the position after the last pulled change).
    pub fn change_cursor(&self) -> Result<Option<String>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::CHANGE_CURSOR))
    }

    /// When the last sync completed.
    pub fn last_sync_at(&self) -> Result<Option<DateTime<Utc>>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::LAST_SYNC_AT))?
            .map(|t| parse_time("last_sync_at", &t))
            .transpose()
    }

    pub(crate) fn set_last_sync_at(&self, at: DateTime<Utc>) -> Result<(), CacheError> {
        self.write(|conn| Cache::set_in(conn, keys::LAST_SYNC_AT, &now_text(at)))
    }

    // ---- workouts -------------------------------------------------------------------------

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
            .select(WorkoutRow::as_select())
            .first(conn)
            .optional()?;
        let columns = ContentColumns::of(&workout.content, workout.start_offset_minutes);
        let Some(row) = existing else {
            let row = WorkoutRow {
                id: workout.client_id.clone(),
                start_time: columns.start_time,
                start_offset_minutes: columns.start_offset_minutes,
                end_time: columns.end_time,
                duration_seconds: columns.duration_seconds,
                distance_meters: columns.distance_meters,
                energy_burned_kcal: columns.energy_burned_kcal,
                avg_heart_rate: columns.avg_heart_rate,
                max_heart_rate: columns.max_heart_rate,
                avg_pace_seconds_per_km: columns.avg_pace_seconds_per_km,
                source: columns.source,
                origin_hash: Some(hash),
                server_id: None,
                revision: None,
                deleted: false,
                needs_sync: true,
                synced_at: None,
                local_version: 1,
                batch_key: None,
                batch_version: None,
                rejected: None,
                updated_at: now.to_owned(),
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
            && row.start_offset_minutes == workout.start_offset_minutes;
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
                .select(WorkoutRow::as_select())
                .first(conn)
                .optional()?
                .map(WorkoutRow::into_cached)
                .transpose()
        })
    }

    /// Every workout, tombstones included, by client id.
    pub fn workouts(&self) -> Result<Vec<CachedWorkout>, CacheError> {
        self.with(|conn| {
            workouts::table
                .order(workouts::id.asc())
                .select(WorkoutRow::as_select())
                .load(conn)?
                .into_iter()
                .map(WorkoutRow::into_cached)
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

    // ---- batches --------------------------------------------------------------------------

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
            let rows: Vec<WorkoutRow> = query
                .order(workouts::id.asc())
                .limit(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
                .select(WorkoutRow::as_select())
                .load(conn)?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                return Ok(None);
            };
            let mut live = Vec::new();
            let mut deleted = Vec::new();
            for row in &rows {
                if row.deleted {
                    deleted.push(Value::from(row.id.clone()));
                } else {
                    live.push(wire_workout(
                        &row.id,
                        &row.content()?,
                        row.start_offset_minutes,
                    ));
                }
            }
            let mut body = Map::new();
            body.insert("workouts".into(), Value::Array(live));
            if !deleted.is_empty() {
                body.insert("deleted_client_ids".into(), Value::Array(deleted));
            }
            body.insert("mode".into(), mode.as_str().into());
            body.insert("idempotency_key".into(), key.into());
            body.insert(
                "client_sync_timestamp".into(),
                sync_core::time::format_server_time(now).into(),
            );
            let body = Value::Object(body).to_string();
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
            let body: Value = serde_json::from_str(&body).map_err(|e| CacheError::Corrupt {
                what: "pending_batches.body".into(),
                message: e.to_string(),
            })?;
            let order: Vec<String> = body["workouts"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|w| w["client_id"].as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let conflicts: HashMap<&str, _> = response
                .conflicts
                .iter()
                .map(|c| (c.client_id.as_str(), c))
                .collect();
            let mut rejected: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
            for r in &response.rejected {
                let id = r
                    .client_id
                    .clone()
                    .or_else(|| order.get(r.index).cloned())
                    .unwrap_or_default();
                rejected.insert(id, r.errors.clone());
            }
            let deletions: HashSet<&str> = body["deleted_client_ids"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();

            let rows: Vec<WorkoutRow> = workouts::table
                .filter(workouts::batch_key.eq(key))
                .select(WorkoutRow::as_select())
                .load(conn)?;
            let mut outcome = ConfirmOutcome::default();
            for row in rows {
                let target = workouts::table.find(&row.id);
                let unchanged_since_sent = row.batch_version == Some(row.local_version);
                if !unchanged_since_sent {
                    outcome.changed_meanwhile += 1;
                    continue;
                }
                if deletions.contains(row.id.as_str()) {
                    diesel::update(target)
                        .set((workouts::needs_sync.eq(false), workouts::synced_at.eq(&now)))
                        .execute(conn)?;
                    outcome.confirmed += 1;
                } else if let Some(conflict) = conflicts.get(row.id.as_str()) {
                    let server = &conflict.server_workout;
                    let columns = ContentColumns::of_view(
                        server,
                        offset_for_view(server, Some(row.start_offset_minutes)),
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
                    .select(WorkoutRow::as_select())
                    .first(conn)
                    .optional()?;
                let target = workouts::table.find(&server.client_id);
                match existing {
                    None if change.deleted => outcome.unchanged += 1,
                    None => {
                        let columns =
                            ContentColumns::of_view(server, offset_for_view(server, None));
                        let row = WorkoutRow {
                            id: server.client_id.clone(),
                            start_time: columns.start_time,
                            start_offset_minutes: columns.start_offset_minutes,
                            end_time: columns.end_time,
                            duration_seconds: columns.duration_seconds,
                            distance_meters: columns.distance_meters,
                            energy_burned_kcal: columns.energy_burned_kcal,
                            avg_heart_rate: columns.avg_heart_rate,
                            max_heart_rate: columns.max_heart_rate,
                            avg_pace_seconds_per_km: columns.avg_pace_seconds_per_km,
                            source: columns.source,
                            origin_hash: None,
                            server_id: Some(server.id.to_string()),
                            revision: Some(server.revision),
                            deleted: false,
                            needs_sync: false,
                            synced_at: Some(now.clone()),
                            local_version: 1,
                            batch_key: None,
                            batch_version: None,
                            rejected: None,
                            updated_at: now.clone(),
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
                        let offset = offset_for_view(server, Some(row.start_offset_minutes));
                        let same = row.content()? == content_of_view(server)
                            && row.start_offset_minutes == offset
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workout(id: &str, distance: f64) -> ValidWorkout {
        workout_from_json(&json!({
            "client_id": id, "start_time": "2024-01-15T08:00:00.250+01:00",
            "end_time": "2024-01-15T08:35:00+01:00", "duration_seconds": 2100,
            "distance_meters": distance, "source": "apple_watch"
        }))
        .unwrap()
    }

    #[test]
    fn wire_times_keep_the_offset_and_fraction() {
        let w = workout("a", 5000.0);
        let wire = wire_workout("a", &w.content, w.start_offset_minutes);
        assert_eq!(wire["start_time"], "2024-01-15T08:00:00.250+01:00");
        assert_eq!(wire["end_time"], "2024-01-15T08:35:00+01:00");
        let again = workout_from_json(&wire).unwrap();
        assert_eq!(again.content, w.content);
        assert_eq!(again.start_offset_minutes, 60);
    }

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

    #[test]
    fn session_debug_redacts_tokens() {
        let session = Session {
            server_url: "http://x".into(),
            email: "a@b.c".into(),
            user_id: "u".into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
        };
        let text = format!("{session:?}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_new_account_requeues_everything() {
        let cache = Cache::open(":memory:").unwrap();
        let mut session = Session {
            server_url: "http://x".into(),
            email: "a@b.c".into(),
            user_id: "u1".into(),
            access_token: "t".into(),
            refresh_token: "r".into(),
        };
        cache.store_session(&session).unwrap();
        cache.save(&workout("a", 5000.0)).unwrap();
        cache
            .with(|conn| {
                diesel::update(workouts::table)
                    .set(workouts::needs_sync.eq(false))
                    .execute(conn)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 0);
        cache.store_session(&session).unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 0);
        session.user_id = "u2".into();
        cache.store_session(&session).unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 1);
    }
}
