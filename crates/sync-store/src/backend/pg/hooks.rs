//! PostgreSQL's hooks: the statements the shared `queries` expect every backend to supply,
//! because the databases need them written differently. `backend/sqlite/hooks.rs` has the same
//! functions with the same signatures.
//!
//! | hook | what it does | on PostgreSQL | why |
//! |---|---|---|---|
//! | `write_transaction` | runs a closure in a write transaction | read committed | writers of different users proceed in parallel; a user's writes are serialised by `lock_user` (SQLite: `BEGIN IMMEDIATE`, one writer at a time) |
//! | `read_transaction` | runs a closure on one consistent snapshot | repeatable read, read only | the numbers of a year come from a few statements that must agree with each other and with the `ETag` made from them (SQLite: a deferred `BEGIN`) |
//! | `lock_user` | serialises the user's writes until commit; returns their change position and time zone | `SELECT … FOR UPDATE` of the user row | many instances share the database; the row lock makes the user's change sequence commit in order (SQLite: a plain read) |
//! | `lock_user_in_session` | `lock_user`, reading the caller's session in the same statement | `LOCK_IN_SESSION_SQL`: the user row left-joined to the session, `FOR UPDATE OF users` | the session check costs no round trip of its own, and only the user row is locked: a session row locked too could deadlock with a writer that takes the two in the other order (SQLite: the same join, a plain read) |
//! | `key_and_subscriptions` | the stored record of a sync's key and the user's webhook subscriptions | `SYNC_SIGHT_SQL` and `SIGHT_ALONE`, the user row beside them unused | one round trip for what a locked write checks before it writes, instead of two (SQLite: two statements) |
//! | `lookup_workouts` | the user's stored rows for a chunk of client ids | `LOOKUP_SQL`: `unnest` of the ids, each probed in a `LATERAL … LIMIT 1` | a plan no statistics can turn into a scan; `client_id = ANY(…)` was measured going wrong (SQLite: `IN (…)`) |
//! | `write_workouts` | inserts or overwrites rows by `(user_id, client_id)` | `UPSERT_ROWS` and `UPSERT_ON_CONFLICT`: one array per column, `unnest`ed | one statement of 20 parameters for any batch instead of 20 per row (SQLite: multi-row `VALUES`) |
//! | `sync_sight` | what a sync plans from, without a lock: the user row, the session, the key's record, the subscriptions and, when the sync is planned without the lock, the batch's stored rows | `SYNC_SIGHT_SQL` and `SIGHT_AND_STORED` with `LOOKUP_SQL` inside it: one statement, one snapshot; for a key answered lately, `SIGHT_ALONE` | a fresh sync's plan costs one round trip, the lookup's included, and a retry's answer the smaller statement (SQLite: the statements of `lock_user_in_session`, `key_and_subscriptions` and `lookup_workouts`) |
//! | `write_sync` | a sync's writes if its guard holds (the user row as the plan read it, the session active): its workouts, then its bookkeeping (user row, sync record, stored response) | one statement: `SYNC_GUARD_CTE`, the upsert under it, `RECORD_SYNC_CTES` | a sync planned without the lock writes in one round trip, its own transaction, instead of six; a stale plan writes nothing (SQLite: the guard's read and four statements, in the writer's transaction) |
//! | `write_alone` | runs a one-statement write on its own | no transaction: the statement is one | `BEGIN` and `COMMIT` would be two more round trips (SQLite: `write_transaction`) |
//! | `lock_due_deliveries` | the webhook deliveries due now, for the worker to claim | `SELECT … FOR UPDATE SKIP LOCKED`, oldest due first | instances claiming at once lock different rows and none waits for another (SQLite: a plain read in the immediate transaction) |
//!
//! These statements are raw SQL of fixed text (`super::statement`), each for a reason
//! measured in docs/benchmarks.md. No compiler checks their column lists against `schema`: the
//! test in `super::raw_sql_columns` does.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{
    Array, BigInt, Date, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

use super::queries::rows::{
    key_record, session_use, KeyAndSubscriptions, SyncBookkeeping, SyncGuard, SyncSight, UserLock,
    WorkoutRow,
};
use super::schema::{users, webhook_deliveries};
use super::statement::{cached_statement, push_statement, unbound_parameter};
use super::Conn;
use crate::history::HistoryMark;
use crate::records::SessionUse;
use crate::types::{DbTime, DbUuid};
use crate::webhooks::MAX_WEBHOOKS_PER_USER;
use crate::StoreError;

