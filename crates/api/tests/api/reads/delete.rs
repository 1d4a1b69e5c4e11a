//! Server-side deletes, `DELETE /workouts/{id}`: 204 then 404, and a tombstone on the feed.

use reqwest::StatusCode;
use serde_json::json;
use test_support::{assert_refused, per_backend, workout, TestApp};

use super::{assert_bad_param, client_ids, feed_all};

per_backend!(delete_is_204_then_404_and_the_feed_carries_a_tombstone);
async fn delete_is_204_then_404_and_the_feed_carries_a_tombstone(app: TestApp) {
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
    let id = app.id_of(&user, "doomed").await;

    // Another user cannot delete it.
    let response = app.delete(&other, &id).await;
    assert_refused(response, StatusCode::NOT_FOUND, b).await;
    app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;

    app.delete_ok(&user, &id).await;
    let response = app.get(&user, &format!("/workouts/{id}"), &[]).await;
    assert_refused(response, StatusCode::NOT_FOUND, b).await;
    let response = app.delete(&user, &id).await;
    assert_refused(
        response,
        StatusCode::NOT_FOUND,
        &format!("{b}] [deleted twice"),
    )
    .await;
    let response = app.patch(&user, &id, &json!({"distance_meters": 1})).await;
    assert_refused(
        response,
        StatusCode::NOT_FOUND,
        &format!("{b}] [patch a tombstone"),
    )
    .await;
    let response = app.delete(&user, "not-a-uuid").await;
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
        client_ids(&app.list_all(&user, &[]).await),
        vec!["kept"],
        "[{b}]"
    );
    let status = app.get_ok(&user, "/sync/status", &[]).await;
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
