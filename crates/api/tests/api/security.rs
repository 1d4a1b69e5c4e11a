//! Accounts, sessions and abuse protection (issue 4): one test per rule, on every backend.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sync_store::testing::TestDatabase;
use uuid::Uuid;

use crate::helpers::{workout, TestApp, TestUser, TEST_JWT_SECRET};

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let mut request = app.client.get(app.api(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET")
}

async fn me(app: &TestApp, token: &str) -> Response {
    get(app, "/auth/me", Some(token)).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    app.client
        .post(app.api("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.client
        .post(app.api("/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("refresh")
}

/// `(access_token, refresh_token)` of a 200/201 token response.
async fn token_pair(response: Response, what: &str, backend: &str) -> (String, String) {
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

/// Asserts the status and the contract's error body with this code; returns the body.
async fn assert_code(response: Response, status: StatusCode, code: &str, ctx: &str) -> Value {
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

async fn assert_unauthorized(response: Response, ctx: &str) {
    assert_code(response, StatusCode::UNAUTHORIZED, "unauthorized", ctx).await;
}

fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut()
        .expect("an object")
        .remove("request_id");
    body
}

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

// ---------------------------------------------------------------------------------------------
// Refresh tokens and sessions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_the_pair_and_the_old_refresh_token_is_then_refused() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let response = refresh(&app, &user.refresh_token).await;
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
        let (access2, next2) = token_pair(refresh(&app, &next).await, "second refresh", b).await;
        // ...and the first one, already used, is refused.
        assert_unauthorized(
            refresh(&app, &user.refresh_token).await,
            &format!("[{b}] the rotated refresh token"),
        )
        .await;
        // So is one that never existed.
        assert_unauthorized(
            refresh(&app, "made-up-refresh-token").await,
            &format!("[{b}] an unknown refresh token"),
        )
        .await;
        // (Presenting the used token revoked the session: reuse detection, tested below.)
        assert_unauthorized(refresh(&app, &next2).await, &format!("[{b}] after reuse")).await;
        assert_unauthorized(me(&app, &access2).await, &format!("[{b}] after reuse")).await;
    }
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_session_for_both_holders() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;

        // The thief refreshes first with a stolen token; the owner then presents it.
        let owner = app.register().await;
        let (thief_access, thief_refresh) = token_pair(
            refresh(&app, &owner.refresh_token).await,
            "thief refresh",
            b,
        )
        .await;
        assert_eq!(me(&app, &thief_access).await.status(), StatusCode::OK);
        assert_unauthorized(
            refresh(&app, &owner.refresh_token).await,
            &format!("[{b}] replay of the rotated token"),
        )
        .await;
        assert_unauthorized(
            refresh(&app, &thief_refresh).await,
            &format!("[{b}] the thief's refresh token"),
        )
        .await;
        assert_unauthorized(
            me(&app, &thief_access).await,
            &format!("[{b}] the thief's access token"),
        )
        .await;
        assert_unauthorized(
            me(&app, &owner.access_token).await,
            &format!("[{b}] the owner's access token"),
        )
        .await;

        // The owner refreshes first; the thief replays the old token.
        let owner = app.register().await;
        let (owner_access, owner_refresh) = token_pair(
            refresh(&app, &owner.refresh_token).await,
            "owner refresh",
            b,
        )
        .await;
        assert_unauthorized(
            refresh(&app, &owner.refresh_token).await,
            &format!("[{b}] the thief's replay"),
        )
        .await;
        assert_unauthorized(
            refresh(&app, &owner_refresh).await,
            &format!("[{b}] the owner's current refresh token"),
        )
        .await;
        assert_unauthorized(
            me(&app, &owner_access).await,
            &format!("[{b}] the owner's current access token"),
        )
        .await;

        // Other sessions of the account are untouched.
        let other = login(&app, &owner.email, &owner.password).await;
        let (other_access, _) = token_pair(other, "login", b).await;
        assert_eq!(
            me(&app, &other_access).await.status(),
            StatusCode::OK,
            "[{b}]"
        );
    }
}

#[tokio::test]
async fn logout_kills_the_access_and_refresh_token_at_once() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
        let response = app
            .client
            .post(app.api("/auth/logout"))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}] logout");
        assert_unauthorized(
            me(&app, &user.access_token).await,
            &format!("[{b}] access after logout"),
        )
        .await;
        let sync = app.sync(&user, &json!({"workouts": [workout("x")]})).await;
        assert_unauthorized(sync, &format!("[{b}] sync after logout")).await;
        assert_unauthorized(
            refresh(&app, &user.refresh_token).await,
            &format!("[{b}] refresh after logout"),
        )
        .await;
    }
}