/// Runs `f` in a read-committed transaction, which rolls back instead of committing when its
/// waiter has given up on it (see `watch`).
pub(super) fn write_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.build_transaction()
        .read_committed()
        .run(|conn| f(conn).and_then(crate::watch::commit_allowed_with))
}

/// Runs `f` in a read-only transaction whose statements all see one snapshot.
pub(super) fn read_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(f)
}

/// Locks the user's row until commit and returns their change-feed position and time zone.
pub(super) fn lock_user(conn: &mut Conn, user_id: Uuid) -> Result<UserLock, StoreError> {
    users::table
        .find(DbUuid(user_id))
        .select((
            users::change_seq,
            users::sync_count,
            users::time_zone,
            (users::history_version, users::history_floor),
        ))
        .for_update()
        .first(conn)
        .map(|(change_seq, sync_count, time_zone, history)| UserLock {
            change_seq,
            sync_count,
            time_zone,
            history,
        })
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// The user lock of a sync whose caller's session is checked in the same statement. The
/// change position is named apart from a workout's (`SYNC_SIGHT_SQL` returns both in a row).
pub(super) const LOCK_IN_SESSION_SQL: &str = "SELECT users.change_seq AS user_change_seq, \
     users.sync_count, \
     users.time_zone, \
     users.history_version, users.history_floor, sessions.expires_at, sessions.revoked_at, \
     sessions.last_used_at FROM users \
     LEFT JOIN sessions ON sessions.id = $1 AND sessions.user_id = users.id \
     WHERE users.id = $2 FOR UPDATE OF users";

/// `LOCK_IN_SESSION_SQL` with its parameters.
struct LockInSession<'a> {
    session: &'a DbUuid,
    user: &'a DbUuid,
}

impl QueryFragment<Pg> for LockInSession<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_statement(&mut out, LOCK_IN_SESSION_SQL, move |out, n| match n {
            1 => out.push_bind_param::<SqlUuid, _>(self.session),
            2 => out.push_bind_param::<SqlUuid, _>(self.user),
            _ => Err(unbound_parameter(n)),
        })
    }
}
cached_statement!(LockInSession);

/// A row of `LOCK_IN_SESSION_SQL`.
#[derive(QueryableByName)]
struct LockedInSession {
    #[diesel(sql_type = BigInt, column_name = user_change_seq)]
    change_seq: i64,
    #[diesel(sql_type = BigInt)]
    sync_count: i64,
    #[diesel(sql_type = Text)]
    time_zone: String,
    #[diesel(sql_type = BigInt)]
    history_version: i64,
    #[diesel(sql_type = Nullable<Date>)]
    history_floor: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DbTime>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DbTime>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<DbTime>,
}

/// [`lock_user`], reading in the same statement the user's session `session_id` (`None` when
/// it is not theirs), by `LOCK_IN_SESSION_SQL`.
pub(super) fn lock_user_in_session(
    conn: &mut Conn,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(UserLock, Option<SessionUse>), StoreError> {
    let row: LockedInSession = LockInSession {
        session: &DbUuid(session_id),
        user: &DbUuid(user_id),
    }
    .get_result(conn)
    .optional()?
    .ok_or(StoreError::NotFound)?;
    Ok(row.into_lock())
}

impl LockedInSession {
    /// The user row, and the session when it is the user's.
    fn into_lock(self) -> (UserLock, Option<SessionUse>) {
        let session = self
            .expires_at
            .zip(self.last_used_at)
            .map(|(expires_at, last_used_at)| (expires_at, self.revoked_at, last_used_at));
        let lock = UserLock {
            change_seq: self.change_seq,
            sync_count: self.sync_count,
            time_zone: self.time_zone,
            history: HistoryMark {
                version: self.history_version,
                floor: self.history_floor,
            },
        };
        (lock, session_use(session))
    }
}

/// The key's record and subscription columns of a sight row (`SYNC_SIGHT_SQL`).
#[derive(QueryableByName)]
struct KeyAndSubscription {
    #[diesel(sql_type = Nullable<Text>)]
    fingerprint: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    response_body: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>, column_name = key_created_at)]
    created_at: Option<DbTime>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    subscription_id: Option<DbUuid>,
    #[diesel(sql_type = Nullable<Text>)]
    subscription_events: Option<String>,
}

