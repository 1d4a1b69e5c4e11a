//! The wire formats of what the server writes: whole-second UTC timestamps, fractions of a
//! second kept where a client sent them, integers as integers.

use serde_json::{json, Value};
use test_support::{per_backend, with, workout, Counts, TestApp};

use crate::helpers::{is_server_time, is_server_timestamp};

use super::conflict;

per_backend!(timestamps_and_integers_have_the_contract_wire_format);
async fn timestamps_and_integers_have_the_contract_wire_format(app: TestApp) {
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
    assert_eq!(Counts::of(&first), Counts::created(3), "[{b}] {first}");
    assert!(
        is_server_timestamp(&first["server_timestamp"]),
        "[{b}] {first}"
    );

    let probes: Vec<Value> = ["fraction", "offset-fraction", "whole"]
        .into_iter()
        .map(|id| with(workout(id), json!({"distance_meters": 1})))
        .collect();
    let body = app.sync_ok(&user, &json!({ "workouts": probes })).await;
    assert!(
        is_server_timestamp(&body["server_timestamp"]),
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
            assert!(is_server_timestamp(&view[key]), "[{b}] {key}: {view}");
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
