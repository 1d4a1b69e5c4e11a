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
    /// The account's IANA time zone (`"UTC"` unless set): it dates the workouts sent in UTC.
    pub time_zone: String,
}

/// What `PATCH /auth/me {time_zone}` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneChange {
    /// The account, with its new zone.
    pub user: User,
    /// Workouts sent in UTC whose `date` moved (each is on the change feed again).
    pub redated: usize,
}

/// An account with what login checks against.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// The Argon2id PHC string.
    pub password_hash: String,
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
        self.use_of().is_active(now)
    }

    /// What a request's check of this session reads.
    pub(crate) fn use_of(&self) -> SessionUse {
        SessionUse {
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// A session as a request's access token claims it: the token's signature and expiry are
/// checked, the session's revocation and expiry not yet. The store call it is handed to checks
/// those in its own statements ([`Store::check_session`](crate::Store::check_session), or the
/// sync's user lock), so the request pays no separate hand-off or round trip for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionClaim {
    /// The account the token names.
    pub user_id: Uuid,
    /// The session the token belongs to.
    pub session_id: Uuid,
}

/// The columns of a session that a request's check of it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionUse {
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: DateTime<Utc>,
}

impl SessionUse {
    /// Whether tokens of the session are still accepted at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// Whether a request at `now` should record its use of the session (at most once a minute).
    pub fn touch_due(&self, now: DateTime<Utc>) -> bool {
        use_due(Some(self.last_used_at), now)
    }
}

/// `last_used_at` is kept to this precision, so most authenticated requests write nothing.
const TOUCH_GRANULARITY_SECS: i64 = 60;

/// Whether a use at `now` of something last used at `last_used` should be recorded (at most
/// once a minute, so most requests only read).
pub(crate) fn use_due(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match last_used {
        None => true,
        Some(at) => now - at >= Duration::seconds(TOUCH_GRANULARITY_SECS),
    }
}

/// An ingest token as listed: never its secret, which only the runner ever sees, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestToken {
    /// The token's id (for revocation).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The runner's name for it (`"iPhone Health Auto Export"`).
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its latest use (to the minute), if any.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An ingest token to store.
#[derive(Debug, Clone)]
pub struct NewIngestToken {
    /// Its id.
    pub id: Uuid,
    /// The runner's name for it.
    pub name: String,
    /// SHA-256 (lowercase hex) of the secret.
    pub token_hash: String,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// What creating an ingest token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCreation {
    /// Stored.
    Created(IngestToken),
    /// The user already holds the most tokens allowed; nothing stored.
    LimitReached,
}

/// One sync request to apply.
#[derive(Debug, Clone, Copy)]
pub struct SyncCommand<'a> {
    /// The authenticated user.
    pub user_id: Uuid,
    /// The session of `user_id` the request came in, when its access token was not checked
    /// against it yet: the sync checks it in its own statements (the user lock reads it) and
    /// ends with [`StoreError::SessionEnded`](crate::StoreError::SessionEnded), nothing
    /// written, when it is absent, revoked or expired. `None` for a caller authenticated
    /// otherwise (an ingest token, a checked session).
    pub session: Option<Uuid>,
    /// The checked request.
    pub request: &'a PreparedSync,
    /// The server's clock for this sync (whole seconds).
    pub now: DateTime<Utc>,
    /// How long a stored response stays replayable.
    pub idempotency_ttl: Duration,
}

impl SyncCommand<'_> {
    /// The request's idempotency key, if it has one.
    pub(crate) fn idempotency_key(&self) -> Option<&str> {
        self.request.idempotency_key.as_ref().map(|k| k.as_str())
    }
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
    /// The user's sync number: history order, and where a page of it continues.
    pub seq: i64,
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

/// A page request for the newest-first workout list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkoutQuery {
    /// Most workouts returned (the API bounds it to 1–200).
    pub limit: i64,
    /// Continue after this workout.
    pub cursor: Option<sync_core::ListCursor>,
    /// Only workouts starting at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only workouts starting before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only workouts whose `date` falls in this year.
    pub year: Option<i32>,
}

/// One page of the workout list.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkoutPage {
    /// Newest `start_time` first.
    pub workouts: Vec<sync_core::StoredWorkout>,
    /// Where the next page starts, when there is one.
    pub next_cursor: Option<sync_core::ListCursor>,
    /// Whether more workouts follow.
    pub has_more: bool,
}