/// The stored record of the user's `key` (when given) and their webhook subscriptions, by
/// `SyncSightQuery` (the user row it also reads is the caller's to ignore: the writers that ask
/// hold its lock).
pub(super) fn key_and_subscriptions(
    conn: &mut Conn,
    user_id: Uuid,
    key: Option<&str>,
) -> Result<KeyAndSubscriptions, StoreError> {
    let rows = sight_rows(conn, user_id, None, key)?;
    Ok(KeyAndSubscription::gather(rows.into_iter().map(|r| r.key)))
}

impl KeyAndSubscription {
    /// The key's record (carried by every row) and the subscriptions, a row each.
    fn gather(rows: impl IntoIterator<Item = KeyAndSubscription>) -> KeyAndSubscriptions {
        let mut rows = rows.into_iter().peekable();
        let stored_key = rows.peek_mut().and_then(|first| {
            Some(key_record(
                first.fingerprint.take()?,
                first.response_body.take()?,
                first.created_at?,
            ))
        });
        let subscriptions = rows
            .filter_map(|row| row.subscription_id.zip(row.subscription_events))
            .collect();
        KeyAndSubscriptions {
            stored_key,
            subscriptions,
        }
    }
}

/// Everything a sync reads before it plans, in one statement and one snapshot, without a lock:
/// the user row and the caller's session (as `LOCK_IN_SESSION_SQL` reads them), the key's
/// record (by the primary key; none when `$3` is NULL) and the subscriptions (through
/// `webhook_subscriptions_user_idx`), as the CTE `sight`: one row per subscription, each
/// carrying the rest, or one when there is none; no row when the user is gone. What follows
/// selects from it: `SIGHT_ALONE`, or `SIGHT_AND_STORED`.
pub(super) const SYNC_SIGHT_SQL: &str = "WITH p AS (SELECT $1::uuid AS user_id, \
     $2::uuid AS session_id, $3::text AS key), \
     sight AS (SELECT users.change_seq AS user_change_seq, users.sync_count, users.time_zone, \
     users.history_version, users.history_floor, sessions.expires_at, sessions.revoked_at, \
     sessions.last_used_at, i.fingerprint, i.response_body, i.created_at AS key_created_at, \
     s.id AS subscription_id, s.events AS subscription_events \
     FROM p JOIN users ON users.id = p.user_id \
     LEFT JOIN sessions ON sessions.id = p.session_id AND sessions.user_id = users.id \
     LEFT JOIN idempotency_records i ON i.user_id = p.user_id AND i.key = p.key \
     LEFT JOIN LATERAL (SELECT webhook_subscriptions.id, webhook_subscriptions.events \
     FROM webhook_subscriptions WHERE webhook_subscriptions.user_id = p.user_id LIMIT $4) \
     AS s ON true) ";

/// The sight's rows as they are: what a retry, or a write under the lock, reads.
pub(super) const SIGHT_ALONE: &str = "SELECT sight.* FROM sight";

/// The sight's rows, each beside a stored row of the batch found by `LOOKUP_SQL` (its
/// parameters numbered on from `$5`, closed by `SYNC_SIGHT_LOOKUP_END`) when there is no key
/// record and no subscription: what a fresh sync reads, in one round trip instead of two. The
/// lookup's gate refers to the sight row only, so it is a one-time filter, and a sync that a
/// record answers probes no index for its batch; it still costs the larger plan (a quarter
/// more than `SIGHT_ALONE` for a replay, measured), which is why a likely retry is sent the
/// other (`crate::recent_keys`).
pub(super) const SIGHT_AND_STORED: &str =
    "SELECT sight.*, stored.* FROM sight LEFT JOIN LATERAL (SELECT found.* FROM (";

/// The close of `SIGHT_AND_STORED`'s lookup, and its gate. `OFFSET 0` keeps the lookup a
/// subquery of its own: flattened into the join, the gate became a join filter applied after
/// the lookup had run; here it is a one-time filter before it.
pub(super) const SYNC_SIGHT_LOOKUP_END: &str = ") AS found \
     WHERE sight.fingerprint IS NULL AND sight.subscription_id IS NULL OFFSET 0) AS stored \
     ON true";

/// `SYNC_SIGHT_SQL` and `SIGHT_ALONE` with their parameters.
struct SyncSightQuery<'a> {
    user: DbUuid,
    session: Option<DbUuid>,
    key: Option<&'a str>,
}

impl<'a> SyncSightQuery<'a> {
    /// The sight of `user_id`, with the caller's session and the sync's key when given.
    fn of(user_id: Uuid, session: Option<Uuid>, key: Option<&'a str>) -> Self {
        SyncSightQuery {
            user: DbUuid(user_id),
            session: session.map(DbUuid),
            key,
        }
    }

