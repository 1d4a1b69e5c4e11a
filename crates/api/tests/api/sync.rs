//! `POST /workouts/sync` through real HTTP: every row of the conflict table, the counting rule,
//! rejected workouts next to valid ones, the seed's example request and the wire formats.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{cursor_seq, replayed_header, with, workout, Counts, TestApp};

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

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`: a server-generated timestamp, whole seconds.
fn is_server_time(text: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    text.len() == PATTERN.len()
        && text.bytes().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            literal => c == *literal,
        })
}

/// The one conflict of a response about `client_id`, with every contract field present.
fn conflict<'a>(backend: &str, body: &'a Value, client_id: &str) -> &'a Value {
    let conflicts = body["conflicts"].as_array().expect("conflicts array");
    let found: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c["client_id"] == json!(client_id))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "[{backend}] one conflict for {client_id}: {body}"
    );
    let c = found[0];
    for key in [
        "client_id",
        "server_id",
        "reason",
        "resolution",
        "fields",
        "server_workout",
    ] {
        assert!(
            c.get(key).is_some(),
            "[{backend}] conflict without {key}: {c}"
        );
    }
    assert_eq!(c["resolution"], json!("server_wins"), "[{backend}] {c}");
    let server_id = c["server_id"].as_str().expect("server_id is a string");
    assert!(
        uuid::Uuid::parse_str(server_id).is_ok(),
        "[{backend}] server_id is a UUID: {c}"
    );
    assert_eq!(
        c["server_workout"]["id"], c["server_id"],
        "[{backend}] server_id is the workout's id: {c}"
    );
    c
}

/// The `fields` of a conflict, sorted (the contract does not fix their order).
fn fields_of(c: &Value) -> Vec<String> {
    let mut fields: Vec<String> = c["fields"]
        .as_array()
        .expect("fields array")
        .iter()
        .map(|f| f.as_str().expect("field name").to_owned())
        .collect();
    fields.sort();
    fields
}

/// Asserts that `view` (a served workout) holds the content of `sent` (a workout as sent with
/// UTC `Z` times) at `revision`.
fn assert_server_copy(backend: &str, view: &Value, sent: &Value, revision: i64) {
    let ctx = format!("[{backend}] server copy {view} vs sent {sent}");
    assert!(
        view["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{ctx}"
    );
    for key in ["client_id", "start_time", "end_time", "source"] {
        assert_eq!(view[key], sent[key], "{key}: {ctx}");
    }
    assert_eq!(
        view["date"],
        json!(&sent["start_time"].as_str().unwrap()[..10]),
        "{ctx}"
    );
    assert_eq!(
        view["duration_seconds"].as_i64(),
        sent["duration_seconds"].as_i64(),
        "{ctx}"
    );
    for key in ["distance_meters", "energy_burned_kcal"] {
        assert_eq!(view[key].as_f64(), sent[key].as_f64(), "{key}: {ctx}");
    }
    for key in ["avg_heart_rate", "max_heart_rate"] {
        assert_eq!(view[key].as_i64(), sent[key].as_i64(), "{key}: {ctx}");
    }
    let duration = sent["duration_seconds"].as_f64().unwrap();
    let distance = sent["distance_meters"].as_f64().unwrap();
    let pace = view["avg_pace_seconds_per_km"]
        .as_f64()
        .expect("pace computed when distance > 0");
    assert!(
        (pace - duration / (distance / 1000.0)).abs() < 0.01,
        "pace: {ctx}"
    );
    assert_eq!(view["revision"], json!(revision), "revision: {ctx}");
    for key in ["created_at", "updated_at"] {
        assert!(
            view[key].as_str().is_some_and(is_server_time),
            "{key}: {ctx}"
        );
    }
}

#[tokio::test]
async fn a_new_workout_is_created_and_the_same_content_again_is_unchanged() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;

        let first = app
            .sync_ok(&user, &json!({"workouts": [workout("run-1")]}))
            .await;
        assert_eq!(
            Counts::of(&first),
            Counts {
                created: 1,
                ..Counts::default()
            },
            "[{b}] {first}"
        );
        assert_eq!(first["success"], json!(true), "[{b}] {first}");
        assert_eq!(
            cursor_seq(&first),
            1,
            "[{b}] the creation is one change: {first}"
        );

        let offset_shifted = with(
            workout("run-1"),
            json!({"start_time": "2024-01-15T09:00:00+01:00"}),
        );
        let both_shifted = with(
            workout("run-1"),
            json!({"start_time": "2024-01-15T03:00:00-05:00", "end_time": "2024-01-15T03:35:00-05:00"}),
        );
        let zero_fraction = with(
            workout("run-1"),
            json!({"start_time": "2024-01-15T08:00:00.000Z"}),
        );
        for same in [
            workout("run-1"),
            offset_shifted,
            both_shifted,
            zero_fraction,
        ] {
            let again = app.sync_ok(&user, &json!({"workouts": [same]})).await;
            assert_eq!(
                Counts::of(&again),
                Counts {
                    unchanged: 1,
                    ..Counts::default()
                },
                "[{b}] equal content is unchanged: {same} -> {again}"
            );
            assert_eq!(
                cursor_seq(&again),
                1,
                "[{b}] unchanged writes nothing: {again}"
            );
        }
    }
}

#[tokio::test]
async fn a_greater_client_version_updates_and_raises_the_revision() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.sync_ok(&user, &json!({"workouts": [workout("run-1")]}))
            .await;

        // Stored without a version, so it counts as version 0: 1 is greater.
        let v1 = with(
            workout("run-1"),
            json!({"distance_meters": 5100, "client_version": 1}),
        );
        let body = app.sync_ok(&user, &json!({"workouts": [v1.clone()]})).await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                updated: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
        assert_eq!(cursor_seq(&body), 2, "[{b}] the update is a change: {body}");

        let again = app.sync_ok(&user, &json!({"workouts": [v1]})).await;
        assert_eq!(
            Counts::of(&again),
            Counts {
                unchanged: 1,
                ..Counts::default()
            },
            "[{b}] the update was stored: {again}"
        );

        let v2 = with(
            workout("run-1"),
            json!({"distance_meters": 5200, "avg_heart_rate": 150, "client_version": 2}),
        );
        let body = app.sync_ok(&user, &json!({"workouts": [v2.clone()]})).await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                updated: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
        assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");

        // A later conflict shows the server's copy: v2's content at revision 3.
        let probe = with(workout("run-1"), json!({"distance_meters": 5300}));
        let body = app.sync_ok(&user, &json!({"workouts": [probe]})).await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                conflicts: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
        let c = conflict(b, &body, "run-1");
        assert_eq!(c["reason"], json!("data_mismatch"), "[{b}] {c}");
        assert_eq!(
            fields_of(c),
            ["avg_heart_rate", "distance_meters"],
            "[{b}] {c}"
        );
        assert_server_copy(b, &c["server_workout"], &v2, 3);
    }
}

#[tokio::test]
async fn an_equal_or_lower_client_version_with_other_content_is_a_stale_version_conflict() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let original = with(workout("run-1"), json!({"client_version": 5}));
        app.sync_ok(&user, &json!({"workouts": [original.clone()]}))
            .await;

        let equal = with(
            original.clone(),
            json!({"energy_burned_kcal": 400, "avg_heart_rate": 150}),
        );
        let lower = with(equal.clone(), json!({"client_version": 3}));
        let mut server_ids = Vec::new();
        for stale in [equal.clone(), lower] {
            let body = app
                .sync_ok(&user, &json!({"workouts": [stale.clone()]}))
                .await;
            assert_eq!(
                Counts::of(&body),
                Counts {
                    conflicts: 1,
                    ..Counts::default()
                },
                "[{b}] {stale} -> {body}"
            );
            let c = conflict(b, &body, "run-1");
            assert_eq!(c["reason"], json!("stale_version"), "[{b}] {c}");
            assert_eq!(
                fields_of(c),
                ["avg_heart_rate", "energy_burned_kcal"],
                "[{b}] {c}"
            );
            assert_server_copy(b, &c["server_workout"], &original, 1);
            server_ids.push(c["server_id"].clone());
            assert_eq!(
                cursor_seq(&body),
                1,
                "[{b}] a conflict writes nothing: {body}"
            );
        }
        assert_eq!(
            server_ids[0], server_ids[1],
            "[{b}] one workout, one server id"
        );

        // Nothing was written: the original content is still the server's, whatever version.
        for same in [
            original.clone(),
            with(original.clone(), json!({"client_version": 2})),
        ] {
            let body = app.sync_ok(&user, &json!({"workouts": [same]})).await;
            assert_eq!(
                Counts::of(&body),
                Counts {
                    unchanged: 1,
                    ..Counts::default()
                },
                "[{b}] {body}"
            );
        }

        let newer = with(equal, json!({"client_version": 6}));
        let body = app.sync_ok(&user, &json!({"workouts": [newer]})).await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                updated: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );

        // A workout stored without a version is version 0: sending 0 is not greater.
        app.sync_ok(&user, &json!({"workouts": [workout("run-2")]}))
            .await;
        let zero = with(
            workout("run-2"),
            json!({"distance_meters": 9000, "client_version": 0}),
        );
        let body = app.sync_ok(&user, &json!({"workouts": [zero]})).await;
        assert_eq!(
            conflict(b, &body, "run-2")["reason"],
            json!("stale_version"),
            "[{b}] {body}"
        );
    }
}

#[tokio::test]
async fn different_content_without_a_version_is_a_data_mismatch_and_writes_nothing() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.sync_ok(&user, &json!({"workouts": [workout("run-1")]}))
            .await;

        let changed = with(
            workout("run-1"),
            json!({"distance_meters": 6000, "source": "iphone"}),
        );
        for attempt in 0..2 {
            let body = app
                .sync_ok(&user, &json!({"workouts": [changed.clone()]}))
                .await;
            assert_eq!(
                Counts::of(&body),
                Counts {
                    conflicts: 1,
                    ..Counts::default()
                },
                "[{b}] attempt {attempt}: {body}"
            );
            let c = conflict(b, &body, "run-1");
            assert_eq!(c["reason"], json!("data_mismatch"), "[{b}] {c}");
            assert_eq!(fields_of(c), ["distance_meters", "source"], "[{b}] {c}");
            assert_server_copy(b, &c["server_workout"], &workout("run-1"), 1);
            assert_eq!(cursor_seq(&body), 1, "[{b}] {body}");
        }

        let original = app
            .sync_ok(&user, &json!({"workouts": [workout("run-1")]}))
            .await;
        assert_eq!(
            Counts::of(&original),
            Counts {
                unchanged: 1,
                ..Counts::default()
            },
            "[{b}] the server still holds the original: {original}"
        );
    }
}

#[tokio::test]
async fn deletions_apply_once_ignore_unknown_ids_and_turn_later_syncs_into_conflicts() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        app.sync_ok(&user, &json!({"workouts": [workout("a"), workout("b")]}))
            .await;

        let body = app
            .sync_ok(&user, &json!({"workouts": [], "deleted_client_ids": ["a"]}))
            .await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                deleted: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
        assert_eq!(
            cursor_seq(&body),
            3,
            "[{b}] the deletion is a change: {body}"
        );

        // Already deleted, never synced: ignored, counted nowhere, nothing written.
        let body = app
            .sync_ok(&user, &json!({"deleted_client_ids": ["a", "never-synced"]}))
            .await;
        assert_eq!(Counts::of(&body), Counts::default(), "[{b}] {body}");
        assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");

        // The workout again, with or without a newer version: the server's deletion wins.
        let newer = with(
            workout("a"),
            json!({"distance_meters": 7000, "client_version": 99}),
        );
        for again in [workout("a"), newer] {
            let body = app
                .sync_ok(&user, &json!({"workouts": [again.clone()]}))
                .await;
            assert_eq!(
                Counts::of(&body),
                Counts {
                    conflicts: 1,
                    ..Counts::default()
                },
                "[{b}] {again} -> {body}"
            );
            let c = conflict(b, &body, "a");
            assert_eq!(c["reason"], json!("deleted_on_server"), "[{b}] {c}");
            assert_eq!(c["server_workout"]["client_id"], json!("a"), "[{b}] {c}");
            assert_eq!(cursor_seq(&body), 3, "[{b}] {body}");
        }

        let body = app
            .sync_ok(&user, &json!({"workouts": [workout("b")]}))
            .await;
        assert_eq!(
            Counts::of(&body),
            Counts {
                unchanged: 1,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
    }
}

#[tokio::test]
async fn every_workout_of_a_mixed_batch_is_counted_exactly_once() {
    for app in TestApp::spawn_all().await {
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
}

#[tokio::test]
async fn a_rejected_workout_does_not_fail_the_batch_and_leaves_nothing_behind() {
    for app in TestApp::spawn_all().await {
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
        assert_eq!(
            Counts::of(&body),
            Counts {
                unchanged: 2,
                ..Counts::default()
            },
            "[{b}] {body}"
        );
    }
}

#[tokio::test]
async fn the_seed_example_request_is_accepted_verbatim() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let response = app
            .sync_raw(Some(&user.access_token), SEED_REQUEST, &[])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        assert_ne!(
            replayed_header(&response).as_deref(),
            Some("true"),
            "[{b}] a fresh response"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], json!(true), "[{b}] {body}");
        assert!(
            body["sync_id"].as_str().is_some_and(|s| !s.is_empty()),
            "[{b}] {body}"
        );
        assert!(
            body["server_timestamp"]
                .as_str()
                .is_some_and(is_server_time),
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
}

#[tokio::test]
async fn timestamps_and_integers_have_the_contract_wire_format() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let fraction = with(
            workout("fraction"),
            json!({"start_time": "2024-01-15T08:00:00.250Z"}),
        );
        let offset_fraction = with(
            workout("offset-fraction"),
            json!({"start_time": "2024-01-15T09:00:00.5+01:00"}),
        );
        let whole = workout("whole");
        let first = app
            .sync_ok(
                &user,
                &json!({"workouts": [fraction, offset_fraction, whole]}),
            )
            .await;
        assert_eq!(
            Counts::of(&first),
            Counts {
                created: 3,
                ..Counts::default()
            },
            "[{b}] {first}"
        );
        assert!(
            first["server_timestamp"]
                .as_str()
                .is_some_and(is_server_time),
            "[{b}] {first}"
        );

        let probes: Vec<Value> = ["fraction", "offset-fraction", "whole"]
            .into_iter()
            .map(|id| with(workout(id), json!({"distance_meters": 1})))
            .collect();
        let body = app.sync_ok(&user, &json!({ "workouts": probes })).await;
        assert!(
            body["server_timestamp"]
                .as_str()
                .is_some_and(is_server_time),
            "[{b}] {body}"
        );
        for (id, start) in [
            ("fraction", "2024-01-15T08:00:00.250Z"),
            ("offset-fraction", "2024-01-15T08:00:00.500Z"),
            ("whole", "2024-01-15T08:00:00Z"),
        ] {
            let view = &conflict(b, &body, id)["server_workout"];
            assert_eq!(view["start_time"], json!(start), "[{b}] {view}");
            assert_eq!(
                view["end_time"],
                json!("2024-01-15T08:35:00Z"),
                "[{b}] {view}"
            );
            for key in ["created_at", "updated_at"] {
                assert!(
                    view[key].as_str().is_some_and(is_server_time),
                    "[{b}] {key}: {view}"
                );
            }
            for key in ["duration_seconds", "avg_heart_rate", "revision"] {
                assert!(
                    view[key].is_i64() || view[key].is_u64(),
                    "[{b}] {key} is an integer: {view}"
                );
            }
            assert_eq!(view["duration_seconds"], json!(2100), "[{b}] {view}");
        }
    }
}

#[test]
fn the_server_time_pattern_is_strict() {
    assert!(is_server_time("2024-01-15T09:00:01Z"));
    for bad in [
        "2024-01-15T09:00:01.000Z",
        "2024-01-15T09:00:01+00:00",
        "2024-01-15 09:00:01Z",
        "2024-01-15T09:00:01",
        "x2024-01-15T09:00:01Z",
    ] {
        assert!(!is_server_time(bad), "{bad}");
    }
}
