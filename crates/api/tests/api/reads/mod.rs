//! The read side through real HTTP: the newest-first list and its keyset pagination under
//! concurrent inserts, the filters, one workout, server-side edits and deletes, the change feed
//! (and rebuilding a device from it), `/sync/status`, the sync history, and bad input on every
//! read endpoint. This module holds what its test files share.

mod bad_input;
mod delete;
mod feed;
mod list;
mod patch;
mod single;
mod status;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_support::{assert_refused, TestApp, TestUser, SERVED_WORKOUT_KEYS};
use uuid::Uuid;

use crate::helpers::is_server_timestamp;

/// Query parameters, as `reqwest` takes them.
type Query<'a> = Vec<(&'a str, &'a str)>;

/// A 35-minute, 5 km run starting at `start` (RFC 3339, any offset); `end_time` is written in
/// the same offset.
fn run_at(client_id: &str, start: &str) -> Value {
    let start_at = DateTime::parse_from_rfc3339(start).expect("a valid start");
    let end = (start_at + Duration::minutes(35)).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    json!({
        "client_id": client_id,
        "start_time": start,
        "end_time": end,
        "duration_seconds": 2100,
        "distance_meters": 5000,
        "avg_heart_rate": 145,
        "source": "apple_watch"
    })
}

/// 2024-06-01T07:00:00Z minus `days` days (negative: later), as a UTC `Z` string.
fn days_back(days: i64) -> String {
    let base = Utc.with_ymd_and_hms(2024, 6, 1, 7, 0, 0).unwrap();
    (base - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The client ids of a list of served workouts, in order.
fn client_ids(workouts: &[Value]) -> Vec<String> {
    workouts
        .iter()
        .map(|w| w["client_id"].as_str().expect("client_id").to_owned())
        .collect()
}

/// The sorted client ids of `GET /workouts` with these filters.
async fn filtered(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Vec<String> {
    let mut ids = client_ids(&app.list_all(user, query).await);
    ids.sort();
    ids
}

fn strs(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

/// One page of the change feed.
async fn feed_page(
    app: &TestApp,
    user: &TestUser,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Value {
    let mut query = Vec::new();
    if let Some(c) = cursor {
        query.push(("cursor", c));
    }
    if let Some(l) = limit {
        query.push(("limit", l));
    }
    app.get_ok(user, "/workouts/changes", &query).await
}

/// Follows the change feed from `cursor` until `has_more` is false: every change and the
/// final cursor. Checks the shape of each page and that `change_seq` strictly increases.
async fn feed_all(
    app: &TestApp,
    user: &TestUser,
    cursor: Option<&str>,
    limit: &str,
) -> (Vec<Value>, String) {
    let b = app.backend;
    let mut changes: Vec<Value> = Vec::new();
    let mut cursor = cursor.map(str::to_owned);
    for _ in 0..10_000 {
        let page = feed_page(app, user, cursor.as_deref(), Some(limit)).await;
        let entries = page["changes"].as_array().expect("changes array");
        let next = page["next_cursor"]
            .as_str()
            .unwrap_or_else(|| panic!("[{b}] the feed always gives next_cursor: {page}"))
            .to_owned();
        if entries.is_empty() {
            if let Some(sent) = &cursor {
                assert_eq!(&next, sent, "[{b}] an empty page keeps the cursor");
            }
        }
        for entry in entries {
            assert!(entry["change_seq"].is_i64(), "[{b}] {entry}");
            assert!(entry["deleted"].is_boolean(), "[{b}] {entry}");
            assert_full_workout(b, &entry["workout"]);
            if let Some(last) = changes.last() {
                assert!(
                    entry["change_seq"].as_i64() > last["change_seq"].as_i64(),
                    "[{b}] change_seq must strictly increase: {last} then {entry}"
                );
            }
            changes.push(entry.clone());
        }
        let has_more = page["has_more"].as_bool().expect("has_more");
        if has_more {
            assert!(!entries.is_empty(), "[{b}] has_more on an empty page");
        }
        cursor = Some(next);
        if !has_more {
            return (changes, cursor.expect("a cursor"));
        }
    }
    panic!("[{b}] the change feed never ended");
}

/// Applies change-feed entries to a device's local copy (id → workout).
fn apply_changes(local: &mut BTreeMap<String, Value>, changes: &[Value]) {
    for change in changes {
        let id = change["workout"]["id"].as_str().expect("id").to_owned();
        if change["deleted"] == json!(true) {
            local.remove(&id);
        } else {
            local.insert(id, change["workout"].clone());
        }
    }
}

/// The live workouts by id, as `GET /workouts` serves them.
async fn live_by_id(app: &TestApp, user: &TestUser) -> BTreeMap<String, Value> {
    app.list_all(user, &[])
        .await
        .into_iter()
        .map(|w| (w["id"].as_str().expect("id").to_owned(), w))
        .collect()
}

/// The (start_time, id) sort key of a served workout.
fn sort_key(w: &Value) -> (DateTime<FixedOffset>, String) {
    let start = DateTime::parse_from_rfc3339(w["start_time"].as_str().expect("start_time"))
        .expect("start_time parses");
    (start, w["id"].as_str().expect("id").to_owned())
}

/// Asserts a served workout carries every contract key with the right JSON types.
fn assert_full_workout(backend: &str, w: &Value) {
    let object = w
        .as_object()
        .unwrap_or_else(|| panic!("[{backend}] not an object: {w}"));
    for key in SERVED_WORKOUT_KEYS {
        assert!(
            object.contains_key(key),
            "[{backend}] served workout without {key}: {w}"
        );
    }
    assert!(
        w["id"].as_str().is_some_and(|s| Uuid::parse_str(s).is_ok()),
        "[{backend}] id is a UUID: {w}"
    );
    for key in ["client_id", "date", "start_time", "end_time", "source"] {
        assert!(w[key].is_string(), "[{backend}] {key} is a string: {w}");
    }
    for key in ["duration_seconds", "revision"] {
        assert!(w[key].is_i64(), "[{backend}] {key} is an integer: {w}");
    }
    for key in ["created_at", "updated_at"] {
        assert!(
            is_server_timestamp(&w[key]),
            "[{backend}] {key} is whole seconds UTC: {w}"
        );
    }
}

/// Asserts a 400 with the contract's error body that names the parameter at fault.
async fn assert_bad_param(response: Response, backend: &str, what: &str, param: &str) {
    let url = response.url().to_string();
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "[{backend}] {what}: a {status} for bad input ({url})"
    );
    let body = assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        &format!("{backend}] [{what}"),
    )
    .await;
    let names_it = body["message"].as_str().is_some_and(|m| m.contains(param))
        || body["errors"].get(param).is_some();
    assert!(
        names_it,
        "[{backend}] {what}: the error should name `{param}`: {body}"
    );
}
