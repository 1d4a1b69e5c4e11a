//! Assertions on the contract's responses: the error body, token pairs, replay headers.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Asserts the status and the contract's error body with this `code` (`success: false`, a
/// non-empty `message`); returns the body. `ctx` starts every failure message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str, ctx: &str) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{ctx}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{ctx}: not JSON ({e}): {text}"));
    assert_eq!(body["success"], json!(false), "{ctx}: {body}");
    assert_eq!(body["error"], json!(code), "{ctx}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{ctx}: {body}"
    );
    body
}

/// Asserts a contract error body (`success: false`, a non-empty `error` code and `message`)
/// with this status, whatever the code, and an `X-Request-Id`; returns the body.
pub async fn assert_refused(response: Response, status: StatusCode, backend: &str) -> Value {
    let actual = response.status();
    assert!(
        response
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "[{backend}] a {actual} response without X-Request-Id"
    );
    let text = response.text().await.expect("error body");
    assert_eq!(actual, status, "[{backend}] {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("[{backend}] error body is not JSON ({e}): {text}"));
    assert_eq!(body["success"], json!(false), "[{backend}] {body}");
    assert!(
        body["error"].as_str().is_some_and(|c| !c.is_empty()),
        "[{backend}] {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "[{backend}] {body}"
    );
    body
}

/// `(access_token, refresh_token)` of a 200/201 token response (register, login, refresh).
pub async fn token_pair(response: Response, what: &str, backend: &str) -> (String, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("token body");
    assert!(
        status == StatusCode::OK || status == StatusCode::CREATED,
        "[{backend}] {what}: {status} {body}"
    );
    (
        body["access_token"].as_str().expect("access_token").into(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .into(),
    )
}

/// Asserts a 200 that is not a replay (`X-Idempotent-Replayed` absent or `false`): the request
/// was processed afresh. Returns the body; `ctx` starts every failure message.
pub async fn assert_fresh(response: Response, ctx: &str) -> Value {
    let status = response.status();
    let replayed = replayed_header(&response);
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{ctx}: {text}");
    assert_ne!(replayed.as_deref(), Some("true"), "{ctx}: a replay: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{ctx}: not JSON ({e}): {text}"))
}

/// The `X-Request-Id` header, when present.
pub fn request_id_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

/// The `X-Idempotent-Replayed` header, when present.
pub fn replayed_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get("x-idempotent-replayed")
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}
