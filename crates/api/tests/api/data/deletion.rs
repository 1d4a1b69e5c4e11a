//! `DELETE /auth/me {password}`: a wrong password changes nothing; the right one erases the
//! account and everything it owns (checked in the database, table by table from its own
//! catalogue), every token of it stops working at once, another user is untouched, and the
//! email is free again.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;
use test_support::{assert_error, per_backend, workouts, TestApp, TestDatabase, TestUser};

use super::{ingest_ok, ingest_raw, ingest_token};
use crate::helpers::DbProbe;

/// `DELETE /auth/me {password}` with `user`'s access token.
async fn delete_account(app: &TestApp, user: &TestUser, password: &str) -> reqwest::Response {
    app.client
        .delete(app.api("/auth/me"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "password": password }))
        .send()
        .await
        .expect("DELETE /auth/me")
}

/// Rows per table (every table with a `user_id` column) that belong to `user_id`.
fn rows_of(db: &mut DbProbe, user_id: &str) -> BTreeMap<String, i64> {
    db.tables_with_user_id()
        .into_iter()
        .map(|table| {
            let n = db.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE CAST(user_id AS TEXT) = '{user_id}'"
            ));
            (table, n)
        })
        .collect()
}

/// An account with something in every table: workouts (one deleted), a goal, two sessions,
/// a sync with an idempotency key, an ingest token that was used, a webhook subscription with
/// deliveries (to a port nobody listens on, so each gets a failed attempt).
async fn busy_account(app: &TestApp) -> (TestUser, TestUser, String) {
    let user = app.register().await;
    let second_session = app.new_session(&user).await;
    crate::webhooks::subscribe_ok(
        app,
        &user,
        "http://127.0.0.1:9/hook",
        &["workout.created", "sync.completed"],
    )
    .await;
    let keyed = json!({"workouts": workouts("w", 3), "idempotency_key": "first-sync"});
    app.sync_ok(&user, &keyed).await;
    let id = app.id_of(&user, "w-0000").await;
    app.delete_ok(&user, &id).await;
    let goal = app
        .client
        .put(app.api("/goals/2024"))
        .bearer_auth(&user.access_token)
        .json(&json!({"target_days": 150}))
        .send()
        .await
        .unwrap();
    assert_eq!(goal.status(), StatusCode::OK, "[{}]", app.backend);
    let token = ingest_token(app, &user).await;
    let run = json!({"data": {"workouts": [{"id": "R1", "name": "Running",
        "start": "2024-05-01 07:00:00 +0200", "end": "2024-05-01 07:30:00 +0200", "duration": 1800}]}});
    ingest_ok(app, &token, &run).await;
    (user, second_session, token)
}

