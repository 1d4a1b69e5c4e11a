//! The local cache: a SQLite file (through Diesel) holding the runner's workouts, the saved login,
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

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::CacheError;
use crate::schema::kv;

// One file for each thing the cache keeps, each adding its methods to `Cache`; `rows` is
// the Diesel mapping under them all.
mod batches;
mod feed;
mod login;
mod rows;
mod workouts;

pub use batches::{ConfirmOutcome, PendingBatch};
pub use feed::{ApplyOutcome, FeedChange};
pub use login::SavedLogin;
pub use workouts::{workout_from_json, CacheSummary, CachedWorkout, RejectionReasons, SaveOutcome};

use rows::{now_text, parse_time};

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

/// The local cache. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Cache {
    conn: Mutex<SqliteConnection>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
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

    // ---- sync bookkeeping -----------------------------------------------------------------

    /// When the last sync completed.
    pub fn last_sync_at(&self) -> Result<Option<DateTime<Utc>>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::LAST_SYNC_AT))?
            .map(|t| parse_time("last_sync_at", &t))
            .transpose()
    }

    pub(crate) fn set_last_sync_at(&self, at: DateTime<Utc>) -> Result<(), CacheError> {
        self.write(|conn| Cache::set_in(conn, keys::LAST_SYNC_AT, &now_text(at)))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::json;
    use sync_core::ValidWorkout;

    use super::workout_from_json;

    /// A valid run `id` of `distance` metres, recorded at UTC+1 with a fraction of a second.
    pub(crate) fn workout(id: &str, distance: f64) -> ValidWorkout {
        workout_from_json(&json!({
            "client_id": id, "start_time": "2024-01-15T08:00:00.250+01:00",
            "end_time": "2024-01-15T08:35:00+01:00", "duration_seconds": 2100,
            "distance_meters": distance, "source": "apple_watch"
        }))
        .unwrap()
    }
}