    /// Pushes `SYNC_SIGHT_SQL` with its four parameters.
    fn push_sight<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_statement(out, SYNC_SIGHT_SQL, move |out, n| match n {
            1 => out.push_bind_param::<SqlUuid, _>(&self.user),
            2 => out.push_bind_param::<Nullable<SqlUuid>, _>(&self.session),
            3 => out.push_bind_param::<Nullable<Text>, _>(&self.key),
            4 => out.push_bind_param::<BigInt, _>(&MAX_WEBHOOKS_PER_USER),
            _ => Err(unbound_parameter(n)),
        })
    }
}

impl QueryFragment<Pg> for SyncSightQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.push_sight(&mut out)?;
        out.push_sql(SIGHT_ALONE);
        Ok(())
    }
}
cached_statement!(SyncSightQuery);

/// `SYNC_SIGHT_SQL`, `SIGHT_AND_STORED`, `LOOKUP_SQL` and `SYNC_SIGHT_LOOKUP_END` with their
/// parameters: the sight's four, then the lookup's two.
struct SightAndStoredQuery<'a> {
    sight: SyncSightQuery<'a>,
    lookup: Lookup<'a>,
}

impl QueryFragment<Pg> for SightAndStoredQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.sight.push_sight(&mut out)?;
        out.push_sql(SIGHT_AND_STORED);
        self.lookup.walk_ast(out.reborrow())?;
        out.push_sql(SYNC_SIGHT_LOOKUP_END);
        Ok(())
    }
}
cached_statement!(SightAndStoredQuery);

/// A row of `SyncSightQuery`.
#[derive(QueryableByName)]
struct SyncSightRow {
    #[diesel(embed)]
    user: LockedInSession,
    #[diesel(embed)]
    key: KeyAndSubscription,
}

/// A row of `SightAndStoredQuery`.
#[derive(QueryableByName)]
struct SightAndStoredRow {
    #[diesel(embed)]
    sight: SyncSightRow,
    /// `None` in a row that carries no stored row (every column NULL).
    #[diesel(embed)]
    stored: Option<WorkoutRow>,
}

/// The rows of `SyncSightQuery`: none when the user is gone, else one per subscription (one
/// when there is none).
fn sight_rows(
    conn: &mut Conn,
    user_id: Uuid,
    session: Option<Uuid>,
    key: Option<&str>,
) -> Result<Vec<SyncSightRow>, StoreError> {
    Ok(SyncSightQuery::of(user_id, session, key).load(conn)?)
}

/// The sight's rows, and beside them the stored rows of `client_ids` when there is no key
/// record and no subscription, by `SightAndStoredQuery`.
fn sight_and_stored_rows(
    conn: &mut Conn,
    user_id: Uuid,
    session: Option<Uuid>,
    key: Option<&str>,
    client_ids: &[String],
) -> Result<(Vec<SyncSightRow>, Vec<WorkoutRow>), StoreError> {
    let rows: Vec<SightAndStoredRow> = SightAndStoredQuery {
        sight: SyncSightQuery::of(user_id, session, key),
        lookup: Lookup {
            client_ids,
            user: DbUuid(user_id),
        },
    }
    .load(conn)?;
    let (sight, stored): (Vec<_>, Vec<_>) = rows.into_iter().map(|r| (r.sight, r.stored)).unzip();
    Ok((sight, stored.into_iter().flatten().collect()))
}

/// What a sync plans from, by `SyncSightQuery`, or with the stored rows of `client_ids` (when
/// given, and the sync is planned here) by `SightAndStoredQuery`; `None` when the user is gone.
pub(super) fn sync_sight(
    conn: &mut Conn,
    user_id: Uuid,
    session: Option<Uuid>,
    key: Option<&str>,
    client_ids: Option<&[String]>,
) -> Result<Option<SyncSight>, StoreError> {
    let (rows, stored) = match client_ids {
        Some(ids) => {
            let (rows, stored) = sight_and_stored_rows(conn, user_id, session, key, ids)?;
            (rows, Some(stored))
        }
        None => (sight_rows(conn, user_id, session, key)?, None),
    };
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let (user, session) = first.user.into_lock();
    let key = KeyAndSubscription::gather(std::iter::once(first.key).chain(rows.map(|r| r.key)));
    let mut sight = SyncSight {
        user,
        session,
        stored_key: key.stored_key,
        subscriptions: Some(key.subscriptions),
        stored: None,
    };
    if sight.plans_unlocked() {
        sight.stored = stored;
    }
    Ok(Some(sight))
}

