//! The two database backends. Each includes the shared query module `ops`; this module picks one
//! at run time from the database URL.

pub(crate) mod pg;
pub(crate) mod sqlite;

/// The connection pool of whichever backend the URL selected.
pub(crate) enum Backend {
    Sqlite(sqlite::SqlitePool),
    Pg(pg::PgPool),
}

/// Runs `$body` with a pooled connection `$conn` and that backend's query module `$ops`.
macro_rules! with_conn {
    ($store:expr, |$conn:ident, $ops:ident| $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite(pool) => {
                let mut pooled = pool.get()?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use $crate::backend::sqlite::ops as $ops;
                $body
            }
            $crate::backend::Backend::Pg(pool) => {
                let mut pooled = pool.get()?;
                let $conn = &mut *pooled;
                #[allow(unused_imports)]
                use $crate::backend::pg::ops as $ops;
                $body
            }
        }
    };
}
pub(crate) use with_conn;