#[tokio::test]
async fn revoking_a_session_kills_its_tokens_and_spares_the_others() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let (access2, refresh2) =
            token_pair(login(&app, &user.email, &user.password).await, "login 2", b).await;
        let (access3, refresh3) =
            token_pair(login(&app, &user.email, &user.password).await, "login 3", b).await;
        let session2 = current_session(&app, &access2).await;

        let response = app
            .client
            .delete(app.api(&format!("/auth/sessions/{session2}")))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}] revoke");

        assert_unauthorized(me(&app, &access2).await, &format!("[{b}] revoked access")).await;
        assert_unauthorized(
            refresh(&app, &refresh2).await,
            &format!("[{b}] revoked refresh"),
        )
        .await;
        // The caller's session and the third one keep working.
        assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
        assert_eq!(me(&app, &access3).await.status(), StatusCode::OK);
        token_pair(refresh(&app, &refresh3).await, "refresh 3", b).await;
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
        let again = app
            .client
            .delete(app.api(&format!("/auth/sessions/{session2}")))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_code(again, StatusCode::NOT_FOUND, "not_found", b).await;
    }
}

#[tokio::test]
async fn the_session_list_marks_the_callers_session_current() {
    for app in TestApp::spawn_all().await {
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
}

// ---------------------------------------------------------------------------------------------
// Forged access tokens
// ---------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a real access token (decoded without checking: the server issued it).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("JSON")
}

fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).expect("encode")
}

