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
/// would hold up every writer queued behind it, so the connections turn it off. A writer, its
/// turn ended, asks the [`Checkpointer`] for a passive checkpoint (one that waits for nobody)
/// at most every [`CHECKPOINT_EVERY`], and goes on with its request.
pub(crate) struct Writer {
    turn: parking_lot::FairMutex<()>,
    connection: SqlitePool,
    wait: std::time::Duration,
    last_checkpoint: crate::moment::Moment,
    checkpointer: Checkpointer,
}

/// Runs the passive checkpoints on a thread of its own, on a reader's connection. Run by the
/// writer that found one due, a checkpoint added its time (tens of milliseconds after a few
/// large syncs) to that one request, the tail of SQLite's full-1000 mix. The thread ends when
/// the store is dropped.
struct Checkpointer {
    due: std::sync::mpsc::SyncSender<()>,
}

impl Checkpointer {
    fn start(readers: SqlitePool) -> Result<Checkpointer, StoreError> {
        // One request pending is enough: a checkpoint copies whatever the WAL holds by then.
        let (due, asked) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let checkpoint =
                        readers
                            .get()
                            .map_err(StoreError::from)
                            .and_then(|mut conn| {
                                Ok(conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")?)
                            });
                    if let Err(e) = checkpoint {
                        log::warn!("SQLite checkpoint failed (the next write asks again): {e}");
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer { due })
    }

    fn ask(&self) {
        // Full: a checkpoint is already asked for and will copy this write too.
        let _ = self.due.try_send(());
    }
}

/// Most time between two checkpoints while writes go on; it bounds the WAL to what is written
/// in that time.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Writer {
    /// The writer of the file at `path`, whose turn is waited for at most `DB_LOCK_WAIT_MS`,
    /// and whose checkpoints run on a connection of `readers`.
    pub(crate) fn open(
        path: &str,
        options: &StoreOptions,
        readers: &SqlitePool,
    ) -> Result<Writer, StoreError> {
        Ok(Writer {
            turn: parking_lot::FairMutex::new(()),
            connection: pool_of(path, options, 1)?,
            wait: options.lock_wait,
            last_checkpoint: crate::moment::Moment::now(),
            checkpointer: Checkpointer::start(readers.clone())?,
        })
    }

    /// The writer's connection, to take during the turn (no one else waits for it then).
    pub(crate) fn connection(&self) -> &SqlitePool {
        &self.connection
    }

    /// After a write, with the turn given up: asks for a checkpoint when one is due (and no
    /// other writer has just asked).
    pub(crate) fn checkpoint_if_due(&self) {
        if self.last_checkpoint.claim_after(CHECKPOINT_EVERY) {
            self.checkpointer.ask();
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

#[cfg(test)]
mod tests {
    use super::CHECKPOINT_EVERY;
    use crate::{NewSession, Store, StoreOptions};
    use std::time::Duration;

    fn session() -> NewSession {
        let now = chrono::Utc::now();
        let id = uuid::Uuid::new_v4();
        NewSession {
            id,
            user_agent: None,
            refresh_token_hash: format!("refresh-{id}"),
            created_at: now,
            expires_at: now + chrono::Duration::days(1),
        }
    }

    #[test]
    fn the_wal_is_copied_back_while_writes_go_on_so_it_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.db");
        let store = Store::open(path.to_str().unwrap(), &StoreOptions::default()).unwrap();
        let wal_bytes =
            || std::fs::metadata(dir.path().join("checkpoints.db-wal")).map_or(0, |m| m.len());
        let mut first_batch = 0;
        for batch in 0..8 {
            for i in 0..25 {
                let email = format!("runner{batch}-{i}@example.org");
                store.register(&email, "password-hash", &session()).unwrap();
            }
            if batch == 0 {
                first_batch = wal_bytes();
            }
            // Long enough for the next batch's first write to ask for a checkpoint, and for
            // the checkpointer to run it.
            std::thread::sleep(CHECKPOINT_EVERY + Duration::from_millis(100));
        }
        assert!(first_batch > 0, "the writes went through the WAL");
        // Unchecked, the WAL would hold all eight batches; copied back, SQLite rewinds it and
        // it never holds much more than what was written between two checkpoints.
        let wal = wal_bytes();
        assert!(
            wal <= 3 * first_batch,
            "the WAL grew to {wal} bytes; one batch takes {first_batch}"
        );
    }
}
