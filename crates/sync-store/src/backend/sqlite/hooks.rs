//! SQLite's hooks: the statements the shared `queries` expect every backend to supply, because
//! the databases need them written differently. `backend/pg/hooks.rs` has the same functions
//! with the same signatures.
//!
//! | hook | what it does | on SQLite | why |
//! |---|---|---|---|
//! | `write_transaction` | runs a closure in a write transaction | `BEGIN IMMEDIATE` | one writer at a time: taking the write lock up front means two writers never deadlock upgrading read locks; waiting is bounded by `busy_timeout` (PostgreSQL: read committed) |
//! | `read_transaction` | runs a closure on one consistent snapshot | a deferred `BEGIN` | the first read fixes the snapshot and takes no write lock, so readers never wait for the writer (PostgreSQL: repeatable read, read only) |
//! | `lock_user` | serialises the user's writes until commit; returns their change position and time zone | a plain read of the user row | the immediate transaction already serialises every writer (PostgreSQL: `SELECT … FOR UPDATE`) |
//! | `key_and_subscriptions` | the stored record of a sync's key and the user's webhook subscriptions | two statements | in process they cost no round trip (PostgreSQL: one statement) |
//! | `lookup_workouts` | the user's stored rows for a chunk of client ids | `client_id IN (…)` | SQLite probes the unique `(user_id, client_id)` index once per id (PostgreSQL: `unnest … LATERAL`, a plan no statistics can change) |
//! | `write_workouts` | inserts or overwrites rows by `(user_id, client_id)` | multi-row `VALUES … ON CONFLICT DO UPDATE`, 100 rows per statement, then 10, then one, each kept prepared | in process a statement costs no round trip; a statement of fixed size is parsed once per connection, under SQLite's bind limit (PostgreSQL: one statement of column arrays) |
//! | `sync_sight` | what a sync plans from, without a lock: the user row, the session, the key's record, the subscriptions | the statements of `lock_user_in_session` and `key_and_subscriptions` in that order (the subscriptions only when no key record was found), on a reader's connection for a sync of 100 workouts or more, else in the writer's turn | a large sync is planned outside the writer's turn (PostgreSQL: one statement) |
//! | `write_sync` | a sync's writes if its guard holds (the user row as the plan read it, the session active): its workouts, then its bookkeeping (user row, sync record, stored response) | the guard's read of the user row, `write_workouts` and three statements, in the writer's transaction | in process they cost no round trip (PostgreSQL: one statement) |
//! | `write_alone` | runs a write that is one statement on PostgreSQL | `write_transaction` | the guard's read and the writes must share one transaction (PostgreSQL: the statement alone) |
//! | `lock_due_deliveries` | the webhook deliveries due now, for the worker to claim | a plain read, oldest due first | the immediate transaction already keeps every other claim out until commit (PostgreSQL: `FOR UPDATE SKIP LOCKED`) |
//!
//! Every statement here is Diesel's query builder, checked against `schema` by the compiler
//! (`UpsertWorkouts` writes its clauses around Diesel's own column list and changeset).

use diesel::insertable::InsertValues;
use diesel::prelude::*;
use diesel::query_builder::{AsChangeset, AstPass, Query, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;
use uuid::Uuid;

use super::queries::rows::{
    key_record, session_use, IdempotencyRow, KeyAndSubscriptions, SessionColumns, SyncBookkeeping,
    SyncGuard, SyncRow, SyncSight, UserLock, WorkoutRow,
};
use super::schema::{
    idempotency_records, sessions, syncs, users, webhook_deliveries, webhook_subscriptions,
    workouts,
};
use super::Conn;
use crate::history::HistoryMark;
use crate::records::SessionUse;
use crate::types::{DbTime, DbUuid};
use crate::webhooks::MAX_WEBHOOKS_PER_USER;
use crate::StoreError;
use sync_core::IdempotencyRecord;

/// Runs `f` in a write transaction that holds the database's write lock from its start (and,
/// like PostgreSQL's, rolls back when its waiter has given up on it).
pub(super) fn write_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.immediate_transaction(|conn| f(conn).and_then(crate::watch::commit_allowed_with))
}

/// Runs `f` in a read transaction: every statement of it sees the same committed state.
pub(super) fn read_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.transaction(f)
}

