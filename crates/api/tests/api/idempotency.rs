//! Idempotency of `POST /workouts/sync`: byte-identical replays, key reuse, per-user scoping,
//! concurrent retries, and requests shaped like the shipping iOS client's.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use test_support::{
    assert_refused, cursor_seq, per_backend, replayed_header, sync_at_once, with, workout, Counts,
    TestApp, TestUser,
};

/// Sends `body` with an optional `Idempotency-Key` header; returns (status, replay header, text).
async fn send(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
    header_key: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let headers: Vec<(&str, &str)> = header_key
        .map(|k| ("Idempotency-Key", k))
        .into_iter()
        .collect();
    let response = app
        .sync_raw(
            Some(&user.access_token),
            serde_json::to_vec(body).unwrap(),
            &headers,
        )
        .await;
    let status = response.status();
    let replayed = replayed_header(&response);
    (status, replayed, response.text().await.unwrap())
}

/// Asserts a fresh (not replayed) 200 and returns its parsed body.
fn fresh(backend: &str, (status, replayed, text): &(StatusCode, Option<String>, String)) -> Value {
    assert_eq!(*status, StatusCode::OK, "[{backend}] {text}");
    assert!(
        replayed.is_none() || replayed.as_deref() == Some("false"),
        "[{backend}] a fresh response is not marked replayed ({replayed:?}): {text}"
    );
    serde_json::from_str(text).unwrap()
}

/// Asserts a replay of `original`: 200, `X-Idempotent-Replayed: true`, the same bytes.
fn replay_of(backend: &str, replay: &(StatusCode, Option<String>, String), original: &str) {
    assert_eq!(replay.0, StatusCode::OK, "[{backend}] {}", replay.2);
    assert_eq!(
        replay.1.as_deref(),
        Some("true"),
        "[{backend}] replay header: {}",
        replay.2
    );
    assert_eq!(replay.2, original, "[{backend}] a replay is byte-identical");
}

fn key() -> String {
    format!("sync_{}", Uuid::new_v4().simple())
}

per_backend!(a_retry_with_the_same_key_replays_the_stored_response_byte_for_byte);
async fn a_retry_with_the_same_key_replays_the_stored_response_byte_for_byte(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = key();
    let body = json!({"workouts": [workout("a")], "idempotency_key": key});

    let first = send(&app, &user, &body, None).await;
    let parsed = fresh(b, &first);
    assert_eq!(Counts::of(&parsed), Counts::created(1), "[{b}] {parsed}");

    let second = send(&app, &user, &body, None).await;
    replay_of(b, &second, &first.2);
    // The same key from the header, with or without the same one in the body.
    let without_body_key = json!({"workouts": [workout("a")]});
    replay_of(
        b,
        &send(&app, &user, &without_body_key, Some(&key)).await,
        &first.2,
    );
    replay_of(b, &send(&app, &user, &body, Some(&key)).await, &first.2);

    let after = app
        .sync_counted(&user, &[workout("a")], Counts::unchanged(1))
        .await;
    assert_eq!(cursor_seq(&after), 1, "[{b}] applied exactly once: {after}");
}

per_backend!(the_same_key_with_another_body_is_refused_and_applies_nothing);
async fn the_same_key_with_another_body_is_refused_and_applies_nothing(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = key();
    let original = json!({"workouts": [workout("a")], "idempotency_key": key});
    let first = send(&app, &user, &original, None).await;
    fresh(b, &first);

    // Would update `a` and create `b` if it were applied.
    let other = json!({
        "workouts": [with(workout("a"), json!({"distance_meters": 6000, "client_version": 1})), workout("b")],
        "idempotency_key": key,
    });
    let response = app.sync(&user, &other).await;
    assert_eq!(replayed_header(&response), None, "[{b}]");
    let error = assert_refused(response, StatusCode::UNPROCESSABLE_ENTITY, b).await;
    assert_eq!(
        error["error"],
        json!("idempotency_key_reused"),
        "[{b}] {error}"
    );

    // The refusal left the stored response alone, and applied nothing.
    replay_of(b, &send(&app, &user, &original, None).await, &first.2);
    app.assert_all_created(&user, &[workout("b")]).await;
    // `a` was not updated.
    app.sync_counted(&user, &[workout("a")], Counts::unchanged(1))
        .await;
}

