//! SQLite: the embedded default. One writer at a time (`BEGIN IMMEDIATE`), so a sync holds the
//! database's write lock for its whole transaction; readers proceed in parallel under WAL.

mod checkpoint_connection;
mod hooks;
mod schema;

// Compiled once per backend on purpose: the query code is written once (see `queries`).
#[allow(clippy::duplicate_mod)]
#[path = "../queries/mod.rs"]
pub(crate) mod queries;

use std::sync::mpsc::RecvTimeoutError;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use self::checkpoint_connection::CheckpointConnection;
use super::{pool_builder, run_migrations};
use crate::{StoreError, StoreOptions};

pub(crate) type Conn = SqliteConnection;
pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Applies the pragmas every pooled connection needs.
#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u128,
    /// `cache_size` in KiB: each connection keeps a page cache of its own.
    cache_kib: u32,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -{};",
            self.busy_timeout_ms, self.cache_kib
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The page cache of each reader, in KiB. A reader's cache is dropped whenever a write has
/// happened since its last read, and every reader of the pool fills one with the same hot pages
/// (ten copies at the default of 2 MiB each); the operating system's file cache holds them all
/// once anyway. With 1 MiB the stats reads of ten-year runners ran as fast as with 2 MiB and
/// the server held 12 MiB less; with 512 KiB they ran 25-40% slower (docs/benchmarks.md,
/// optimisation 12).
const READER_CACHE_KIB: u32 = 1024;
/// The writer's page cache, SQLite's default (2 MiB): it keeps the index pages a 1,000-workout
/// sync touches from one write to the next.
const WRITER_CACHE_KIB: u32 = 2000;

/// The readers' pool: `DB_POOL_SIZE` connections to the file at `path`.
pub(crate) fn connect(path: &str, options: &StoreOptions) -> Result<SqlitePool, StoreError> {
    pool_of(path, options, options.pool_size, READER_CACHE_KIB)
}

