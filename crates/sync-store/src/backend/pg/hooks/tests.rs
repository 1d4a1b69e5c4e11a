//! The raw SQL of the PostgreSQL hooks against Diesel's `schema.rs`, without a database. The
//! compiler checks every statement built with Diesel's DSL, but not the column lists spelled out
//! in the raw statements (the lookup, the upsert, the sync's guarded write and its sight): a
//! column added to, renamed in or dropped
//! from the schema without the raw SQL following fails here. Last, with a database, the plan
//! cache's verdict on the sight, which every fresh sync sends.

use diesel::pg::Pg;
use diesel::query_builder::QueryFragment;
use diesel::{debug_query, Table};
use uuid::Uuid;

use super::{
    Lookup, SightAndStoredQuery, SyncBookkeeping, SyncGuard, SyncSightQuery, SyncWrite, Upsert,
    LOOKUP_SQL, RECORD_SYNC_CTES, SIGHT_ALONE, SIGHT_AND_STORED, SYNC_GUARD_CTE, SYNC_GUARD_FILTER,
    SYNC_SIGHT_LOOKUP_END, SYNC_SIGHT_SQL, UPSERT_ON_CONFLICT, UPSERT_ROWS,
};
use crate::backend::pg::queries::rows::{IdempotencyRow, SyncRow};
use crate::backend::pg::schema::{
    idempotency_records, sessions, syncs, users, webhook_subscriptions, workouts,
};
use crate::types::{DbTime, DbUuid};

/// The columns `schema.rs` declares for `table`, sorted: Diesel renders its `all_columns` as
/// `"table"."column", …`.
fn declared<T: Table>(_table: T) -> Vec<String>
where
    T::AllColumns: QueryFragment<Pg>,
{
    let rendered = debug_query::<Pg, _>(&T::all_columns()).to_string();
    let (list, _binds) = rendered
        .split_once(" -- binds:")
        .expect("debug_query ends with its binds");
    let mut columns: Vec<String> = list
        .split(", ")
        .map(|qualified| {
            let column = qualified.rsplit('.').next().unwrap_or(qualified);
            column.trim_matches('"').to_owned()
        })
        .collect();
    columns.sort();
    columns
}

/// `columns` without `left_out`.
fn except(columns: &[String], left_out: &[&str]) -> Vec<String> {
    columns
        .iter()
        .filter(|c| !left_out.contains(&c.as_str()))
        .cloned()
        .collect()
}

/// `sql` with every run of whitespace made one space.
fn normalised(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text between the first `start` of `sql` and the `end` that follows it.
fn between<'s>(sql: &'s str, start: &str, end: &str) -> &'s str {
    let begin = sql
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in {sql}"))
        + start.len();
    let length = sql[begin..]
        .find(end)
        .unwrap_or_else(|| panic!("no `{end}` after `{start}` in {sql}"));
    &sql[begin..begin + length]
}

/// The comma-separated items of `list`.
fn items(list: &str) -> Vec<String> {
    list.split(',').map(|item| item.trim().to_owned()).collect()
}

/// `items`, sorted.
fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// The columns an `INSERT INTO table (…)` of `sql` names, sorted, and the number of values its
/// `SELECT` supplies (the arguments of `unnest(…)` when it selects `*` from one).
fn insert(sql: &str, table: &str) -> (Vec<String>, usize) {
    let start = format!("INSERT INTO {table} (");
    let columns = items(between(sql, &start, ")"));
    let rest = &sql[sql.find(&start).unwrap_or(0)..];
    let values = match between(rest, ") SELECT ", " FROM ") {
        "*" => items(between(rest, " FROM unnest(", ")")).len(),
        select => items(select).len(),
    };
    (sorted(columns), values)
}

/// The columns `ON CONFLICT (…) DO UPDATE SET a = excluded.a, …` overwrites, sorted; asserts
/// that each takes the value of its own column.
fn overwritten(sql: &str) -> Vec<String> {
    let set = &sql[sql.find("DO UPDATE SET ").expect("an upsert") + "DO UPDATE SET ".len()..];
    sorted(
        items(set)
            .into_iter()
            .map(|assignment| {
                let (column, value) = assignment
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("not an assignment: {assignment}"));
                assert_eq!(value, format!("excluded.{column}"), "in {sql}");
                column.to_owned()
            })
            .collect(),
    )
}

/// Every `table.column` of `sql` naming one of `tables` must be a column `schema.rs` declares.
fn assert_qualified_columns_exist(sql: &str, tables: &[(&str, Vec<String>)]) {
    let words = sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    for word in words {
        let Some((table, column)) = word.split_once('.') else {
            continue;
        };
        if let Some((_, columns)) = tables.iter().find(|(name, _)| *name == table) {
            assert!(
                columns.iter().any(|c| c == column),
                "`{word}` is not a column of {table} in schema.rs: {sql}"
            );
        }
    }
}