per_backend!(two_users_with_the_same_key_are_processed_separately);
async fn two_users_with_the_same_key_are_processed_separately(app: TestApp) {
    let b = app.backend;
    let (alice, bob) = (app.register().await, app.register().await);
    let body = json!({"workouts": [workout("a")], "idempotency_key": "sync_20240115_abc"});

    let from_alice = send(&app, &alice, &body, None).await;
    let from_bob = send(&app, &bob, &body, None).await;
    let (a, o) = (fresh(b, &from_alice), fresh(b, &from_bob));
    assert_eq!(Counts::of(&a), Counts::created(1), "[{b}] {a}");
    assert_eq!(Counts::of(&o), Counts::created(1), "[{b}] {o}");
    assert_ne!(a["sync_id"], o["sync_id"], "[{b}] two syncs");

    replay_of(b, &send(&app, &bob, &body, None).await, &from_bob.2);
    replay_of(b, &send(&app, &alice, &body, None).await, &from_alice.2);
}

/// Sends the same keyed request of `n` workouts `REQUESTS` times at once, then checks it was
/// applied exactly once.
async fn concurrent_round(app: &TestApp, n: usize) {
    const REQUESTS: usize = 8;
    let b = app.backend;
    let user = app.register().await;
    let workouts: Vec<Value> = (0..n).map(|i| workout(&format!("w{i}"))).collect();
    let body =
        serde_json::to_vec(&json!({"workouts": workouts, "idempotency_key": key()})).unwrap();

    let results = sync_at_once(&[app], &user, &body, REQUESTS).await;

    let fresh: Vec<&String> = results
        .iter()
        .filter(|(_, status, replayed, _, _)| {
            *status == StatusCode::OK && replayed.as_deref() != Some("true")
        })
        .map(|(_, _, _, _, text)| text)
        .collect();
    assert_eq!(
        fresh.len(),
        1,
        "[{b}] {n} workouts: exactly one fresh response: {results:#?}"
    );
    let fresh = fresh[0];
    let parsed: Value = serde_json::from_str(fresh).unwrap();
    let created = Counts::created(n as u64);
    assert_eq!(Counts::of(&parsed), created, "[{b}] {parsed}");
    for (_, status, replayed, retry_after, text) in &results {
        match *status {
            StatusCode::OK if replayed.as_deref() == Some("true") => {
                assert_eq!(text, fresh, "[{b}] a replay is byte-identical");
            }
            StatusCode::OK => {}
            StatusCode::CONFLICT => {
                assert!(retry_after, "[{b}] a 409 carries Retry-After: {text}");
                let error: Value = serde_json::from_str(text).unwrap();
                assert_eq!(error["success"], json!(false), "[{b}] {text}");
            }
            other => panic!("[{b}] unexpected {other}: {text}"),
        }
    }

    app.sync_counted(&user, &workouts, Counts::unchanged(n as u64))
        .await;
    let next = app
        .sync_counted(&user, &[workout("new")], Counts::created(1))
        .await;
    assert_eq!(
        cursor_seq(&next),
        n as i64 + 1,
        "[{b}] one change per workout of the keyed sync, one for the new workout: {next}"
    );
}

per_backend!(concurrent_requests_with_one_key_apply_the_sync_exactly_once);
async fn concurrent_requests_with_one_key_apply_the_sync_exactly_once(app: TestApp) {
    // One workout (the change sequence ends at 2), then a batch whose longer transaction
    // widens the window a missing lock would need.
    concurrent_round(&app, 1).await;
    concurrent_round(&app, 40).await;
}

