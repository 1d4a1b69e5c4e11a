//! The two database backends. Each compiles the shared query module `queries` against its own
//! schema and `hooks`; this module picks one at run time from the database URL.

pub(crate) mod pg;
pub(crate) mod sqlite;

use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::r2d2::{Builder, ManageConnection, Pool};
use diesel_migrations::MigrationHarness;

use crate::{StoreError, StoreOptions};

/// The connection pool of whichever backend the URL selected (SQLite's with its one writer,
/// PostgreSQL's with its heartbeat).
pub(crate) enum Backend {
    Sqlite(sqlite::SqlitePool, sqlite::Writer),
    Pg(pg::PgPool, crate::pulse::Pulse),
}

/// Runs `$body` with a pooled connection `$conn` and that backend's query module `$queries`.
macro_rules! with_conn {
    ($store:expr, |$conn:ident, $queries:ident| $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite(pool, _) => {
                $crate::backend::with_conn!(@on pool, sqlite, |$conn, $queries| $body)
            }
            $crate::backend::Backend::Pg(pool, pulse) => {
                $crate::backend::with_conn!(@pg pool, pulse, |$conn, $queries| $body)
            }
        }
    };
    (@pg $pool:ident, $pulse:ident, |$conn:ident, $queries:ident| $body:expr) => {{
        $crate::watch::reaching_for($pulse);
        $crate::backend::with_conn!(@on $pool, pg, |$conn, $queries| $body)
    }};
    (@on $pool:ident, $backend:ident, |$conn:ident, $queries:ident| $body:expr) => {{
        let mut pooled = $pool.get()?;
        let $conn = &mut *pooled;
        #[allow(unused_imports)]
        use $crate::backend::$backend::queries as $queries;
        $body
    }};
}
pub(crate) use with_conn;

/// [`with_conn`] for a method that writes. On SQLite it first waits its turn at the store's one
/// writer, in order and up to the lock wait, so that writers queue in the process instead of
/// sleeping and retrying in SQLite's busy handler (which stays as the last resort against a
/// second process), then writes on the writer's own connection (`sqlite::Writer`).
/// PostgreSQL's writers lock rows of their own and take no turn.
macro_rules! with_write_conn {
    ($store:expr, |$conn:ident, $queries:ident| $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite(_, writer) => {
                $crate::backend::with_write_conn!(@turn writer, |$conn, $queries| $body)
            }
            $crate::backend::Backend::Pg(pool, pulse) => {
                $crate::backend::with_conn!(@pg pool, pulse, |$conn, $queries| $body)
            }
        }
    };
    // SQLite: `$body` in the writer's turn, on its connection; then a checkpoint if one is due.
    (@turn $writer:ident, |$conn:ident, $queries:ident| $body:expr) => {{
        let written = {
            let _turn = $writer.turn()?;
            let own = $writer.connection();
            $crate::backend::with_conn!(@on own, sqlite, |$conn, $queries| {
                $writer.rewind_if_due($conn);
                $body
            })
        };
        $writer.checkpoint_if_due();
        written
    }};
}
pub(crate) use with_write_conn;

/// A write in two steps: `$read`, then `$write` with its result bound to `$value`, on the write
/// path of [`with_write_conn`]. On PostgreSQL both run on one pooled connection. On SQLite, when
/// `$outside` is true, the read runs on a reader's connection outside the writer's turn, which
/// then covers `$write` only; otherwise both run in the turn on the writer's connection, which
/// measured faster for a small write (docs/benchmarks.md, 24). `$read` is a `Result`: an error
/// ends the write before it.
macro_rules! with_read_then_write_conn {
    (
        $store:expr,
        read_outside_turn: $outside:expr,
        |$conn:ident, $queries:ident| $read:expr,
        |$value:ident| $write:expr
    ) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite(pool, writer) => {
                if $outside {
                    let $value =
                        $crate::backend::with_conn!(@on pool, sqlite, |$conn, $queries| $read)?;
                    $crate::backend::with_write_conn!(@turn writer, |$conn, $queries| $write)
                } else {
                    $crate::backend::with_write_conn!(@turn writer, |$conn, $queries| {
                        let $value = $read?;
                        $write
                    })
                }
            }
            $crate::backend::Backend::Pg(pool, pulse) => {
                $crate::backend::with_conn!(@pg pool, pulse, |$conn, $queries| {
                    let $value = $read?;
                    $write
                })
            }
        }
    };
}
pub(crate) use with_read_then_write_conn;

/// The pool settings both backends share.
fn pool_builder<M: ManageConnection>(options: &StoreOptions) -> Builder<M> {
    Pool::builder()
        .max_size(options.pool_size)
        // No `SELECT 1` before every checkout (r2d2's default): it was a round trip per
        // request, twice for an authenticated sync (docs/benchmarks.md). A connection that died
        // while idle fails its next statement instead, which maps to `Unavailable` (503 with
        // Retry-After), and r2d2 drops it as broken when it is returned.
        .test_on_check_out(false)
        .connection_timeout(options.pool_timeout.max(Duration::from_millis(1)))
}

/// Applies the migrations of `source` that `conn`'s database lacks.
fn run_migrations<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    source: impl MigrationSource<DB>,
) -> Result<(), StoreError> {
    conn.run_pending_migrations(source)
        .map(|_| ())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Whether `conn`'s database lacks any migration of `source`.
pub(crate) fn migrations_pending<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    source: impl MigrationSource<DB>,
) -> Result<bool, StoreError> {
    conn.has_pending_migration(source)
        .map_err(|e| StoreError::Migration(e.to_string()))
}
