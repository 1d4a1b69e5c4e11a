//! Goals through HTTP: set right after registering, replaced, listed, removed back to the
//! default, and refused with nothing stored when the year or the target is out of range.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_error, per_backend, TestApp};

use super::{delete_goal, put_goal, today_in};

per_backend!(a_goal_set_right_after_registering_is_served_replaced_and_removed);
async fn a_goal_set_right_after_registering_is_served_replaced_and_removed(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let year = today_in("UTC").year().to_string();

    // The iOS app's first call after registering: the current year's goal, as a bare Goal.
    let response = put_goal(&app, &user, &year, json!({"target_days": 200})).await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    let set: Value = response.json().await.expect("goal body");
    assert_eq!(
        set["year"],
        json!(year.parse::<i64>().unwrap()),
        "[{b}] {set}"
    );
    assert_eq!(set["target_days"], json!(200), "[{b}] {set}");
    assert!(set["created_at"].is_string(), "[{b}] {set}");
    assert_eq!(set["created_at"], set["updated_at"], "[{b}] {set}");

    let one = app.get_ok(&user, &format!("/goals/{year}"), &[]).await;
    assert_eq!(one["goal"], set, "[{b}] GET returns the goal set");
    assert_eq!(one["progress"]["days_completed"], json!(0), "[{b}] {one}");
    assert_eq!(one["progress"]["days_remaining"], json!(200), "[{b}] {one}");

    // Replacing keeps when the goal was first set.
    let replaced: Value = put_goal(&app, &user, &year, json!({"target_days": 250}))
        .await
        .json()
        .await
        .expect("goal body");
    assert_eq!(replaced["target_days"], json!(250), "[{b}] {replaced}");
    assert_eq!(
        replaced["created_at"], set["created_at"],
        "[{b}] {replaced}"
    );

    // A past year's goal too; the list is newest year first and holds only the years set.
    let past = put_goal(&app, &user, "2024", json!({"target_days": 366})).await;
    assert_eq!(
        past.status(),
        StatusCode::OK,
        "[{b}] 366 days in a leap year"
    );
    let list = app.get_ok(&user, "/goals", &[]).await;
    let years: Vec<&Value> = list
        .as_array()
        .expect("GET /goals is a top-level array")
        .iter()
        .map(|g| &g["year"])
        .collect();
    assert_eq!(years, [&replaced["year"], &json!(2024)], "[{b}] {list}");

    // Removed: 204 (again on a year without a goal), and the year has the default target.
    for _ in 0..2 {
        let removed = delete_goal(&app, &user, &year).await;
        assert_eq!(removed.status(), StatusCode::NO_CONTENT, "[{b}]");
    }
    let fallback = app.get_ok(&user, &format!("/goals/{year}"), &[]).await;
    assert_eq!(
        fallback["goal"]["target_days"],
        json!(300),
        "[{b}] {fallback}"
    );
    assert_eq!(
        fallback["goal"]["created_at"],
        Value::Null,
        "[{b}] {fallback}"
    );
    assert_eq!(
        fallback["goal"]["updated_at"],
        Value::Null,
        "[{b}] {fallback}"
    );
    let list = app.get_ok(&user, "/goals", &[]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "[{b}] {list}");

    // Another runner sees none of it.
    let other = app.register().await;
    assert_eq!(app.get_ok(&other, "/goals", &[]).await, json!([]), "[{b}]");
}

per_backend!(
    the_configured_default_target_serves_a_year_without_a_goal,
    [("GOAL_DEFAULT_TARGET_DAYS", "150")]
);
async fn the_configured_default_target_serves_a_year_without_a_goal(app: TestApp) {
    let user = app.register().await;
    let body = app.get_ok(&user, "/goals/2025", &[]).await;
    assert_eq!(
        body["goal"]["target_days"],
        json!(150),
        "[{}] {body}",
        app.backend
    );
    assert_eq!(
        body["progress"]["expected_days"],
        json!(150),
        "[{}] a past year",
        app.backend
    );
}

per_backend!(bad_years_and_targets_are_refused_with_nothing_stored);
async fn bad_years_and_targets_are_refused_with_nothing_stored(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    // (year in the path, body, status, the fields the error names)
    let cases: [(&str, Value, StatusCode, &[&str]); 9] = [
        (
            "1999",
            json!({"target_days": 100}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["year"],
        ),
        (
            "2101",
            json!({"target_days": 100}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["year"],
        ),
        (
            "2025",
            json!({"target_days": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days"],
        ),
        (
            "2025",
            json!({"target_days": 366}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days"],
        ),
        (
            "2025",
            json!({"target_days": 100.5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days"],
        ),
        (
            "2025",
            json!({"target_days": "100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days"],
        ),
        (
            "2025",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days"],
        ),
        (
            "1999",
            json!({"target_days": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["target_days", "year"],
        ),
        (
            "abc",
            json!({"target_days": 100}),
            StatusCode::BAD_REQUEST,
            &["year"],
        ),
    ];
    for (year, body, status, fields) in cases {
        let ctx = format!("[{b}] PUT /goals/{year} {body}");
        let code = if status == StatusCode::BAD_REQUEST {
            "invalid_parameter"
        } else {
            "validation_failed"
        };
        let refused =
            assert_error(put_goal(&app, &user, year, body).await, status, code, &ctx).await;
        let named: Vec<&String> = refused["errors"]
            .as_object()
            .unwrap_or_else(|| panic!("{ctx}: errors names the fields: {refused}"))
            .keys()
            .collect();
        assert_eq!(named, fields, "{ctx}: {refused}");
    }
    assert_eq!(
        app.get_ok(&user, "/goals", &[]).await,
        json!([]),
        "[{b}] nothing stored"
    );

    // The reads refuse the same years the same way.
    let unprocessable = (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let malformed = (StatusCode::BAD_REQUEST, "invalid_parameter");
    let reads = [
        ("/goals/1999", None, unprocessable),
        ("/goals/1999/progress", None, unprocessable),
        ("/stats/dashboard", Some("1999"), unprocessable),
        ("/goals/abc", None, malformed),
        ("/goals/2025.0/progress", None, malformed),
        ("/stats/insights", Some("abc"), malformed),
    ];
    for (path, year, (status, code)) in reads {
        let query: Vec<(&str, &str)> = year.map(|y| ("year", y)).into_iter().collect();
        let ctx = format!("[{b}] GET {path} {query:?}");
        assert_error(app.get(&user, path, &query).await, status, code, &ctx).await;
    }
    let removed = delete_goal(&app, &user, "1999").await;
    assert_error(
        removed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        &format!("[{b}] DELETE"),
    )
    .await;
}
