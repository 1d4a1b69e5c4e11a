//! Sessions: logout, revoking one session, and the session list.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_support::{assert_error, per_backend, token_pair, workout, TestApp};

use super::{assert_unauthorized, current_session, fresh_email, get, me, register_as};

per_backend!(logout_kills_the_access_and_refresh_token_at_once);
async fn logout_kills_the_access_and_refresh_token_at_once(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
    // Synced before: its replay must not answer after the logout either.
    let applied = json!({"idempotency_key": "before-logout", "workouts": [workout("a")]});
    app.sync_ok(&user, &applied).await;
    // Read before: this instance keeps the bodies, which must not answer after the logout.
    for path in ["/stats/dashboard", "/stats/insights"] {
        let read = app.get(&user, path, &[]).await;
        assert_eq!(read.status(), StatusCode::OK, "[{b}] {path} before logout");
    }
    let response = app.logout(&user.access_token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}] logout");
    assert_unauthorized(
        me(&app, &user.access_token).await,
        &format!("[{b}] access after logout"),
    )
    .await;
    // The sync and the stats reads check the session in their own store call, not in the
    // extractor: each still refuses a logged-out token, and the sync writes nothing.
    let sync = app.sync(&user, &json!({"workouts": [workout("x")]})).await;
    assert_unauthorized(sync, &format!("[{b}] sync after logout")).await;
    let replay = app.sync(&user, &applied).await;
    assert_unauthorized(replay, &format!("[{b}] replay after logout")).await;
    for path in ["/stats/dashboard", "/stats/insights"] {
        let read = app.get(&user, path, &[]).await;
        assert_unauthorized(read, &format!("[{b}] {path} after logout")).await;
        let revalidated = app
            .client
            .get(app.api(path))
            .bearer_auth(&user.access_token)
            .header("If-None-Match", "\"any\"")
            .send()
            .await
            .expect("GET with If-None-Match");
        assert_unauthorized(
            revalidated,
            &format!("[{b}] {path} revalidated after logout"),
        )
        .await;
    }
    let again = app.new_session(&user).await;
    let stored = app.list_all(&again, &[]).await;
    let ids: Vec<&str> = stored
        .iter()
        .map(|w| w["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["a"],
        "[{b}] only the sync before the logout was stored"
    );
    assert_unauthorized(
        app.refresh(&user.refresh_token).await,
        &format!("[{b}] refresh after logout"),
    )
    .await;
}

/// `DELETE /auth/sessions/{session}` with this bearer token.
async fn revoke(app: &TestApp, token: &str, session: &str) -> Response {
    app.client
        .delete(app.api(&format!("/auth/sessions/{session}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE /auth/sessions/{id}")
}

per_backend!(revoking_a_session_kills_its_tokens_and_spares_the_others);
async fn revoking_a_session_kills_its_tokens_and_spares_the_others(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let (access2, refresh2) =
        token_pair(app.login(&user.email, &user.password).await, "login 2", b).await;
    let (access3, refresh3) =
        token_pair(app.login(&user.email, &user.password).await, "login 3", b).await;
    let session2 = current_session(&app, &access2).await;

    let response = revoke(&app, &user.access_token, &session2).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}] revoke");

    assert_unauthorized(me(&app, &access2).await, &format!("[{b}] revoked access")).await;
    assert_unauthorized(
        app.refresh(&refresh2).await,
        &format!("[{b}] revoked refresh"),
    )
    .await;
    // The caller's session and the third one keep working.
    assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
    assert_eq!(me(&app, &access3).await.status(), StatusCode::OK);
    token_pair(app.refresh(&refresh3).await, "refresh 3", b).await;
    let listed: Value = get(&app, "/auth/sessions", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "[{b}] {listed}");
    assert!(!ids.contains(&session2.as_str()), "[{b}] {listed}");
    // Revoking it again: it is no longer an active session of the caller.
    let again = revoke(&app, &user.access_token, &session2).await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found", b).await;
}

per_backend!(the_session_list_marks_the_callers_session_current);
async fn the_session_list_marks_the_callers_session_current(app: TestApp) {
    let b = app.backend;
    let email = fresh_email();
    let password = "a long enough password";
    let (phone, _) = token_pair(
        register_as(&app, &email, password, "RunningDays-iOS/1.0").await,
        "register",
        b,
    )
    .await;
    let response = app
        .client
        .post(app.api("/auth/login"))
        .header(reqwest::header::USER_AGENT, "dashboard")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let (web, _) = token_pair(response, "login", b).await;

    for (token, agent) in [(&phone, "RunningDays-iOS/1.0"), (&web, "dashboard")] {
        let response = get(&app, "/auth/sessions", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        let body: Value = response.json().await.unwrap();
        let sessions = body["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 2, "[{b}] {body}");
        let current: Vec<&Value> = sessions
            .iter()
            .filter(|s| s["current"] == json!(true))
            .collect();
        assert_eq!(current.len(), 1, "[{b}] {body}");
        assert_eq!(current[0]["user_agent"], json!(agent), "[{b}] {body}");
        for s in sessions {
            for field in ["id", "created_at", "last_used_at"] {
                assert!(s[field].is_string(), "[{b}] {field}: {body}");
            }
            assert!(s["current"].is_boolean(), "[{b}] {body}");
        }
    }
    assert_ne!(
        current_session(&app, &phone).await,
        current_session(&app, &web).await,
        "[{b}]"
    );
}