#[tokio::test]
async fn forged_access_tokens_are_refused_with_401_unauthorized() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let user = app.register().await;
        let good = claims_of(&user.access_token);
        let secret = TEST_JWT_SECRET.as_bytes();
        let hs256 = |c: &Value| sign(Algorithm::HS256, c, secret);
        let with = |field: &str, value: Value| {
            let mut c = good.clone();
            c[field] = value;
            c
        };
        let without = |field: &str| {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(field);
            c
        };

        // The forging harness is sound: the untouched claims, re-signed, are accepted.
        let control = me(&app, &hs256(&good)).await;
        assert_eq!(control.status(), StatusCode::OK, "[{b}] re-signed control");

        let now = chrono::Utc::now().timestamp();
        let signed_part = {
            let token = hs256(&good);
            let (_, rest) = token.split_once('.').unwrap();
            rest.to_owned()
        };
        let payload = b64(serde_json::to_string(&good).unwrap().as_bytes());
        let forged: Vec<(&str, String)> = vec![
            (
                "alg none, no signature",
                format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
            ),
            (
                "alg none, original signature",
                format!("{}.{signed_part}", b64(br#"{"alg":"none","typ":"JWT"}"#)),
            ),
            (
                "RS256 header",
                format!("{}.{signed_part}", b64(br#"{"alg":"RS256","typ":"JWT"}"#)),
            ),
            (
                "HS512 with the right secret",
                sign(Algorithm::HS512, &good, secret),
            ),
            (
                "wrong secret",
                sign(
                    Algorithm::HS256,
                    &good,
                    b"another-secret-that-is-long-enough-for-hs256",
                ),
            ),
            ("wrong aud", hs256(&with("aud", json!("another-audience")))),
            ("wrong iss", hs256(&with("iss", json!("evil-issuer")))),
            (
                "expired",
                hs256(&with("exp", json!(now - 3600)).tap_iat(now - 4000)),
            ),
            ("missing exp", hs256(&without("exp"))),
            ("missing sid", hs256(&without("sid"))),
            ("sub as a number", hs256(&with("sub", json!(12345)))),
            (
                "exp as a string",
                hs256(&with("exp", json!((now + 600).to_string()))),
            ),
            ("typ refresh", hs256(&with("typ", json!("refresh")))),
            ("a refresh token as bearer", user.refresh_token.clone()),
            ("garbage", "garbage".to_owned()),
            ("three dots of garbage", "a.b.c".to_owned()),
        ];
        for (case, token) in forged {
            let ctx = format!("[{b}] {case}");
            assert_unauthorized(me(&app, &token).await, &ctx).await;
            let sync = app
                .sync_raw(Some(&token), json!({"workouts": []}).to_string(), &[])
                .await;
            assert_unauthorized(sync, &ctx).await;
        }
        // No token and a non-bearer scheme.
        assert_unauthorized(get(&app, "/auth/me", None).await, b).await;
        let basic = app
            .client
            .get(app.api("/auth/me"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap();
        assert_unauthorized(basic, b).await;
        // The real token still works: nothing above harmed the session.
        assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
    }
}

/// Sets `iat` on a claims object (keeps the forged-token table readable).
trait TapIat {
    fn tap_iat(self, iat: i64) -> Value;
}

impl TapIat for Value {
    fn tap_iat(mut self, iat: i64) -> Value {
        self["iat"] = json!(iat);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_with_423_and_retry_after() {
    let threshold = 3;
    for app in TestApp::spawn_all_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("LOGIN_LOCKOUT_SECS", "120"),
    ])
    .await
    {
        let b = app.backend;
        let user = app.register().await;
        let bystander = app.register().await;
        for attempt in 1..=threshold {
            assert_code(
                login(&app, &user.email, "wrong password!").await,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                &format!("[{b}] failure {attempt}"),
            )
            .await;
        }
        let locked = login(&app, &user.email, "wrong password!").await;
        let wait = retry_after(&locked, b);
        assert!((1..=120).contains(&wait), "[{b}] Retry-After {wait}");
        assert_code(locked, StatusCode::LOCKED, "account_locked", b).await;
        // Even the right password is refused while locked.
        let right = login(&app, &user.email, &user.password).await;
        assert!(retry_after(&right, b) >= 1);
        assert_code(
            right,
            StatusCode::LOCKED,
            "account_locked",
            &format!("[{b}] right password while locked"),
        )
        .await;
        // The lock is per account.
        token_pair(
            login(&app, &bystander.email, &bystander.password).await,
            "bystander",
            b,
        )
        .await;
    }
}

#[tokio::test]
async fn locks_end_and_a_success_resets_the_failure_count() {
    for app in TestApp::spawn_all_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "2"),
        ("LOGIN_LOCKOUT_SECS", "1"),
    ])
    .await
    {
        let b = app.backend;
        let user = app.register().await;
        // One failure, then a success: the count starts again.
        login(&app, &user.email, "wrong password!").await;
        token_pair(login(&app, &user.email, &user.password).await, "ok", b).await;
        login(&app, &user.email, "wrong password!").await;
        token_pair(login(&app, &user.email, &user.password).await, "ok", b).await;
        // Two failures lock; after the lock's second, the right password works again.
        login(&app, &user.email, "wrong password!").await;
        login(&app, &user.email, "wrong password!").await;
        assert_eq!(
            login(&app, &user.email, &user.password).await.status(),
            StatusCode::LOCKED,
            "[{b}]"
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        token_pair(
            login(&app, &user.email, &user.password).await,
            "after the lock",
            b,
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    for app in TestApp::spawn_all_with(&[("LOGIN_LOCKOUT_THRESHOLD", "100")]).await {
        let b = app.backend;
        let user = app.register().await;
        let unknown = login(&app, &fresh_email(), &user.password).await;
        let wrong = login(&app, &user.email, "not the password").await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED, "[{b}]");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "[{b}]");
        let unknown_headers: Vec<String> =
            unknown.headers().keys().map(|k| k.to_string()).collect();
        let wrong_headers: Vec<String> = wrong.headers().keys().map(|k| k.to_string()).collect();
        assert_eq!(unknown_headers, wrong_headers, "[{b}] the same headers");
        let unknown: Value = unknown.json().await.unwrap();
        let wrong: Value = wrong.json().await.unwrap();
        assert!(unknown["request_id"].is_string(), "[{b}] {unknown}");
        assert_eq!(
            without_request_id(unknown.clone()),
            without_request_id(wrong),
            "[{b}] the same body"
        );
        assert_eq!(unknown["error"], json!("invalid_credentials"), "[{b}]");

        // Similar timing: an unknown email still pays for a password hash. (A loose bound: a
        // lookup without hashing would be tens of times faster.)
        let mut unknown_times = Vec::new();
        let mut wrong_times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            login(&app, &fresh_email(), "whatever password").await;
            unknown_times.push(started.elapsed());
            let started = Instant::now();
            login(&app, &user.email, "whatever password").await;
            wrong_times.push(started.elapsed());
        }
        let unknown_min = *unknown_times.iter().min().unwrap();
        let wrong_min = *wrong_times.iter().min().unwrap();
        assert!(
            unknown_min * 3 >= wrong_min,
            "[{b}] unknown email {unknown_min:?} vs wrong password {wrong_min:?}"
        );
    }
}

#[tokio::test]
async fn emails_are_normalised_and_duplicates_are_409() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let local = format!("Runner.{}", Uuid::new_v4().simple());
        let messy = format!("  {local}@Example.COM \t");
        let clean = format!("{}@example.com", local.to_lowercase());
        let password = "a long enough password";
        let response = register_as(&app, &messy, password, "t").await;
        assert_eq!(response.status(), StatusCode::CREATED, "[{b}]");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["email"], json!(clean), "[{b}] {body}");

        for duplicate in [clean.clone(), clean.to_uppercase(), format!(" {messy} ")] {
            let response = register_as(&app, &duplicate, "another long password", "t").await;
            assert_code(
                response,
                StatusCode::CONFLICT,
                "email_taken",
                &format!("[{b}] {duplicate:?}"),
            )
            .await;
        }
        // Login finds the account whatever the case and surrounding spaces.
        token_pair(
            login(&app, &format!(" {} ", clean.to_uppercase()), password).await,
            "login",
            b,
        )
        .await;
    }
}

