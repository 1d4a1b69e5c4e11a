//! The client's typed errors: what went wrong with the cache, the server or an import.

use std::path::PathBuf;

use sync_core::wire::FieldErrors;
use thiserror::Error;

/// The local cache could not do what was asked.
#[derive(Debug, Error)]
pub enum CacheError {
    /// The SQLite file could not be opened.
    #[error("cannot open the cache {path:?}: {message}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The cache's schema could not be brought up to date.
    #[error("cannot migrate the cache: {0}")]
    Migration(String),
    /// A query failed.
    #[error("cache database error: {0}")]
    Database(#[from] diesel::result::Error),
    /// A stored value could not be read back (the file was edited or is damaged).
    #[error("the cache holds an unreadable value ({what}): {message}")]
    Corrupt {
        /// Which value.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The cache's lock was poisoned by a panic in another thread.
    #[error("the cache is unusable after a panic in another thread")]
    Poisoned,
}

/// A sync, pull or login that did not complete.
///
/// [`ClientError::kind`] sorts them into the few cases a program reacts to differently
/// (the `rdsync` exit codes follow it).
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached: connection refused, no route, name not resolved, or
    /// the connection kept failing. Nothing is lost: the workouts stay queued.
    #[error("offline: the server at {server} could not be reached ({detail}); queued workouts stay queued and will sync when it is back")]
    Offline {
        /// The server's base URL.
        server: String,
        /// The transport error.
        detail: String,
    },
    /// No login is saved: log in first.
    #[error("not logged in: log in first (rdsync login)")]
    NotLoggedIn,
    /// The access token was refused and refreshing it did not help (the refresh token expired,
    /// was revoked, or the refreshed token was refused too).
    #[error("the session has expired or was revoked: log in again (rdsync login)")]
    SessionExpired,
    /// Login or registration was refused for the credentials given.
    #[error("{0}")]
    BadCredentials(String),
    /// The server kept answering 429 (or asked to wait longer than the client is willing to).
    #[error("the server is rate limiting this account{}; try again later", retry_after.map(|s| format!(" (retry after {s} s)")).unwrap_or_default())]
    RateLimited {
        /// The last `Retry-After` the server sent, in seconds.
        retry_after: Option<u64>,
    },
    /// The server kept failing (5xx) through every retry.
    #[error("the server failed with {status} after {attempts} attempts: {message}")]
    Server {
        /// The last HTTP status.
        status: u16,
        /// How many requests were made.
        attempts: u32,
        /// The server's message.
        message: String,
    },
    /// The server refused the request as such (a 4xx other than 401/429); retrying it
    /// unchanged would not help. A 422 names the fields at fault in `errors`, and the message
    /// shown says what is wrong with each (`target_days must be between 1 and 365`).
    #[error(
        "the server refused the request ({status} {code}): {message}{}",
        fields_in_parentheses(errors)
    )]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The contract's stable error code.
        code: String,
        /// The server's message.
        message: String,
        /// The server's messages per request field at fault (empty when it sent none).
        errors: FieldErrors,
    },
    /// A download (the export) broke off part way: what was written is not whole.
    #[error("the download broke off ({0}); run the export again")]
    Interrupted(String),
    /// The export could not be written to its file.
    #[error("cannot write the export: {0}")]
    Write(#[source] std::io::Error),
    /// The server answered something the contract does not allow.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The server URL is not an `http://` or `https://` URL.
    #[error("invalid server URL {0:?}: it must start with http:// or https://")]
    InvalidServerUrl(String),
    /// The local cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Messages per field as one line: `target_days must be between 1 and 365; year …`.
pub fn describe_fields(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// ` (…)` around [`describe_fields`], or nothing when there are no field errors.
fn fields_in_parentheses(errors: &FieldErrors) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", describe_fields(errors))
    }
}

/// The broad class of a [`ClientError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server is unreachable; try again when online.
    Offline,
    /// Logging in (again) is needed.
    Auth,
    /// The server is overloaded or failing; try again later.
    ServerTrouble,
    /// Anything else: a refused request, a protocol error, the local cache.
    Other,
}

impl ClientError {
    /// Which broad class this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Offline { .. } => ErrorKind::Offline,
            ClientError::NotLoggedIn
            | ClientError::SessionExpired
            | ClientError::BadCredentials(_) => ErrorKind::Auth,
            ClientError::RateLimited { .. }
            | ClientError::Server { .. }
            | ClientError::Interrupted(_) => ErrorKind::ServerTrouble,
            ClientError::Refused { .. }
            | ClientError::Protocol(_)
            | ClientError::Write(_)
            | ClientError::InvalidServerUrl(_)
            | ClientError::Cache(_) => ErrorKind::Other,
        }
    }
}

/// An Apple Health export could not be read at all.
///
/// Problems inside the export (a malformed `Workout` element, or XML that breaks off part way)
/// are not errors: they are counted in the [`ImportReport`](crate::apple_health::ImportReport).
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("cannot read {path:?}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file looks like a zip archive but cannot be read as one.
    #[error("{path:?} is not a readable zip archive: {message}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The zip archive has no `export.xml`.
    #[error("{path:?} holds no export.xml (expected apple_health_export/export.xml)")]
    NoExportXml {
        /// The file.
        path: PathBuf,
    },
    /// Saving to the cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}