per_backend!(
    deleting_an_account_leaves_nothing_of_it_and_touches_no_one_else,
    database
);
async fn deleting_an_account_leaves_nothing_of_it_and_touches_no_one_else(db: TestDatabase) {
    let overrides = [
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("WEBHOOK_POLL_INTERVAL_MS", "50"),
        // One attempt each within the test: the retry would come a day later, so the rows
        // stand still while they are compared.
        ("WEBHOOK_RETRY_DELAYS_SECS", "86400"),
    ];
    let app = TestApp::spawn_at(db.url(), &overrides).await;
    let b = app.backend;
    let mut probe = DbProbe::connect(db.url());
    let (victim, other_session, victim_token) = busy_account(&app).await;
    let (bystander, _, bystander_token) = busy_account(&app).await;
    for user in [&victim, &bystander] {
        let unattempted = format!(
            "SELECT COUNT(*) AS n FROM webhook_deliveries d WHERE CAST(d.user_id AS TEXT) = '{}' \
             AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id)",
            user.id
        );
        test_support::wait_until(
            "every delivery's first attempt",
            std::time::Duration::from_secs(30),
            || probe.count(&unattempted) == 0,
        )
        .await;
    }

    let tables = probe.tables_with_user_id();
    for known in [
        "goals",
        "idempotency_records",
        "ingest_tokens",
        "sessions",
        "syncs",
        "workouts",
    ] {
        assert!(
            tables.iter().any(|t| t == known),
            "[{b}] the catalogue lists {known}: {tables:?}"
        );
    }
    let victim_rows = rows_of(&mut probe, &victim.id);
    assert!(
        victim_rows.values().all(|n| *n > 0),
        "[{b}] something in every table: {victim_rows:?}"
    );
    let bystander_rows = rows_of(&mut probe, &bystander.id);
    let victim_sessions = format!(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE CAST(session_id AS TEXT) IN \
         (SELECT CAST(id AS TEXT) FROM sessions WHERE CAST(user_id AS TEXT) = '{}')",
        victim.id
    );
    let refresh_rows = probe.count(&victim_sessions);
    assert!(refresh_rows >= 2, "[{b}] {refresh_rows}");
    let session_ids = probe.names(&format!(
        "SELECT CAST(id AS TEXT) AS name FROM sessions WHERE CAST(user_id AS TEXT) = '{}'",
        victim.id
    ));

    // A wrong password: 401, and nothing changes.
    let refused = delete_account(&app, &victim, "not the password").await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_password", b).await;
    // (The refused attempt's only trace is the failed-login count on the user row.)
    let after_refusal = rows_of(&mut probe, &victim.id);
    assert_eq!(
        after_refusal, victim_rows,
        "[{b}] a wrong password changed something"
    );
    app.get_ok(&victim, "/auth/me", &[]).await;

    // The right one: 204, and nothing of the account is left.
    let response = delete_account(&app, &victim, &victim.password).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}]");
    let left = rows_of(&mut probe, &victim.id);
    assert!(
        left.values().all(|n| *n == 0),
        "[{b}] left behind: {left:?}"
    );
    let users = probe.count(&format!(
        "SELECT COUNT(*) AS n FROM users WHERE CAST(id AS TEXT) = '{}'",
        victim.id
    ));
    assert_eq!(users, 0, "[{b}] the user row");
    let orphans = probe.count(&format!(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE CAST(session_id AS TEXT) IN ('{}')",
        session_ids.join("','")
    ));
    assert_eq!(orphans, 0, "[{b}] refresh tokens of its sessions");

    // Every token of it stops working at once.
    for access in [&victim.access_token, &other_session.access_token] {
        let me = app
            .client
            .get(app.api("/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_error(me, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    }
    for refresh in [&victim.refresh_token, &other_session.refresh_token] {
        assert_error(
            app.refresh(refresh).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            b,
        )
        .await;
    }
    let ingest = ingest_raw(
        &app,
        &victim_token,
        br#"{"data": {"workouts": []}}"#.to_vec(),
    )
    .await;
    assert_error(ingest, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    let again = delete_account(&app, &victim, &victim.password).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "unauthorized", b).await;

    // The bystander keeps everything, and their tokens work.
    assert_eq!(
        rows_of(&mut probe, &bystander.id),
        bystander_rows,
        "[{b}] the other user"
    );
    assert_eq!(app.status_counts(&bystander).await.0, 3, "[{b}]");
    ingest_ok(&app, &bystander_token, &json!({"data": {"workouts": []}})).await;

    // The email is free again: registering it starts an empty account.
    let fresh = app
        .post_json(
            "/auth/register",
            &json!({"email": victim.email, "password": "another good password"}),
        )
        .await;
    assert_eq!(fresh.status(), StatusCode::CREATED, "[{b}]");
    let fresh: serde_json::Value = fresh.json().await.unwrap();
    assert_ne!(fresh["user"]["id"], json!(victim.id), "[{b}] a new account");
    let token = fresh["access_token"].as_str().unwrap();
    let status: serde_json::Value = app
        .client
        .get(app.api("/sync/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["total_workouts"], json!(0), "[{b}] {status}");
}

per_backend!(
    wrong_passwords_lock_the_account_like_failed_logins,
    [("LOGIN_LOCKOUT_THRESHOLD", "3")]
);
async fn wrong_passwords_lock_the_account_like_failed_logins(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    for _ in 0..3 {
        let refused = delete_account(&app, &user, "guess").await;
        assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_password", b).await;
    }
    // Locked: even the right password waits, and the account is still there.
    let locked = delete_account(&app, &user, &user.password).await;
    assert_eq!(locked.status(), StatusCode::LOCKED, "[{b}]");
    assert!(locked.headers().contains_key("retry-after"), "[{b}]");
    app.get_ok(&user, "/auth/me", &[]).await;
    let body = delete_account(&app, &user, "").await;
    assert_eq!(body.status(), StatusCode::LOCKED, "[{b}]");
}
