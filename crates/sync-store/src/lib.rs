//! # sync-store
//!
//! Persistence for the Running Days sync service, with Diesel: SQLite (the embedded default)
//! or PostgreSQL, chosen at run time from the database URL. The sync algorithm exists once
//! (`backend/queries`) and is compiled for both; see `docs/architecture.md`.
//!
//! Every method is blocking: async callers run them on a blocking thread pool.

#![warn(missing_docs)]

mod backend;
mod error;
mod history;
mod moment;
mod pulse;
mod recent_keys;
mod records;
pub mod testing;
mod types;
mod watch;
mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::Connection;
use sync_core::running::{Goal, Tz, ValidGoal};
use uuid::Uuid;

use backend::{pg, sqlite, with_conn, with_read_then_write_conn, with_write_conn, Backend};
pub use error::StoreError;
use history::HistoryCache;
pub use history::HistoryReads;
use pulse::Pulse;
use recent_keys::RecentKeys;
pub use records::{
    ChangePage, Credentials, EditOutcome, IngestToken, LoginAttempt, LoginBudget, NewIngestToken,
    NewSession, Reservation, RunningState, RunningYear, Session, SessionClaim, SyncCommand,
    SyncOutcome, SyncRecord, SyncStatus, TimeZoneChange, TokenCreation, User, WorkoutPage,
    WorkoutQuery, YearRead,
};
pub use watch::Watch;
pub use webhooks::{
    AttemptResult, ClaimedDelivery, CreateWebhookOutcome, DeliveryAttempt, NewWebhook, Webhook,
    WebhookSecret, MAX_ATTEMPTS_PAGE, MAX_CLAIM, MAX_WEBHOOKS_PER_USER,
};

/// Largest page of [`Store::list_workouts`]; a larger `limit` is clamped to it.
pub const MAX_WORKOUTS_PAGE: i64 = 200;
/// Largest page of [`Store::changes`]; a larger `limit` is clamped to it.
pub const MAX_CHANGES_PAGE: i64 = 1000;
/// Most syncs [`Store::sync_history`] returns; a larger `limit` is clamped to it.
pub const MAX_HISTORY_PAGE: i64 = 200;
/// Rows per page of the export's reads ([`Store::export_workouts_page`],
/// [`Store::sync_history_page`]): large enough that 100,000 workouts take 100 queries, small
/// enough that a page is a few hundred kilobytes.
pub const EXPORT_PAGE: i64 = 1000;
/// Most ingest tokens one user may hold (the list is never longer).
pub const MAX_INGEST_TOKENS: i64 = 20;

/// The smallest sync (workouts and deletions) that SQLite reads and plans on a reader's
/// connection, outside the writer's turn. A 1,000-workout lookup and plan kept the one writer
/// busy for milliseconds that the other writers waited behind; for a sync of a few workouts, or
/// a replay, reading on a reader's connection measured slower than waiting for the turn (mix
/// (a) at 0.89 of before, replays at 0.59; docs/benchmarks.md, 24).
const SQLITE_PLAN_OUTSIDE_TURN_FROM: usize = 100;

/// Pool and wait limits.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most open connections.
    pub pool_size: u32,
    /// Longest wait for a free connection before the store reports itself unavailable.
    pub pool_timeout: Duration,
    /// Longest wait for a lock (a user's row on PostgreSQL, the writer lock on SQLite).
    pub lock_wait: Duration,
    /// Longest any one statement may run (PostgreSQL).
    pub statement_timeout: Duration,
    /// How long PostgreSQL may leave its heartbeat unanswered before it counts as silent and
    /// work waiting on it may be given up (see [`Watch`]).
    pub heartbeat_timeout: Duration,
    /// Most bytes of settled running days this instance keeps, so that the streaks of a long
    /// history are read once rather than on every read of the numbers; 0 keeps none.
    pub history_cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 10,
            pool_timeout: Duration::from_secs(2),
            lock_wait: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(2),
            history_cache_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl BackendKind {
    /// `postgres://` and `postgresql://` select PostgreSQL; anything else is a SQLite path
    /// (an optional `sqlite://` or `sqlite:` prefix is removed).
    pub fn of_url(url: &str) -> (BackendKind, &str) {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (BackendKind::Postgres, url)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            (BackendKind::Sqlite, path)
        }
    }

    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now used up and the new one stored. Carries the session.
    Rotated(Session),
    /// The token had been exchanged before: its session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
        /// Its account.
        user_id: Uuid,
    },
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}

