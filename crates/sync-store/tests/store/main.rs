//! The sync-store integration suite. Every test is defined with
//! [`sync_store::testing::per_backend!`], so it runs once per backend under its own name:
//! `NAME::sqlite` on a fresh SQLite file always, `NAME::postgres` on a fresh PostgreSQL
//! database when `TEST_DATABASE_URL` is set (skipped with a notice otherwise; failing instead
//! with `REQUIRE_POSTGRES_TESTS=1`). Assertion messages name the backend too.

mod auth;
mod concurrency;
mod history;
mod idempotency;
mod lifecycle;
mod limits;
mod login;
mod running;
mod sync;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use sync_core::testing::incoming;
use sync_core::{
    prepare_sync, ChangeCursor, PreparedSync, SyncCounts, SyncLimits, SyncRequestBody,
};
use sync_store::testing::TestDatabase;
use sync_store::{NewSession, Store, StoreOptions, SyncCommand, SyncOutcome, User};
use uuid::Uuid;

/// A migrated store on a throwaway database. `store` is declared first so it is dropped (and
/// its connections closed) before the database is removed.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    pub db: TestDatabase,
}

/// A test's database, opened and migrated: what `per_backend!` hands each test.
impl From<TestDatabase> for Backend {
    fn from(db: TestDatabase) -> Backend {
        let store = Store::open(db.url(), &StoreOptions::default())
            .unwrap_or_else(|e| panic!("opening {}: {e}", db.url()));
        Backend {
            name: store.kind().name(),
            store,
            db,
        }
    }
}

impl Backend {
    /// Runs one sync (default TTL) that must be applied; its body and tallies.
    pub fn applied(&self, user_id: Uuid, body: Value, now: DateTime<Utc>) -> Applied {
        applied(self.name, sync(&self.store, user_id, body, now))
    }
}

/// The server clock the tests start from (whole seconds, as the API gives the store).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

/// The default time a stored response stays replayable.
pub fn ttl() -> Duration {
    Duration::hours(24)
}

/// The contract's example workout (see `sync_core::testing::incoming`) on 1 May 2024, with
/// this distance.
pub fn workout(client_id: &str, distance_meters: f64) -> Value {
    incoming(client_id)
        .start("2024-05-01T08:00:00Z")
        .end("2024-05-01T08:35:00Z")
        .distance(distance_meters)
        .into()
}

/// `n` distinct valid workouts, `{prefix}-0` … `{prefix}-{n-1}`.
pub fn workouts(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| workout(&format!("{prefix}-{i}"), 1000.0 + i as f64))
        .collect()
}

/// Turns a JSON request body into a checked request, as the API does.
pub fn prepare(body: Value, now: DateTime<Utc>) -> PreparedSync {
    let body: SyncRequestBody = serde_json::from_value(body).expect("request body deserialises");
    prepare_sync(body, None, &SyncLimits::default(), now).expect("request is accepted")
}

/// Runs one sync with an explicit clock and idempotency TTL.
pub fn sync_with(
    store: &Store,
    user_id: Uuid,
    body: Value,
    now: DateTime<Utc>,
    idempotency_ttl: Duration,
) -> SyncOutcome {
    let request = prepare(body, now);
    store
        .sync(&SyncCommand {
            user_id,
            session: None,
            request: &request,
            now,
            idempotency_ttl,
        })
        .unwrap_or_else(|e| panic!("{}: sync failed: {e}", store.kind().name()))
}

/// Runs one sync with the default TTL.
pub fn sync(store: &Store, user_id: Uuid, body: Value, now: DateTime<Utc>) -> SyncOutcome {
    sync_with(store, user_id, body, now, ttl())
}

/// A sync that was applied: its body as sent and as parsed, and the store's tallies.
#[derive(Debug)]
pub struct Applied {
    pub body: String,
    pub json: Value,
    pub counts: SyncCounts,
}

impl Applied {
    /// The change-feed position the response's `next_cursor` names.
    pub fn position(&self) -> i64 {
        let cursor = self.json["next_cursor"]
            .as_str()
            .expect("next_cursor is a string");
        ChangeCursor::decode(cursor)
            .expect("next_cursor decodes")
            .after_seq
    }

    /// The response's conflicts.
    pub fn conflicts(&self) -> &Vec<Value> {
        self.json["conflicts"]
            .as_array()
            .expect("conflicts is an array")
    }

    /// Asserts the response body's tallies, and that the store's counts say the same:
    /// `[created, updated, unchanged, deleted, conflicts, rejected]`.
    pub fn assert_counts(&self, backend: &str, expected: [usize; 6]) {
        let j = &self.json;
        let from_body = [
            j["created"].as_u64().expect("created") as usize,
            j["updated"].as_u64().expect("updated") as usize,
            j["unchanged"].as_u64().expect("unchanged") as usize,
            j["deleted"].as_u64().expect("deleted") as usize,
            j["conflicts"].as_array().expect("conflicts").len(),
            j["rejected"].as_array().expect("rejected").len(),
        ];
        assert_eq!(
            from_body, expected,
            "{backend}: [created, updated, unchanged, deleted, conflicts, rejected] in {}",
            self.body
        );
        let c = self.counts;
        assert_eq!(
            [
                c.created,
                c.updated,
                c.unchanged,
                c.deleted,
                c.conflicts,
                c.rejected
            ],
            expected,
            "{backend}: SyncOutcome::Applied counts"
        );
    }
}

/// Unwraps an applied sync, parsing its body.
pub fn applied(backend: &str, outcome: SyncOutcome) -> Applied {
    match outcome {
        SyncOutcome::Applied { body, counts } => {
            let json: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{backend}: response is not JSON ({e}): {body}"));
            assert_eq!(json["success"], json!(true), "{backend}: success in {body}");
            Applied { body, json, counts }
        }
        other => panic!("{backend}: expected SyncOutcome::Applied, got {other:?}"),
    }
}

/// Unwraps a replayed sync's body.
pub fn replayed(backend: &str, outcome: SyncOutcome) -> String {
    match outcome {
        SyncOutcome::Replayed { body } => body,
        other => panic!("{backend}: expected SyncOutcome::Replayed, got {other:?}"),
    }
}

/// The user's current change-feed position, read through an empty sync (which writes no
/// workout, so it does not move the position).
pub fn position(b: &Backend, user_id: Uuid, now: DateTime<Utc>) -> i64 {
    b.applied(user_id, json!({"workouts": []}), now).position()
}

/// A session to register or log in with, opened at `now` for 30 days.
pub fn new_session(refresh_token_hash: &str, now: DateTime<Utc>) -> NewSession {
    NewSession {
        id: Uuid::new_v4(),
        user_agent: Some("RunningDays/1.0 (iPhone)".into()),
        refresh_token_hash: refresh_token_hash.into(),
        created_at: now,
        expires_at: now + Duration::days(30),
    }
}

/// Registers an account with a first session; returns both.
pub fn register(b: &Backend, email: &str) -> (User, NewSession) {
    let session = new_session(&format!("hash-{}", Uuid::new_v4()), t0());
    let user = b
        .store
        .register(email, "hash", &session)
        .unwrap_or_else(|e| panic!("{}: register {email}: {e}", b.name));
    (user, session)
}
