//! One workout, `GET /workouts/{id}`: every contract field, and 404 or 400 otherwise.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_refused, per_backend, with, workout, TestApp};
use uuid::Uuid;

use super::{assert_bad_param, assert_full_workout, feed_all};

per_backend!(the_served_workout_has_every_contract_field);
async fn the_served_workout_has_every_contract_field(app: TestApp) {
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

    let listed = app.served(&user, "full").await;
    let id = listed["id"].as_str().expect("id").to_owned();
    let one = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
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

    let min = app.served(&user, "minimal").await;
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

per_backend!(get_one_is_404_when_unknown_deleted_or_another_users_and_400_when_malformed);
async fn get_one_is_404_when_unknown_deleted_or_another_users_and_400_when_malformed(app: TestApp) {
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
    let kept = app.id_of(&user, "kept").await;
    let synced_away = app.id_of(&user, "synced-away").await;
    let deleted_here = app.id_of(&user, "deleted-here").await;
    let theirs = app.id_of(&other, "theirs").await;

    app.get_ok(&user, &format!("/workouts/{kept}"), &[]).await;
    app.sync_ok(
        &user,
        &json!({"workouts": [], "deleted_client_ids": ["synced-away"]}),
    )
    .await;
    app.delete_ok(&user, &deleted_here).await;

    let unknown = Uuid::new_v4().to_string();
    for (what, id, who) in [
        ("unknown id", unknown.as_str(), &user),
        ("deleted by a sync", synced_away.as_str(), &user),
        ("deleted on the server", deleted_here.as_str(), &user),
        ("another user's", theirs.as_str(), &user),
        ("mine, asked by another user", kept.as_str(), &other),
    ] {
        let response = app.get(who, &format!("/workouts/{id}"), &[]).await;
        let body = assert_refused(response, StatusCode::NOT_FOUND, &format!("{b}] [{what}")).await;
        assert_eq!(body["error"], json!("not_found"), "[{b}] {what}: {body}");
    }
    // The owner still sees theirs.
    app.get_ok(&other, &format!("/workouts/{theirs}"), &[])
        .await;

    for malformed in ["not-a-uuid", "123", "0", &kept[..35], &format!("{kept}0")] {
        let response = app.get(&user, &format!("/workouts/{malformed}"), &[]).await;
        assert_bad_param(response, b, &format!("GET /workouts/{malformed}"), "id").await;
    }
}