/// The batch lookup, one unique-index probe per client id. `user_id = $1 AND client_id =
/// ANY($2)` leaves the plan to the statistics, and both of its plans were measured going wrong:
/// the custom plan of a 1,000-id batch scanned the whole table (docs/query-plans.md, finding 2),
/// and plans made while the table was young scanned the user's whole history through
/// `workouts_user_seq_idx`, comparing each row with every id, so a 1,000-workout sync cost
/// O(history × batch). Here each id is looked up by equality on the whole unique key inside a
/// `LATERAL … LIMIT 1` (which the planner cannot flatten into a join): a plan no statistics
/// change, O(batch × log n). The ids come through a sub-select, so that the planner sees a
/// batch of unknown size in every plan: told each batch's size, it costed a small batch's own
/// plan below the generic one and planned the statement again on every sync (0.08 ms each; as
/// part of `SightAndStoredQuery`, 0.44 ms), where now it keeps the generic plan.
pub(super) const LOOKUP_SQL: &str = "SELECT w.* FROM unnest((SELECT $1::text[])) AS c(client_id) \
     CROSS JOIN LATERAL (SELECT * FROM workouts \
     WHERE workouts.user_id = $2 AND workouts.client_id = c.client_id LIMIT 1) AS w";

/// `LOOKUP_SQL` with its parameters.
struct Lookup<'a> {
    client_ids: &'a [String],
    user: DbUuid,
}

impl QueryFragment<Pg> for Lookup<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_statement(&mut out, LOOKUP_SQL, move |out, n| match n {
            1 => out.push_bind_param::<Array<Text>, _>(self.client_ids),
            2 => out.push_bind_param::<SqlUuid, _>(&self.user),
            _ => Err(unbound_parameter(n)),
        })
    }
}
cached_statement!(Lookup);

/// The user's rows (live and tombstones) with these client ids, by `LOOKUP_SQL`.
pub(super) fn lookup_workouts(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<WorkoutRow>, StoreError> {
    Ok(Lookup {
        client_ids,
        user: DbUuid(user_id),
    }
    .load(conn)?)
}

/// The bulk upsert, one statement whatever the batch: each column is sent as one array and
/// `unnest` rebuilds the rows, then `ON CONFLICT (user_id, client_id) DO UPDATE` overwrites
/// everything but the row's identity (`id`, `user_id`, `client_id`) and `created_at`, as the
/// SQLite upsert does. A multi-row `VALUES` list has a parameter per column and row: a
/// 1,000-workout sync sent 20,000, each serialised into its own buffer by Diesel and parsed,
/// analysed and converted by PostgreSQL, which then spent about twice the CPU of inserting the
/// same rows from `generate_series` (the ceiling).
pub(super) const UPSERT_ROWS: &str = "INSERT INTO workouts (id, user_id, client_id, start_time, \
     start_offset_minutes, start_date, end_time, duration_seconds, distance_meters, \
     energy_burned_kcal, avg_heart_rate, max_heart_rate, avg_pace_seconds_per_km, source, \
     client_version, revision, change_seq, deleted_at, created_at, updated_at) \
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int4[], \
     $6::date[], $7::timestamptz[], $8::int8[], $9::float8[], $10::float8[], $11::int4[], \
     $12::int4[], $13::float8[], $14::text[], $15::int8[], $16::int8[], $17::int8[], \
     $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])";

/// What follows `UPSERT_ROWS` (after a `WHERE` of the sync's guard, in `write_sync`): the
/// overwrite of a row with the same `(user_id, client_id)`.
pub(super) const UPSERT_ON_CONFLICT: &str = " \
     ON CONFLICT (user_id, client_id) DO UPDATE SET start_time = excluded.start_time, \
     start_offset_minutes = excluded.start_offset_minutes, start_date = excluded.start_date, \
     end_time = excluded.end_time, duration_seconds = excluded.duration_seconds, \
     distance_meters = excluded.distance_meters, \
     energy_burned_kcal = excluded.energy_burned_kcal, \
     avg_heart_rate = excluded.avg_heart_rate, max_heart_rate = excluded.max_heart_rate, \
     avg_pace_seconds_per_km = excluded.avg_pace_seconds_per_km, source = excluded.source, \
     client_version = excluded.client_version, revision = excluded.revision, \
     change_seq = excluded.change_seq, deleted_at = excluded.deleted_at, \
     updated_at = excluded.updated_at";

/// The upsert's parameters: the rows' columns, one array each, in the statement's order.
struct Upsert<'a> {
    id: Vec<DbUuid>,
    user_id: Vec<DbUuid>,
    client_id: Vec<&'a str>,
    start_time: Vec<DbTime>,
    start_offset_minutes: Vec<i32>,
    start_date: Vec<chrono::NaiveDate>,
    end_time: Vec<DbTime>,
    duration_seconds: Vec<i64>,
    distance_meters: Vec<f64>,
    energy_burned_kcal: Vec<Option<f64>>,
    avg_heart_rate: Vec<Option<i32>>,
    max_heart_rate: Vec<Option<i32>>,
    avg_pace_seconds_per_km: Vec<Option<f64>>,
    source: Vec<&'a str>,
    client_version: Vec<i64>,
    revision: Vec<i64>,
    change_seq: Vec<i64>,
    deleted_at: Vec<Option<DbTime>>,
    created_at: Vec<DbTime>,
    updated_at: Vec<DbTime>,
}

