//! Whole batches: every workout of a mixed batch counted once, rejected workouts beside valid
//! ones, and the seed's example request accepted as the iOS client sends it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_fresh, per_backend, with, workout, Counts, TestApp};

use crate::helpers::is_server_timestamp;

/// The seed's example request (`seed/ios-sync.txt`), byte for byte.
const SEED_REQUEST: &str = r#"{
"workouts": [
{
"client_id": "healthkit_abc123",
"start_time": "2024-01-15T08:00:00Z",
"end_time": "2024-01-15T08:35:00Z",
"duration_seconds": 2100,
"distance_meters": 5000,
"energy_burned_kcal": 350,
"avg_heart_rate": 145,
"source": "apple_watch"
}
],
"mode": "incremental",
"idempotency_key": "sync_20240115_abc",
"client_sync_timestamp": "2024-01-15T09:00:00Z"
}"#;

per_backend!(every_workout_of_a_mixed_batch_is_counted_exactly_once);
async fn every_workout_of_a_mixed_batch_is_counted_exactly_once(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let seed = [
        workout("same"),
        workout("newer"),
        workout("differs"),
        workout("gone"),
    ];
    app.assert_all_created(&user, &seed).await;

    let batch = vec![
        workout("fresh"),
        workout("same"),
        with(
            workout("newer"),
            json!({"distance_meters": 5500, "client_version": 2}),
        ),
        with(workout("differs"), json!({"distance_meters": 5600})),
        with(workout("broken"), json!({"distance_meters": "5000"})),
    ];
    let body = app
        .sync_ok(
            &user,
            &json!({"workouts": batch, "deleted_client_ids": ["gone"]}),
        )
        .await;
    let counts = Counts::of(&body);
    assert_eq!(
        counts,
        Counts {
            created: 1,
            updated: 1,
            unchanged: 1,
            deleted: 1,
            conflicts: 1,
            rejected: 1
        },
        "[{b}] {body}"
    );
    assert_eq!(counts.workouts(), batch.len() as u64, "[{b}] {body}");
    assert_eq!(
        body["conflicts"][0]["client_id"],
        json!("differs"),
        "[{b}] {body}"
    );
    assert_eq!(body["rejected"][0]["index"], json!(4), "[{b}] {body}");
    assert_eq!(
        body["rejected"][0]["client_id"],
        json!("broken"),
        "[{b}] {body}"
    );
}

per_backend!(a_rejected_workout_does_not_fail_the_batch_and_leaves_nothing_behind);
async fn a_rejected_workout_does_not_fail_the_batch_and_leaves_nothing_behind(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let batch = json!([
        workout("ok-1"),
        with(workout("bad-type"), json!({"distance_meters": "5000"})),
        with(workout("bad-missing"), json!({"start_time": null})),
        with(
            workout("bad-order"),
            json!({"end_time": "2024-01-15T07:59:00Z"})
        ),
        workout("ok-2"),
        42,
    ]);
    let response = app.sync(&user, &json!({ "workouts": batch })).await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        Counts::of(&body),
        Counts {
            created: 2,
            rejected: 4,
            ..Counts::default()
        },
        "[{b}] {body}"
    );

    let rejected = body["rejected"].as_array().unwrap();
    let expected = [
        (1, json!("bad-type"), Some("distance_meters")),
        (2, json!("bad-missing"), Some("start_time")),
        (3, json!("bad-order"), Some("end_time")),
        (5, Value::Null, None),
    ];
    for (entry, (index, client_id, field)) in rejected.iter().zip(expected) {
        let object = entry.as_object().expect("rejected entry is an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["client_id", "errors", "index"], "[{b}] {entry}");
        assert_eq!(entry["index"], json!(index), "[{b}] {entry}");
        assert_eq!(entry["client_id"], client_id, "[{b}] {entry}");
        let errors = entry["errors"].as_object().expect("errors object");
        assert!(!errors.is_empty(), "[{b}] {entry}");
        for messages in errors.values() {
            let messages = messages.as_array().expect("messages array");
            assert!(!messages.is_empty(), "[{b}] {entry}");
            assert!(
                messages
                    .iter()
                    .all(|m| m.as_str().is_some_and(|m| !m.is_empty())),
                "[{b}] {entry}"
            );
        }
        if let Some(field) = field {
            assert!(errors.contains_key(field), "[{b}] {field} named: {entry}");
            assert!(!errors.contains_key("client_id"), "[{b}] {entry}");
        }
    }

    // Nothing of the rejected ones was stored: their valid versions are new.
    let fixed = [
        workout("bad-type"),
        workout("bad-missing"),
        workout("bad-order"),
    ];
    app.assert_all_created(&user, &fixed).await;
    let body = app
        .sync_ok(
            &user,
            &json!({"workouts": [workout("ok-1"), workout("ok-2")]}),
        )
        .await;
    assert_eq!(Counts::of(&body), Counts::unchanged(2), "[{b}] {body}");
}

per_backend!(the_seed_example_request_is_accepted_verbatim);
async fn the_seed_example_request_is_accepted_verbatim(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let response = app
        .sync_raw(Some(&user.access_token), SEED_REQUEST, &[])
        .await;
    let body = assert_fresh(response, &format!("[{b}] the seed request")).await;
    assert_eq!(body["success"], json!(true), "[{b}] {body}");
    assert!(
        body["sync_id"].as_str().is_some_and(|s| !s.is_empty()),
        "[{b}] {body}"
    );
    assert!(
        is_server_timestamp(&body["server_timestamp"]),
        "[{b}] {body}"
    );
    for (key, value) in [
        ("created", 1),
        ("updated", 0),
        ("unchanged", 0),
        ("deleted", 0),
    ] {
        assert_eq!(body[key], json!(value), "[{b}] {key}: {body}");
    }
    assert_eq!(body["conflicts"], json!([]), "[{b}] {body}");
    assert_eq!(body["rejected"], json!([]), "[{b}] {body}");
    assert!(body["next_cursor"].is_string(), "[{b}] {body}");
}

per_backend!(
    syncs_larger_than_the_sync_budget_take_turns_and_all_apply,
    [("SYNC_BUDGET_BYTES", "1024")]
);
async fn syncs_larger_than_the_sync_budget_take_turns_and_all_apply(app: TestApp) {
    let b = app.backend;
    // Each body is far over the 1 KiB budget: it takes all of it, so the four run one at a
    // time, and each waits for its turn instead of being refused.
    let users = [
        app.register().await,
        app.register().await,
        app.register().await,
        app.register().await,
    ];
    let batch = |user: usize| -> Value {
        let workouts: Vec<Value> = (0..40).map(|i| workout(&format!("u{user}-w{i}"))).collect();
        json!({"workouts": workouts, "mode": "full"})
    };
    let bodies = [batch(0), batch(1), batch(2), batch(3)];
    let (a, c, d, e) = tokio::join!(
        app.sync_ok(&users[0], &bodies[0]),
        app.sync_ok(&users[1], &bodies[1]),
        app.sync_ok(&users[2], &bodies[2]),
        app.sync_ok(&users[3], &bodies[3]),
    );
    for body in [a, c, d, e] {
        assert_eq!(Counts::of(&body).created, 40, "[{b}] {body}");
    }
}
