//! One async test, run once per database backend under its own name.
//!
//! A test written as `async fn name(app: TestApp)` next to `per_backend!(name);` becomes the
//! tests `name::sqlite` and `name::postgres`, so a failure names its backend. The PostgreSQL
//! variant follows [`TestDatabase::postgres`]: it skips with a printed notice when
//! `TEST_DATABASE_URL` is unset, and fails instead when `REQUIRE_POSTGRES_TESTS=1`.

use std::future::Future;

use sync_store::testing::TestDatabase;

use crate::TestApp;

/// A database backend the server can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory: always available.
    Sqlite,
    /// A fresh database on the server `TEST_DATABASE_URL` names.
    Postgres,
}

impl Backend {
    /// A fresh database of this backend; `None` (with a printed notice) when PostgreSQL is not
    /// configured. Panics when it is not but `REQUIRE_POSTGRES_TESTS=1`.
    pub fn database(self) -> Option<TestDatabase> {
        match self {
            Backend::Sqlite => Some(TestDatabase::sqlite()),
            Backend::Postgres => TestDatabase::postgres(),
        }
    }
}

/// Runs `test` on a fresh database of `backend`, or skips it (see [`Backend::database`]).
pub async fn on_backend<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = backend.database() {
        test(db).await;
    }
}

/// Runs `test` against a server on a fresh database of `backend` started with `overrides`, or
/// skips it (see [`Backend::database`]).
pub async fn on_backend_with_app<F, Fut>(backend: Backend, overrides: &[(&str, &str)], test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = backend.database() {
        test(TestApp::spawn_on(db, overrides).await).await;
    }
}

/// Generates the tests `name::sqlite` and `name::postgres` from the async function `name`
/// beside it (the module and the function share the name; they live in different namespaces).
///
/// - `per_backend!(name);` for `async fn name(app: TestApp)`: a server on a fresh database.
/// - `per_backend!(name, [("MAX_BATCH_SIZE", "3")]);`: the same with configuration overrides.
/// - `per_backend!(name, database);` for `async fn name(db: TestDatabase)`: the test starts
///   its own servers on the database (several instances, the server binary, …).
///
/// The generated tests are `#[tokio::test]`s: the calling crate needs `tokio` with its
/// `macros` and `rt` features.
#[macro_export]
macro_rules! per_backend {
    ($test:ident) => {
        $crate::per_backend!($test, []);
    };
    ($test:ident, database) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                $crate::on_backend($crate::Backend::Sqlite, super::$test).await;
            }

            #[tokio::test]
            async fn postgres() {
                $crate::on_backend($crate::Backend::Postgres, super::$test).await;
            }
        }
    };
    ($test:ident, $overrides:expr) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                $crate::on_backend_with_app($crate::Backend::Sqlite, &$overrides, super::$test)
                    .await;
            }

            #[tokio::test]
            async fn postgres() {
                $crate::on_backend_with_app($crate::Backend::Postgres, &$overrides, super::$test)
                    .await;
            }
        }
    };
}
