//! What the store hands back: plain domain values, never Diesel rows.

use chrono::{DateTime, Duration, Utc};
use sync_core::{PreparedSync, SyncCounts};
use uuid::Uuid;

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The account id.
    pub id: Uuid,
    /// Normalised email (trimmed, lowercase).
    pub email: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// An account with what login checks against.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// Consecutive failed logins since the last success.
    pub failed_logins: i32,
    /// Logins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A session to open at register or login.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session id (named in access tokens as `sid`).
    pub id: Uuid,
    /// The client's `User-Agent`, for the session list.
    pub user_agent: Option<String>,
    /// SHA-256 of the first refresh token of the session's family.
    pub refresh_token_hash: String,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The absolute end of the session (the refresh tokens' lifetime).
    pub expires_at: DateTime<Utc>,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id.
    pub id: Uuid,
    /// Its account.
    pub user_id: Uuid,
    /// The `User-Agent` it was opened with.
    pub user_agent: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Last refresh or authenticated request (to the minute).
    pub last_used_at: DateTime<Utc>,
    /// Its absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked (logout, revocation, refresh-token reuse).
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether tokens of this session are still accepted at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One sync request to apply.
#[derive(Debug, Clone, Copy)]
pub struct SyncCommand<'a> {
    /// The authenticated user.
    pub user_id: Uuid,
    /// The checked request.
    pub request: &'a PreparedSync,
    /// The server's clock for this sync (whole seconds).
    pub now: DateTime<Utc>,
    /// How long a stored response stays replayable.
    pub idempotency_ttl: Duration,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Applied and committed; `body` is the response (stored under the key when one was given).
    Applied {
        /// The JSON response body.
        body: String,
        /// The tallies, for metrics and logs.
        counts: SyncCounts,
    },
    /// The same request completed before: its stored body, byte for byte.
    Replayed {
        /// The stored JSON response body.
        body: String,
    },
    /// The key was used for a different request; nothing applied.
    KeyReused,
}

/// One entry of a user's sync history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    /// The sync id.
    pub id: Uuid,
    /// `incremental` or `full`.
    pub mode: String,
    /// The key it was sent with, if any.
    pub idempotency_key: Option<String>,
    /// Its tallies.
    pub counts: SyncCounts,
    /// The change-feed position after it.
    pub change_seq: i64,
    /// The client's timestamp for it, if sent.
    pub client_sync_timestamp: Option<DateTime<Utc>>,
    /// When the server applied it.
    pub created_at: DateTime<Utc>,
}