/// The user's change-feed position and time zone. The immediate transaction already
/// serialises all writers, so a plain read is the lock.
pub(super) fn lock_user(conn: &mut Conn, user_id: Uuid) -> Result<UserLock, StoreError> {
    users::table
        .find(DbUuid(user_id))
        .select((
            users::change_seq,
            users::sync_count,
            users::time_zone,
            (users::history_version, users::history_floor),
        ))
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

/// [`lock_user`], reading in the same statement the user's session `session_id` (`None` when
/// it is not theirs), so that a sync checks its caller's session without a statement of its own.
pub(super) fn lock_user_in_session(
    conn: &mut Conn,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(UserLock, Option<SessionUse>), StoreError> {
    let session = sessions::id
        .eq(DbUuid(session_id))
        .and(sessions::user_id.eq(users::id));
    let found: Option<(i64, i64, String, HistoryMark, SessionColumns)> = users::table
        .left_join(sessions::table.on(session))
        .filter(users::id.eq(DbUuid(user_id)))
        .select((
            users::change_seq,
            users::sync_count,
            users::time_zone,
            (users::history_version, users::history_floor),
            (
                sessions::expires_at,
                sessions::revoked_at,
                sessions::last_used_at,
            )
                .nullable(),
        ))
        .first(conn)
        .optional()?;
    let (change_seq, sync_count, time_zone, history, session) =
        found.ok_or(StoreError::NotFound)?;
    let lock = UserLock {
        change_seq,
        sync_count,
        time_zone,
        history,
    };
    Ok((lock, session_use(session)))
}

/// The user row and the caller's session as read with it (`None`: not the user's), by
/// `lock_user_in_session`, or `lock_user` when no session is named; `None` when the user is
/// gone.
fn user_and_session(
    conn: &mut Conn,
    user_id: Uuid,
    session: Option<Uuid>,
) -> Result<Option<(UserLock, Option<SessionUse>)>, StoreError> {
    let read = match session {
        Some(session) => lock_user_in_session(conn, user_id, session),
        None => lock_user(conn, user_id).map(|lock| (lock, None)),
    };
    match read {
        Err(StoreError::NotFound) => Ok(None),
        other => other.map(Some),
    }
}

/// What a sync plans from, without a lock: the user row and the session first, then the key's
/// record and, when there is none, the subscriptions, and when there are none either, the
/// stored rows of `client_ids` (when given). Read in that order, a change committed between
/// them shows in the later reads but moves the user row, so the write's guard refuses the
/// plan. `None` when the user is gone.
pub(super) fn sync_sight(
    conn: &mut Conn,
    user_id: Uuid,
    session: Option<Uuid>,
    key: Option<&str>,
    client_ids: Option<&[String]>,
) -> Result<Option<SyncSight>, StoreError> {
    let Some((user, session)) = user_and_session(conn, user_id, session)? else {
        return Ok(None);
    };
    let stored_key = stored_key(conn, user_id, key)?;
    let subscriptions = match stored_key {
        Some(_) => None,
        None => Some(subscriptions(conn, user_id)?),
    };
    let mut sight = SyncSight {
        user,
        session,
        stored_key,
        subscriptions,
        stored: None,
    };
    sight.stored = match client_ids {
        Some(ids) if sight.plans_unlocked() => Some(lookup_workouts(conn, user_id, ids)?),
        _ => None,
    };
    Ok(Some(sight))
}

/// The stored record of the user's `key` (when given) and their webhook subscriptions.
pub(super) fn key_and_subscriptions(
    conn: &mut Conn,
    user_id: Uuid,
    key: Option<&str>,
) -> Result<KeyAndSubscriptions, StoreError> {
    Ok(KeyAndSubscriptions {
        stored_key: stored_key(conn, user_id, key)?,
        subscriptions: subscriptions(conn, user_id)?,
    })
}

/// The stored record of the user's `key`; `None` without a key or a record.
fn stored_key(
    conn: &mut Conn,
    user_id: Uuid,
    key: Option<&str>,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let row: Option<IdempotencyRow> = idempotency_records::table
        .find((DbUuid(user_id), key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| key_record(r.fingerprint, r.response_body, r.created_at)))
}

/// The user's webhook subscriptions: id and stored event list.
fn subscriptions(conn: &mut Conn, user_id: Uuid) -> Result<Vec<(DbUuid, String)>, StoreError> {
    Ok(webhook_subscriptions::table
        .filter(webhook_subscriptions::user_id.eq(DbUuid(user_id)))
        .select((webhook_subscriptions::id, webhook_subscriptions::events))
        .limit(MAX_WEBHOOKS_PER_USER)
        .load(conn)?)
}

/// The user's rows (live and tombstones) with these client ids: `client_id IN (…)`, one probe
/// of the unique `(user_id, client_id)` index per id.
pub(super) fn lookup_workouts(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<WorkoutRow>, StoreError> {
    Ok(workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::client_id.eq_any(client_ids))
        .select(WorkoutRow::as_select())
        .load(conn)?)
}

/// Inserts the rows, overwriting any of the user's with the same client id: multi-row
/// `INSERT … VALUES … ON CONFLICT (user_id, client_id) DO UPDATE`. Everything but the row's
/// identity (`id`, `user_id`, `client_id`) and `created_at` is overwritten.
///
/// The rows go in statements of a fixed number of rows ([`UPSERT_LARGE`], [`UPSERT_SMALL`],
/// one), largest first, so that each statement's text is one of three and stays prepared on
/// the connection ([`UpsertWorkouts`]). Diesel's own upsert is prepared anew on every
/// execution: for 1,000 rows SQLite parsed a statement of 20,000 parameters, in the writer's
/// turn, on every sync (docs/benchmarks.md, 26).
pub(super) fn write_workouts(conn: &mut Conn, rows: &[WorkoutRow]) -> Result<(), StoreError> {
    let rest = upsert_in_statements_of::<UPSERT_LARGE>(conn, rows)?;
    let rest = upsert_in_statements_of::<UPSERT_SMALL>(conn, rest)?;
    upsert_in_statements_of::<1>(conn, rest)?;
    Ok(())
}

/// Upserts as many whole statements of `N` rows as `rows` holds; returns the rows left over
/// (fewer than `N`).
fn upsert_in_statements_of<'r, const N: usize>(
    conn: &mut Conn,
    mut rows: &'r [WorkoutRow],
) -> Result<&'r [WorkoutRow], StoreError> {
    while let Some((statement, rest)) = rows.split_first_chunk::<N>() {
        upsert_of(statement).execute(conn)?;
        rows = rest;
    }
    Ok(rows)
}

