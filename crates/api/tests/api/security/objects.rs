//! Object-level authorisation: another user's objects look exactly like missing ones.

use reqwest::StatusCode;
use serde_json::json;
use test_support::{assert_error, per_backend, workout, TestApp, TestUser};
use uuid::Uuid;

use super::{current_session, me, without_request_id};

per_backend!(another_users_objects_are_404_like_missing_ones);
async fn another_users_objects_are_404_like_missing_ones(app: TestApp) {
    let b = app.backend;
    let alice = app.register().await;
    let bob = app.register().await;
    let synced = app
        .sync_ok(&alice, &json!({"workouts": [workout("alice-run")]}))
        .await;
    let sync_id = synced["sync_id"].as_str().expect("sync_id").to_owned();
    let listed = app.get_ok(&alice, "/workouts", &[]).await;
    let workout_id = listed["workouts"][0]["id"]
        .as_str()
        .expect("workout id")
        .to_owned();
    let alice_session = current_session(&app, &alice.access_token).await;
    let missing = Uuid::new_v4().to_string();

    let attempt = |method: reqwest::Method, path: String, user: TestUser| {
        let request = app
            .client
            .request(method.clone(), app.api(&path))
            .bearer_auth(&user.access_token);
        let request = if method == reqwest::Method::PATCH {
            request.json(&json!({"distance_meters": 1}))
        } else {
            request
        };
        async move { request.send().await.expect("request") }
    };
    let cases = [
        (reqwest::Method::GET, "/workouts/{}", &workout_id),
        (reqwest::Method::PATCH, "/workouts/{}", &workout_id),
        (reqwest::Method::DELETE, "/workouts/{}", &workout_id),
        (reqwest::Method::GET, "/syncs/{}", &sync_id),
        (reqwest::Method::DELETE, "/auth/sessions/{}", &alice_session),
    ];
    for (method, template, id) in cases {
        let ctx = format!("[{b}] bob {method} {template}");
        let theirs = attempt(method.clone(), template.replace("{}", id), bob.clone()).await;
        let theirs = assert_error(theirs, StatusCode::NOT_FOUND, "not_found", &ctx).await;
        let absent = attempt(method, template.replace("{}", &missing), bob.clone()).await;
        let absent = assert_error(absent, StatusCode::NOT_FOUND, "not_found", &ctx).await;
        assert_eq!(
            without_request_id(theirs),
            without_request_id(absent),
            "{ctx}: another user's object must look missing"
        );
    }
    // Bob's own lists show nothing of Alice's.
    let bobs = app.get_ok(&bob, "/workouts", &[]).await;
    assert_eq!(bobs["workouts"], json!([]), "[{b}] {bobs}");
    let bobs = app.get_ok(&bob, "/syncs", &[]).await;
    assert_eq!(bobs["syncs"], json!([]), "[{b}] {bobs}");

    // Alice's objects are untouched.
    let body = app
        .get_ok(&alice, &format!("/workouts/{workout_id}"), &[])
        .await;
    assert_eq!(
        body["workout"]["distance_meters"].as_f64(),
        Some(5000.0),
        "[{b}] {body}"
    );
    assert_eq!(body["workout"]["revision"], json!(1), "[{b}] {body}");
    app.get_ok(&alice, &format!("/syncs/{sync_id}"), &[]).await;
    assert_eq!(me(&app, &alice.access_token).await.status(), StatusCode::OK);
    assert_eq!(
        current_session(&app, &alice.access_token).await,
        alice_session
    );
}
