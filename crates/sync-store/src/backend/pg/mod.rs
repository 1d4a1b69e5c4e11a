//! PostgreSQL: many instances share one database. A sync locks its user's row
//! (`SELECT … FOR UPDATE`), which serialises that user's writes across every instance and makes
//! the per-user change sequence commit in order; other users proceed in parallel.

mod schema;

// Compiled once per backend on purpose: the query code is written once (see `ops`).
#[allow(clippy::duplicate_mod)]
#[path = "../ops/mod.rs"]
pub(crate) mod ops;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::{
    Array, BigInt, Date, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use uuid::Uuid;

use crate::types::{DbTime, DbUuid};
use crate::{StoreError, StoreOptions};

pub(crate) type Conn = PgConnection;
pub(crate) type PgPool = Pool<ConnectionManager<PgConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Key of the advisory lock held while migrating ("rdsync" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7264_7379_6e63;

/// Bounds every wait on a pooled connection: a lock held too long fails fast (and maps to a
/// retryable error) instead of hanging a request.
#[derive(Debug)]
struct SessionSettings {
    lock_timeout_ms: u128,
    statement_timeout_ms: u128,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "SET lock_timeout = {}; SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {};",
            self.lock_timeout_ms, self.statement_timeout_ms, self.statement_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub(crate) fn connect(url: &str, options: &StoreOptions) -> Result<PgPool, StoreError> {
    let pool = Pool::builder()
        .max_size(options.pool_size)
        // No `SELECT 1` before every checkout (r2d2's default): it was a round trip per
        // request, twice for an authenticated sync (docs/benchmarks.md). A connection that died
        // while idle fails its next statement instead, which maps to `Unavailable` (503 with
        // Retry-After), and r2d2 drops it as broken when it is returned.
        .test_on_check_out(false)
        .connection_timeout(options.pool_timeout.max(Duration::from_millis(1)))
        .connection_customizer(Box::new(SessionSettings {
            lock_timeout_ms: options.lock_wait.as_millis().max(1),
            statement_timeout_ms: options.statement_timeout.as_millis().max(1),
        }))
        .build(ConnectionManager::<PgConnection>::new(url))?;
    Ok(pool)
}

/// Runs pending migrations under a session advisory lock, so instances starting together
/// migrate one after another (the later ones find nothing to do).
pub(crate) fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    // Migrations may take longer than a request's statement timeout.
    conn.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0;")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|e| StoreError::Migration(e.to_string()));
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn);
    result?;
    unlocked?;
    Ok(())
}

pub(crate) fn migrations_pending(conn: &mut Conn) -> Result<bool, StoreError> {
    conn.has_pending_migration(MIGRATIONS)
        .map_err(|e| StoreError::Migration(e.to_string()))
}

pub(crate) fn write_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.build_transaction().read_committed().run(f)
}

/// Locks the user's row until commit and returns their change-feed position.
pub(crate) fn lock_user(conn: &mut Conn, user_id: Uuid) -> Result<i64, StoreError> {
    use schema::users;
    users::table
        .find(DbUuid(user_id))
        .select(users::change_seq)
        .for_update()
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
}

// The three statements below replace what Diesel's query builder would send for a sync (the
// batch lookup, the multi-row upsert, the bookkeeping), each for a reason measured in
// docs/benchmarks.md. Their SQL text is the same whatever the batch (arrays instead of one
// parameter per value), so, unlike `sql_query`, they are marked safe to cache: Diesel prepares
// each once per connection and PostgreSQL skips parsing and analysing them on every sync.

/// A statement whose text is fixed: prepared once per connection by Diesel's statement cache.
macro_rules! cached_statement {
    ($name:ident) => {
        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
        impl diesel::query_builder::Query for $name<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }
        impl RunQueryDsl<PgConnection> for $name<'_> {}
    };
}

/// The batch lookup, one unique-index probe per client id:
///
/// ```sql
/// SELECT w.* FROM unnest($1::text[]) AS c(client_id)
/// CROSS JOIN LATERAL (SELECT * FROM workouts
///                      WHERE workouts.user_id = $2 AND workouts.client_id = c.client_id
///                      LIMIT 1) AS w
/// ```
///
/// `user_id = $1 AND client_id = ANY($2)` leaves the plan to the statistics, and both of its
/// plans were measured going wrong: the custom plan of a 1,000-id batch scanned the whole table
/// (docs/query-plans.md, finding 2), and plans made while the table was young scanned the
/// user's whole history through `workouts_user_seq_idx`, comparing each row with every id, so a
/// 1,000-workout sync cost O(history × batch). Here each id is looked up by equality on the
/// whole unique key inside a `LATERAL … LIMIT 1` (which the planner cannot flatten into a
/// join): a plan no statistics change, O(batch × log n).
struct Lookup<'a> {
    client_ids: &'a [String],
    user: DbUuid,
}

