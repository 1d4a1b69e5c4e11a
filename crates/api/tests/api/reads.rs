//! The read side through real HTTP: the newest-first list and its keyset pagination under
//! concurrent inserts, the filters, one workout, server-side edits and deletes, the change feed
//! (and rebuilding a device from it), `/sync/status`, the sync history, and bad input on every
//! read endpoint.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sync_core::{ChangeCursor, ListCursor};
use uuid::Uuid;

use crate::helpers::{assert_refused, with, workout, Counts, TestApp, TestUser};

/// Query parameters, as `reqwest` takes them.
type Query<'a> = Vec<(&'a str, &'a str)>;

/// Every key of the served workout (the contract's "Reading" section).
const WORKOUT_KEYS: [&str; 15] = [
    "id",
    "client_id",
    "date",
    "start_time",
    "end_time",
    "duration_seconds",
    "distance_meters",
    "avg_pace_seconds_per_km",
    "avg_heart_rate",
    "max_heart_rate",
    "energy_burned_kcal",
    "source",
    "revision",
    "created_at",
    "updated_at",
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`: a server-generated timestamp, whole seconds.
fn is_server_time(text: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    text.len() == PATTERN.len()
        && text.bytes().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            literal => c == *literal,
        })
}

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

/// `GET {path}` with query parameters, as `user`.
async fn get(app: &TestApp, user: &TestUser, path: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(app.api(path))
        .bearer_auth(&user.access_token)
        .query(query)
        .send()
        .await
        .expect("GET request")
}

/// `GET {path}` expecting 200; the parsed body.
async fn get_ok(app: &TestApp, user: &TestUser, path: &str, query: &[(&str, &str)]) -> Value {
    let response = get(app, user, path, query).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(
        status,
        StatusCode::OK,
        "[{}] GET {path} {query:?}: {text}",
        app.backend
    );
    serde_json::from_str(&text).expect("a JSON body")
}

async fn patch(app: &TestApp, user: &TestUser, id: &str, body: &Value) -> Response {
    app.client
        .patch(app.api(&format!("/workouts/{id}")))
        .bearer_auth(&user.access_token)
        .json(body)
        .send()
        .await
        .expect("PATCH request")
}

/// `PATCH /workouts/{id}` expecting 200; the served workout.
async fn patch_ok(app: &TestApp, user: &TestUser, id: &str, body: &Value) -> Value {
    let response = patch(app, user, id, body).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(
        status,
        StatusCode::OK,
        "[{}] PATCH {id} {body}: {text}",
        app.backend
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    body["workout"].clone()
}

async fn delete(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.client
        .delete(app.api(&format!("/workouts/{id}")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("DELETE request")
}

/// `DELETE /workouts/{id}` expecting 204 with an empty body.
async fn delete_ok(app: &TestApp, user: &TestUser, id: &str) {
    let response = delete(app, user, id).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "[{}] DELETE {id}: {text}",
        app.backend
    );
    assert!(
        text.is_empty(),
        "[{}] a 204 with a body: {text}",
        app.backend
    );
}

/// A second login of the same account: another device.
async fn second_device(app: &TestApp, user: &TestUser) -> TestUser {
    let response = app
        .client
        .post(app.api("/auth/login"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), StatusCode::OK, "[{}] login", app.backend);
    let body: Value = response.json().await.expect("login body");
    TestUser {
        access_token: body["access_token"].as_str().expect("token").to_owned(),
        refresh_token: body["refresh_token"].as_str().expect("token").to_owned(),
        ..user.clone()
    }
}

/// Every live workout of the user, walking `GET /workouts` (200 a page) with extra parameters.
async fn list_all(app: &TestApp, user: &TestUser, extra: &[(&str, &str)]) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut query: Vec<(&str, &str)> = vec![("limit", "200")];
        query.extend_from_slice(extra);
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = get_ok(app, user, "/workouts", &query).await;
        all.extend(
            page["workouts"]
                .as_array()
                .expect("workouts")
                .iter()
                .cloned(),
        );
        if page["has_more"] != json!(true) {
            return all;
        }
        cursor = Some(
            page["next_cursor"]
                .as_str()
                .expect("next_cursor")
                .to_owned(),
        );
    }
    panic!("[{}] the list never ended", app.backend);
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
    let mut ids = client_ids(&list_all(app, user, query).await);
    ids.sort();
    ids
}

fn strs(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

/// The served workout with this client id, from the list.
async fn served(app: &TestApp, user: &TestUser, client_id: &str) -> Value {
    list_all(app, user, &[])
        .await
        .into_iter()
        .find(|w| w["client_id"] == json!(client_id))
        .unwrap_or_else(|| panic!("[{}] {client_id} is not listed", app.backend))
}

/// The server id of the workout with this client id.
async fn id_of(app: &TestApp, user: &TestUser, client_id: &str) -> String {
    served(app, user, client_id).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
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
    get_ok(app, user, "/workouts/changes", &query).await
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
    list_all(app, user, &[])
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
    for key in WORKOUT_KEYS {
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
            w[key].as_str().is_some_and(is_server_time),
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

// ---------------------------------------------------------------------------------------------
// The list: keyset pagination
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pagination_walks_every_workout_once_newest_first_while_new_ones_are_inserted() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;

        // 25 workouts: ten on distinct days, then three groups of five sharing a start_time.
        let originals: Vec<Value> = (0..25)
            .map(|i| {
                let back = if i < 10 { i } else { 10 + (i - 10) / 5 };
                run_at(&format!("orig-{i:02}"), &days_back(back))
            })
            .collect();
        app.assert_all_created(&user, &originals).await;
        // Noise that must never be listed: a deleted workout and another user's.
        app.assert_all_created(&user, &[run_at("gone", &days_back(5))])
            .await;
        let deleted = app
            .sync_ok(
                &user,
                &json!({"workouts": [], "deleted_client_ids": ["gone"]}),
            )
            .await;
        assert_eq!(deleted["deleted"], json!(1), "[{b}] {deleted}");
        app.assert_all_created(
            &other,
            &[
                run_at("theirs-0", &days_back(0)),
                run_at("theirs-1", &days_back(11)),
            ],
        )
        .await;

        let mut walked: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query: Vec<(&str, &str)> = vec![("limit", "7")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page = get_ok(&app, &user, "/workouts", &query).await;
            pages += 1;
            let workouts = page["workouts"].as_array().expect("workouts array");
            assert!(
                workouts.len() <= 7,
                "[{b}] page {pages} over the limit: {page}"
            );
            walked.extend(workouts.iter().cloned());

            // Between page fetches, other devices keep syncing.
            match pages {
                1 => {
                    // Newer than everything already read.
                    let newer: Vec<Value> = (1..=3)
                        .map(|k| run_at(&format!("new-{k}"), &days_back(-k)))
                        .collect();
                    app.assert_all_created(&user, &newer).await;
                }
                2 => {
                    // The cursor now sits inside the group of equal start_times ten days back:
                    // another workout at that very start_time, and one older than everything.
                    app.assert_all_created(
                        &user,
                        &[
                            run_at("tie", &days_back(10)),
                            run_at("late-old", &days_back(30)),
                            run_at("new-4", &days_back(-4)),
                        ],
                    )
                    .await;
                }
                3 => {
                    app.assert_all_created(&user, &[run_at("new-5", &days_back(-5))])
                        .await;
                }
                _ => {}
            }

            if page["has_more"] == json!(true) {
                assert_eq!(
                    workouts.len(),
                    7,
                    "[{b}] a short page with has_more: {page}"
                );
                cursor = Some(
                    page["next_cursor"]
                        .as_str()
                        .unwrap_or_else(|| panic!("[{b}] has_more without next_cursor: {page}"))
                        .to_owned(),
                );
            } else {
                assert_eq!(page["has_more"], json!(false), "[{b}] {page}");
                assert_eq!(
                    page["next_cursor"],
                    Value::Null,
                    "[{b}] the last page has no next_cursor: {page}"
                );
                break;
            }
            assert!(pages < 20, "[{b}] the walk does not end");
        }
        assert!(pages >= 4, "[{b}] 26+ workouts at 7 a page: {pages} pages");

        for w in &walked {
            assert_full_workout(b, w);
        }
        let ids: Vec<&str> = walked.iter().map(|w| w["id"].as_str().unwrap()).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "[{b}] duplicates in the walk: {ids:?}"
        );
        for pair in walked.windows(2) {
            assert!(
                sort_key(&pair[0]) > sort_key(&pair[1]),
                "[{b}] not newest start_time first (ties by id): {} then {}",
                pair[0],
                pair[1]
            );
        }
        let seen = client_ids(&walked);
        for i in 0..25 {
            let id = format!("orig-{i:02}");
            assert_eq!(
                seen.iter().filter(|c| **c == id).count(),
                1,
                "[{b}] {id} must be walked exactly once: {seen:?}"
            );
        }
        assert!(
            seen.contains(&"late-old".to_owned()),
            "[{b}] a workout inserted after the cursor's position is reached: {seen:?}"
        );
        for newer in ["new-1", "new-2", "new-3", "new-4", "new-5"] {
            assert!(
                !seen.contains(&newer.to_owned()),
                "[{b}] {newer} is newer than the first page and must not shift the walk: {seen:?}"
            );
        }
        for never in ["gone", "theirs-0", "theirs-1"] {
            assert!(!seen.contains(&never.to_owned()), "[{b}] {never} listed");
        }

        // A fresh walk sees everything live, and agrees with the status count.
        let all = list_all(&app, &user, &[]).await;
        assert_eq!(all.len(), 25 + 7, "[{b}] {:?}", client_ids(&all));
        let status = get_ok(&app, &user, "/sync/status", &[]).await;
        assert_eq!(status["total_workouts"], json!(32), "[{b}] {status}");
    }
}

#[tokio::test]
async fn pagination_is_stable_while_another_device_syncs_concurrently() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let originals: Vec<Value> = (0..60)
            .map(|i| run_at(&format!("orig-{i:02}"), &days_back(i / 2)))
            .collect();
        app.assert_all_created(&user, &originals).await;

        // The writer: 25 syncs, each with one workout newer than everything and one in the
        // middle of the range being walked (sharing a start_time with originals).
        let client = app.client.clone();
        let url = app.api("/workouts/sync");
        let token = user.access_token.clone();
        let writer = tokio::spawn(async move {
            for k in 0..25i64 {
                let body = json!({"workouts": [
                    run_at(&format!("concurrent-new-{k}"), &days_back(-1 - k)),
                    run_at(&format!("concurrent-mid-{k}"), &days_back(k % 30)),
                ]});
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("sync request");
                assert_eq!(response.status(), StatusCode::OK);
            }
        });

        let mut walked: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut query: Vec<(&str, &str)> = vec![("limit", "5")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page = get_ok(&app, &user, "/workouts", &query).await;
            walked.extend(
                page["workouts"]
                    .as_array()
                    .expect("workouts")
                    .iter()
                    .cloned(),
            );
            if page["has_more"] != json!(true) {
                assert_eq!(page["next_cursor"], Value::Null, "[{b}] {page}");
                cursor = None;
                break;
            }
            cursor = Some(page["next_cursor"].as_str().expect("cursor").to_owned());
            tokio::time::sleep(StdDuration::from_millis(3)).await;
        }
        assert!(cursor.is_none(), "[{b}] the walk did not end");
        writer.await.expect("the writer succeeded");

        let ids: Vec<&str> = walked.iter().map(|w| w["id"].as_str().unwrap()).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "[{b}] duplicates in the walk");
        for pair in walked.windows(2) {
            assert!(
                sort_key(&pair[0]) > sort_key(&pair[1]),
                "[{b}] out of order: {} then {}",
                pair[0],
                pair[1]
            );
        }
        let seen: HashSet<String> = client_ids(&walked).into_iter().collect();
        for i in 0..60 {
            let id = format!("orig-{i:02}");
            assert!(seen.contains(&id), "[{b}] {id} missed by the walk");
        }
        assert_eq!(list_all(&app, &user, &[]).await.len(), 110, "[{b}]");
    }
}

// ---------------------------------------------------------------------------------------------
// The list: filters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn since_until_and_year_filter_and_another_users_workouts_never_appear() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;
        app.assert_all_created(
            &user,
            &[
                run_at("a-2023", "2023-06-01T08:00:00Z"),
                run_at("a-mid-2024", "2024-06-15T08:00:00Z"),
                // New Year's Eve in New York: 2025-01-01T04:30Z in UTC, but the runner's 2024.
                run_at("a-nye-west", "2024-12-31T23:30:00-05:00"),
                // New Year's morning in Tokyo: still 2024-12-31 in UTC.
                run_at("a-ny-east", "2025-01-01T00:30:00+09:00"),
                run_at("a-2025", "2025-03-01T08:00:00Z"),
            ],
        )
        .await;
        app.assert_all_created(
            &other,
            &[
                run_at("b-2024", "2024-06-15T08:00:00Z"),
                run_at("b-nye", "2024-12-31T23:30:00-05:00"),
                run_at("b-2025", "2025-03-01T08:00:00Z"),
            ],
        )
        .await;

        let west = served(&app, &user, "a-nye-west").await;
        assert_eq!(west["date"], json!("2024-12-31"), "[{b}] {west}");
        assert_eq!(
            west["start_time"],
            json!("2025-01-01T04:30:00Z"),
            "[{b}] {west}"
        );
        let east = served(&app, &user, "a-ny-east").await;
        assert_eq!(east["date"], json!("2025-01-01"), "[{b}] {east}");
        assert_eq!(
            east["start_time"],
            json!("2024-12-31T15:30:00Z"),
            "[{b}] {east}"
        );

        let everything = strs(&["a-2023", "a-mid-2024", "a-nye-west", "a-ny-east", "a-2025"]);
        assert_eq!(
            filtered(&app, &user, &[]).await,
            everything,
            "[{b}] no filter"
        );
        let cases: Vec<(Query, Vec<&str>)> = vec![
            (vec![("year", "2024")], vec!["a-mid-2024", "a-nye-west"]),
            (vec![("year", "2025")], vec!["a-ny-east", "a-2025"]),
            (vec![("year", "2023")], vec!["a-2023"]),
            (vec![("year", "2022")], vec![]),
            // since is inclusive: a workout starting at exactly `since` is in.
            (
                vec![("since", "2024-06-15T08:00:00Z")],
                vec!["a-mid-2024", "a-ny-east", "a-nye-west", "a-2025"],
            ),
            // The same instant written with an offset.
            (
                vec![("since", "2024-06-15T10:00:00+02:00")],
                vec!["a-mid-2024", "a-ny-east", "a-nye-west", "a-2025"],
            ),
            (
                vec![("since", "2024-06-15T08:00:00.001Z")],
                vec!["a-ny-east", "a-nye-west", "a-2025"],
            ),
            // until is exclusive: a workout starting at exactly `until` is out.
            (vec![("until", "2024-06-15T08:00:00Z")], vec!["a-2023"]),
            (
                vec![("until", "2024-06-15T08:00:00.001Z")],
                vec!["a-2023", "a-mid-2024"],
            ),
            (
                vec![
                    ("since", "2024-06-15T08:00:00Z"),
                    ("until", "2025-01-01T04:30:00Z"),
                ],
                vec!["a-mid-2024", "a-ny-east"],
            ),
            (
                vec![("year", "2024"), ("since", "2024-07-01T00:00:00Z")],
                vec!["a-nye-west"],
            ),
            (
                vec![("year", "2025"), ("until", "2025-01-01T00:00:00Z")],
                vec!["a-ny-east"],
            ),
        ];
        for (query, expected) in &cases {
            assert_eq!(
                filtered(&app, &user, query).await,
                strs(expected),
                "[{b}] GET /workouts {query:?}"
            );
        }
        // The filters also hold across pages (limit=1 walks one at a time).
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query: Vec<(&str, &str)> = vec![("limit", "1"), ("year", "2025")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page = get_ok(&app, &user, "/workouts", &query).await;
            walked.extend(client_ids(page["workouts"].as_array().unwrap()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            walked,
            vec!["a-2025", "a-ny-east"],
            "[{b}] year=2025, limit=1"
        );

        assert_eq!(
            filtered(&app, &other, &[]).await,
            strs(&["b-2024", "b-nye", "b-2025"]),
            "[{b}] the other user sees only their own"
        );
        assert_eq!(
            filtered(&app, &other, &[("year", "2024")]).await,
            strs(&["b-2024", "b-nye"]),
            "[{b}]"
        );
    }
}

/// The year filter must follow a workout whose start moved to another year: by a server-side
/// edit, or by a newer `client_version` from the device. (Known bug: see the report; the
/// failures of every backend are collected before failing.)
#[tokio::test]
async fn the_year_filter_follows_a_start_time_moved_to_another_year() {
    let mut failures: Vec<String> = Vec::new();
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.assert_all_created(
            &user,
            &[
                run_at("patched", "2024-06-15T08:00:00Z"),
                run_at("resynced", "2024-07-15T08:00:00Z"),
            ],
        )
        .await;

        let id = id_of(&app, &user, "patched").await;
        let edited = patch_ok(
            &app,
            &user,
            &id,
            &json!({"start_time": "2023-06-15T08:00:00Z", "end_time": "2023-06-15T08:35:00Z"}),
        )
        .await;
        assert_eq!(edited["date"], json!("2023-06-15"), "[{b}] {edited}");

        let moved = with(
            run_at("resynced", "2023-07-15T08:00:00Z"),
            json!({"client_version": 1}),
        );
        let update = app.sync_ok(&user, &json!({"workouts": [moved]})).await;
        assert_eq!(update["updated"], json!(1), "[{b}] {update}");
        let resynced = served(&app, &user, "resynced").await;
        assert_eq!(resynced["date"], json!("2023-07-15"), "[{b}] {resynced}");

        for (year, expected) in [
            ("2023", strs(&["patched", "resynced"])),
            ("2024", strs(&[])),
        ] {
            let got = filtered(&app, &user, &[("year", year)]).await;
            if got != expected {
                failures.push(format!(
                    "[{b}] year={year}: got {got:?}, expected {expected:?} (the workouts' `date`s are 2023-06-15 and 2023-07-15)"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// RFC 3339 allows offsets up to ±23:59 and the server accepts them; the workout's `date` is
/// computed in that offset, and the year filter must agree with `date`. (Known bug: see the
/// report.)
#[tokio::test]
async fn the_year_filter_agrees_with_date_for_every_accepted_offset() {
    let mut failures: Vec<String> = Vec::new();
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.assert_all_created(
            &user,
            &[
                run_at("far-east", "2025-01-01T00:30:00+20:00"),
                run_at("far-west", "2024-12-31T23:30:00-20:00"),
            ],
        )
        .await;
        let east = served(&app, &user, "far-east").await;
        let west = served(&app, &user, "far-west").await;
        assert_eq!(east["date"], json!("2025-01-01"), "[{b}] {east}");
        assert_eq!(west["date"], json!("2024-12-31"), "[{b}] {west}");
        for (year, expected) in [("2025", strs(&["far-east"])), ("2024", strs(&["far-west"]))] {
            let got = filtered(&app, &user, &[("year", year)]).await;
            if got != expected {
                failures.push(format!(
                    "[{b}] year={year}: got {got:?}, expected {expected:?} (far-east: date 2025-01-01, far-west: date 2024-12-31)"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// One workout
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_served_workout_has_every_contract_field() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let full = with(
            workout("full"),
            json!({"max_heart_rate": 172, "energy_burned_kcal": 350.5}),
        );
        let minimal = json!({
            "client_id": "minimal",
            "start_time": "2024-02-01T09:00:00.250+01:00",
            "end_time": "2024-02-01T08:30:00.250Z",
            "duration_seconds": 1800,
            "distance_meters": 0
        });
        let sync = app
            .sync_ok(&user, &json!({"workouts": [full, minimal]}))
            .await;
        assert_eq!(sync["created"], json!(2), "[{b}] {sync}");

        let listed = served(&app, &user, "full").await;
        let id = listed["id"].as_str().expect("id").to_owned();
        let one = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        let (feed, _) = feed_all(&app, &user, None, "50").await;
        let in_feed = feed
            .iter()
            .find(|c| c["workout"]["id"] == json!(id))
            .expect("the workout is on the feed")["workout"]
            .clone();
        for (where_, w) in [
            ("list", &listed),
            ("get", &one["workout"]),
            ("feed", &in_feed),
        ] {
            let ctx = format!("[{b}] {where_}: {w}");
            assert_full_workout(b, w);
            assert_eq!(w["id"], json!(id), "{ctx}");
            assert_eq!(w["client_id"], json!("full"), "{ctx}");
            assert_eq!(w["date"], json!("2024-01-15"), "{ctx}");
            assert_eq!(w["start_time"], json!("2024-01-15T08:00:00Z"), "{ctx}");
            assert_eq!(w["end_time"], json!("2024-01-15T08:35:00Z"), "{ctx}");
            assert_eq!(w["duration_seconds"].as_u64(), Some(2100), "integer: {ctx}");
            assert_eq!(w["distance_meters"].as_f64(), Some(5000.0), "{ctx}");
            assert_eq!(
                w["avg_pace_seconds_per_km"].as_f64(),
                Some(420.0),
                "2100 s over 5000 m: {ctx}"
            );
            assert_eq!(w["avg_heart_rate"].as_u64(), Some(145), "integer: {ctx}");
            assert_eq!(w["max_heart_rate"].as_u64(), Some(172), "integer: {ctx}");
            assert_eq!(w["energy_burned_kcal"].as_f64(), Some(350.5), "{ctx}");
            assert_eq!(w["source"], json!("apple_watch"), "{ctx}");
            assert_eq!(w["revision"].as_u64(), Some(1), "{ctx}");
            assert_eq!(w["created_at"], w["updated_at"], "{ctx}");
        }
        assert_eq!(
            one.as_object().map(|o| o.len()),
            Some(1),
            "[{b}] GET /workouts/{{id}} is {{workout}}: {one}"
        );
        assert_eq!(listed, one["workout"], "[{b}] list and get agree");

        let min = served(&app, &user, "minimal").await;
        let ctx = format!("[{b}] {min}");
        assert_full_workout(b, &min);
        assert_eq!(min["date"], json!("2024-02-01"), "{ctx}");
        assert_eq!(
            min["start_time"],
            json!("2024-02-01T08:00:00.250Z"),
            "{ctx}"
        );
        assert_eq!(min["end_time"], json!("2024-02-01T08:30:00.250Z"), "{ctx}");
        assert_eq!(min["source"], json!("unknown"), "{ctx}");
        assert_eq!(min["distance_meters"].as_f64(), Some(0.0), "{ctx}");
        for key in [
            "avg_pace_seconds_per_km",
            "avg_heart_rate",
            "max_heart_rate",
            "energy_burned_kcal",
        ] {
            assert_eq!(min[key], Value::Null, "{key}: {ctx}");
        }
    }
}

#[tokio::test]
async fn get_one_is_404_when_unknown_deleted_or_another_users_and_400_when_malformed() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;
        app.assert_all_created(
            &user,
            &[
                workout("kept"),
                workout("synced-away"),
                workout("deleted-here"),
            ],
        )
        .await;
        app.assert_all_created(&other, &[workout("theirs")]).await;
        let kept = id_of(&app, &user, "kept").await;
        let synced_away = id_of(&app, &user, "synced-away").await;
        let deleted_here = id_of(&app, &user, "deleted-here").await;
        let theirs = id_of(&app, &other, "theirs").await;

        get_ok(&app, &user, &format!("/workouts/{kept}"), &[]).await;
        app.sync_ok(
            &user,
            &json!({"workouts": [], "deleted_client_ids": ["synced-away"]}),
        )
        .await;
        delete_ok(&app, &user, &deleted_here).await;

        let unknown = Uuid::new_v4().to_string();
        for (what, id, who) in [
            ("unknown id", unknown.as_str(), &user),
            ("deleted by a sync", synced_away.as_str(), &user),
            ("deleted on the server", deleted_here.as_str(), &user),
            ("another user's", theirs.as_str(), &user),
            ("mine, asked by another user", kept.as_str(), &other),
        ] {
            let response = get(&app, who, &format!("/workouts/{id}"), &[]).await;
            let body =
                assert_refused(response, StatusCode::NOT_FOUND, &format!("{b}] [{what}")).await;
            assert_eq!(body["error"], json!("not_found"), "[{b}] {what}: {body}");
        }
        // The owner still sees theirs.
        get_ok(&app, &other, &format!("/workouts/{theirs}"), &[]).await;

        for malformed in ["not-a-uuid", "123", "0", &kept[..35], &format!("{kept}0")] {
            let response = get(&app, &user, &format!("/workouts/{malformed}"), &[]).await;
            assert_bad_param(response, b, &format!("GET /workouts/{malformed}"), "id").await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server-side edits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_fields_bumps_revision_and_is_validated_like_a_sync() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;
        let original = with(workout("run"), json!({"client_version": 2}));
        app.assert_all_created(&user, std::slice::from_ref(&original))
            .await;
        let before = served(&app, &user, "run").await;
        let id = before["id"].as_str().unwrap().to_owned();

        let edited = patch_ok(
            &app,
            &user,
            &id,
            &json!({"distance_meters": 5250.5, "avg_heart_rate": 150}),
        )
        .await;
        let ctx = format!("[{b}] {before} -> {edited}");
        assert_full_workout(b, &edited);
        assert_eq!(edited["distance_meters"].as_f64(), Some(5250.5), "{ctx}");
        assert_eq!(edited["avg_heart_rate"].as_u64(), Some(150), "{ctx}");
        assert_eq!(
            edited["revision"].as_u64(),
            Some(2),
            "revision goes up: {ctx}"
        );
        assert_eq!(
            edited["avg_pace_seconds_per_km"].as_f64(),
            Some(399.96),
            "pace recomputed, 2100 s over 5250.5 m: {ctx}"
        );
        for key in [
            "id",
            "client_id",
            "date",
            "start_time",
            "end_time",
            "duration_seconds",
            "energy_burned_kcal",
            "source",
            "created_at",
        ] {
            assert_eq!(edited[key], before[key], "{key} unchanged: {ctx}");
        }
        assert!(
            edited["updated_at"].as_str() >= before["updated_at"].as_str(),
            "{ctx}"
        );
        let fetched = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_eq!(fetched["workout"], edited, "[{b}] GET shows the edit");

        // Validated like a synced workout: 422 naming the field, nothing written.
        for (bad, field) in [
            (json!({"distance_meters": -1}), "distance_meters"),
            (json!({"distance_meters": "5000"}), "distance_meters"),
            (json!({"avg_heart_rate": 300}), "avg_heart_rate"),
            (json!({"end_time": "2024-01-15T07:00:00Z"}), "end_time"),
            (json!({"start_time": "yesterday"}), "start_time"),
            (json!({"duration_seconds": 99999}), "duration_seconds"),
            (json!({"source": "x".repeat(65)}), "source"),
            (json!({"client_id": "renamed"}), "client_id"),
        ] {
            let response = patch(&app, &user, &id, &bad).await;
            let body = assert_refused(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{b}] [PATCH {bad}"),
            )
            .await;
            assert!(
                body["errors"].get(field).is_some(),
                "[{b}] PATCH {bad}: errors must name {field}: {body}"
            );
        }
        let after_refusals = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_eq!(
            after_refusals["workout"], edited,
            "[{b}] refused edits wrote nothing"
        );

        // Another user's, an unknown and a malformed id.
        let response = patch(&app, &other, &id, &json!({"distance_meters": 1})).await;
        assert_refused(response, StatusCode::NOT_FOUND, b).await;
        let response = patch(&app, &user, &Uuid::new_v4().to_string(), &json!({})).await;
        assert_refused(response, StatusCode::NOT_FOUND, b).await;
        let response = patch(&app, &user, "nope", &json!({"distance_meters": 1})).await;
        assert_bad_param(response, b, "PATCH /workouts/nope", "id").await;
        let unchanged = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_eq!(
            unchanged["workout"], edited,
            "[{b}] another user's PATCH wrote nothing"
        );

        // The device still holds its old copy: with no client_version it gets data_mismatch and
        // the server's (patched) copy.
        let old_copy = workout("run");
        let resync = app.sync_ok(&user, &json!({"workouts": [old_copy]})).await;
        assert_eq!(
            Counts::of(&resync),
            Counts {
                conflicts: 1,
                ..Counts::default()
            },
            "[{b}] {resync}"
        );
        let conflict = &resync["conflicts"][0];
        assert_eq!(conflict["client_id"], json!("run"), "[{b}] {conflict}");
        assert_eq!(conflict["server_id"], json!(id), "[{b}] {conflict}");
        assert_eq!(
            conflict["reason"],
            json!("data_mismatch"),
            "[{b}] {conflict}"
        );
        assert_eq!(
            conflict["resolution"],
            json!("server_wins"),
            "[{b}] {conflict}"
        );
        let fields: HashSet<&str> = conflict["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            fields.contains("distance_meters") && fields.contains("avg_heart_rate"),
            "[{b}] {conflict}"
        );
        assert_eq!(
            conflict["server_workout"]["distance_meters"].as_f64(),
            Some(5250.5),
            "[{b}] the server's copy carries the edit: {conflict}"
        );
        assert_eq!(
            conflict["server_workout"]["revision"],
            json!(2),
            "[{b}] {conflict}"
        );

        // With the client_version it synced with: stale_version, server wins.
        let resync = app.sync_ok(&user, &json!({"workouts": [original]})).await;
        assert_eq!(
            resync["conflicts"].as_array().map(Vec::len),
            Some(1),
            "[{b}] {resync}"
        );
        let conflict = &resync["conflicts"][0];
        assert_eq!(
            conflict["reason"],
            json!("stale_version"),
            "[{b}] {conflict}"
        );
        assert_eq!(
            conflict["server_workout"]["distance_meters"].as_f64(),
            Some(5250.5),
            "[{b}] {conflict}"
        );
        let still = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_eq!(still["workout"], edited, "[{b}] conflicts write nothing");

        // A genuinely newer client version wins again.
        let newer = with(workout("run"), json!({"client_version": 3}));
        let resync = app.sync_ok(&user, &json!({"workouts": [newer]})).await;
        assert_eq!(resync["updated"], json!(1), "[{b}] {resync}");
        let now = get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_eq!(
            now["workout"]["distance_meters"].as_f64(),
            Some(5000.0),
            "[{b}] {now}"
        );
        assert_eq!(now["workout"]["revision"], json!(3), "[{b}] {now}");
    }
}

#[tokio::test]
async fn delete_is_204_then_404_and_the_feed_carries_a_tombstone() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;
        let sync = app
            .sync_ok(
                &user,
                &json!({"workouts": [workout("doomed"), workout("kept")]}),
            )
            .await;
        let cursor = sync["next_cursor"].as_str().expect("cursor").to_owned();
        let id = id_of(&app, &user, "doomed").await;

        // Another user cannot delete it.
        let response = delete(&app, &other, &id).await;
        assert_refused(response, StatusCode::NOT_FOUND, b).await;
        get_ok(&app, &user, &format!("/workouts/{id}"), &[]).await;

        delete_ok(&app, &user, &id).await;
        let response = get(&app, &user, &format!("/workouts/{id}"), &[]).await;
        assert_refused(response, StatusCode::NOT_FOUND, b).await;
        let response = delete(&app, &user, &id).await;
        assert_refused(
            response,
            StatusCode::NOT_FOUND,
            &format!("{b}] [deleted twice"),
        )
        .await;
        let response = patch(&app, &user, &id, &json!({"distance_meters": 1})).await;
        assert_refused(
            response,
            StatusCode::NOT_FOUND,
            &format!("{b}] [patch a tombstone"),
        )
        .await;
        let response = delete(&app, &user, "not-a-uuid").await;
        assert_bad_param(response, b, "DELETE /workouts/not-a-uuid", "id").await;

        let (changes, _) = feed_all(&app, &user, Some(&cursor), "10").await;
        assert_eq!(
            changes.len(),
            1,
            "[{b}] one change, the delete: {changes:?}"
        );
        assert_eq!(changes[0]["deleted"], json!(true), "[{b}] {changes:?}");
        assert_eq!(changes[0]["workout"]["id"], json!(id), "[{b}] {changes:?}");
        assert_eq!(changes[0]["workout"]["client_id"], json!("doomed"), "[{b}]");

        assert_eq!(
            client_ids(&list_all(&app, &user, &[]).await),
            vec!["kept"],
            "[{b}]"
        );
        let status = get_ok(&app, &user, "/sync/status", &[]).await;
        assert_eq!(status["total_workouts"], json!(1), "[{b}] {status}");

        // The device, unaware, syncs its copy: the server's delete wins.
        let resync = app
            .sync_ok(&user, &json!({"workouts": [workout("doomed")]}))
            .await;
        assert_eq!(
            resync["conflicts"][0]["reason"],
            json!("deleted_on_server"),
            "[{b}] {resync}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The change feed
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_change_feed_carries_creates_updates_and_deletes_in_commit_order() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;

        // A fresh account: an empty feed.
        let empty = feed_page(&app, &user, None, None).await;
        assert_eq!(empty["changes"], json!([]), "[{b}] {empty}");
        assert_eq!(empty["has_more"], json!(false), "[{b}] {empty}");
        let start = empty["next_cursor"].as_str().expect("cursor").to_owned();

        // 1. Three creates by a sync.
        let s1 = app
            .sync_ok(
                &user,
                &json!({"workouts": [workout("w1"), workout("w2"), workout("w3")]}),
            )
            .await;
        let s1_cursor = s1["next_cursor"].as_str().unwrap().to_owned();
        let (step1, c1) = feed_all(&app, &user, Some(&start), "50").await;
        assert_eq!(step1.len(), 3, "[{b}] {step1:?}");
        assert!(step1.iter().all(|c| c["deleted"] == json!(false)), "[{b}]");
        assert!(
            step1.iter().all(|c| c["workout"]["revision"] == json!(1)),
            "[{b}]"
        );
        assert_eq!(
            c1, s1_cursor,
            "[{b}] the feed after the sync's changes is where the sync's next_cursor points"
        );

        // The sync's next_cursor returns nothing of that sync; another user's sync is not here.
        app.assert_all_created(&other, &[workout("theirs")]).await;
        let after_s1 = feed_page(&app, &user, Some(&s1_cursor), None).await;
        assert_eq!(after_s1["changes"], json!([]), "[{b}] {after_s1}");
        assert_eq!(after_s1["has_more"], json!(false), "[{b}] {after_s1}");
        assert_eq!(
            after_s1["next_cursor"],
            json!(s1_cursor),
            "[{b}] an empty page returns the cursor sent"
        );

        // 2. An update by a server-side edit.
        let w2 = id_of(&app, &user, "w2").await;
        patch_ok(&app, &user, &w2, &json!({"distance_meters": 4800})).await;
        let (step2, c2) = feed_all(&app, &user, Some(&c1), "50").await;
        assert_eq!(step2.len(), 1, "[{b}] {step2:?}");
        assert_eq!(step2[0]["workout"]["id"], json!(w2), "[{b}] {step2:?}");
        assert_eq!(step2[0]["deleted"], json!(false), "[{b}]");
        assert_eq!(step2[0]["workout"]["revision"], json!(2), "[{b}]");
        assert_eq!(
            step2[0]["workout"]["distance_meters"].as_f64(),
            Some(4800.0),
            "[{b}]"
        );

        // 3. An update by a newer client_version.
        let s3 = app
            .sync_ok(
                &user,
                &json!({"workouts": [with(
                    workout("w3"),
                    json!({"distance_meters": 5100, "client_version": 1})
                )]}),
            )
            .await;
        assert_eq!(s3["updated"], json!(1), "[{b}] {s3}");
        let (step3, c3) = feed_all(&app, &user, Some(&c2), "50").await;
        assert_eq!(step3.len(), 1, "[{b}] {step3:?}");
        assert_eq!(step3[0]["workout"]["client_id"], json!("w3"), "[{b}]");
        assert_eq!(step3[0]["workout"]["revision"], json!(2), "[{b}]");
        assert_eq!(
            step3[0]["workout"]["distance_meters"].as_f64(),
            Some(5100.0),
            "[{b}]"
        );
        assert_eq!(c3, s3["next_cursor"].as_str().unwrap(), "[{b}]");

        // 4. A create and a delete in one sync.
        let s4 = app
            .sync_ok(
                &user,
                &json!({"workouts": [workout("w4")], "deleted_client_ids": ["w1"]}),
            )
            .await;
        assert_eq!(
            (s4["created"].clone(), s4["deleted"].clone()),
            (json!(1), json!(1)),
            "[{b}] {s4}"
        );
        let (step4, c4) = feed_all(&app, &user, Some(&c3), "50").await;
        let got: HashSet<(String, bool)> = step4
            .iter()
            .map(|c| {
                (
                    c["workout"]["client_id"].as_str().unwrap().to_owned(),
                    c["deleted"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            HashSet::from([("w4".to_owned(), false), ("w1".to_owned(), true)]),
            "[{b}] {step4:?}"
        );
        assert_eq!(c4, s4["next_cursor"].as_str().unwrap(), "[{b}]");

        // 5. A delete on the server.
        let w4 = id_of(&app, &user, "w4").await;
        delete_ok(&app, &user, &w4).await;
        let (step5, c5) = feed_all(&app, &user, Some(&c4), "50").await;
        assert_eq!(step5.len(), 1, "[{b}] {step5:?}");
        assert_eq!(step5[0]["workout"]["id"], json!(w4), "[{b}]");
        assert_eq!(step5[0]["deleted"], json!(true), "[{b}]");

        // Commit order across the steps: every step's changes come after the previous step's.
        let seqs: Vec<i64> = [&step1, &step2, &step3, &step4, &step5]
            .iter()
            .flat_map(|step| step.iter().map(|c| c["change_seq"].as_i64().unwrap()))
            .collect();
        assert!(
            seqs.windows(2).all(|p| p[0] < p[1]),
            "[{b}] change_seq in commit order: {seqs:?}"
        );

        // From the start, one change at a time: exactly the current state, tombstones included.
        let (all, end) = feed_all(&app, &user, None, "1").await;
        assert_eq!(end, c5, "[{b}] the walk ends where the steps ended");
        let final_seqs: Vec<i64> = all
            .iter()
            .map(|c| c["change_seq"].as_i64().unwrap())
            .collect();
        assert_eq!(
            final_seqs.last(),
            seqs.last(),
            "[{b}] the latest change is the last one"
        );
        let mut local = BTreeMap::new();
        apply_changes(&mut local, &all);
        assert_eq!(
            local,
            live_by_id(&app, &user).await,
            "[{b}] the feed rebuilds the list"
        );
        let mut tombstones: Vec<&str> = all
            .iter()
            .filter(|c| c["deleted"] == json!(true))
            .map(|c| c["workout"]["client_id"].as_str().unwrap())
            .collect();
        tombstones.sort();
        assert_eq!(tombstones, vec!["w1", "w4"], "[{b}]");
        let status = get_ok(&app, &user, "/sync/status", &[]).await;
        assert_eq!(status["server_cursor"], json!(c5), "[{b}] {status}");
    }
}

#[tokio::test]
async fn a_second_device_rebuilds_every_live_workout_from_the_feed_alone() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let phone = app.register().await;
        let laptop = second_device(&app, &phone).await;

        let batch: Vec<Value> = (0..40)
            .map(|i| run_at(&format!("w{i:02}"), &days_back(i)))
            .collect();
        app.assert_all_created(&phone, &batch).await;

        // The laptop reads part of the feed, then the phone keeps changing things.
        let first = feed_page(&app, &laptop, None, Some("15")).await;
        let mut local = BTreeMap::new();
        apply_changes(&mut local, first["changes"].as_array().unwrap());
        let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
        assert_eq!(first["has_more"], json!(true), "[{b}]");

        let updates: Vec<Value> = (0..10)
            .map(|i| {
                with(
                    run_at(&format!("w{i:02}"), &days_back(i)),
                    json!({"distance_meters": 6000 + i, "client_version": 1}),
                )
            })
            .collect();
        let sync = app
            .sync_ok(
                &phone,
                &json!({"workouts": updates, "deleted_client_ids": ["w20", "w21", "w39"]}),
            )
            .await;
        assert_eq!(
            (sync["updated"].clone(), sync["deleted"].clone()),
            (json!(10), json!(3)),
            "[{b}] {sync}"
        );
        let w30 = id_of(&app, &phone, "w30").await;
        patch_ok(&app, &phone, &w30, &json!({"avg_heart_rate": 160})).await;
        let w31 = id_of(&app, &phone, "w31").await;
        delete_ok(&app, &phone, &w31).await;

        // And keeps syncing while the laptop reads.
        let client = app.client.clone();
        let url = app.api("/workouts/sync");
        let token = phone.access_token.clone();
        let writer = tokio::spawn(async move {
            for k in 0..15i64 {
                let body = json!({
                    "workouts": [run_at(&format!("live-{k}"), &days_back(-k - 1))],
                    "deleted_client_ids": [format!("w{:02}", 10 + k)],
                });
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("sync request");
                assert_eq!(response.status(), StatusCode::OK);
            }
        });
        for _ in 0..200 {
            let page = feed_page(&app, &laptop, Some(&cursor), Some("4")).await;
            apply_changes(&mut local, page["changes"].as_array().unwrap());
            cursor = page["next_cursor"].as_str().unwrap().to_owned();
            if writer.is_finished() && page["has_more"] == json!(false) {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(2)).await;
        }
        writer.await.expect("the writer succeeded");
        // Catch up on whatever was committed last.
        let (rest, _) = feed_all(&app, &laptop, Some(&cursor), "4").await;
        apply_changes(&mut local, &rest);

        let live = live_by_id(&app, &laptop).await;
        // 40, minus w20, w21, w39 and w31, minus w10..w24 but for the two already gone, plus 15.
        assert_eq!(live.len(), 40 - 4 - 13 + 15, "[{b}]");
        assert_eq!(
            local.keys().collect::<Vec<_>>(),
            live.keys().collect::<Vec<_>>(),
            "[{b}] the same set of workouts"
        );
        assert_eq!(local, live, "[{b}] the same content of every workout");
        let status = get_ok(&app, &laptop, "/sync/status", &[]).await;
        assert_eq!(
            status["total_workouts"],
            json!(live.len()),
            "[{b}] {status}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Status and history
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sync_status_and_history_match_what_was_synced() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let other = app.register().await;

        let fresh = get_ok(&app, &user, "/sync/status", &[]).await;
        for key in ["last_sync_at", "oldest_workout", "newest_workout"] {
            assert_eq!(fresh[key], Value::Null, "[{b}] {key}: {fresh}");
        }
        assert_eq!(fresh["total_workouts"], json!(0), "[{b}] {fresh}");
        assert_eq!(fresh["pending_sync"], json!(0), "[{b}] {fresh}");
        let fresh_cursor = fresh["server_cursor"].as_str().expect("server_cursor");
        let nothing = feed_page(&app, &user, Some(fresh_cursor), None).await;
        assert_eq!(nothing["changes"], json!([]), "[{b}] {nothing}");

        let s1 = app
            .sync_ok(
                &user,
                &json!({
                    "workouts": [
                        run_at("jan", "2024-01-10T08:00:00Z"),
                        run_at("feb", "2024-02-10T08:00:00Z"),
                        run_at("mar", "2024-03-10T08:00:00Z"),
                    ],
                    "mode": "full",
                    "client_sync_timestamp": "2024-03-11T09:00:00Z",
                }),
            )
            .await;
        // Different seconds, so that "newest first" is well defined here (the same-second case
        // has its own test).
        tokio::time::sleep(StdDuration::from_millis(1100)).await;
        let s2 = app
            .sync_ok(
                &user,
                &json!({
                    "workouts": [
                        run_at("apr", "2024-04-10T08:00:00Z"),
                        run_at("may", "2024-05-10T08:00:00Z"),
                        run_at("feb", "2024-02-10T08:00:00Z"),
                        with(
                            run_at("bad", "2024-04-20T08:00:00Z"),
                            json!({"end_time": "2024-04-20T07:00:00Z"})
                        ),
                    ],
                    "deleted_client_ids": ["jan", "never-existed"],
                }),
            )
            .await;
        assert_eq!(
            Counts::of(&s2),
            Counts {
                created: 2,
                unchanged: 1,
                rejected: 1,
                deleted: 1,
                ..Counts::default()
            },
            "[{b}] {s2}"
        );
        tokio::time::sleep(StdDuration::from_millis(1100)).await;
        let s3 = app
            .sync_ok(
                &user,
                &json!({"workouts": [with(
                    run_at("mar", "2024-03-10T08:00:00Z"),
                    json!({"distance_meters": 4000})
                )], "mode": "incremental"}),
            )
            .await;
        assert_eq!(
            s3["conflicts"].as_array().map(Vec::len),
            Some(1),
            "[{b}] {s3}"
        );

        let status = get_ok(&app, &user, "/sync/status", &[]).await;
        let ctx = format!("[{b}] {status}");
        assert_eq!(status["total_workouts"], json!(4), "live only: {ctx}");
        assert_eq!(status["pending_sync"], json!(0), "{ctx}");
        assert!(
            status["last_sync_at"].as_str().is_some_and(is_server_time),
            "no fractional seconds: {ctx}"
        );
        assert_eq!(status["last_sync_at"], s3["server_timestamp"], "{ctx}");
        assert_eq!(status["server_cursor"], s3["next_cursor"], "{ctx}");
        assert_eq!(
            status["oldest_workout"],
            json!("2024-02-10T08:00:00Z"),
            "{ctx}"
        );
        assert_eq!(
            status["newest_workout"],
            json!("2024-05-10T08:00:00Z"),
            "{ctx}"
        );

        // A delete on the server moves the count, the newest workout and the cursor.
        let may = id_of(&app, &user, "may").await;
        delete_ok(&app, &user, &may).await;
        let status = get_ok(&app, &user, "/sync/status", &[]).await;
        let ctx = format!("[{b}] {status}");
        assert_eq!(status["total_workouts"], json!(3), "{ctx}");
        assert_eq!(
            status["newest_workout"],
            json!("2024-04-10T08:00:00Z"),
            "{ctx}"
        );
        assert_ne!(status["server_cursor"], s3["next_cursor"], "{ctx}");
        let (_, feed_end) = feed_all(&app, &user, None, "100").await;
        assert_eq!(
            status["server_cursor"],
            json!(feed_end),
            "the feed's position: {ctx}"
        );

        // The history, newest first, with mode and counts.
        let history = get_ok(&app, &user, "/syncs", &[]).await;
        let syncs = history["syncs"].as_array().expect("syncs array");
        let ids: Vec<&Value> = syncs.iter().map(|s| &s["sync_id"]).collect();
        assert_eq!(
            ids,
            vec![&s3["sync_id"], &s2["sync_id"], &s1["sync_id"]],
            "[{b}] newest first: {history}"
        );
        for (entry, response, mode) in [
            (&syncs[0], &s3, "incremental"),
            (&syncs[1], &s2, "incremental"),
            (&syncs[2], &s1, "full"),
        ] {
            let ctx = format!("[{b}] {entry} for {response}");
            assert_eq!(entry["mode"], json!(mode), "{ctx}");
            for key in ["created", "updated", "unchanged", "deleted"] {
                assert_eq!(entry[key], response[key], "{key}: {ctx}");
            }
            for key in ["conflicts", "rejected"] {
                assert_eq!(
                    entry[key].as_u64(),
                    response[key].as_array().map(|a| a.len() as u64),
                    "{key}: {ctx}"
                );
            }
            assert_eq!(entry["created_at"], response["server_timestamp"], "{ctx}");
            assert!(
                entry["created_at"].as_str().is_some_and(is_server_time),
                "{ctx}"
            );
        }
        assert_eq!(
            syncs[2]["client_sync_timestamp"],
            json!("2024-03-11T09:00:00Z"),
            "[{b}] {history}"
        );

        let two = get_ok(&app, &user, "/syncs", &[("limit", "2")]).await;
        let two_ids: Vec<&Value> = two["syncs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["sync_id"])
            .collect();
        assert_eq!(two_ids, vec![&s3["sync_id"], &s2["sync_id"]], "[{b}] {two}");

        let s2_id = s2["sync_id"].as_str().unwrap();
        let one = get_ok(&app, &user, &format!("/syncs/{s2_id}"), &[]).await;
        assert_eq!(
            one["sync"], syncs[1],
            "[{b}] /syncs/{{id}} agrees with the list"
        );

        // Another user sees none of it.
        let theirs = get_ok(&app, &other, "/syncs", &[]).await;
        assert_eq!(theirs["syncs"], json!([]), "[{b}] {theirs}");
        let response = get(&app, &other, &format!("/syncs/{s2_id}"), &[]).await;
        assert_refused(
            response,
            StatusCode::NOT_FOUND,
            &format!("{b}] [another user's sync"),
        )
        .await;
        let response = get(&app, &user, &format!("/syncs/{}", Uuid::new_v4()), &[]).await;
        assert_refused(
            response,
            StatusCode::NOT_FOUND,
            &format!("{b}] [unknown sync"),
        )
        .await;
        let status = get_ok(&app, &other, "/sync/status", &[]).await;
        assert_eq!(status["total_workouts"], json!(0), "[{b}] {status}");
        assert_eq!(status["last_sync_at"], Value::Null, "[{b}] {status}");
    }
}

/// Syncs made within the same second (a device retrying, or syncing in chunks) must still be
/// listed newest first.
/// Syncs made within the same second (a device retrying, or syncing in chunks) must still be
/// listed newest first. (Known bug: see the report.)
#[tokio::test]
async fn sync_history_is_newest_first_even_within_one_second() {
    let mut failures: Vec<String> = Vec::new();
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let mut sync_ids = Vec::new();
        for k in 0..8 {
            let body = app
                .sync_ok(
                    &user,
                    &json!({"workouts": [run_at(&format!("w{k}"), &days_back(k))]}),
                )
                .await;
            sync_ids.push(body["sync_id"].clone());
        }
        sync_ids.reverse();
        let history = get_ok(&app, &user, "/syncs", &[]).await;
        let listed: Vec<Value> = history["syncs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sync_id"].clone())
            .collect();
        if listed != sync_ids {
            failures.push(format!(
                "[{b}] /syncs not newest first:\n  listed   {listed:?}\n  expected {sync_ids:?}\n  {history}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_on_every_read_endpoint_is_a_400_with_the_contract_body() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let sync = app
            .sync_ok(
                &user,
                &json!({"workouts": [workout("a"), run_at("b", &days_back(1))]}),
            )
            .await;
        let change_cursor = sync["next_cursor"].as_str().unwrap().to_owned();
        let page = get_ok(&app, &user, "/workouts", &[("limit", "1")]).await;
        let list_cursor = page["next_cursor"]
            .as_str()
            .expect("a list cursor")
            .to_owned();
        let negative_seq = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1:-5")
        };

        let cases: Vec<(&str, Query, &str)> = vec![
            ("/workouts", vec![("cursor", "garbage")], "cursor"),
            ("/workouts", vec![("cursor", "")], "cursor"),
            ("/workouts", vec![("cursor", &change_cursor)], "cursor"),
            ("/workouts", vec![("limit", "0")], "limit"),
            ("/workouts", vec![("limit", "-1")], "limit"),
            ("/workouts", vec![("limit", "201")], "limit"),
            ("/workouts", vec![("limit", "100000")], "limit"),
            ("/workouts", vec![("limit", "abc")], "limit"),
            ("/workouts", vec![("limit", "1.5")], "limit"),
            ("/workouts", vec![("limit", "")], "limit"),
            (
                "/workouts",
                vec![("limit", "99999999999999999999999")],
                "limit",
            ),
            ("/workouts", vec![("year", "abc")], "year"),
            ("/workouts", vec![("year", "0")], "year"),
            ("/workouts", vec![("year", "20240")], "year"),
            ("/workouts", vec![("since", "yesterday")], "since"),
            ("/workouts", vec![("since", "2024-01-01")], "since"),
            ("/workouts", vec![("until", "yesterday")], "until"),
            ("/workouts/changes", vec![("cursor", "garbage")], "cursor"),
            (
                "/workouts/changes",
                vec![("cursor", &list_cursor)],
                "cursor",
            ),
            (
                "/workouts/changes",
                vec![("cursor", &negative_seq)],
                "cursor",
            ),
            ("/workouts/changes", vec![("limit", "0")], "limit"),
            ("/workouts/changes", vec![("limit", "100000")], "limit"),
            ("/workouts/changes", vec![("limit", "abc")], "limit"),
            ("/syncs", vec![("limit", "0")], "limit"),
            ("/syncs", vec![("limit", "100000")], "limit"),
            ("/syncs", vec![("limit", "abc")], "limit"),
            ("/workouts/not-a-uuid", vec![], "id"),
            ("/workouts/12345", vec![], "id"),
            ("/syncs/not-a-uuid", vec![], "id"),
            ("/syncs/12345", vec![], "id"),
        ];
        for (path, query, param) in &cases {
            let response = get(&app, &user, path, query).await;
            assert_bad_param(response, b, &format!("GET {path} {query:?}"), param).await;
        }

        // Without a token every read endpoint is a 401, with the contract body.
        let id = Uuid::new_v4();
        for path in [
            "/workouts".to_owned(),
            format!("/workouts/{id}"),
            "/workouts/changes".to_owned(),
            "/sync/status".to_owned(),
            "/syncs".to_owned(),
            format!("/syncs/{id}"),
        ] {
            let response = app.client.get(app.api(&path)).send().await.expect("GET");
            let body =
                assert_refused(response, StatusCode::UNAUTHORIZED, &format!("{b}] [{path}")).await;
            assert_eq!(body["error"], json!("unauthorized"), "[{b}] {path}: {body}");
        }
    }
}

/// Well-formed but extreme parameter values, including cursors that decode but name an instant
/// far outside what a workout can have, are answered with 200 or a contract 400, never a 5xx.
/// (Known bug on PostgreSQL: see the report.)
#[tokio::test]
async fn well_formed_but_extreme_parameters_are_never_a_5xx() {
    let mut failures: Vec<String> = Vec::new();
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.assert_all_created(&user, &[workout("a")]).await;
        // Well-formed but extreme values are answered, never a 5xx.
        let forged_list_cursors: Vec<String> = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        ]
        .iter()
        .map(|t| {
            ListCursor {
                start_time: *t,
                id: Uuid::nil(),
            }
            .encode()
        })
        .collect();
        let huge_seq = ChangeCursor {
            after_seq: i64::MAX,
        }
        .encode();
        let mut extreme: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("/workouts", vec![("year", "1")]),
            ("/workouts", vec![("year", "9999")]),
            ("/workouts", vec![("since", "0001-01-01T00:00:00Z")]),
            ("/workouts", vec![("until", "9999-12-31T23:59:59Z")]),
            ("/workouts", vec![("since", "9999-12-31T23:59:59+23:59")]),
            ("/workouts", vec![("limit", "200")]),
            ("/workouts/changes", vec![("cursor", &huge_seq)]),
            ("/workouts/changes", vec![("limit", "1000")]),
            ("/syncs", vec![("limit", "200")]),
        ];
        for cursor in &forged_list_cursors {
            extreme.push(("/workouts", vec![("cursor", cursor)]));
        }
        for (path, query) in &extreme {
            let response = get(&app, &user, path, query).await;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let body: Option<Value> = serde_json::from_str(&text).ok();
            let answered = match status {
                StatusCode::OK => body.is_some(),
                StatusCode::BAD_REQUEST => body.is_some_and(|v| v["success"] == json!(false)),
                _ => false,
            };
            if !answered {
                failures.push(format!("[{b}] GET {path} {query:?}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A query string the parameter parser cannot even split (a parameter given twice) is bad
/// input like any other: 400 with the contract's JSON error body, not the framework's text.
/// (Known bug: see the report.)
#[tokio::test]
async fn a_repeated_query_parameter_is_a_400_with_the_contract_body() {
    let mut failures: Vec<String> = Vec::new();
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        for path in [
            "/workouts?limit=5&limit=6",
            "/workouts/changes?cursor=a&cursor=b",
            "/syncs?limit=1&limit=2",
        ] {
            let response = get(&app, &user, path, &[]).await;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let body: Option<Value> = serde_json::from_str(&text).ok();
            let contract = body.is_some_and(|v| {
                v["success"] == json!(false)
                    && v["error"].as_str().is_some_and(|c| !c.is_empty())
                    && v["message"].as_str().is_some_and(|m| !m.is_empty())
            });
            if status != StatusCode::BAD_REQUEST || !contract {
                failures.push(format!("[{b}] GET {path}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