/// Pool state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open.
    pub connections: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The pool's maximum.
    pub max_size: u32,
}

impl PoolState {
    fn of<M: diesel::r2d2::ManageConnection>(pool: &diesel::r2d2::Pool<M>) -> PoolState {
        let state = pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: pool.max_size(),
        }
    }
}

/// The database: a connection pool and every query the service makes.
pub struct Store {
    backend: Backend,
    kind: BackendKind,
    /// The target of a year without a goal, for working out `goal.reached`.
    goal_default_target: u16,
    /// The settled running days this instance has read (`history`).
    history: HistoryCache,
    /// The idempotency keys this instance answered lately (`recent_keys`).
    recent_keys: RecentKeys,
}

impl Store {
    /// Connects to `database_url` and applies pending migrations (on PostgreSQL under an
    /// advisory lock, so instances starting together do not race).
    pub fn open(database_url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let (kind, target) = BackendKind::of_url(database_url);
        let backend = match kind {
            BackendKind::Sqlite => {
                let pool = sqlite::connect(target, options)?;
                sqlite::migrate(&mut *pool.get()?)?;
                let writer = sqlite::Writer::open(target, options)?;
                Backend::Sqlite(pool, writer)
            }
            BackendKind::Postgres => {
                // A dedicated connection: migrating lifts the pool's statement timeouts.
                let mut conn = diesel::PgConnection::establish(&pg::with_network_settings(target))?;
                pg::migrate(&mut conn)?;
                let pulse =
                    Pulse::start(pg::with_network_settings(target), options.heartbeat_timeout);
                Backend::Pg(pg::connect(target, options)?, pulse)
            }
        };
        Ok(Store {
            backend,
            kind,
            goal_default_target: sync_core::running::DEFAULT_TARGET_DAYS,
            history: HistoryCache::new(options.history_cache_bytes),
            recent_keys: RecentKeys::new(),
        })
    }

    /// The store with `target` as the goal of a year without one (the server's
    /// `GOAL_DEFAULT_TARGET_DAYS`), which decides when such a year's goal is reached.
    pub fn with_goal_default_target(self, target: u16) -> Store {
        Store {
            goal_default_target: target,
            ..self
        }
    }

    /// Which database this store uses.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The connection pool's state.
    pub fn pool_state(&self) -> PoolState {
        match &self.backend {
            // The readers' pool and the writer's connection together.
            Backend::Sqlite(readers, writer) => {
                let (r, w) = (PoolState::of(readers), PoolState::of(writer.connection()));
                PoolState {
                    connections: r.connections + w.connections,
                    idle: r.idle + w.idle,
                    max_size: r.max_size + w.max_size,
                }
            }
            Backend::Pg(pool, _) => PoolState::of(pool),
        }
    }

    /// Ok when the database answers and every migration is applied. On PostgreSQL the
    /// heartbeat must answer too: while it has not, requests waiting on the database are given
    /// up with 503, so a pooled connection that answers is not yet readiness (after an outage
    /// the pool can reconnect a moment before the heartbeat does).
    pub fn ready(&self) -> Result<(), StoreError> {
        if let Backend::Pg(_, pulse) = &self.backend {
            if let Some(quiet) = pulse.state().silence() {
                return Err(StoreError::Unavailable(format!(
                    "the database has not answered its heartbeat for {} ms",
                    quiet.as_millis()
                )));
            }
        }
        with_conn!(self, |conn, queries| queries::maintenance::ready(conn))
    }

