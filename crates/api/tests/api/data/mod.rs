//! A runner's data through real HTTP: ingest tokens and the Health Auto Export ingest, the
//! export, and account deletion, on every backend.

mod deletion;
mod export;
mod health_auto_export;
mod ingest_tokens;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_support::{TestApp, TestUser};

/// `POST /ingest-tokens {name}` as `user`.
pub async fn create_ingest_token(app: &TestApp, user: &TestUser, name: &str) -> Response {
    app.client
        .post(app.api("/ingest-tokens"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("POST /ingest-tokens")
}

/// A fresh ingest token of `user`: the secret.
pub async fn ingest_token(app: &TestApp, user: &TestUser) -> String {
    let response = create_ingest_token(app, user, "Health Auto Export").await;
    assert_eq!(response.status(), StatusCode::CREATED, "[{}]", app.backend);
    let body: Value = response.json().await.expect("token body");
    body["token"].as_str().expect("token").to_owned()
}

/// `POST /ingest/health-auto-export` with `token` and a raw JSON body.
pub async fn ingest_raw(app: &TestApp, token: &str, body: Vec<u8>) -> Response {
    app.client
        .post(app.api("/ingest/health-auto-export"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /ingest/health-auto-export")
}

/// Ingests `payload` and returns the 200 body.
pub async fn ingest_ok(app: &TestApp, token: &str, payload: &Value) -> Value {
    let response = ingest_raw(app, token, serde_json::to_vec(payload).unwrap()).await;
    let status = response.status();
    let text = response.text().await.expect("ingest body");
    assert_eq!(status, StatusCode::OK, "[{}] ingest: {text}", app.backend);
    serde_json::from_str(&text).expect("ingest JSON")
}