#[tokio::test]
async fn passwords_outside_the_length_bounds_are_refused() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        for (password, ok) in [
            ("x".repeat(7), false),
            ("x".repeat(8), true),
            ("é".repeat(128), true),
            ("x".repeat(129), false),
            (String::new(), false),
        ] {
            let response = register_as(&app, &fresh_email(), &password, "t").await;
            let ctx = format!("[{b}] password of {} chars", password.chars().count());
            if ok {
                assert_eq!(response.status(), StatusCode::CREATED, "{ctx}");
            } else {
                let body = assert_code(
                    response,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    &ctx,
                )
                .await;
                assert!(body["errors"]["password"].is_array(), "{ctx}: {body}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiting
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn auth_endpoints_are_limited_per_address_with_headers_and_retry_after() {
    for app in
        TestApp::spawn_all_with(&[("RATE_LIMITS", "on"), ("RATE_LIMIT_AUTH_PER_MIN", "3")]).await
    {
        let b = app.backend;
        for expected_remaining in [2, 1, 0] {
            let response = login(&app, &fresh_email(), "some password").await;
            let (limit, remaining, reset) = rate_headers(&response, b);
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "[{b}]");
            assert_eq!((limit, remaining), (3, expected_remaining), "[{b}]");
            assert!((1..=60).contains(&reset), "[{b}] reset {reset}");
        }
        let refused = login(&app, &fresh_email(), "some password").await;
        let (limit, remaining, reset) = rate_headers(&refused, b);
        assert_eq!((limit, remaining), (3, 0), "[{b}]");
        let wait = retry_after(&refused, b);
        assert!((1..=60).contains(&wait), "[{b}] Retry-After {wait}");
        assert!((1..=60).contains(&reset), "[{b}]");
        assert!(refused.headers().contains_key("x-request-id"), "[{b}]");
        let body = assert_code(
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
        let refreshed = refresh(&app, "anything").await;
        assert_eq!(refreshed.status(), StatusCode::TOO_MANY_REQUESTS, "[{b}]");

        // Health checks are never limited and carry no rate-limit headers.
        for _ in 0..5 {
            let health = app
                .client
                .get(format!("{}/healthz", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(health.status(), StatusCode::OK, "[{b}]");
            assert!(!health.headers().contains_key("x-ratelimit-limit"), "[{b}]");
        }
        // The bearer endpoints under /auth draw on the reads/writes budgets, not the auth one.
        let unauthenticated = get(&app, "/auth/me", None).await;
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED, "[{b}]");
        assert_eq!(rate_headers(&unauthenticated, b).0, 300, "[{b}]");
    }
}

#[tokio::test]
async fn users_are_limited_per_user_with_separate_read_and_write_budgets() {
    for app in TestApp::spawn_all_with(&[
        ("RATE_LIMITS", "on"),
        ("RATE_LIMIT_READS_PER_MIN", "2"),
        ("RATE_LIMIT_WRITES_PER_MIN", "2"),
    ])
    .await
    {
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
        assert_code(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;

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
        assert_code(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;

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
        assert_code(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited", b).await;
    }
}

#[tokio::test]
async fn rate_limits_off_means_no_limits_and_no_headers() {
    // The harness runs with RATE_LIMITS=off.
    for app in TestApp::spawn_all_with(&[("RATE_LIMIT_AUTH_PER_MIN", "1")]).await {
        let b = app.backend;
        let user = app.register().await;
        for _ in 0..3 {
            let response = login(&app, &user.email, &user.password).await;
            assert_eq!(response.status(), StatusCode::OK, "[{b}]");
            assert!(
                !response.headers().contains_key("x-ratelimit-limit"),
                "[{b}]"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Object-level authorisation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_users_objects_are_404_like_missing_ones() {
    for app in TestApp::spawn_all().await {
        let b = app.backend;
        let alice = app.register().await;
        let bob = app.register().await;
        let synced = app
            .sync_ok(&alice, &json!({"workouts": [workout("alice-run")]}))
            .await;
        let sync_id = synced["sync_id"].as_str().expect("sync_id").to_owned();
        let listed: Value = get(&app, "/workouts", Some(&alice.access_token))
            .await
            .json()
            .await
            .unwrap();
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
            let theirs = assert_code(theirs, StatusCode::NOT_FOUND, "not_found", &ctx).await;
            let absent = attempt(method, template.replace("{}", &missing), bob.clone()).await;
            let absent = assert_code(absent, StatusCode::NOT_FOUND, "not_found", &ctx).await;
            assert_eq!(
                without_request_id(theirs),
                without_request_id(absent),
                "{ctx}: another user's object must look missing"
            );
        }
        // Bob's own lists show nothing of Alice's.
        let bobs: Value = get(&app, "/workouts", Some(&bob.access_token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(bobs["workouts"], json!([]), "[{b}] {bobs}");
        let bobs: Value = get(&app, "/syncs", Some(&bob.access_token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(bobs["syncs"], json!([]), "[{b}] {bobs}");

        // Alice's objects are untouched.
        let response = get(
            &app,
            &format!("/workouts/{workout_id}"),
            Some(&alice.access_token),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["workout"]["distance_meters"].as_f64(),
            Some(5000.0),
            "[{b}] {body}"
        );
        assert_eq!(body["workout"]["revision"], json!(1), "[{b}] {body}");
        let response = get(
            &app,
            &format!("/syncs/{sync_id}"),
            Some(&alice.access_token),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "[{b}]");
        assert_eq!(me(&app, &alice.access_token).await.status(), StatusCode::OK);
        assert_eq!(
            current_session(&app, &alice.access_token).await,
            alice_session
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets never in logs
// ---------------------------------------------------------------------------------------------

/// The server binary, running with its output going to a file; killed on drop, even when the
/// test panics.
struct ServerProcess {
    child: Child,
    address: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

async fn spawn_server_binary(
    database_url: &str,
    data_dir: &Path,
    secret: &str,
    log_path: &Path,
) -> ServerProcess {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().unwrap().port()
    };
    let log = std::fs::File::create(log_path).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .env_clear()
        .env("RUST_LOG", "trace")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", secret)
        .env("WORKERS", "2")
        .env("DB_POOL_SIZE", "4")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("the server binary starts");
    let mut server = ServerProcess {
        child,
        address: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the server exited with {status}: {}", read_log(log_path));
        }
        let health = client
            .get(format!("{}/healthz", server.address))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if health.is_ok_and(|r| r.status() == StatusCode::OK) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come up: {}",
            read_log(log_path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn passwords_tokens_and_the_jwt_secret_never_reach_the_logs() {
    for db in TestDatabase::all() {
        let backend = sync_store::BackendKind::of_url(db.url()).0.name();
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("server.log");
        let secret = format!("log-test-secret-{}", Uuid::new_v4().simple());
        let server = spawn_server_binary(db.url(), dir.path(), &secret, &log_path).await;
        let client = reqwest::Client::new();
        let api = |path: &str| format!("{}/api/v1{path}", server.address);

        let email = fresh_email();
        let password = format!("pw-{}", Uuid::new_v4().simple());
        let wrong_password = format!("wrong-{}", Uuid::new_v4().simple());
        let mut access_tokens = Vec::new();
        let mut refresh_tokens = Vec::new();
        let keep = |response: Response| async move {
            let status = response.status();
            let body: Value = response.json().await.expect("token body");
            assert!(status.is_success(), "[{backend}] {status} {body}");
            (
                body["access_token"].as_str().unwrap().to_owned(),
                body["refresh_token"].as_str().unwrap().to_owned(),
            )
        };

        let registered = client
            .post(api("/auth/register"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let (a, r) = keep(registered).await;
        access_tokens.push(a);
        refresh_tokens.push(r);
        let failed = client
            .post(api("/auth/login"))
            .json(&json!({"email": email, "password": wrong_password}))
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "[{backend}]");
        // A buggy client sending its password as a JSON number: serde's type errors quote the
        // value, and actix logs response errors at debug level.
        let numeric_password =
            1_000_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000_000) as u64;
        let numeric = client
            .post(api("/auth/login"))
            .json(&json!({"email": email, "password": numeric_password}))
            .send()
            .await
            .unwrap();
        assert_eq!(numeric.status(), StatusCode::BAD_REQUEST, "[{backend}]");
        let numeric_body = numeric.text().await.unwrap();
        assert!(
            !numeric_body.contains(&numeric_password.to_string()),
            "[{backend}] {numeric_body}"
        );
        let logged_in = client
            .post(api("/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let (a, r) = keep(logged_in).await;
        access_tokens.push(a);
        refresh_tokens.push(r.clone());
        let refreshed = client
            .post(api("/auth/refresh"))
            .json(&json!({ "refresh_token": r }))
            .send()
            .await
            .unwrap();
        let (access, r) = keep(refreshed).await;
        access_tokens.push(access.clone());
        refresh_tokens.push(r);
        let synced = client
            .post(api("/workouts/sync"))
            .bearer_auth(&access)
            .header("Idempotency-Key", "log-check-1")
            .json(&json!({"workouts": [workout("log-check")]}))
            .send()
            .await
            .unwrap();
        assert_eq!(synced.status(), StatusCode::OK, "[{backend}]");
        // A forged token and a client that wrongly puts its token in the URL.
        let forged = client
            .get(api("/auth/me"))
            .bearer_auth(format!("{access}x"))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "[{backend}]");
        let in_url = client
            .get(api(&format!("/workouts?access_token={access}&limit=5")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(in_url.status(), StatusCode::OK, "[{backend}]");
        let logout = client
            .post(api("/auth/logout"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT, "[{backend}]");

        // The access log line of the last request is written after its response: wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !read_log(&log_path).contains("POST /api/v1/auth/logout") {
            assert!(Instant::now() < deadline, "[{backend}] no access log line");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(server);
        let log = read_log(&log_path);

        // The capture works: the log has the events of every step.
        for expected in [
            "registered user",
            "logged in",
            "POST /api/v1/auth/refresh",
            "POST /api/v1/workouts/sync",
            "access_token=[redacted]",
            " 401 ",
        ] {
            assert!(
                log.contains(expected),
                "[{backend}] the log lacks {expected:?}:\n{log}"
            );
        }
        let mut secrets: Vec<(&str, String)> = vec![
            ("password", password.clone()),
            ("wrong password", wrong_password.clone()),
            ("numeric password", numeric_password.to_string()),
            ("JWT secret", secret.clone()),
        ];
        for token in &access_tokens {
            secrets.push(("access token", token.clone()));
            // The claims and the signature on their own, too.
            let mut parts = token.split('.').skip(1);
            secrets.push(("access token claims", parts.next().unwrap().to_owned()));
            secrets.push(("access token signature", parts.next().unwrap().to_owned()));
        }
        for token in &refresh_tokens {
            secrets.push(("refresh token", token.clone()));
        }
        for (what, value) in secrets {
            assert!(
                !log.contains(&value),
                "[{backend}] the log contains a {what}:\n{log}"
            );
        }
    }
}