    /// Creates an account in the time zone UTC with its first session. `email` must already
    /// be normalised.
    pub fn register(
        &self,
        email: &str,
        password_hash: &str,
        session: &NewSession,
    ) -> Result<User, StoreError> {
        self.register_in_zone(email, password_hash, Tz::UTC, session)
    }

    /// Creates an account in `time_zone` with its first session. `email` must already be
    /// normalised.
    pub fn register_in_zone(
        &self,
        email: &str,
        password_hash: &str,
        time_zone: Tz,
        session: &NewSession,
    ) -> Result<User, StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::register(
            conn,
            email,
            password_hash,
            time_zone,
            session
        ))
    }

    /// Sets the user's time zone and re-dates their workouts sent in UTC, in one transaction
    /// (each moved workout goes on the change feed). `None` when the user does not exist.
    pub fn set_time_zone(
        &self,
        user_id: Uuid,
        time_zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeZoneChange>, StoreError> {
        with_write_conn!(self, |conn, queries| queries::calendar::set_time_zone(
            conn, user_id, time_zone, now
        ))
    }

    /// The account with this (normalised) email and what login checks.
    pub fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        with_conn!(self, |conn, queries| queries::auth::credentials(
            conn, email
        ))
    }

    /// The account stored under the first of these emails that one is stored under (the
    /// identity form first, then an older spelling), in one lookup.
    pub fn credentials_any(&self, emails: &[String]) -> Result<Option<Credentials>, StoreError> {
        with_conn!(self, |conn, queries| queries::auth::credentials_any(
            conn, emails
        ))
    }

    /// Stores the account under `email` from now on (an account found by an older spelling
    /// moves to the identity form); `false`, changing nothing, when another account has it.
    pub fn change_email(&self, user_id: Uuid, email: &str) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::change_email(
            conn, user_id, email
        ))
    }

    /// The account with this id.
    pub fn user(&self, user_id: Uuid) -> Result<Option<User>, StoreError> {
        with_conn!(self, |conn, queries| queries::auth::user(conn, user_id))
    }

    /// Opens a session after a successful login.
    pub fn open_session(&self, user_id: Uuid, session: &NewSession) -> Result<(), StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::open_session(
            conn, user_id, session
        ))
    }

    /// Takes one attempt from each budget (all or none, atomically across instances) before
    /// a password is checked: at most a budget's `threshold` passwords are checked per lock
    /// window, however many requests arrive at once. A budget that has seen no attempt for
    /// `idle_reset` starts afresh.
    pub fn reserve_login(
        &self,
        budgets: &[LoginBudget],
        now: DateTime<Utc>,
        idle_reset: chrono::Duration,
    ) -> Result<LoginAttempt, StoreError> {
        with_write_conn!(self, |conn, queries| queries::login::reserve(
            conn, budgets, now, idle_reset
        ))
    }

    /// After a reserved attempt failed: each budget it used up is locked for `lock_for`.
    /// Returns the end of the lock when it locked one.
    pub fn fail_login(
        &self,
        reservation: &Reservation,
        now: DateTime<Utc>,
        lock_for: chrono::Duration,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        with_write_conn!(self, |conn, queries| queries::login::fail(
            conn,
            reservation,
            now,
            lock_for
        ))
    }

    /// After a successful login: these budgets start afresh.
    pub fn clear_login_budgets(&self, keys: &[String]) -> Result<(), StoreError> {
        with_write_conn!(self, |conn, queries| queries::login::clear(conn, keys))
    }

    /// A session by id (active or not).
    pub fn session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        with_conn!(self, |conn, queries| queries::auth::session(
            conn, session_id
        ))
    }

    /// The session `session_id` when it is still active at `now`, recorded as used: what every
    /// authenticated request (a bearer token, a dashboard cookie) checks. `None` when it is
    /// absent, revoked or expired.
    pub fn live_session(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        match self.session(session_id)? {
            Some(session) if session.is_active(now) => {
                self.touch_session(&session, now)?;
                Ok(Some(session))
            }
            _ => Ok(None),
        }
    }

    /// Checks a request's claim to its session at `now`, recording the use as
    /// [`Store::live_session`] does: [`StoreError::SessionEnded`] unless the session is the
    /// claimed user's and active.
    pub fn check_session(&self, claim: SessionClaim, now: DateTime<Utc>) -> Result<(), StoreError> {
        let used = with_conn!(self, |conn, queries| queries::auth::claimed_session(
            conn, claim, now
        ))?;
        self.record_use(claim.session_id, &used, now)
    }

    /// Records that a session was used (to the minute).
    pub fn touch_session(&self, session: &Session, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.record_use(session.id, &session.use_of(), now)
    }

    fn record_use(
        &self,
        session_id: Uuid,
        used: &records::SessionUse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Decided before taking a connection: most requests write nothing, and on SQLite a
        // write waits for the writer's turn.
        if !used.touch_due(now) {
            return Ok(());
        }
        with_write_conn!(self, |conn, queries| queries::auth::touch_session(
            conn, session_id, used, now
        ))
    }

    /// The user's active sessions, newest first (at most 100).
    pub fn active_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        with_conn!(self, |conn, queries| queries::auth::active_sessions(
            conn, user_id, now
        ))
    }

    /// Revokes one of the user's sessions; `false` when it is not theirs or not active.
    pub fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::revoke_session(
            conn, user_id, session_id, now
        ))
    }

    /// Exchanges a refresh token (by hash) for the next of its family.
    pub fn rotate_refresh(
        &self,
        presented_hash: &str,
        next_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::rotate_refresh(
            conn,
            presented_hash,
            next_hash,
            now
        ))
    }

    /// Applies one sync (see the crate documentation): planned from reads without the user's
    /// lock and written in one statement guarded by what it read, or, when that changed or its
    /// webhook events must be queued with it, in one transaction under the lock. The session
    /// `command.session`, when given, is checked in the same statements.
    pub fn sync(&self, command: &SyncCommand<'_>) -> Result<SyncOutcome, StoreError> {
        self.sync_planned_then(command, || ())
    }

    /// [`Store::sync`], running `between` once the sync is planned and before it writes: what a
    /// change committed in between does is tested through `testing::sync_with_change_between`.
    pub(crate) fn sync_planned_then(
        &self,
        command: &SyncCommand<'_>,
        between: impl FnOnce(),
    ) -> Result<SyncOutcome, StoreError> {
        let key = command.idempotency_key();
        // A key this instance answered lately is most likely a retry, which its record
        // answers: its first read leaves out the batch's stored rows.
        let expect_replay = key.is_some_and(|k| self.recent_keys.seen(command.user_id, k));
        let outcome = self.sync_once(command, expect_replay, between);
        if let (Some(key), Ok(_)) = (key, &outcome) {
            // Applied, replayed or refused as reused: the key has a record either way.
            self.recent_keys.remember(command.user_id, key);
        }
        outcome
    }

    /// One sync, read and planned (`expect_replay`: without the batch's stored rows at first),
    /// then `between`, then written.
    fn sync_once(
        &self,
        command: &SyncCommand<'_>,
        expect_replay: bool,
        between: impl FnOnce(),
    ) -> Result<SyncOutcome, StoreError> {
        let request = command.request;
        let workouts = request.valid.len() + request.deletions.len();
        with_read_then_write_conn!(
            self,
            read_outside_turn: workouts >= SQLITE_PLAN_OUTSIDE_TURN_FROM,
            |conn, queries| {
                let prepared = queries::sync::prepare(conn, command, expect_replay)?;
                between();
                // A replay with nothing to record returns here, before any write path.
                match prepared.settled(command.now) {
                    Ok(outcome) => return Ok(outcome),
                    Err(prepared) => Ok::<_, StoreError>(prepared),
                }
            },
            |prepared| queries::sync::finish(conn, command, prepared, self.goal_default_target)
        )
    }

    /// The user's most recent syncs, newest first (`limit` is clamped to 1–[`MAX_HISTORY_PAGE`]).
    pub fn sync_history(&self, user_id: Uuid, limit: i64) -> Result<Vec<SyncRecord>, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        with_conn!(self, |conn, queries| queries::sync::history(
            conn, user_id, None, limit
        ))
    }

    /// The user's syncs numbered below `before_seq` (all when `None`), newest first, at most
    /// [`EXPORT_PAGE`]: one page of a keyset walk through the whole history.
    pub fn sync_history_page(
        &self,
        user_id: Uuid,
        before_seq: Option<i64>,
    ) -> Result<Vec<SyncRecord>, StoreError> {
        with_conn!(self, |conn, queries| queries::sync::history(
            conn,
            user_id,
            before_seq,
            EXPORT_PAGE
        ))
    }

    /// A page of the user's live workouts after `cursor`, newest `start_time` first, at most
    /// [`EXPORT_PAGE`]: the export walks every workout with it, one bounded query a page.
    pub fn export_workouts_page(
        &self,
        user_id: Uuid,
        cursor: Option<sync_core::ListCursor>,
    ) -> Result<WorkoutPage, StoreError> {
        let query = WorkoutQuery {
            limit: EXPORT_PAGE,
            cursor,
            since: None,
            until: None,
            year: None,
        };
        with_conn!(self, |conn, queries| queries::workouts::list(
            conn, user_id, &query
        ))
    }

    /// Erases the account and everything it owns in one transaction (see
    /// `docs/architecture.md`); `false` when there was no such account.
    pub fn delete_account(&self, user_id: Uuid) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::auth::delete_account(
            conn, user_id
        ))
    }

    /// Stores a new ingest token unless the user already holds [`MAX_INGEST_TOKENS`].
    pub fn create_ingest_token(
        &self,
        user_id: Uuid,
        token: &NewIngestToken,
    ) -> Result<TokenCreation, StoreError> {
        with_write_conn!(self, |conn, queries| queries::ingest::create(
            conn,
            user_id,
            token,
            MAX_INGEST_TOKENS
        ))
    }

    /// The user's ingest tokens, newest first.
    pub fn ingest_tokens(&self, user_id: Uuid) -> Result<Vec<IngestToken>, StoreError> {
        with_conn!(self, |conn, queries| queries::ingest::list(
            conn,
            user_id,
            MAX_INGEST_TOKENS
        ))
    }

    /// Deletes one of the user's ingest tokens; `false` when it is not theirs.
    pub fn revoke_ingest_token(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::ingest::revoke(
            conn, user_id, id
        ))
    }

    /// The ingest token with this hash (recording its use), or `None`.
    pub fn authenticate_ingest_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IngestToken>, StoreError> {
        with_write_conn!(self, |conn, queries| queries::ingest::authenticate(
            conn, token_hash, now
        ))
    }

    /// One of the user's syncs; `None` when absent or another user's.
    pub fn sync_record(
        &self,
        user_id: Uuid,
        sync_id: Uuid,
    ) -> Result<Option<SyncRecord>, StoreError> {
        with_conn!(self, |conn, queries| queries::sync::record(
            conn, user_id, sync_id
        ))
    }

    /// A page of the user's live workouts, newest `start_time` first.
    pub fn list_workouts(
        &self,
        user_id: Uuid,
        query: &WorkoutQuery,
    ) -> Result<WorkoutPage, StoreError> {
        let query = WorkoutQuery {
            limit: query.limit.clamp(1, MAX_WORKOUTS_PAGE),
            ..*query
        };
        with_conn!(self, |conn, queries| queries::workouts::list(
            conn, user_id, &query
        ))
    }

    /// One live workout of the user; `None` when absent, deleted or another user's.
    pub fn workout(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<sync_core::StoredWorkout>, StoreError> {
        with_conn!(self, |conn, queries| queries::workouts::get(
            conn, user_id, id
        ))
    }

    /// Changes after `after_seq` in commit order (`limit` clamped to 1–[`MAX_CHANGES_PAGE`]).
    pub fn changes(
        &self,
        user_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<ChangePage, StoreError> {
        let limit = limit.clamp(1, MAX_CHANGES_PAGE);
        with_conn!(self, |conn, queries| queries::workouts::changes(
            conn, user_id, after_seq, limit
        ))
    }

    /// The user's sync status; `None` when the user does not exist.
    pub fn sync_status(&self, user_id: Uuid) -> Result<Option<SyncStatus>, StoreError> {
        with_conn!(self, |conn, queries| queries::workouts::status(
            conn, user_id
        ))
    }

    /// A server-side edit of one live workout, under the user's lock. `edit` returns the new
    /// row state, `None` for no change, or its own refusal.
    pub fn edit_workout<E>(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        edit: impl FnOnce(&sync_core::StoredWorkout) -> Result<Option<sync_core::StoredWorkout>, E>,
    ) -> Result<EditOutcome<E>, StoreError> {
        with_write_conn!(self, |conn, queries| queries::workouts::edit(
            conn,
            user_id,
            id,
            now,
            self.goal_default_target,
            edit
        ))
    }

    /// The user's goals, newest year first (at most one per year from 2000 to 2100).
    pub fn goals(&self, user_id: Uuid) -> Result<Vec<Goal>, StoreError> {
        with_conn!(self, |conn, queries| queries::running::list_goals(
            conn, user_id
        ))
    }

    /// Creates or replaces the user's goal for its year (a replaced goal keeps `created_at`).
    pub fn put_goal(
        &self,
        user_id: Uuid,
        goal: ValidGoal,
        now: DateTime<Utc>,
    ) -> Result<Goal, StoreError> {
        with_write_conn!(self, |conn, queries| queries::running::put_goal(
            conn,
            user_id,
            goal,
            now,
            self.goal_default_target
        ))
    }

    /// Removes the user's goal for `year`; `false` when there was none.
    pub fn delete_goal(&self, user_id: Uuid, year: i32) -> Result<bool, StoreError> {
        let now = chrono::Utc::now();
        with_write_conn!(self, |conn, queries| queries::running::delete_goal(
            conn,
            user_id,
            year,
            now,
            self.goal_default_target
        ))
    }

    /// What the user's numbers for `year` (their current year when `None`) depend on at `now`
    /// besides their workouts, in one indexed read: a caller can tell from it whether a cached
    /// answer is current. `None` when the user does not exist.
    pub fn running_state(
        &self,
        user_id: Uuid,
        year: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<Option<RunningState>, StoreError> {
        with_conn!(self, |conn, queries| queries::running::running_state(
            conn, user_id, year, now
        ))
    }

    /// How many spans of settled running days this instance's reads took from memory and how
    /// many they read from the database, since it opened.
    pub fn history_reads(&self) -> HistoryReads {
        self.history.reads()
    }

    /// The user's `year` (2000 to 2100; their current year when `None`) seen at `now`, read on
    /// one snapshot and bounded by the year (see `sync_core::running` for what is read and
    /// why). `None` when the user does not exist.
    pub fn running_year(
        &self,
        user_id: Uuid,
        year: Option<i32>,
        now: DateTime<Utc>,
        read: YearRead,
    ) -> Result<Option<RunningYear>, StoreError> {
        let read = YearRead {
            recent_runs: read.recent_runs.clamp(0, MAX_WORKOUTS_PAGE),
            ..read
        };
        with_conn!(self, |conn, queries| queries::running::running_year(
            conn,
            &self.history,
            user_id,
            year,
            now,
            read
        ))
    }

    /// Deletes up to `limit` failed-login budgets idle since `idle_since` and unlocked at
    /// `now`; returns how many.
    pub fn purge_login_budgets(
        &self,
        idle_since: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize, StoreError> {
        with_write_conn!(self, |conn, queries| queries::login::purge(
            conn, idle_since, now, limit
        ))
    }

    /// Deletes idempotency records created before `cutoff`; returns how many.
    pub fn purge_idempotency(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        with_write_conn!(self, |conn, queries| {
            queries::maintenance::purge_idempotency(conn, cutoff)
        })
    }
}
