//! Ingest tokens: made, listed without their secret, revoked; an ingest token opens the ingest
//! endpoint and nothing else, and an access token does not open it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_error, per_backend, TestApp};

use super::{create_ingest_token, ingest_ok, ingest_raw, ingest_token};

per_backend!(an_ingest_token_is_shown_once_listed_without_its_secret_and_revoked);
async fn an_ingest_token_is_shown_once_listed_without_its_secret_and_revoked(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let response = create_ingest_token(&app, &user, "  Phone  ").await;
    assert_eq!(response.status(), StatusCode::CREATED, "[{b}]");
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().expect("token");
    // 256 random bits, URL-safe, behind a recognisable prefix.
    assert!(
        token.starts_with("rdi_") && token.len() == 4 + 43,
        "[{b}] {token}"
    );
    assert_eq!(created["name"], json!("Phone"), "[{b}] {created}");
    assert!(
        crate::helpers::is_server_timestamp(&created["created_at"]),
        "[{b}] {created}"
    );

    let listed = app.get_ok(&user, "/ingest-tokens", &[]).await;
    let entries = listed.as_array().expect("a top-level array");
    assert_eq!(entries.len(), 1, "[{b}] {listed}");
    let entry = &entries[0];
    assert_eq!(entry["id"], created["id"], "[{b}] {listed}");
    assert_eq!(entry["last_used_at"], Value::Null, "[{b}] never used yet");
    assert!(
        !listed.to_string().contains(token),
        "[{b}] the list shows the secret"
    );
    let mut keys: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "last_used_at", "name"], "[{b}]");

    // Used, it records when.
    ingest_ok(&app, token, &json!({"data": {"workouts": []}})).await;
    let listed = app.get_ok(&user, "/ingest-tokens", &[]).await;
    assert!(
        crate::helpers::is_server_timestamp(&listed[0]["last_used_at"]),
        "[{b}] {listed}"
    );

    // Another user cannot revoke it; its owner can, and it stops working at once.
    let other = app.register().await;
    let path = format!("/ingest-tokens/{}", created["id"].as_str().unwrap());
    let revoke = |access: String| {
        let request = app.client.delete(app.api(&path)).bearer_auth(access);
        async move { request.send().await.expect("DELETE /ingest-tokens") }
    };
    assert_error(
        revoke(other.access_token.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
        b,
    )
    .await;
    assert_eq!(
        revoke(user.access_token.clone()).await.status(),
        StatusCode::NO_CONTENT,
        "[{b}]"
    );
    let refused = ingest_raw(&app, token, b"{}".to_vec()).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    assert_eq!(
        app.get_ok(&user, "/ingest-tokens", &[]).await,
        json!([]),
        "[{b}]"
    );
    assert_error(
        revoke(user.access_token.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
        b,
    )
    .await;
}

per_backend!(a_token_name_is_checked_and_an_account_holds_at_most_twenty);
async fn a_token_name_is_checked_and_an_account_holds_at_most_twenty(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    for bad in ["", "   ", &"x".repeat(101), "tab\there"] {
        let body = assert_error(
            create_ingest_token(&app, &user, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            b,
        )
        .await;
        assert!(body["errors"]["name"].is_array(), "[{b}] {bad:?}: {body}");
    }
    for i in 0..20 {
        let response = create_ingest_token(&app, &user, &format!("token {i}")).await;
        assert_eq!(response.status(), StatusCode::CREATED, "[{b}] token {i}");
    }
    assert_error(
        create_ingest_token(&app, &user, "one too many").await,
        StatusCode::CONFLICT,
        "ingest_token_limit",
        b,
    )
    .await;
    let listed = app.get_ok(&user, "/ingest-tokens", &[]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 20, "[{b}]");
    // Newest first (tokens made within one clock tick may come in either order).
    let times: Vec<&str> = listed
        .iter()
        .map(|t| t["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "[{b}] {times:?}");
    let mut names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut expected: Vec<String> = (0..20).map(|i| format!("token {i}")).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "[{b}]");
}

per_backend!(an_access_token_does_not_open_the_ingest_endpoint);
async fn an_access_token_does_not_open_the_ingest_endpoint(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let payload = br#"{"data": {"workouts": []}}"#.to_vec();
    let refused = ingest_raw(&app, &user.access_token, payload.clone()).await;
    let body = assert_error(refused, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    assert!(
        body["message"].as_str().unwrap().contains("ingest token"),
        "[{b}] {body}"
    );
    let made_up = ingest_raw(&app, &format!("rdi_{}", "A".repeat(43)), payload.clone()).await;
    assert_error(made_up, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    let none = app
        .client
        .post(app.api("/ingest/health-auto-export"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
    assert_eq!(app.status_counts(&user).await.0, 0, "[{b}] nothing stored");
}

per_backend!(an_ingest_token_is_refused_everywhere_else);
async fn an_ingest_token_is_refused_everywhere_else(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let token = ingest_token(&app, &user).await;
    let some_id = "00000000-0000-4000-8000-000000000000";
    let year = "2024";
    // Every authenticated endpoint of the document but the ingest one, by method and path.
    let document: Value = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tried = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation.get("security") else {
                continue;
            };
            if !security.to_string().contains("bearer_auth") {
                continue;
            }
            let url = app.address.clone()
                + &path
                    .replace("{id}", some_id)
                    .replace("{sync_id}", some_id)
                    .replace("{year}", year);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .json(
                    &json!({"workouts": [], "time_zone": "UTC", "password": "x", "name": "n",
                              "target_days": 100}),
                )
                .send()
                .await
                .unwrap();
            let body = assert_error(
                response,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                &format!("[{b}] {method} {path}"),
            )
            .await;
            assert!(
                body["message"].as_str().unwrap().contains("ingest"),
                "[{b}] {method} {path}: {body}"
            );
            tried += 1;
        }
    }
    assert!(tried >= 20, "[{b}] only {tried} endpoints tried");
    // It still opens the ingest endpoint, and the account is untouched.
    ingest_ok(&app, &token, &json!({"data": {"workouts": []}})).await;
    assert_eq!(
        app.get_ok(&user, "/auth/me", &[]).await["user"]["id"],
        json!(user.id),
        "[{b}]"
    );
}