/// The text of `SightAndStoredQuery`: the sight, then the lookup inside it.
fn sight_and_stored_sql() -> String {
    [
        SYNC_SIGHT_SQL,
        SIGHT_AND_STORED,
        LOOKUP_SQL,
        SYNC_SIGHT_LOOKUP_END,
    ]
    .concat()
}

#[test]
fn raw_sql_names_the_columns_schema_rs_declares() {
    let workouts = declared(workouts::table);
    let users = declared(users::table);
    let syncs = declared(syncs::table);
    let idempotency_records = declared(idempotency_records::table);
    let tables = [
        ("workouts", workouts.clone()),
        ("users", users.clone()),
        ("syncs", syncs.clone()),
        ("idempotency_records", idempotency_records.clone()),
        (
            "webhook_subscriptions",
            declared(webhook_subscriptions::table),
        ),
        ("sessions", declared(sessions::table)),
    ];

    // The lookup selects `*` and filters by qualified columns.
    let lookup = normalised(LOOKUP_SQL);
    assert_qualified_columns_exist(&lookup, &tables);

    // The upsert writes every column and overwrites all but the row's identity and creation.
    let upsert = normalised(&[UPSERT_ROWS, UPSERT_ON_CONFLICT].concat());
    let (inserted, values) = insert(&upsert, "workouts");
    assert_eq!(inserted, workouts, "the upsert's INSERT column list");
    assert_eq!(values, workouts.len(), "the upsert's unnest arrays");
    assert_eq!(
        overwritten(&upsert),
        except(&workouts, &["id", "user_id", "client_id", "created_at"]),
        "the upsert's DO UPDATE SET list"
    );
    assert_eq!(
        sorted(items(between(&upsert, "ON CONFLICT (", ")"))),
        ["client_id", "user_id"],
        "the upsert's conflict target"
    );
    assert_qualified_columns_exist(&upsert, &tables);

    // The bookkeeping writes every column of a sync and of an idempotency record, and only
    // columns of the user row.
    let record_sync = normalised(RECORD_SYNC_CTES);
    let (inserted, values) = insert(&record_sync, "syncs");
    assert_eq!(inserted, syncs, "RECORD_SYNC_CTES's syncs column list");
    assert_eq!(values, syncs.len(), "RECORD_SYNC_CTES's syncs values");
    let (inserted, values) = insert(&record_sync, "idempotency_records");
    assert_eq!(
        inserted, idempotency_records,
        "RECORD_SYNC_CTES's idempotency_records column list"
    );
    assert_eq!(
        values,
        idempotency_records.len(),
        "RECORD_SYNC_CTES's idempotency_records values"
    );
    assert_eq!(
        overwritten(&record_sync[..record_sync.rfind(") SELECT ").expect("a last SELECT")]),
        except(&idempotency_records, &["user_id", "key"]),
        "RECORD_SYNC_CTES's DO UPDATE SET list"
    );
    for assignment in items(between(&record_sync, "UPDATE users SET ", " FROM ")) {
        let column = assignment.split(" = ").next().unwrap_or_default();
        assert!(
            users.iter().any(|c| c == column),
            "RECORD_SYNC_CTES sets `{column}`, not a column of users"
        );
    }
    for returned in items(between(&record_sync, "FROM p, bumped RETURNING ", ")")) {
        assert!(
            syncs.contains(&returned),
            "RECORD_SYNC_CTES returns `{returned}`, not a column of syncs"
        );
    }
    assert_qualified_columns_exist(&record_sync, &tables);

    // The sync's sight reads the key's record by its primary key and the subscriptions by
    // their owner, and the batch's stored rows only when neither is found.
    let sight = normalised(&sight_and_stored_sql());
    assert!(sight.contains("i.user_id = p.user_id AND i.key = p.key"));
    assert!(sight.contains("webhook_subscriptions.user_id = p.user_id"));
    assert!(sight
        .contains("WHERE sight.fingerprint IS NULL AND sight.subscription_id IS NULL OFFSET 0"));
    assert_qualified_columns_exist(&sight, &tables);
    // Its rows carry the sight's columns beside a workout's, read by name: none may share a
    // workout column's name.
    for selected in items(between(&sight, "sight AS (SELECT ", " FROM p JOIN")) {
        let name = match selected.split_once(" AS ") {
            Some((_, alias)) => alias,
            None => selected.rsplit('.').next().unwrap_or_default(),
        };
        assert!(
            !workouts.iter().any(|c| c == name),
            "the sight's `{selected}` is named as a workout column"
        );
    }
    let guard = normalised(SYNC_GUARD_CTE);
    assert_qualified_columns_exist(&guard, &tables);
}

