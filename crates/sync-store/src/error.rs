//! The store's typed errors. The API maps each to exactly one HTTP status.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached, or no pooled connection came free in time.
    /// Clients should retry later (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The user's row stayed locked past the wait limit (PostgreSQL): another write of the same
    /// user is running. Clients should retry shortly (HTTP 409 for syncs, 503 elsewhere).
    #[error("database busy: {0}")]
    Busy(String),
    /// The object does not exist (or belongs to someone else).
    #[error("not found")]
    NotFound,
    /// The session a request's access token belongs to is absent, revoked or expired, or is
    /// another user's: the caller must log in again (HTTP 401). Nothing was written.
    #[error("the session has ended")]
    SessionEnded,
    /// Registration with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database failure: a bug or a broken database, never the client's fault.
    #[error("database error: {0}")]
    Database(#[source] DieselError),
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A year's numbers were asked for outside the years the rules know (callers check the
    /// year first; this is a bug, never the client's fault).
    #[error("year {0}")]
    YearOutOfRange(#[from] sync_core::running::YearOutOfRange),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        if let DieselError::DatabaseError(kind, info) = &e {
            let message = info.message();
            match kind {
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    return StoreError::Unavailable(message.to_owned());
                }
                DatabaseErrorKind::SerializationFailure => {
                    return StoreError::Busy(message.to_owned());
                }
                _ => {}
            }
            // Neither driver gives these a kind of their own; their texts are stable.
            let lower = message.to_ascii_lowercase();
            if lower.contains("lock timeout") || lower.contains("could not obtain lock") {
                return StoreError::Busy(message.to_owned());
            }
            // A statement past DB_STATEMENT_TIMEOUT_MS: the database is overloaded or stuck.
            if lower.contains("statement timeout") {
                return StoreError::Unavailable(message.to_owned());
            }
            // SQLite's single writer lock held past the busy timeout: no sync takes that long,
            // so something outside the service holds the file. The database is unavailable.
            if lower.contains("database is locked") || lower.contains("database table is locked") {
                return StoreError::Unavailable(message.to_owned());
            }
            if lower.contains("terminating connection")
                || lower.contains("server closed the connection")
                || lower.contains("connection")
                    && (lower.contains("refused") || lower.contains("closed"))
                || lower.contains("the database system is")
                || lower.contains("disk i/o error")
                || lower.contains("unable to open database")
            {
                return StoreError::Unavailable(message.to_owned());
            }
        }
        StoreError::Database(e)
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    /// Whether a retry later may succeed (the database, not the request, is at fault).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Busy(_))
    }
}
