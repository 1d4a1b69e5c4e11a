//! The runner's calendar: a workout sent in UTC is dated in the user's time zone (daylight
//! saving included), one sent with an offset in that offset; changing the zone re-dates the
//! first kind in one transaction and the change feed carries each moved workout.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{register_in, run, set_time_zone, sync_runs, workouts_by_client_id};
use test_support::{assert_error, per_backend, TestApp, TestUser, PASSWORD};

/// An account registered in `zone` that has synced `runs`.
async fn runner_in(app: &TestApp, zone: &str, runs: Vec<Value>) -> TestUser {
    let (user, _) = register_in(app, Some(zone)).await;
    sync_runs(app, &user, runs).await;
    user
}

/// Asserts the served `date` of each `(client id, date)`.
fn assert_dates(backend: &str, stored: &BTreeMap<String, Value>, expected: &[(&str, &str)]) {
    for (client_id, date) in expected {
        let served = &stored[*client_id];
        assert_eq!(served["date"], json!(date), "[{backend}] {served}");
    }
}

per_backend!(a_late_run_sent_in_utc_gets_the_day_of_the_runners_zone);
async fn a_late_run_sent_in_utc_gets_the_day_of_the_runners_zone(app: TestApp) {
    let b = app.backend;
    let (user, registered) = register_in(&app, Some("America/Los_Angeles")).await;
    assert_eq!(
        registered["user"]["time_zone"],
        json!("America/Los_Angeles"),
        "[{b}]"
    );
    let me = app.get_ok(&user, "/auth/me", &[]).await;
    assert_eq!(
        me["user"]["time_zone"],
        json!("America/Los_Angeles"),
        "[{b}] {me}"
    );

    let runs = vec![
        // 23:30 on 15 January in Los Angeles, sent in UTC as the iOS app sends it.
        run("late", "2024-01-16T07:30:00Z", 30, 5000.0),
        // The same instant sent with a +01:00 offset: the offset's day counts.
        run("offset", "2024-01-16T08:30:00+01:00", 30, 5000.0),
    ];
    sync_runs(&app, &user, runs).await;
    let stored = workouts_by_client_id(&app, &user).await;
    assert_dates(
        b,
        &stored,
        &[("late", "2024-01-15"), ("offset", "2024-01-16")],
    );
    let one = app
        .get_ok(
            &user,
            &format!("/workouts/{}", stored["late"]["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(one["workout"]["date"], json!("2024-01-15"), "[{b}]");
    let year = app.get_ok(&user, "/workouts?year=2024", &[]).await;
    assert_eq!(
        year["workouts"].as_array().unwrap().len(),
        2,
        "[{b}] {year}"
    );
}

per_backend!(daylight_saving_decides_the_day_of_a_utc_start);
async fn daylight_saving_decides_the_day_of_a_utc_start(app: TestApp) {
    let b = app.backend;
    let runs = vec![
        // 23:30 CET (UTC+1): still 15 January.
        run("winter", "2024-01-15T22:30:00Z", 30, 5000.0),
        // 00:30 CEST (UTC+2): already 11 June.
        run("summer", "2024-06-10T22:30:00Z", 30, 5000.0),
    ];
    let user = runner_in(&app, "Europe/Stockholm", runs).await;
    let stored = workouts_by_client_id(&app, &user).await;
    assert_dates(
        b,
        &stored,
        &[("winter", "2024-01-15"), ("summer", "2024-06-11")],
    );
}

per_backend!(changing_the_zone_re_dates_utc_runs_on_the_change_feed);
async fn changing_the_zone_re_dates_utc_runs_on_the_change_feed(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let me = app.get_ok(&user, "/auth/me", &[]).await;
    assert_eq!(
        me["user"]["time_zone"],
        json!("UTC"),
        "[{b}] the default zone"
    );

    let synced = sync_runs(
        &app,
        &user,
        vec![
            run("late", "2024-01-16T07:30:00Z", 30, 5000.0),
            run("offset", "2024-01-16T08:30:00+01:00", 30, 5000.0),
            run("midday", "2024-01-20T12:00:00Z", 30, 5000.0),
        ],
    )
    .await;
    let before = workouts_by_client_id(&app, &user).await;
    assert_eq!(
        before["late"]["date"],
        json!("2024-01-16"),
        "[{b}] dated in UTC"
    );
    let cursor = synced["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_owned();
    let (_, position_before) = app.status_counts(&user).await;

    let response = set_time_zone(&app, &user, "America/Los_Angeles").await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["user"]["time_zone"],
        json!("America/Los_Angeles"),
        "[{b}] {body}"
    );
    assert_eq!(body["user"]["id"], json!(user.id), "[{b}]");

    let after = workouts_by_client_id(&app, &user).await;
    assert_eq!(
        after["late"]["date"],
        json!("2024-01-15"),
        "[{b}] moved to the new zone's day"
    );
    assert_eq!(
        after["late"]["revision"],
        json!(2),
        "[{b}] a new server-side version"
    );
    assert_eq!(
        after["offset"], before["offset"],
        "[{b}] an offset-sent run keeps its date"
    );
    assert_eq!(
        after["midday"], before["midday"],
        "[{b}] a run whose day stays is not rewritten"
    );

    let feed = app
        .get_ok(&user, &format!("/workouts/changes?cursor={cursor}"), &[])
        .await;
    let changes = feed["changes"].as_array().expect("changes");
    assert_eq!(
        changes.len(),
        1,
        "[{b}] only the moved run is on the feed: {feed}"
    );
    assert_eq!(changes[0]["workout"]["client_id"], json!("late"), "[{b}]");
    assert_eq!(changes[0]["workout"]["date"], json!("2024-01-15"), "[{b}]");
    assert_eq!(changes[0]["deleted"], json!(false), "[{b}]");
    let (_, position_after) = app.status_counts(&user).await;
    assert_eq!(
        position_after,
        position_before + 1,
        "[{b}] the feed position advanced"
    );
    assert_eq!(changes[0]["change_seq"], json!(position_after), "[{b}]");

    // The same zone again changes nothing.
    let again = set_time_zone(&app, &user, "America/Los_Angeles").await;
    assert_eq!(again.status(), StatusCode::OK, "[{b}]");
    assert_eq!(app.status_counts(&user).await.1, position_after, "[{b}]");

    // A server-side edit that moves the start is dated in the zone too.
    let id = after["late"]["id"].as_str().unwrap();
    let moved = json!({"start_time": "2024-01-17T07:30:00Z", "end_time": "2024-01-17T08:00:00Z"});
    let edited = app.patch_ok(&user, id, &moved).await;
    assert_eq!(edited["date"], json!("2024-01-16"), "[{b}] {edited}");
}

per_backend!(an_unknown_zone_is_refused_and_nothing_is_stored);
async fn an_unknown_zone_is_refused_and_nothing_is_stored(app: TestApp) {
    let b = app.backend;
    let runs = vec![run("late", "2024-06-10T22:30:00Z", 30, 5000.0)];
    let user = runner_in(&app, "Europe/Stockholm", runs).await;
    let (_, position) = app.status_counts(&user).await;
    for zone in ["Mars/Olympus", "+01:00", "europe/stockholm", ""] {
        let body = assert_error(
            set_time_zone(&app, &user, zone).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &format!("[{}] time zone {zone:?}", app.backend),
        )
        .await;
        assert!(
            body["errors"]["time_zone"].is_array(),
            "[{b}] {zone:?}: {body}"
        );
    }
    let me = app.get_ok(&user, "/auth/me", &[]).await;
    assert_eq!(me["user"]["time_zone"], json!("Europe/Stockholm"), "[{b}]");
    assert_eq!(
        app.status_counts(&user).await.1,
        position,
        "[{b}] nothing re-dated"
    );

    let email = "zoneless@example.com";
    let unknown_zone = json!({"email": email, "password": PASSWORD, "time_zone": "Nowhere/Land"});
    let refused = app.post_json("/auth/register", &unknown_zone).await;
    let body = assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        &format!("[{}] register with an unknown zone", app.backend),
    )
    .await;
    assert!(body["errors"]["time_zone"].is_array(), "[{b}] {body}");
    let login = app.login(email, PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::UNAUTHORIZED,
        "[{b}] no account was created"
    );
}