impl<'a> Upsert<'a> {
    fn of(rows: &'a [WorkoutRow]) -> Self {
        // `Upsert { field: the rows' `field`, one array each }`, borrowing the strings.
        macro_rules! columns {
            ($($field:ident $(.$borrow:ident())?),* $(,)?) => {
                Upsert { $($field: rows.iter().map(|r| r.$field $(.$borrow())?).collect(),)* }
            };
        }
        columns![
            id,
            user_id,
            client_id.as_str(),
            start_time,
            start_offset_minutes,
            start_date,
            end_time,
            duration_seconds,
            distance_meters,
            energy_burned_kcal,
            avg_heart_rate,
            max_heart_rate,
            avg_pace_seconds_per_km,
            source.as_str(),
            client_version,
            revision,
            change_seq,
            deleted_at,
            created_at,
            updated_at,
        ]
    }
}

impl QueryFragment<Pg> for Upsert<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.push(&mut out, "")
    }
}
cached_statement!(Upsert);

impl<'a> Upsert<'a> {
    /// Pushes `UPSERT_ROWS` with the arrays, then `filter` (empty, or a `WHERE` that the rows
    /// are inserted under), then `UPSERT_ON_CONFLICT`.
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>, filter: &'static str) -> QueryResult<()> {
        push_statement(out, UPSERT_ROWS, move |out, n| match n {
            1 => out.push_bind_param::<Array<SqlUuid>, _>(&self.id),
            2 => out.push_bind_param::<Array<SqlUuid>, _>(&self.user_id),
            3 => out.push_bind_param::<Array<Text>, _>(&self.client_id),
            4 => out.push_bind_param::<Array<Timestamptz>, _>(&self.start_time),
            5 => out.push_bind_param::<Array<Integer>, _>(&self.start_offset_minutes),
            6 => out.push_bind_param::<Array<Date>, _>(&self.start_date),
            7 => out.push_bind_param::<Array<Timestamptz>, _>(&self.end_time),
            8 => out.push_bind_param::<Array<BigInt>, _>(&self.duration_seconds),
            9 => out.push_bind_param::<Array<Double>, _>(&self.distance_meters),
            10 => out.push_bind_param::<Array<Nullable<Double>>, _>(&self.energy_burned_kcal),
            11 => out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.avg_heart_rate),
            12 => out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.max_heart_rate),
            13 => out.push_bind_param::<Array<Nullable<Double>>, _>(&self.avg_pace_seconds_per_km),
            14 => out.push_bind_param::<Array<Text>, _>(&self.source),
            15 => out.push_bind_param::<Array<BigInt>, _>(&self.client_version),
            16 => out.push_bind_param::<Array<BigInt>, _>(&self.revision),
            17 => out.push_bind_param::<Array<BigInt>, _>(&self.change_seq),
            18 => out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(&self.deleted_at),
            19 => out.push_bind_param::<Array<Timestamptz>, _>(&self.created_at),
            20 => out.push_bind_param::<Array<Timestamptz>, _>(&self.updated_at),
            _ => Err(unbound_parameter(n)),
        })?;
        out.push_sql(filter);
        out.push_sql(UPSERT_ON_CONFLICT);
        Ok(())
    }
}