/// One page of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// Workouts at their latest state, in change order (tombstones included).
    pub changes: Vec<sync_core::StoredWorkout>,
    /// The position after this page (the request's position when the page is empty).
    pub last_seq: i64,
    /// Whether more changes follow.
    pub has_more: bool,
}

/// What `GET /sync/status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The last sync's time.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The user's change-feed position.
    pub change_seq: i64,
    /// Live workouts.
    pub total_workouts: i64,
    /// Start of the oldest live workout.
    pub oldest_workout: Option<DateTime<Utc>>,
    /// Start of the newest live workout.
    pub newest_workout: Option<DateTime<Utc>>,
}

/// The result of a server-side edit or delete.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOutcome<E> {
    /// Written with a new revision and change-feed position.
    Written(sync_core::StoredWorkout),
    /// The edit changed nothing; nothing written.
    Unchanged(sync_core::StoredWorkout),
    /// The edit was refused (e.g. invalid fields).
    Refused(E),
    /// No live workout with this id for this user.
    NotFound,
}

/// What a runner's numbers for a year depend on besides their workouts, read in one small
/// query: enough to tell whether a cached answer is still current before reading any workout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningState {
    /// The year the numbers are about (the one asked for, or the runner's current year).
    pub year: i32,
    /// Today in the runner's zone at the time given.
    pub today: chrono::NaiveDate,
    /// The runner's zone, which decides "today".
    pub time_zone: sync_core::running::Tz,
    /// The user's change-feed position: it moves with every change to their workouts
    /// (syncs, edits, deletions, re-dating).
    pub change_seq: i64,
    /// The goal set for the year, if any.
    pub goal: Option<sync_core::running::Goal>,
}

impl RunningState {
    /// The goal the numbers are computed against: the one set for the year, or the default
    /// (`default_target` days, the server's configured default) when none is.
    pub fn goal_or_default(&self, default_target: u16) -> sync_core::running::Goal {
        self.goal
            .clone()
            .unwrap_or_else(|| sync_core::running::Goal::default_for(self.year, default_target))
    }
}

/// How much of a year [`crate::Store::running_year`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRead {
    /// Also the weeks around the year and the running days of the streaks that touch it (what
    /// `streaks` and `weekly_data` need); without it, only the workouts dated in the year.
    pub streaks: bool,
    /// How many of the year's newest workouts to return whole (the dashboard's `recent_runs`).
    pub recent_runs: i64,
}

impl YearRead {
    /// The workouts dated in the year alone: what `progress` needs.
    pub const YEAR_ONLY: YearRead = YearRead {
        streaks: false,
        recent_runs: 0,
    };
    /// The year, the weeks around it and the streaks' running days: every number.
    pub const WITH_STREAKS: YearRead = YearRead {
        streaks: true,
        recent_runs: 0,
    };
}

/// A runner's year as the running-days rules take it, read on one snapshot.
#[derive(Debug, Clone)]
pub struct RunningYear {
    /// The state the numbers were read at.
    pub state: RunningState,
    /// The workouts and running days the rules need.
    pub data: sync_core::running::YearData,
    /// The year's newest workouts, newest first, as `GET /workouts?year=` lists them.
    pub recent_runs: Vec<sync_core::StoredWorkout>,
}

/// A budget of failed logins: how many attempts the holder of `key` may fail before the key
/// is locked. The key is the caller's (the API derives one from an email and a client
/// address, and one from the email alone); the store only counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginBudget {
    /// What is counted, as an opaque string.
    pub key: String,
    /// Failures that lock the key; at least 1.
    pub threshold: i32,
}

/// A login attempt's place in its budgets of failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Every budget had an attempt left: the password may be checked.
    Granted(Reservation),
    /// A budget is used up: it is locked until `locked_until`, or, when that is `None`, its
    /// last attempts are still being checked. Nothing was taken from any budget.
    Refused {
        /// The end of the lock, when one is set (the latest, when several are).
        locked_until: Option<DateTime<Utc>>,
    },
}

/// The attempts a granted login took, one from each budget: hand it back to
/// [`crate::Store::fail_login`] when the password turns out wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Each budget with the number of its attempt (1 for the first since the budget was last
    /// cleared, locked or idle).
    pub attempts: Vec<(LoginBudget, i32)>,
}
