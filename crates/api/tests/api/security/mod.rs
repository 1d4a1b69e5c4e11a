//! Accounts, sessions and abuse protection (issue 4): one test per rule, each run once per
//! backend. This module holds what its test files share.

mod login;
mod logs;
mod nul;
mod objects;
mod rate_limits;
mod refresh;
mod sessions;
mod slow_body;
mod tokens;

use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_support::{assert_error, TestApp};
use uuid::Uuid;

/// `GET /api/v1{path}` with this bearer token, or none.
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    app.get_with(path, token, &[]).await
}

/// `GET /auth/me` with this bearer token.
async fn me(app: &TestApp, token: &str) -> Response {
    get(app, "/auth/me", Some(token)).await
}

/// Asserts a 401 with the contract body and the code `unauthorized`.
async fn assert_unauthorized(response: Response, ctx: &str) {
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized", ctx).await;
}

/// The body without its `request_id`, which differs from response to response.
fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut()
        .expect("an object")
        .remove("request_id");
    body
}

/// A numeric header, when present.
fn header_u64(response: &Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII").parse().expect("a number"))
}

/// The three `X-RateLimit-*` headers: `(limit, remaining, reset)`.
fn rate_headers(response: &Response, ctx: &str) -> (u64, u64, u64) {
    let get = |name| header_u64(response, name).unwrap_or_else(|| panic!("{ctx}: no {name}"));
    (
        get("x-ratelimit-limit"),
        get("x-ratelimit-remaining"),
        get("x-ratelimit-reset"),
    )
}

/// The `Retry-After` seconds, which must be there.
fn retry_after(response: &Response, ctx: &str) -> u64 {
    header_u64(response, RETRY_AFTER.as_str()).unwrap_or_else(|| panic!("{ctx}: no Retry-After"))
}

/// Registers with a chosen email, password and `User-Agent`.
async fn register_as(app: &TestApp, email: &str, password: &str, agent: &str) -> Response {
    app.client
        .post(app.api("/auth/register"))
        .header(reqwest::header::USER_AGENT, agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("register")
}

/// An email no account has yet.
fn fresh_email() -> String {
    format!("sec-{}@example.com", Uuid::new_v4().simple())
}

/// The id of the session the token belongs to, from `GET /auth/sessions`.
async fn current_session(app: &TestApp, token: &str) -> String {
    let response = get(app, "/auth/sessions", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK, "[{}]", app.backend);
    let body: Value = response.json().await.unwrap();
    let current: Vec<&Value> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["current"] == json!(true))
        .collect();
    assert_eq!(current.len(), 1, "[{}] {body}", app.backend);
    current[0]["id"].as_str().unwrap().to_owned()
}