impl QueryFragment<Pg> for Lookup<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT w.* FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(self.client_ids)?;
        out.push_sql(
            "::text[]) AS c(client_id) CROSS JOIN LATERAL (SELECT * FROM workouts \
             WHERE workouts.user_id = ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.user)?;
        out.push_sql(" AND workouts.client_id = c.client_id LIMIT 1) AS w");
        Ok(())
    }
}
cached_statement!(Lookup);

pub(crate) fn lookup_workouts(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<ops::rows::WorkoutRow>, StoreError> {
    Ok(Lookup {
        client_ids,
        user: DbUuid(user_id),
    }
    .load(conn)?)
}

/// The bulk upsert, one statement whatever the batch: each column is sent as one array and
/// `unnest` rebuilds the rows, then `ON CONFLICT (user_id, client_id) DO UPDATE` as Diesel's
/// upsert does. A multi-row `VALUES` list has 19 parameters per row: a 1,000-workout sync sent
/// 19,000, each serialised into its own buffer by Diesel and parsed, analysed and converted by
/// PostgreSQL, which then spent about twice the CPU of inserting the same rows from
/// `generate_series` (the ceiling).
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

impl QueryFragment<Pg> for Upsert<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO workouts (id, user_id, client_id, start_time, start_offset_minutes, \
             start_date, end_time, duration_seconds, distance_meters, energy_burned_kcal, \
             avg_heart_rate, max_heart_rate, avg_pace_seconds_per_km, source, client_version, \
             revision, change_seq, deleted_at, created_at, updated_at) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<SqlUuid>, _>(&self.id)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<SqlUuid>, _>(&self.user_id)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Text>, _>(&self.client_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.start_time)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.start_offset_minutes)?;
        out.push_sql("::int4[], ");
        out.push_bind_param::<Array<Date>, _>(&self.start_date)?;
        out.push_sql("::date[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.end_time)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.duration_seconds)?;
        out.push_sql("::int8[], ");
        out.push_bind_param::<Array<Double>, _>(&self.distance_meters)?;
        out.push_sql("::float8[], ");
        out.push_bind_param::<Array<Nullable<Double>>, _>(&self.energy_burned_kcal)?;
        out.push_sql("::float8[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.avg_heart_rate)?;
        out.push_sql("::int4[], ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.max_heart_rate)?;
        out.push_sql("::int4[], ");
        out.push_bind_param::<Array<Nullable<Double>>, _>(&self.avg_pace_seconds_per_km)?;
        out.push_sql("::float8[], ");
        out.push_bind_param::<Array<Text>, _>(&self.source)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.client_version)?;
        out.push_sql("::int8[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.revision)?;
        out.push_sql("::int8[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.change_seq)?;
        out.push_sql("::int8[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(&self.deleted_at)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.created_at)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.updated_at)?;
        out.push_sql(
            "::timestamptz[]) ON CONFLICT (user_id, client_id) DO UPDATE SET \
             start_time = excluded.start_time, \
             start_offset_minutes = excluded.start_offset_minutes, \
             start_date = excluded.start_date, end_time = excluded.end_time, \
             duration_seconds = excluded.duration_seconds, \
             distance_meters = excluded.distance_meters, \
             energy_burned_kcal = excluded.energy_burned_kcal, \
             avg_heart_rate = excluded.avg_heart_rate, max_heart_rate = excluded.max_heart_rate, \
             avg_pace_seconds_per_km = excluded.avg_pace_seconds_per_km, \
             source = excluded.source, client_version = excluded.client_version, \
             revision = excluded.revision, change_seq = excluded.change_seq, \
             deleted_at = excluded.deleted_at, updated_at = excluded.updated_at",
        );
        Ok(())
    }
}
cached_statement!(Upsert);

pub(crate) fn write_workouts(
    conn: &mut Conn,
    rows: &[ops::rows::WorkoutRow],
) -> Result<(), StoreError> {
    fn column<'a, T>(
        rows: &'a [ops::rows::WorkoutRow],
        f: impl Fn(&'a ops::rows::WorkoutRow) -> T,
    ) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    Upsert {
        id: column(rows, |r| r.id),
        user_id: column(rows, |r| r.user_id),
        client_id: column(rows, |r| r.client_id.as_str()),
        start_time: column(rows, |r| r.start_time),
        start_offset_minutes: column(rows, |r| r.start_offset_minutes),
        start_date: column(rows, |r| r.start_date),
        end_time: column(rows, |r| r.end_time),
        duration_seconds: column(rows, |r| r.duration_seconds),
        distance_meters: column(rows, |r| r.distance_meters),
        energy_burned_kcal: column(rows, |r| r.energy_burned_kcal),
        avg_heart_rate: column(rows, |r| r.avg_heart_rate),
        max_heart_rate: column(rows, |r| r.max_heart_rate),
        avg_pace_seconds_per_km: column(rows, |r| r.avg_pace_seconds_per_km),
        source: column(rows, |r| r.source.as_str()),
        client_version: column(rows, |r| r.client_version),
        revision: column(rows, |r| r.revision),
        change_seq: column(rows, |r| r.change_seq),
        deleted_at: column(rows, |r| r.deleted_at),
        created_at: column(rows, |r| r.created_at),
        updated_at: column(rows, |r| r.updated_at),
    }
    .execute(conn)?;
    Ok(())
}

/// A sync's bookkeeping in one statement: advance the user row (its sync count numbers the
/// sync), insert the sync record and, when a key was given, the response to replay (replacing
/// an expired record of the same key). `record_sync_statements` does it in three statements,
/// three round trips; this write CTE is one.
struct RecordSync<'a> {
    b: &'a ops::sync::SyncBookkeeping,
    fingerprint: Option<&'a str>,
    response_body: Option<&'a str>,
}

impl QueryFragment<Pg> for RecordSync<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let b = self.b;
        let s = &b.sync;
        // pg_stat_activity shows a query's first 1 kB: name the tables up front.
        out.push_sql(
            "/* sync bookkeeping: users, syncs, idempotency_records */ WITH p AS (SELECT ",
        );
        out.push_bind_param::<SqlUuid, _>(&b.user)?;
        out.push_sql("::uuid AS user_id, ");
        out.push_bind_param::<BigInt, _>(&b.new_seq)?;
        out.push_sql("::int8 AS new_seq, ");
        out.push_bind_param::<Timestamptz, _>(&b.now)?;
        out.push_sql("::timestamptz AS now, ");
        out.push_bind_param::<BigInt, _>(&b.live_delta)?;
        out.push_sql("::int8 AS live_delta, ");
        out.push_bind_param::<SqlUuid, _>(&s.id)?;
        out.push_sql("::uuid AS sync_id, ");
        out.push_bind_param::<Text, _>(&s.mode)?;
        out.push_sql("::text AS mode, ");
        out.push_bind_param::<Nullable<Text>, _>(&s.idempotency_key)?;
        out.push_sql("::text AS idempotency_key, ");
        out.push_bind_param::<Integer, _>(&s.created)?;
        out.push_sql("::int4 AS created, ");
        out.push_bind_param::<Integer, _>(&s.updated)?;
        out.push_sql("::int4 AS updated, ");
        out.push_bind_param::<Integer, _>(&s.unchanged)?;
        out.push_sql("::int4 AS unchanged, ");
        out.push_bind_param::<Integer, _>(&s.deleted)?;
        out.push_sql("::int4 AS deleted, ");
        out.push_bind_param::<Integer, _>(&s.conflicts)?;
        out.push_sql("::int4 AS conflicts, ");
        out.push_bind_param::<Integer, _>(&s.rejected)?;
        out.push_sql("::int4 AS rejected, ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&s.client_sync_timestamp)?;
        out.push_sql("::timestamptz AS client_sync_timestamp, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.fingerprint)?;
        out.push_sql("::text AS fingerprint, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.response_body)?;
        out.push_sql(
            "::text AS response_body), \
             bumped AS (UPDATE users SET sync_count = users.sync_count + 1, \
                change_seq = p.new_seq, last_sync_at = p.now, \
                workout_count = users.workout_count + p.live_delta \
                FROM p WHERE users.id = p.user_id RETURNING users.sync_count), \
             recorded AS (INSERT INTO syncs (id, user_id, seq, mode, idempotency_key, created, \
                updated, unchanged, deleted, conflicts, rejected, change_seq, \
                client_sync_timestamp, created_at) \
                SELECT p.sync_id, p.user_id, bumped.sync_count, p.mode, p.idempotency_key, \
                p.created, p.updated, p.unchanged, p.deleted, p.conflicts, p.rejected, \
                p.new_seq, p.client_sync_timestamp, p.now FROM p, bumped RETURNING id) \
             INSERT INTO idempotency_records (user_id, key, fingerprint, response_body, \
                sync_id, created_at) \
             SELECT p.user_id, p.idempotency_key, p.fingerprint, p.response_body, \
                recorded.id, p.now FROM p, recorded WHERE p.idempotency_key IS NOT NULL \
             ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                response_body = excluded.response_body, sync_id = excluded.sync_id, \
                created_at = excluded.created_at",
        );
        Ok(())
    }
}
cached_statement!(RecordSync);

pub(crate) fn record_sync(
    conn: &mut Conn,
    b: &ops::sync::SyncBookkeeping,
) -> Result<(), StoreError> {
    RecordSync {
        b,
        fingerprint: b.idempotency.as_ref().map(|r| r.fingerprint.as_str()),
        response_body: b.idempotency.as_ref().map(|r| r.response_body.as_str()),
    }
    .execute(conn)?;
    Ok(())
}
