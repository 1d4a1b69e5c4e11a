//! Refresh tokens: each refresh rotates the pair, and a rotated token presented again revokes
//! the session for whoever holds it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, token_pair, TestApp};

use super::{assert_unauthorized, me};

per_backend!(refresh_rotates_the_pair_and_the_old_refresh_token_is_then_refused);
async fn refresh_rotates_the_pair_and_the_old_refresh_token_is_then_refused(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let response = app.refresh(&user.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], json!(true), "[{b}] {body}");
    assert_eq!(body["token_type"], json!("Bearer"), "[{b}] {body}");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 0), "[{b}]");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let next = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, user.refresh_token, "[{b}] a new refresh token");
    assert_eq!(me(&app, &access).await.status(), StatusCode::OK, "[{b}]");

    // The new refresh token works once more...
    let (access2, next2) = token_pair(app.refresh(&next).await, "second refresh", b).await;
    // ...and the first one, already used, is refused.
    assert_unauthorized(
        app.refresh(&user.refresh_token).await,
        &format!("[{b}] the rotated refresh token"),
    )
    .await;
    // So is one that never existed.
    assert_unauthorized(
        app.refresh("made-up-refresh-token").await,
        &format!("[{b}] an unknown refresh token"),
    )
    .await;
    // (Presenting the used token revoked the session: reuse detection, tested below.)
    assert_unauthorized(app.refresh(&next2).await, &format!("[{b}] after reuse")).await;
    assert_unauthorized(me(&app, &access2).await, &format!("[{b}] after reuse")).await;
}

per_backend!(reusing_a_rotated_refresh_token_revokes_the_session_for_both_holders);
async fn reusing_a_rotated_refresh_token_revokes_the_session_for_both_holders(app: TestApp) {
    let b = app.backend;

    // The thief refreshes first with a stolen token; the owner then presents it.
    let owner = app.register().await;
    let (thief_access, thief_refresh) =
        token_pair(app.refresh(&owner.refresh_token).await, "thief refresh", b).await;
    assert_eq!(me(&app, &thief_access).await.status(), StatusCode::OK);
    // In this order: the replay revokes the session the other three belong to.
    for (refused, what) in [
        (
            app.refresh(&owner.refresh_token).await,
            "replay of the rotated token",
        ),
        (
            app.refresh(&thief_refresh).await,
            "the thief's refresh token",
        ),
        (me(&app, &thief_access).await, "the thief's access token"),
        (
            me(&app, &owner.access_token).await,
            "the owner's access token",
        ),
    ] {
        assert_unauthorized(refused, &format!("[{b}] {what}")).await;
    }

    // The owner refreshes first; the thief replays the old token.
    let owner = app.register().await;
    let (owner_access, owner_refresh) =
        token_pair(app.refresh(&owner.refresh_token).await, "owner refresh", b).await;
    for (refused, what) in [
        (
            app.refresh(&owner.refresh_token).await,
            "the thief's replay",
        ),
        (
            app.refresh(&owner_refresh).await,
            "the owner's current refresh token",
        ),
        (
            me(&app, &owner_access).await,
            "the owner's current access token",
        ),
    ] {
        assert_unauthorized(refused, &format!("[{b}] {what}")).await;
    }

    // Other sessions of the account are untouched.
    let other = app.login(&owner.email, &owner.password).await;
    let (other_access, _) = token_pair(other, "login", b).await;
    assert_eq!(
        me(&app, &other_access).await.status(),
        StatusCode::OK,
        "[{b}]"
    );
}
