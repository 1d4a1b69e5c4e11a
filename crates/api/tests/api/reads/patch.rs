//! Server-side edits, `PATCH /workouts/{id}`: validated like a sync, and the device's copy
//! then conflicts.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{
    assert_refused, per_backend, with, workout, Counts, TestApp, SERVED_WORKOUT_KEYS,
};
use uuid::Uuid;

use super::{assert_bad_param, assert_full_workout};

per_backend!(patch_changes_fields_bumps_revision_and_is_validated_like_a_sync);
async fn patch_changes_fields_bumps_revision_and_is_validated_like_a_sync(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let other = app.register().await;
    let original = with(workout("run"), json!({"client_version": 2}));
    app.assert_all_created(&user, std::slice::from_ref(&original))
        .await;
    let before = app.served(&user, "run").await;
    let id = before["id"].as_str().unwrap().to_owned();

    let edited = app
        .patch_ok(
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
    // Every other key is as it was (`updated_at` is checked below).
    let touched = [
        "distance_meters",
        "avg_heart_rate",
        "revision",
        "avg_pace_seconds_per_km",
        "updated_at",
    ];
    for key in SERVED_WORKOUT_KEYS
        .into_iter()
        .filter(|k| !touched.contains(k))
    {
        assert_eq!(edited[key], before[key], "{key} unchanged: {ctx}");
    }
    assert!(
        edited["updated_at"].as_str() >= before["updated_at"].as_str(),
        "{ctx}"
    );
    let fetched = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
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
        let response = app.patch(&user, &id, &bad).await;
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
    let after_refusals = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(
        after_refusals["workout"], edited,
        "[{b}] refused edits wrote nothing"
    );

    // Another user's, an unknown and a malformed id.
    let response = app.patch(&other, &id, &json!({"distance_meters": 1})).await;
    assert_refused(response, StatusCode::NOT_FOUND, b).await;
    let response = app
        .patch(&user, &Uuid::new_v4().to_string(), &json!({}))
        .await;
    assert_refused(response, StatusCode::NOT_FOUND, b).await;
    let response = app
        .patch(&user, "nope", &json!({"distance_meters": 1}))
        .await;
    assert_bad_param(response, b, "PATCH /workouts/nope", "id").await;
    let unchanged = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
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
    let still = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(still["workout"], edited, "[{b}] conflicts write nothing");

    // A genuinely newer client version wins again.
    let newer = with(workout("run"), json!({"client_version": 3}));
    let resync = app.sync_ok(&user, &json!({"workouts": [newer]})).await;
    assert_eq!(resync["updated"], json!(1), "[{b}] {resync}");
    let now = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(
        now["workout"]["distance_meters"].as_f64(),
        Some(5000.0),
        "[{b}] {now}"
    );
    assert_eq!(now["workout"]["revision"], json!(3), "[{b}] {now}");
}

per_backend!(patch_ignores_unknown_fields_and_refuses_a_patch_of_nothing_known);
async fn patch_ignores_unknown_fields_and_refuses_a_patch_of_nothing_known(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("run")]).await;
    let id = app.served(&user, "run").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The contract ignores unknown request fields: beside a known one they change nothing.
    let edited = app
        .patch_ok(
            &user,
            &id,
            &json!({"distance_meters": 5100, "shoe": "trail", "distance": 1}),
        )
        .await;
    assert_eq!(
        edited["distance_meters"].as_f64(),
        Some(5100.0),
        "[{b}] {edited}"
    );
    assert_eq!(edited["revision"], json!(2), "[{b}] {edited}");
    assert!(edited.get("shoe").is_none(), "[{b}] {edited}");

    // Nothing known left to change: 422, nothing written.
    for nothing in [json!({}), json!({"shoe": "trail", "distance": 1})] {
        let response = app.patch(&user, &id, &nothing).await;
        let body = assert_refused(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{b}] [PATCH {nothing}"),
        )
        .await;
        assert_eq!(body["error"], json!("validation_failed"), "[{b}] {body}");
        assert!(body["errors"].get("workout").is_some(), "[{b}] {body}");
    }
    let after = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(
        after["workout"], edited,
        "[{b}] refused patches wrote nothing"
    );
}