fn pool_of(
    path: &str,
    options: &StoreOptions,
    size: u32,
    cache_kib: u32,
) -> Result<SqlitePool, StoreError> {
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
            cache_kib,
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
/// turn ended, asks the [`Checkpointer`] for one at most every [`CHECKPOINT_EVERY`], and goes
/// on with its request.
pub(crate) struct Writer {
    turn: Turn,
    /// Set by the checkpointer when the WAL has grown and its passes have copied nearly all of
    /// it: the next writer starts its turn by rewinding the WAL ([`Writer::rewind_if_due`]).
    rewind_due: RewindDue,
    connection: SqlitePool,
    wait: std::time::Duration,
    last_checkpoint: crate::moment::Moment,
    checkpointer: Checkpointer,
}

/// The writer's turn, handed over in arrival order.
type Turn = std::sync::Arc<parking_lot::FairMutex<()>>;

/// Whether the WAL is to be rewound at the start of the next writer's turn; the checkpointer
/// sets it, the writer clears it.
type RewindDue = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// Runs the checkpoints on a thread of its own, on a connection of its own. Run by the writer
/// that found one due, a checkpoint added its time (tens of milliseconds after a few large
/// syncs) to that one request, the tail of SQLite's full-1000 mix.
///
/// Each checkpoint is passive (it waits for nobody) and runs while writers go on, so it copies
/// most of the WAL but not what they append meanwhile. SQLite starts the WAL over only when a
/// writer finds all of it copied, which under writes that never pause is never: the
/// checkpointer leaves the rest to the next writer, who copies it and rewinds the WAL at the
/// start of its turn ([`Writer::rewind_if_due`]), and runs one more pass once writes go
/// quiet. Before it asks for a rewind, it syncs the database file, which a passive pass under
/// writes never does ([`copy_back`]). The thread ends when the store is dropped.
struct Checkpointer {
    due: std::sync::mpsc::SyncSender<()>,
}

impl Checkpointer {
    fn start(path: &str, rewind_due: RewindDue) -> Result<Checkpointer, StoreError> {
        let mut conn = CheckpointConnection::open(path)?;
        // One request pending is enough: a checkpoint copies whatever the WAL holds by then.
        let (due, asked) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut after_writes = false;
                loop {
                    // After a pass asked for by a write, one more once the writes have gone
                    // quiet for CHECKPOINT_EVERY: it copies what they appended during the
                    // pass, so that the next writer starts the WAL over.
                    let asked = if after_writes {
                        asked.recv_timeout(CHECKPOINT_EVERY)
                    } else {
                        asked.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    };
                    after_writes = match asked {
                        Ok(()) => true,
                        Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if let Err(e) = copy_back(&mut conn, &rewind_due, REWIND_FROM_FRAMES) {
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

/// One checkpoint: a passive pass while writers go on, which copies the WAL as far as it was
/// written when the pass began. Once the WAL holds `rewind_from` frames
/// ([`REWIND_FROM_FRAMES`]), the database file is synced and more passes follow, each copying
/// what writers appended during the one before, until one has had at most
/// [`REWIND_REMAINDER`] frames to copy (or after [`PASSES_OUTSIDE_TURN`]); a last sync makes
/// that durable too. Then the next writer copies and syncs the little that is left at the
/// start of its turn and rewinds the WAL. A WAL that was all copied while writes paused is
/// rewound by SQLite itself, at the next write.
///
/// The syncs are the point: a passive pass syncs the file only when no writer committed while
/// it copied, so under steady writes every page the passes copied since the last rewind was
/// left for the rewind to sync, in the turn (docs/benchmarks.md, 27).
fn copy_back(
    conn: &mut CheckpointConnection,
    rewind_due: &RewindDue,
    rewind_from: i32,
) -> Result<(), StoreError> {
    let Some(mut pass) = conn.passive_pass()? else {
        return Ok(());
    };
    if pass.log < rewind_from {
        return Ok(());
    }
    for _ in 1..PASSES_OUTSIDE_TURN {
        conn.sync_database_file()?;
        let copied_before = pass.checkpointed;
        let Some(next) = conn.passive_pass()? else {
            // The writer's rewind is running: it copies and syncs the rest.
            return Ok(());
        };
        pass = next;
        if pass.log - copied_before <= REWIND_REMAINDER {
            break;
        }
    }
    conn.sync_database_file()?;
    rewind_due.store(true, std::sync::atomic::Ordering::Release);
    Ok(())
}

/// Frames the WAL holds before a writer's turn is spent on rewinding it: 256 MiB at SQLite's
/// 4 KiB pages. A rewind copies and syncs what the checkpointer's last pass left, in the turn,
/// which every writer queued behind it waits for; asked for every 200 ms, it raised the p99
/// of mix (a) (docs/benchmarks.md, 26). Overwritten from its start, the WAL's
/// pages stay in the operating system's cache.
const REWIND_FROM_FRAMES: i32 = 65_536;

/// Frames the last pass before a rewind may have had to copy (1 MiB): what the rewind syncs in
/// the turn is what that pass and the writes since copied.
const REWIND_REMAINDER: i32 = 256;

/// Passive passes a checkpoint makes before it gives up for this time (writers appending as
/// fast as it copies).
const PASSES_OUTSIDE_TURN: usize = 8;

/// The longest a rewind waits for readers of an older snapshot to finish (its own busy
/// timeout); readers take well under a millisecond, and the turn is everyone's.
const REWIND_READER_WAIT_MS: u32 = 2;

/// Most time between two checkpoints while writes go on. What bounds the WAL under steady
/// writes is the rewind ([`REWIND_FROM_FRAMES`]); this keeps the copying in small passes.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Writer {
    /// The writer of the file at `path`, whose turn is waited for at most `DB_LOCK_WAIT_MS`,
    /// and whose checkpoints run on a connection of their own.
    pub(crate) fn open(path: &str, options: &StoreOptions) -> Result<Writer, StoreError> {
        let rewind_due = RewindDue::default();
        Ok(Writer {
            checkpointer: Checkpointer::start(path, rewind_due.clone())?,
            turn: Turn::default(),
            rewind_due,
            connection: pool_of(path, options, 1, WRITER_CACHE_KIB)?,
            wait: options.lock_wait,
            last_checkpoint: crate::moment::Moment::now(),
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

    /// At the start of a turn, on the writer's connection: when the checkpointer has asked for
    /// it, copies back what its pass left and starts the WAL over (`RESTART`), waiting at most
    /// [`REWIND_READER_WAIT_MS`] for readers of an older snapshot. Writers then overwrite the
    /// WAL's first pages, which the operating system still caches, instead of appending to a
    /// file that only grows under steady writes: an append makes the kernel allocate and zero
    /// each new page, a fifth of the server's time in SQLite's 1-workout syncs
    /// (docs/benchmarks.md, 26). Failing, it leaves the WAL as it is.
    pub(crate) fn rewind_if_due(&self, conn: &mut Conn) {
        if !self
            .rewind_due
            .swap(false, std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        let rewound = conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {REWIND_READER_WAIT_MS}; PRAGMA wal_checkpoint(RESTART);"
        ));
        let restored =
            conn.batch_execute(&format!("PRAGMA busy_timeout = {};", self.wait.as_millis()));
        if let Err(e) = rewound.and(restored) {
            log::warn!("SQLite WAL rewind failed (a later checkpoint asks again): {e}");
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
    use super::{copy_back, CheckpointConnection, CHECKPOINT_EVERY};
    use crate::backend::Backend;
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
    fn a_checkpoint_lets_the_wal_be_rewound_and_writers_ask_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.db");
        let store = Store::open(path.to_str().unwrap(), &StoreOptions::default()).unwrap();
        let wal_bytes =
            || std::fs::metadata(dir.path().join("checkpoints.db-wal")).map_or(0, |m| m.len());
        let write_batch = |batch: usize| {
            for i in 0..25 {
                let email = format!("runner{batch}-{i}@example.org");
                store.register(&email, "password-hash", &session()).unwrap();
            }
        };
        let Backend::Sqlite(_, writer) = &store.backend else {
            unreachable!("a SQLite store")
        };
        let mut checkpoints = CheckpointConnection::open(path.to_str().unwrap()).unwrap();

        write_batch(0);
        let one_batch = wal_bytes();
        assert!(one_batch > 0, "the writes went through the WAL");
        copy_back(&mut checkpoints, &writer.rewind_due, 0).unwrap();
        // Everything was copied back, so the next writer starts its turn by rewinding the WAL
        // instead of appending to it: a second batch of the same size leaves it no larger.
        write_batch(1);
        assert!(
            wal_bytes() <= one_batch + one_batch / 10,
            "the WAL grew from {one_batch} to {} bytes",
            wal_bytes()
        );

        // A write past CHECKPOINT_EVERY asks the checkpointer's thread, which copies the WAL
        // back while the writers go on, and once more when they have gone quiet; the batch
        // after that again starts the WAL over.
        std::thread::sleep(CHECKPOINT_EVERY + Duration::from_millis(50));
        write_batch(2);
        std::thread::sleep(CHECKPOINT_EVERY + Duration::from_millis(50));
        write_batch(100);
        std::thread::sleep(Duration::from_millis(500));
        let before = wal_bytes();
        write_batch(3);
        assert!(
            wal_bytes() <= before + one_batch / 10,
            "the WAL grew from {before} to {} bytes: nothing copied it back",
            wal_bytes()
        );
    }

    /// How many users a connection sees.
    fn users_seen(conn: &mut super::Conn) -> i64 {
        use diesel::prelude::*;
        super::schema::users::table
            .count()
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn a_reader_of_an_older_snapshot_keeps_it_and_writers_go_on_past_a_rewind() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rewind.db");
        let store = Store::open(path.to_str().unwrap(), &StoreOptions::default()).unwrap();
        let register = |name: &str| {
            let email = format!("{name}@example.org");
            store.register(&email, "password-hash", &session()).unwrap();
        };
        let Backend::Sqlite(readers, writer) = &store.backend else {
            unreachable!("a SQLite store")
        };
        let mut checkpoints = CheckpointConnection::open(path.to_str().unwrap()).unwrap();
        register("first");

        // A reader in the middle of a read transaction, on the snapshot of one user.
        let mut reader = readers.get().unwrap();
        reader.batch_execute("BEGIN").unwrap();
        assert_eq!(users_seen(&mut reader), 1);

        // Writes go on, a checkpoint asks for a rewind, and the writer that takes it cannot
        // start the WAL over under the reader: it writes anyway, and the reader's snapshot
        // still holds.
        register("second");
        copy_back(&mut checkpoints, &writer.rewind_due, 0).unwrap();
        register("third");
        assert_eq!(users_seen(&mut reader), 1, "the reader's snapshot moved");
        reader.batch_execute("COMMIT").unwrap();
        assert_eq!(users_seen(&mut reader), 3);

        // A reader of an older snapshot keeps a checkpoint from copying what was written
        // after it (into a WAL past the rewind's threshold, none here), and then leaves. No
        // writer could start that WAL over by itself; the one that takes the rewind copies
        // the rest and does, so its write lands at the WAL's start instead of growing it.
        reader.batch_execute("BEGIN").unwrap();
        assert_eq!(users_seen(&mut reader), 3);
        for i in 0..25 {
            register(&format!("batch-{i}"));
        }
        copy_back(&mut checkpoints, &writer.rewind_due, 0).unwrap();
        reader.batch_execute("COMMIT").unwrap();
        let wal_bytes = || {
            std::fs::metadata(dir.path().join("rewind.db-wal"))
                .unwrap()
                .len()
        };
        let before = wal_bytes();
        register("fourth");
        assert!(
            wal_bytes() <= before,
            "the WAL grew from {before} to {} bytes: it was not rewound",
            wal_bytes()
        );
        assert_eq!(users_seen(&mut reader), 29);
        drop(reader);
        drop(store);
        let reopened = Store::open(path.to_str().unwrap(), &StoreOptions::default()).unwrap();
        let Backend::Sqlite(readers, _) = &reopened.backend else {
            unreachable!("a SQLite store")
        };
        assert_eq!(users_seen(&mut readers.get().unwrap()), 29);
    }
}
