//! Throwaway databases for tests: a SQLite file in a temporary directory, or a fresh
//! PostgreSQL database created next to `TEST_DATABASE_URL` and dropped afterwards; and
//! [`per_backend!`], which runs one test body on each, under a name that says which.

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use uuid::Uuid;

/// The environment variable naming the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";
/// Set to `1` to make a missing PostgreSQL a test failure instead of a skip.
pub const REQUIRE_POSTGRES_TESTS: &str = "REQUIRE_POSTGRES_TESTS";

/// [`Store::sync`], running `between` after the sync has read and planned and before it
/// writes, so that a test can commit a change in between and see the sync planned again under
/// the user's lock.
pub fn sync_with_change_between(
    store: &crate::Store,
    command: &crate::SyncCommand<'_>,
    between: impl FnOnce(),
) -> Result<crate::SyncOutcome, crate::StoreError> {
    store.sync_planned_then(command, between)
}

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh SQLite file.
    pub fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("rd-sync-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let url = dir.join("test.db").to_string_lossy().into_owned();
        TestDatabase {
            url,
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when `TEST_DATABASE_URL` is
    /// unset. Panics when it is unset but `REQUIRE_POSTGRES_TESTS=1`.
    pub fn postgres() -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            assert!(
                std::env::var(REQUIRE_POSTGRES_TESTS).as_deref() != Ok("1"),
                "REQUIRE_POSTGRES_TESTS=1 but TEST_DATABASE_URL is not set"
            );
            eprintln!("skipping the PostgreSQL run: TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("rd_sync_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        let url = replace_database_name(&admin_url, &name);
        Some(TestDatabase {
            url,
            cleanup: Cleanup::PgDatabase { admin_url, name },
        })
    }

    /// Every backend to run a test against: SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<TestDatabase> {
        let mut all = vec![TestDatabase::sqlite()];
        all.extend(TestDatabase::postgres());
        all
    }

    /// The URL to give the store.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Defines a test that runs once per backend, each under its own name: `NAME::sqlite` on a
/// fresh SQLite file and `NAME::postgres` on a fresh PostgreSQL database, so a failure names
/// its backend and `cargo test NAME::postgres` runs one.
///
/// The body takes the database as its one parameter, of [`TestDatabase`] or of any type with
/// `From<TestDatabase>` (a suite's store or app fixture). `NAME::postgres` follows
/// [`TestDatabase::postgres`]: without `TEST_DATABASE_URL` it prints a notice and passes, unless
/// `REQUIRE_POSTGRES_TESTS=1`, which makes it fail; a server it cannot reach always fails it.
///
/// A synchronous body is a plain `#[test]`. An `async move` body needs the test attribute of
/// its runtime as the second argument (`tokio::test`, `actix_web::test`). The body is compiled
/// once, in a function the two tests call; it sees the names of the module the macro is
/// invoked in.
///
/// ```no_run
/// use sync_store::testing::{per_backend, TestDatabase};
/// use sync_store::{Store, StoreOptions};
///
/// per_backend!(a_fresh_store_is_ready, |db: TestDatabase| {
///     let store = Store::open(db.url(), &StoreOptions::default()).expect("open");
///     store.ready().expect("ready");
/// });
///
/// # fn main() {}
/// ```
///
/// With a runtime (here the API's), the tests are `the_app_starts::sqlite` and `::postgres`:
///
/// ```ignore
/// per_backend!(the_app_starts, tokio::test, |db: TestDatabase| async move {
///     let app = TestApp::spawn_on(db, &[]).await;
///     // …
/// });
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! per_backend {
    ($name:ident, $runtime:path, |$db:ident : $db_type:ty| async move $body:block $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn per_backend_body($db: $db_type) $body

            #[$runtime]
            async fn sqlite() {
                per_backend_body(::core::convert::From::from(
                    $crate::testing::TestDatabase::sqlite(),
                ))
                .await
            }

            #[$runtime]
            async fn postgres() {
                if let ::core::option::Option::Some(db) = $crate::testing::TestDatabase::postgres() {
                    per_backend_body(::core::convert::From::from(db)).await
                }
            }
        }
    };
    ($name:ident, |$db:ident : $db_type:ty| $body:block $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn per_backend_body($db: $db_type) $body

            #[test]
            fn sqlite() {
                per_backend_body(::core::convert::From::from(
                    $crate::testing::TestDatabase::sqlite(),
                ))
            }

            #[test]
            fn postgres() {
                if let ::core::option::Option::Some(db) = $crate::testing::TestDatabase::postgres() {
                    per_backend_body(::core::convert::From::from(db))
                }
            }
        }
    };
}
#[doc(inline)]
pub use crate::per_backend;

/// `postgres://u@h:5432/db?x=y` with `db` replaced by `name`.
fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database_name("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database_name("postgres://h/test?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
        assert_eq!(replace_database_name("postgres://h", "x"), "postgres://h/x");
    }
}
