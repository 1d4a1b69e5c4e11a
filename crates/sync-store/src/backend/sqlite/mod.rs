//! SQLite: the embedded default. One writer at a time (`BEGIN IMMEDIATE`), so a sync holds the
//! database's write lock for its whole transaction; readers proceed in parallel under WAL.

mod schema;

// Compiled once per backend on purpose: the query code is written once (see `ops`).
#[allow(clippy::duplicate_mod)]
#[path = "../ops/mod.rs"]
pub(crate) mod ops;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use uuid::Uuid;

use crate::types::DbUuid;
use crate::{StoreError, StoreOptions};

pub(crate) type Conn = SqliteConnection;
pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Applies the pragmas every pooled connection needs.
#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u128,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub(crate) fn connect(path: &str, options: &StoreOptions) -> Result<SqlitePool, StoreError> {
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {parent:?}: {e}")))?;
        }
    }
    let pool = Pool::builder()
        .max_size(options.pool_size)
        // No `SELECT 1` before every checkout (r2d2's default): it was a round trip per
        // request, twice for an authenticated sync (docs/benchmarks.md). A connection that died
        // while idle fails its next statement instead, which maps to `Unavailable` (503 with
        // Retry-After), and r2d2 drops it as broken when it is returned.
        .test_on_check_out(false)
        .connection_timeout(options.pool_timeout.max(Duration::from_millis(1)))
        .connection_customizer(Box::new(Pragmas {
            busy_timeout_ms: options.lock_wait.as_millis(),
        }))
        .build(ConnectionManager::<SqliteConnection>::new(path))?;
    Ok(pool)
}

pub(crate) fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

pub(crate) fn migrations_pending(conn: &mut Conn) -> Result<bool, StoreError> {
    conn.has_pending_migration(MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two writers never
/// deadlock upgrading read locks; waiting is bounded by `busy_timeout`.
pub(crate) fn write_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.immediate_transaction(f)
}

/// The user's change-feed position. The immediate transaction already serialises all writers,
/// so a plain read is the lock.
pub(crate) fn lock_user(conn: &mut Conn, user_id: Uuid) -> Result<i64, StoreError> {
    use schema::users;
    users::table
        .find(DbUuid(user_id))
        .select(users::change_seq)
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// A sync's bookkeeping: the portable three statements (in process, a statement costs no round
/// trip).
pub(crate) fn record_sync(
    conn: &mut Conn,
    bookkeeping: &ops::sync::SyncBookkeeping,
) -> Result<(), StoreError> {
    ops::sync::record_sync_statements(conn, bookkeeping)
}

/// The batch lookup: `client_id IN (…)`; SQLite probes the unique `(user_id, client_id)` index
/// once per id.
pub(crate) fn lookup_workouts(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<ops::rows::WorkoutRow>, StoreError> {
    ops::sync::lookup_workouts_in_list(conn, user_id, client_ids)
}

/// The bulk upsert: multi-row `INSERT … VALUES … ON CONFLICT DO UPDATE`.
pub(crate) fn write_workouts(
    conn: &mut Conn,
    rows: &[ops::rows::WorkoutRow],
) -> Result<(), StoreError> {
    ops::sync::upsert_workouts_values(conn, rows)
}