/// Inserts the rows, overwriting any of the user's with the same client id, by `UPSERT_ROWS`
/// and `UPSERT_ON_CONFLICT`.
pub(super) fn write_workouts(conn: &mut Conn, rows: &[WorkoutRow]) -> Result<(), StoreError> {
    Upsert::of(rows).execute(conn)?;
    Ok(())
}

/// The head of a sync's one write statement: the guard, the user row locked when it still holds
/// what the plan read (`SyncGuard`) and the caller's session is still active, else no row. A
/// row changed since the statement's snapshot is checked as the change left it, so a plan that
/// a concurrent change made stale writes nothing. A row another transaction holds locked is
/// skipped, and the sync takes the locked path: this statement never waits, so a write whose
/// waiter gave up can land only while it runs, as a COMMIT already sent can (see `watch`);
/// the locked path's transaction does the waiting and rolls back instead. Inside that
/// transaction the row is the sync's own lock, which does not skip it. The workouts' upsert
/// follows, its rows inserted only under the guard.
pub(super) const SYNC_GUARD_CTE: &str = "/* sync: workouts, users, syncs, idempotency_records */ \
     WITH guard AS (SELECT users.id FROM users WHERE users.id = $1 \
        AND users.change_seq = $2 AND users.sync_count = $3 AND users.time_zone = $4 \
        AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE sessions.id = $6 \
        AND sessions.user_id = users.id AND sessions.revoked_at IS NULL \
        AND sessions.expires_at > $7)) FOR UPDATE SKIP LOCKED), \
     written AS (";

/// What the upsert's rows are inserted under.
pub(super) const SYNC_GUARD_FILTER: &str = " WHERE EXISTS (SELECT 1 FROM guard)";

/// The rest of a sync's write statement: the bookkeeping, under the guard. Advance the user row
/// (its sync count numbers the sync), insert the sync record and, when a key was given, the
/// response to replay (replacing an expired record of the same key). Each data-modifying part
/// runs once whether or not anything reads it, and they write different tables, so one
/// statement does what SQLite does in four; the statement returns the new sync count, no row
/// when the guard failed. pg_stat_activity shows a query's first 1 kB, so the comment up front
/// names the tables.
pub(super) const RECORD_SYNC_CTES: &str = "), p AS (SELECT $1::int8 AS new_seq, \
        $2::timestamptz AS now, \
        $3::int8 AS live_delta, $4::uuid AS sync_id, $5::text AS mode, \
        $6::text AS idempotency_key, $7::int4 AS created, $8::int4 AS updated, \
        $9::int4 AS unchanged, $10::int4 AS deleted, $11::int4 AS conflicts, \
        $12::int4 AS rejected, $13::timestamptz AS client_sync_timestamp, \
        $14::text AS fingerprint, $15::text AS response_body, \
        $16::int8 AS history_version, $17::date AS history_floor), \
     bumped AS (UPDATE users SET sync_count = users.sync_count + 1, \
        change_seq = p.new_seq, last_sync_at = p.now, \
        workout_count = users.workout_count + p.live_delta, \
        history_version = p.history_version, history_floor = p.history_floor \
        FROM p, guard WHERE users.id = guard.id RETURNING users.id, users.sync_count), \
     recorded AS (INSERT INTO syncs (id, user_id, seq, mode, idempotency_key, created, \
        updated, unchanged, deleted, conflicts, rejected, change_seq, \
        client_sync_timestamp, created_at) \
        SELECT p.sync_id, bumped.id, bumped.sync_count, p.mode, p.idempotency_key, \
        p.created, p.updated, p.unchanged, p.deleted, p.conflicts, p.rejected, \
        p.new_seq, p.client_sync_timestamp, p.now FROM p, bumped RETURNING id, user_id), \
     kept AS (INSERT INTO idempotency_records (user_id, key, fingerprint, response_body, \
        sync_id, created_at) \
        SELECT recorded.user_id, p.idempotency_key, p.fingerprint, p.response_body, \
        recorded.id, p.now FROM p, recorded WHERE p.idempotency_key IS NOT NULL \
        ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
        response_body = excluded.response_body, sync_id = excluded.sync_id, \
        created_at = excluded.created_at) \
     SELECT bumped.sync_count FROM bumped";

/// `write_sync`'s statement with its parameters: the guard's seven, the upsert's twenty arrays,
/// then the bookkeeping's seventeen values. Diesel numbers the parameters in the order they are
/// pushed, so each part keeps its own `$1`, `$2`, … in its text.
struct SyncWrite<'a> {
    guard: &'a SyncGuard,
    upsert: Upsert<'a>,
    b: &'a SyncBookkeeping,
    fingerprint: Option<&'a str>,
    response_body: Option<&'a str>,
}

