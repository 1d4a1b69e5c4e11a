//! PostgreSQL: many instances share one database. A sync locks its user's row
//! (`SELECT … FOR UPDATE`), which serialises that user's writes across every instance and makes
//! the per-user change sequence commit in order; other users proceed in parallel.

mod hooks;
mod schema;
mod statement;

// Compiled once per backend on purpose: the query code is written once (see `queries`).
#[allow(clippy::duplicate_mod)]
#[path = "../queries/mod.rs"]
pub(crate) mod queries;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::BigInt;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use super::{pool_builder, run_migrations};
use crate::{StoreError, StoreOptions};

pub(crate) type Conn = PgConnection;
pub(crate) type PgPool = Pool<ConnectionManager<PgConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Key of the advisory lock held while migrating ("rdsync" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7264_7379_6e63;

/// Bounds every wait on a pooled connection: a lock held too long fails fast (and maps to a
/// retryable error) instead of hanging a request.
#[derive(Debug)]
struct SessionSettings {
    lock_timeout_ms: u128,
    statement_timeout_ms: u128,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "SET lock_timeout = {}; SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
            self.lock_timeout_ms, self.statement_timeout_ms, self.statement_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// libpq settings that bound a network which goes silent (drops packets without a reset): a
/// connect gives up after 5 s, data unacknowledged for 4 s breaks the connection
/// (`tcp_user_timeout`, so a request holding one gets its 503 within about 5 s), and an idle
/// pooled connection is probed after 5 s and dropped after three unanswered probes 2 s apart.
/// A URL that sets any of them keeps its own value.
const NETWORK_SETTINGS: [(&str, &str); 6] = [
    ("connect_timeout", "5"),
    ("tcp_user_timeout", "4000"),
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "2"),
    ("keepalives_count", "3"),
];

/// `url` with [`NETWORK_SETTINGS`] added as query parameters where it does not set them.
pub(crate) fn with_network_settings(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let given: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .collect();
    let mut out = url.to_owned();
    for (key, value) in NETWORK_SETTINGS {
        if !given.contains(&key) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={value}"));
        }
    }
    out
}

pub(crate) fn connect(url: &str, options: &StoreOptions) -> Result<PgPool, StoreError> {
    let url = with_network_settings(url);
    let pool = pool_builder(options)
        .connection_customizer(Box::new(SessionSettings {
            lock_timeout_ms: options.lock_wait.as_millis().max(1),
            statement_timeout_ms: options.statement_timeout.as_millis().max(1),
        }))
        .build(ConnectionManager::<PgConnection>::new(url))?;
    Ok(pool)
}

/// Runs pending migrations under a session advisory lock, so instances starting together
/// migrate one after another (the later ones find nothing to do).
pub(crate) fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    // Migrations may take longer than a request's statement timeout.
    conn.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0;")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)?;
    let result = run_migrations(conn, MIGRATIONS);
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn);
    result?;
    unlocked?;
    Ok(())
}

#[cfg(test)]
mod network_settings_tests {
    use super::with_network_settings;

    #[test]
    fn the_network_bounds_are_added_unless_the_url_sets_them() {
        let plain = with_network_settings("postgres://app@db:5432/sync");
        assert!(
            plain.starts_with("postgres://app@db:5432/sync?connect_timeout=5&"),
            "{plain}"
        );
        assert!(plain.contains("&tcp_user_timeout=4000&"), "{plain}");
        assert!(plain.ends_with("&keepalives_count=3"), "{plain}");

        let own = with_network_settings("postgres://db/sync?sslmode=require&tcp_user_timeout=9000");
        assert!(
            own.starts_with("postgres://db/sync?sslmode=require&tcp_user_timeout=9000&"),
            "{own}"
        );
        assert_eq!(own.matches("tcp_user_timeout").count(), 1, "{own}");
        assert!(own.contains("&connect_timeout=5"), "{own}");
    }
}