/// Rows per upsert statement, then for what is left, then one by one: a batch of 1,000 is ten
/// executions of one prepared statement, and at 2,000 parameters a statement stays far under
/// SQLite's limit of 32,766.
const UPSERT_LARGE: usize = 100;
const UPSERT_SMALL: usize = 10;

/// The values Diesel binds for one row: the columns in the order of `WorkoutRow`.
type RowValues<'a> = <&'a WorkoutRow as Insertable<workouts::table>>::Values;

/// The upsert of `N` rows, written as Diesel writes a multi-row insert with its `ON CONFLICT`
/// clause, but kept prepared: its text depends on `N` only (every column of `N` rows, the
/// columns of [`overwritten_columns`] overwritten), so Diesel's statement cache keys it by
/// type. Diesel keeps no upsert of its own prepared, since a changeset that skips `None`
/// fields can change the text.
struct UpsertWorkouts<'a, C, const N: usize> {
    rows: Vec<RowValues<'a>>,
    overwrite: C,
}

/// The upsert of these `N` rows.
fn upsert_of<const N: usize>(
    rows: &[WorkoutRow; N],
) -> UpsertWorkouts<'_, impl QueryFragment<Sqlite>, N> {
    UpsertWorkouts {
        rows: rows.iter().map(Insertable::values).collect(),
        overwrite: overwritten_columns(),
    }
}

/// The statement cache's key for [`UpsertWorkouts`] of `N` rows.
struct UpsertOf<const N: usize>;

impl<C, const N: usize> QueryId for UpsertWorkouts<'_, C, N> {
    type QueryId = UpsertOf<N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: QueryFragment<Sqlite>, const N: usize> QueryFragment<Sqlite> for UpsertWorkouts<'_, C, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let Some((first, rest)) = self.rows.split_first() else {
            return Err(diesel::result::Error::QueryBuilderError(
                "an upsert of no rows".into(),
            ));
        };
        out.push_sql("INSERT INTO ");
        workouts::table.walk_ast(out.reborrow())?;
        out.push_sql(" (");
        first.values.column_names(out.reborrow())?;
        out.push_sql(") VALUES (");
        first.values.walk_ast(out.reborrow())?;
        for row in rest {
            out.push_sql("), (");
            row.values.walk_ast(out.reborrow())?;
        }
        out.push_sql(") ON CONFLICT (");
        out.push_identifier(<workouts::user_id as Column>::NAME)?;
        out.push_sql(", ");
        out.push_identifier(<workouts::client_id as Column>::NAME)?;
        out.push_sql(") DO UPDATE SET ");
        self.overwrite.walk_ast(out.reborrow())
    }
}

impl<C, const N: usize> RunQueryDsl<Conn> for UpsertWorkouts<'_, C, N> {}