impl QueryFragment<Pg> for SyncWrite<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let g = self.guard;
        push_statement(&mut out, SYNC_GUARD_CTE, move |out, n| match n {
            1 => out.push_bind_param::<SqlUuid, _>(&g.user),
            2 => out.push_bind_param::<BigInt, _>(&g.change_seq),
            3 => out.push_bind_param::<BigInt, _>(&g.sync_count),
            4 => out.push_bind_param::<Text, _>(&g.time_zone),
            5 | 6 => out.push_bind_param::<Nullable<SqlUuid>, _>(&g.session),
            7 => out.push_bind_param::<Timestamptz, _>(&g.now),
            _ => Err(unbound_parameter(n)),
        })?;
        self.upsert.push(&mut out, SYNC_GUARD_FILTER)?;
        let b = self.b;
        let s = &b.sync;
        push_statement(&mut out, RECORD_SYNC_CTES, move |out, n| match n {
            1 => out.push_bind_param::<BigInt, _>(&b.new_seq),
            2 => out.push_bind_param::<Timestamptz, _>(&b.now),
            3 => out.push_bind_param::<BigInt, _>(&b.live_delta),
            4 => out.push_bind_param::<SqlUuid, _>(&s.id),
            5 => out.push_bind_param::<Text, _>(&s.mode),
            6 => out.push_bind_param::<Nullable<Text>, _>(&s.idempotency_key),
            7 => out.push_bind_param::<Integer, _>(&s.created),
            8 => out.push_bind_param::<Integer, _>(&s.updated),
            9 => out.push_bind_param::<Integer, _>(&s.unchanged),
            10 => out.push_bind_param::<Integer, _>(&s.deleted),
            11 => out.push_bind_param::<Integer, _>(&s.conflicts),
            12 => out.push_bind_param::<Integer, _>(&s.rejected),
            13 => out.push_bind_param::<Nullable<Timestamptz>, _>(&s.client_sync_timestamp),
            14 => out.push_bind_param::<Nullable<Text>, _>(&self.fingerprint),
            15 => out.push_bind_param::<Nullable<Text>, _>(&self.response_body),
            16 => out.push_bind_param::<BigInt, _>(&b.history.version),
            17 => out.push_bind_param::<Nullable<Date>, _>(&b.history.floor),
            _ => Err(unbound_parameter(n)),
        })
    }
}
cached_statement!(SyncWrite);

/// The row `write_sync`'s statement returns when it wrote.
#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    sync_count: i64,
}

/// Writes a sync's rows (none is fine: the upsert inserts nothing) and its bookkeeping in one
/// statement, `SyncWrite`, if `guard` holds; `false`, with nothing written, if it does not.
pub(super) fn write_sync(
    conn: &mut Conn,
    guard: &SyncGuard,
    rows: &[WorkoutRow],
    b: &SyncBookkeeping,
) -> Result<bool, StoreError> {
    let written: Option<Written> = SyncWrite {
        guard,
        upsert: Upsert::of(rows),
        b,
        fingerprint: b.idempotency.as_ref().map(|r| r.fingerprint.as_str()),
        response_body: b.idempotency.as_ref().map(|r| r.response_body.as_str()),
    }
    .get_result(conn)
    .optional()?;
    Ok(written.is_some())
}

/// Runs a write that is one statement (`write_sync`'s) on its own: the statement is its own
/// transaction. Like `write_transaction`'s commit, it is not sent once its waiter has given up.
pub(super) fn write_alone<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    crate::watch::commit_allowed_with(())?;
    f(conn)
}

#[cfg(test)]
mod tests;

/// The ids of up to `limit` pending webhook deliveries due at `now`, oldest due first, through
/// the partial due index, locked until commit. `SKIP LOCKED` passes over rows another
/// instance is claiming at this moment, so concurrent claims take different rows and never
/// wait for each other.
pub(super) fn lock_due_deliveries(
    conn: &mut Conn,
    now: DbTime,
    limit: i64,
) -> Result<Vec<DbUuid>, StoreError> {
    Ok(webhook_deliveries::table
        // A literal, not a bound parameter: only then can the planner prove that the
        // partial index `webhook_deliveries_due_idx` (`WHERE state = 'pending'`) applies.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "webhook_deliveries.state = 'pending'",
        ))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(webhook_deliveries::id)
        .for_update()
        .skip_locked()
        .load(conn)?)
}
