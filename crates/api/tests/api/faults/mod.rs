//! Faults: the server killed (`kill -9`) in the middle of a large sync, the database unreachable
//! or locked, the pool exhausted, SIGTERM with a sync in flight, and the periodic purge of
//! expired idempotency records. A spawned `sync-server` process where the fault needs a real
//! process; PostgreSQL is cut off through a proxy, never stopped. This module holds what its
//! test files share.

mod database;
mod kill;
mod lifecycle;

use std::ops::Range;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{replayed_header, wait_until, TestApp, TestUser};

use crate::helpers::{assert_no_driver_text, DbProbe};

/// `(status, X-Idempotent-Replayed, Retry-After present, body)` of a sync.
type Answer = (StatusCode, Option<String>, bool, String);

/// Sends a raw sync body (JSON bytes) and reads the whole answer.
async fn send_sync(
    client: reqwest::Client,
    url: String,
    token: String,
    body: Vec<u8>,
) -> reqwest::Result<Answer> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let replayed = replayed_header(&response);
    let retry_after = response.headers().contains_key("retry-after");
    Ok((status, replayed, retry_after, response.text().await?))
}

/// Starts a sync in the background (it may be parked or cut short by the test).
fn spawn_sync(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
) -> tokio::task::JoinHandle<reqwest::Result<Answer>> {
    tokio::spawn(send_sync(
        app.client.clone(),
        app.api("/workouts/sync"),
        user.access_token.clone(),
        serde_json::to_vec(body).unwrap(),
    ))
}

/// Asserts a 503 with `Retry-After`, the contract's body and no driver text.
fn assert_unavailable(answer: &Answer, what: &str) {
    let (status, _, retry_after, text) = answer;
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {text}");
    assert!(*retry_after, "{what}: a 503 carries Retry-After: {text}");
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert_eq!(body["success"], json!(false), "{what}: {text}");
    assert_eq!(
        body["error"],
        json!("service_unavailable"),
        "{what}: {text}"
    );
    assert_no_driver_text(text, what);
}

/// What "a quick answer" means while the database is away: well under the client's timeout.
const QUICK: Range<Duration> = Duration::ZERO..Duration::from_secs(5);

/// [`assert_unavailable`], answered after a time in `within`.
fn assert_unavailable_within(
    answer: &Answer,
    elapsed: Duration,
    within: Range<Duration>,
    what: &str,
) {
    assert_unavailable(answer, what);
    assert!(
        within.contains(&elapsed),
        "{what}: answered after {elapsed:?}, expected within {within:?}"
    );
}

/// A sync's whole answer (never a transport error).
async fn sync_answer(app: &TestApp, user: &TestUser, body: &Value) -> Answer {
    spawn_sync(app, user, body)
        .await
        .unwrap()
        .expect("an answer, not a hang")
}

/// [`sync_answer`] and how long it took.
async fn timed_sync(app: &TestApp, user: &TestUser, body: &Value) -> (Answer, Duration) {
    let started = Instant::now();
    let answer = sync_answer(app, user, body).await;
    (answer, started.elapsed())
}

/// `GET` any path of the server (optionally as `user`), timed.
async fn timed_get(app: &TestApp, url: String, user: Option<&TestUser>) -> (Answer, Duration) {
    let started = Instant::now();
    let mut request = app.client.get(url);
    if let Some(user) = user {
        request = request.bearer_auth(&user.access_token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let text = response.text().await.expect("body");
    ((status, None, retry_after, text), started.elapsed())
}

/// Holds the lock a sync of `user` has to wait for: the user's row on PostgreSQL
/// (`SELECT … FOR UPDATE` in an open transaction), the writer lock on SQLite
/// (`BEGIN EXCLUSIVE`). `ROLLBACK` releases it.
fn hold_sync_lock(probe: &mut DbProbe, user: &TestUser) {
    let sql = match probe {
        DbProbe::Pg(_) => format!(
            "BEGIN; SELECT id FROM users WHERE id = '{}' FOR UPDATE;",
            user.id
        ),
        DbProbe::Sqlite(_) => "BEGIN EXCLUSIVE;".to_owned(),
    };
    probe.execute(&sql);
}

/// Waits until a request is parked on that lock, holding a pooled connection.
async fn wait_until_parked(probe: &mut DbProbe, app: &TestApp) {
    if matches!(probe, DbProbe::Pg(_)) {
        wait_until(
            "a request waiting for the user's row lock",
            Duration::from_secs(10),
            || probe.sessions_waiting_for_a_lock() >= 1,
        )
        .await;
        return;
    }
    // SQLite has no lock view: the request holds its connection while it waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = 0;
    while held < 5 {
        assert!(
            Instant::now() < deadline,
            "[sqlite] the request never parked"
        );
        if app.metric("db_pool_in_use").await.unwrap_or(0.0) >= 1.0 {
            held += 1;
        } else {
            held = 0;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}