/// What an upsert overwrites in a stored row: everything but its identity (`id`, `user_id`,
/// `client_id`) and `created_at`.
fn overwritten_columns() -> impl QueryFragment<Sqlite> {
    (
        workouts::start_time.eq(excluded(workouts::start_time)),
        workouts::start_offset_minutes.eq(excluded(workouts::start_offset_minutes)),
        workouts::start_date.eq(excluded(workouts::start_date)),
        workouts::end_time.eq(excluded(workouts::end_time)),
        workouts::duration_seconds.eq(excluded(workouts::duration_seconds)),
        workouts::distance_meters.eq(excluded(workouts::distance_meters)),
        workouts::energy_burned_kcal.eq(excluded(workouts::energy_burned_kcal)),
        workouts::avg_heart_rate.eq(excluded(workouts::avg_heart_rate)),
        workouts::max_heart_rate.eq(excluded(workouts::max_heart_rate)),
        workouts::avg_pace_seconds_per_km.eq(excluded(workouts::avg_pace_seconds_per_km)),
        workouts::source.eq(excluded(workouts::source)),
        workouts::client_version.eq(excluded(workouts::client_version)),
        workouts::revision.eq(excluded(workouts::revision)),
        workouts::change_seq.eq(excluded(workouts::change_seq)),
        workouts::deleted_at.eq(excluded(workouts::deleted_at)),
        workouts::updated_at.eq(excluded(workouts::updated_at)),
    )
        .as_changeset()
}

/// Writes a sync's rows, then its bookkeeping (advances the user row, whose sync count numbers
/// the sync, inserts the sync record and, when a key was given, the response to replay), if
/// `guard` holds; `false`, with nothing written, if it does not. Run in the writer's
/// transaction, so the guard's read of the user row is the lock's.
pub(super) fn write_sync(
    conn: &mut Conn,
    guard: &SyncGuard,
    rows: &[WorkoutRow],
    b: &SyncBookkeeping,
) -> Result<bool, StoreError> {
    let Some((lock, session)) = user_and_session(conn, guard.user.0, guard.session.map(|s| s.0))?
    else {
        return Ok(false);
    };
    if !guard_holds(guard, &lock, session.as_ref()) {
        return Ok(false);
    }
    if !rows.is_empty() {
        write_workouts(conn, rows)?;
    }
    let sync_seq: i64 = KeptPrepared(
        diesel::update(users::table.find(guard.user))
            .set((
                users::sync_count.eq(users::sync_count + 1),
                users::change_seq.eq(b.new_seq),
                users::last_sync_at.eq(Some(b.now)),
                users::workout_count.eq(users::workout_count + b.live_delta),
                users::history_version.eq(b.history.version),
                users::history_floor.eq(b.history.floor),
            ))
            .returning(users::sync_count),
    )
    .get_result(conn)?;
    diesel::insert_into(syncs::table)
        .values(&SyncRow {
            seq: sync_seq,
            ..b.sync.clone()
        })
        .execute(conn)?;
    if let Some(record) = &b.idempotency {
        // An expired record not yet purged is replaced: the key starts a new life.
        KeptPrepared(
            diesel::insert_into(idempotency_records::table)
                .values(record)
                .on_conflict((idempotency_records::user_id, idempotency_records::key))
                .do_update()
                .set((
                    idempotency_records::fingerprint.eq(excluded(idempotency_records::fingerprint)),
                    idempotency_records::response_body
                        .eq(excluded(idempotency_records::response_body)),
                    idempotency_records::sync_id.eq(excluded(idempotency_records::sync_id)),
                    idempotency_records::created_at.eq(excluded(idempotency_records::created_at)),
                )),
        )
        .execute(conn)?;
    }
    Ok(true)
}

/// A statement whose text its type fixes, kept prepared on the connection from one execution
/// to the next. Diesel prepares every upsert and every `UPDATE` anew, since a changeset that
/// skips `None` fields, or sets none, changes the text; for a sync's bookkeeping that was
/// SQLite parsing each of its statements again in the writer's turn. Only for statements whose
/// changesets set the same columns whatever the values.
struct KeptPrepared<Q>(Q);

impl<Q: QueryId> QueryId for KeptPrepared<Q> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for KeptPrepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Sqlite) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for KeptPrepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> RunQueryDsl<Conn> for KeptPrepared<Q> {}

/// Whether the user row `held` and the session as read with it (`None`: not the user's) still
/// hold what the plan read (PostgreSQL checks the same in `SYNC_GUARD_CTE`).
fn guard_holds(guard: &SyncGuard, held: &UserLock, session: Option<&SessionUse>) -> bool {
    held.change_seq == guard.change_seq
        && held.sync_count == guard.sync_count
        && held.time_zone == guard.time_zone
        && (guard.session.is_none() || session.is_some_and(|s| s.is_active(guard.now.0)))
}

/// Runs a write that is one statement on PostgreSQL in the writer's transaction.
pub(super) fn write_alone<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    write_transaction(conn, f)
}

/// The ids of up to `limit` pending webhook deliveries due at `now`, oldest due first, through
/// the partial due index. The immediate transaction keeps any other claim out until it
/// commits, so a plain read is the lock.
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
        .load(conn)?)
}
