//! SQLite: the embedded default. One writer at a time (`BEGIN IMMEDIATE`), so a sync holds the
//! database's write lock for its whole transaction; readers proceed in parallel under WAL.

mod hooks;
mod schema;

// Compiled once per backend on purpose: the query code is written once (see `queries`).
#[allow(clippy::duplicate_mod)]
#[path = "../queries/mod.rs"]
pub(crate) mod queries;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::{pool_builder, run_migrations};
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
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA foreign_keys = ON;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The readers' pool: `DB_POOL_SIZE` connections to the file at `path`.
pub(crate) fn connect(path: &str, options: &StoreOptions) -> Result<SqlitePool, StoreError> {
    pool_of(path, options, options.pool_size)
}

fn pool_of(path: &str, options: &StoreOptions, size: u32) -> Result<SqlitePool, StoreError> {
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {parent:?}: {e}")))?;
        }
    }
    let pool = pool_builder(options)
        .max_size(size)
        .connection_customizer(Box::new(Pragmas {
            busy_timeout_ms: options.lock_wait.as_millis(),
        }))
        .build(ConnectionManager::<SqliteConnection>::new(path))?;
    Ok(pool)
}

/// The one writer of a SQLite store. SQLite lets one transaction write at a time; without a turn
/// taken here, the others sleep in the busy handler and retry on a back-off, so a writer that
/// arrived first can wake last (the tail of `docs/benchmarks.md`). A fair mutex hands the turn
/// over in arrival order instead. Readers take no turn: under WAL they never wait for a writer.
///
/// Every write runs on the writer's own connection (a pool of one, so that r2d2 replaces it
/// when it breaks), not on the readers' pool. A connection's page cache is dropped whenever
/// another connection has written since its last transaction, so writes spread over the pool
/// each started cold, and each of its connections filled a cache of its own (2 MiB) with the
/// pages a 1,000-workout sync touches; the one writer keeps the hot index pages and its
/// prepared statements from one write to the next.
///
/// Checkpoints (copying the WAL back into the database file) happen outside the turn too:
/// SQLite's automatic one runs inside the COMMIT of whichever writer crosses 1,000 pages, which
/// would hold up every writer queued behind it, so the connections turn it off and a writer,
/// its turn ended, runs a passive checkpoint (one that waits for nobody) on a reader's
/// connection at most every [`CHECKPOINT_EVERY`].
pub(crate) struct Writer {
    turn: parking_lot::FairMutex<()>,
    connection: SqlitePool,
    wait: std::time::Duration,
    last_checkpoint: crate::moment::Moment,
}

/// Most time between two checkpoints while writes go on; it bounds the WAL to what is written
/// in that time.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Writer {
    /// The writer of the file at `path`, whose turn is waited for at most `DB_LOCK_WAIT_MS`.
    pub(crate) fn open(path: &str, options: &StoreOptions) -> Result<Writer, StoreError> {
        Ok(Writer {
            turn: parking_lot::FairMutex::new(()),
            connection: pool_of(path, options, 1)?,
            wait: options.lock_wait,
            last_checkpoint: crate::moment::Moment::now(),
        })
    }

    /// The writer's connection, to take during the turn (no one else waits for it then).
    pub(crate) fn connection(&self) -> &SqlitePool {
        &self.connection
    }

    /// After a write, with the turn given up: a passive checkpoint on a pooled connection when
    /// one is due (and no other writer has just claimed it).
    pub(crate) fn checkpoint_if_due(&self, pool: &SqlitePool) {
        if !self.last_checkpoint.claim_after(CHECKPOINT_EVERY) {
            return;
        }
        let checkpoint = pool
            .get()
            .map_err(StoreError::from)
            .and_then(|mut conn| Ok(conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")?));
        if let Err(e) = checkpoint {
            log::warn!("SQLite checkpoint failed (the next write tries again): {e}");
        }
    }

    /// Waits for this thread's turn to write; held until the guard drops.
    pub(crate) fn turn(&self) -> Result<parking_lot::FairMutexGuard<'_, ()>, StoreError> {
        self.turn.try_lock_for(self.wait).ok_or_else(|| {
            StoreError::Busy(format!(
                "another write held the database for {} ms",
                self.wait.as_millis()
            ))
        })
    }
}

pub(crate) fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    run_migrations(conn, MIGRATIONS)
}