/// A bookkeeping record with a stored response, for rendering `SyncWrite`.
fn bookkeeping() -> SyncBookkeeping {
    let user = DbUuid(Uuid::nil());
    let sync_id = DbUuid(Uuid::nil());
    let now = DbTime(chrono::DateTime::UNIX_EPOCH);
    SyncBookkeeping {
        new_seq: 1,
        now,
        live_delta: 1,
        sync: SyncRow {
            id: sync_id,
            user_id: user,
            seq: 0,
            mode: "delta".into(),
            idempotency_key: Some("key".into()),
            created: 1,
            updated: 0,
            unchanged: 0,
            deleted: 0,
            conflicts: 0,
            rejected: 0,
            change_seq: 1,
            client_sync_timestamp: None,
            created_at: now,
        },
        idempotency: Some(IdempotencyRow {
            user_id: user,
            key: "key".into(),
            fingerprint: "fingerprint".into(),
            response_body: "{}".into(),
            sync_id,
            created_at: now,
        }),
        history: crate::history::HistoryMark::default(),
    }
}

/// The SQL Diesel sends for `statement`.
fn sent(statement: &impl QueryFragment<Pg>) -> String {
    let rendered = debug_query::<Pg, _>(statement).to_string();
    let (sql, _binds) = rendered
        .split_once(" -- binds:")
        .expect("debug_query ends with its binds");
    sql.to_owned()
}

/// `sql` with each placeholder's number taken out, and the numbers in the order they stand.
fn placeholders(sql: &str) -> (String, Vec<usize>) {
    let mut text = String::with_capacity(sql.len());
    let mut numbers = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..=at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        numbers.push(
            rest[at + 1..at + 1 + digits]
                .parse()
                .expect("a numbered placeholder"),
        );
        rest = &rest[at + 1 + digits..];
    }
    text.push_str(rest);
    (text, numbers)
}

#[test]
fn raw_sql_is_sent_as_written_with_every_parameter_bound() {
    let client_ids = ["a".to_owned(), "b".to_owned()];
    let lookup = Lookup {
        client_ids: &client_ids,
        user: DbUuid(Uuid::nil()),
    };
    assert_eq!(sent(&lookup), LOOKUP_SQL);
    assert_eq!(
        sent(&Upsert::of(&[])),
        [UPSERT_ROWS, UPSERT_ON_CONFLICT].concat()
    );
    // The sight alone is its four parameters; with the stored rows, the lookup's two follow.
    let sight = SyncSightQuery {
        user: DbUuid(Uuid::nil()),
        session: None,
        key: Some("key"),
    };
    assert_eq!(sent(&sight), [SYNC_SIGHT_SQL, SIGHT_ALONE].concat());
    let with_stored = SightAndStoredQuery { sight, lookup };
    let (text, numbers) = placeholders(&sent(&with_stored));
    let (expected, _) = placeholders(&sight_and_stored_sql());
    assert_eq!(text, expected);
    assert_eq!(numbers, (1..=6).collect::<Vec<usize>>());

    // The sync's write is the guard, the upsert under it and the bookkeeping, written as they
    // are, with the parameters numbered on through all three: seven, twenty arrays, seventeen.
    let b = bookkeeping();
    let guard = SyncGuard {
        user: DbUuid(Uuid::nil()),
        change_seq: 0,
        sync_count: 0,
        time_zone: "UTC".into(),
        session: Some(DbUuid(Uuid::nil())),
        now: DbTime(chrono::DateTime::UNIX_EPOCH),
    };
    let write = SyncWrite {
        guard: &guard,
        upsert: Upsert::of(&[]),
        b: &b,
        fingerprint: Some("fingerprint"),
        response_body: Some("{}"),
    };
    let (text, numbers) = placeholders(&sent(&write));
    let (expected, _) = placeholders(
        &[
            SYNC_GUARD_CTE,
            UPSERT_ROWS,
            SYNC_GUARD_FILTER,
            UPSERT_ON_CONFLICT,
            RECORD_SYNC_CTES,
        ]
        .concat(),
    );
    assert_eq!(text, expected);
    assert_eq!(numbers, (1..=44).collect::<Vec<usize>>());
}

/// PostgreSQL's plan-cache counters for this connection's prepared statement whose text holds
/// `marker`.
#[derive(diesel::QueryableByName)]
struct PlanCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom_plans: i64,
}

#[test]
fn the_sync_sight_is_planned_once_per_connection() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let Some(db) = crate::testing::TestDatabase::postgres() else {
        return;
    };
    let mut conn = PgConnection::establish(db.url()).expect("connect");
    crate::backend::pg::migrate(&mut conn).expect("migrate");
    // Every fresh sync sends the sight with its batch's ids. Told the batch's size, the planner
    // costed each small batch's own plan below the generic one and planned every sync anew.
    let ids = ["a".to_owned(), "b".to_owned()];
    for _ in 0..10 {
        super::sync_sight(&mut conn, Uuid::new_v4(), None, Some("key"), Some(&ids))
            .expect("the sight is read");
    }
    let plans: PlanCounts = diesel::sql_query(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
         WHERE statement LIKE '%AS found%'",
    )
    .get_result(&mut conn)
    .expect("the sight is a prepared statement of this connection");
    assert!(
        plans.custom_plans <= 5 && plans.generic_plans >= 5,
        "the sight's generic plan is kept after PostgreSQL's first five: {} custom, {} generic",
        plans.custom_plans,
        plans.generic_plans
    );
}