per_backend!(a_body_key_and_a_different_header_key_are_refused);
async fn a_body_key_and_a_different_header_key_are_refused(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let body = json!({"workouts": [workout("a")], "idempotency_key": "key-in-body"});
    let response = app
        .sync_raw(
            Some(&user.access_token),
            serde_json::to_vec(&body).unwrap(),
            &[("Idempotency-Key", "key-in-header")],
        )
        .await;
    assert_refused(response, StatusCode::BAD_REQUEST, b).await;

    // Nothing applied, nothing stored under either key.
    let response = send(&app, &user, &body, None).await;
    let parsed = fresh(b, &response);
    assert_eq!(Counts::of(&parsed), Counts::created(1), "[{b}] {parsed}");
    let other = json!({"workouts": [], "idempotency_key": "key-in-header"});
    fresh(b, &send(&app, &user, &other, None).await);
}

/// A request as the shipping iOS client builds it: snake_case, a random `id` on every workout,
/// fractional distances, whole-second timestamps.
fn ios_request(key_in_body: Option<&str>) -> Value {
    let mut body = json!({
        "workouts": [
            {
                "id": Uuid::new_v4().to_string(),
                "client_id": "4F2B7C1E-9A3D-4E8B-B6A1-2C5D8E9F0A1B",
                "start_time": "2024-03-02T07:15:00Z",
                "end_time": "2024-03-02T07:52:30Z",
                "duration_seconds": 2250,
                "distance_meters": 5012.7,
                "energy_burned_kcal": 402.3,
                "avg_heart_rate": 151,
                "max_heart_rate": 178,
                "source": "apple_watch"
            },
            {
                "id": Uuid::new_v4().to_string(),
                "client_id": "0C9E3A55-1B2F-4D6C-8E7A-9F0B1C2D3E4F",
                "start_time": "2024-03-03T18:00:00Z",
                "end_time": "2024-03-03T18:30:00Z",
                "duration_seconds": 1800,
                "distance_meters": 4321.09,
                "energy_burned_kcal": null,
                "avg_heart_rate": null,
                "source": "iphone"
            }
        ],
        "mode": "incremental",
        "client_sync_timestamp": "2024-03-03T19:00:00Z"
    });
    if let Some(key) = key_in_body {
        body["idempotency_key"] = json!(key);
    }
    body
}

async fn ios_client_flow(app: &TestApp, key_in_header: bool) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string().to_uppercase();
    let (body_key, header_key) = if key_in_header {
        (None, Some(key.as_str()))
    } else {
        (Some(key.as_str()), None)
    };

    let request = ios_request(body_key);
    let first = send(app, &user, &request, header_key).await;
    let parsed = fresh(b, &first);
    assert_eq!(Counts::of(&parsed), Counts::created(2), "[{b}] {parsed}");

    // The retry regenerates every workout's random `id`: still the same request.
    let retry = ios_request(body_key);
    assert_ne!(retry["workouts"][0]["id"], request["workouts"][0]["id"]);
    replay_of(b, &send(app, &user, &retry, header_key).await, &first.2);

    // The fractional distance was kept as sent.
    let mut probe = request["workouts"][0].clone();
    probe["distance_meters"] = json!(5000);
    let body = app.sync_ok(&user, &json!({"workouts": [probe]})).await;
    let view = &body["conflicts"][0]["server_workout"];
    assert_eq!(
        view["distance_meters"].as_f64(),
        Some(5012.7),
        "[{b}] {body}"
    );
    assert_eq!(
        view["energy_burned_kcal"].as_f64(),
        Some(402.3),
        "[{b}] {body}"
    );
}

per_backend!(an_ios_client_request_with_the_key_in_the_header_is_accepted_and_replayed);
async fn an_ios_client_request_with_the_key_in_the_header_is_accepted_and_replayed(app: TestApp) {
    ios_client_flow(&app, true).await;
}

per_backend!(an_ios_client_request_with_the_key_in_the_body_is_accepted_and_replayed);
async fn an_ios_client_request_with_the_key_in_the_body_is_accepted_and_replayed(app: TestApp) {
    ios_client_flow(&app, false).await;
}
