//! Rate limits: per address on the auth endpoints, per user on reads and writes, and none at
//! all when they are off.

use reqwest::StatusCode;
use serde_json::json;
use test_support::{assert_error, per_backend, workout, TestApp};

use super::{fresh_email, get, me, rate_headers, register_as, retry_after};

per_backend!(
    auth_endpoints_are_limited_per_address_with_headers_and_retry_after,
    [("RATE_LIMITS", "on"), ("RATE_LIMIT_AUTH_PER_MIN", "3")]
);
async fn auth_endpoints_are_limited_per_address_with_headers_and_retry_after(app: TestApp) {
    let b = app.backend;
    for expected_remaining in [2, 1, 0] {
        let response = app.login(&fresh_email(), "some password").await;
        let (limit, remaining, reset) = rate_headers(&response, b);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "[{b}]");
        assert_eq!((limit, remaining), (3, expected_remaining), "[{b}]");
        assert!((1..=60).contains(&reset), "[{b}] reset {reset}");
    }
    let refused = app.login(&fresh_email(), "some password").await;
    let (limit, remaining, reset) = rate_headers(&refused, b);
    assert_eq!((limit, remaining), (3, 0), "[{b}]");
    let wait = retry_after(&refused, b);
    assert!((1..=60).contains(&wait), "[{b}] Retry-After {wait}");
    assert!((1..=60).contains(&reset), "[{b}]");
    assert!(refused.headers().contains_key("x-request-id"), "[{b}]");
    let body = assert_error(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("[{b}] over the auth limit"),
    )
    .await;
    assert!(body["request_id"].is_string(), "[{b}] {body}");

    // Register and refresh share the budget.
    let register = register_as(&app, &fresh_email(), "a long enough password", "t").await;
    assert_eq!(register.status(), StatusCode::TOO_MANY_REQUESTS, "[{b}]");
    let refreshed = app.refresh("anything").await;
    assert_eq!(refreshed.status(), StatusCode::TOO_MANY_REQUESTS, "[{b}]");

    // Health checks are never limited and carry no rate-limit headers.
    for _ in 0..5 {
        let health = app.get_root("/healthz").await;
        assert_eq!(health.status(), StatusCode::OK, "[{b}]");
        assert!(!health.headers().contains_key("x-ratelimit-limit"), "[{b}]");
    }
    // The bearer endpoints under /auth draw on the reads/writes budgets, not the auth one.
    let unauthenticated = get(&app, "/auth/me", None).await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED, "[{b}]");
    assert_eq!(rate_headers(&unauthenticated, b).0, 300, "[{b}]");
}

per_backend!(
    users_are_limited_per_user_with_separate_read_and_write_budgets,
    [
        ("RATE_LIMITS", "on"),
        ("RATE_LIMIT_READS_PER_MIN", "2"),
        ("RATE_LIMIT_WRITES_PER_MIN", "2")
    ]
);
async fn users_are_limited_per_user_with_separate_read_and_write_budgets(app: TestApp) {
    let b = app.backend;
    let alice = app.register().await;
    // A normal 200 carries the headers.
    for expected_remaining in [1, 0] {
        let response = me(&app, &alice.access_token).await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        let (limit, remaining, reset) = rate_headers(&response, b);
        assert_eq!((limit, remaining), (2, expected_remaining), "[{b}]");
        assert!((1..=60).contains(&reset), "[{b}]");
    }
    let refused = me(&app, &alice.access_token).await;
    assert!(retry_after(&refused, b) >= 1, "[{b}]");
    rate_headers(&refused, b);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;

    // Writes have their own budget.
    for i in 0..2 {
        let response = app
            .sync(&alice, &json!({"workouts": [workout(&format!("w{i}"))]}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}] write {i}");
        assert_eq!(rate_headers(&response, b).0, 2, "[{b}]");
    }
    let refused = app
        .sync(&alice, &json!({"workouts": [workout("w9")]}))
        .await;
    assert!(retry_after(&refused, b) >= 1, "[{b}]");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;

    // Another user has budgets of their own.
    let bob = app.register().await;
    assert_eq!(me(&app, &bob.access_token).await.status(), StatusCode::OK);

    // Without a valid token, requests count against the client address.
    let anonymous = get(&app, "/workouts", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "[{b}]");
    assert_eq!(rate_headers(&anonymous, b).1, 1, "[{b}]");
    let forged = get(&app, "/workouts", Some("forged.token.value")).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "[{b}]");
    assert_eq!(rate_headers(&forged, b).1, 0, "[{b}]");
    let refused = get(&app, "/workouts", Some("another.forged.token")).await;
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;
}

per_backend!(
    rate_limits_off_means_no_limits_and_no_headers,
    [("RATE_LIMIT_AUTH_PER_MIN", "1")]
);
async fn rate_limits_off_means_no_limits_and_no_headers(app: TestApp) {
    // The harness runs with RATE_LIMITS=off.
    let b = app.backend;
    let user = app.register().await;
    for _ in 0..3 {
        let response = app.login(&user.email, &user.password).await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        assert!(
            !response.headers().contains_key("x-ratelimit-limit"),
            "[{b}]"
        );
    }
}
