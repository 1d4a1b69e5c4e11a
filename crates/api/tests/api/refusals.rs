//! Requests `POST /workouts/sync` refuses as a whole: malformed bodies, limits, duplicate ids,
//! bad credentials. Each answers the contract's error body and stores nothing (not even its
//! idempotency key); and every response carries `X-Request-Id`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use test_support::{
    assert_fresh, assert_refused, per_backend, request_id_header, workout, Counts, TestApp,
    TestUser, TEST_JWT_SECRET,
};

use crate::helpers::{claims_of, sign};

/// After a refused request carrying `key`: the same key with `workouts` is processed afresh
/// and every workout is new.
async fn assert_fresh_and_created(app: &TestApp, user: &TestUser, key: &str, workouts: &[Value]) {
    let b = app.backend;
    let sent = json!({"workouts": workouts, "idempotency_key": key});
    let response = app.sync(user, &sent).await;
    let body = assert_fresh(response, &format!("[{b}] after a refusal")).await;
    assert_eq!(
        body["created"],
        json!(workouts.len()),
        "[{b}] nothing was stored before: {body}"
    );
}

per_backend!(a_body_that_is_not_json_is_400);
async fn a_body_that_is_not_json_is_400(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let truncated = format!("{{\"workouts\": [{}]", workout("a"));
    for bad in [truncated.as_str(), "{\"workouts\": [", "workouts=a", ""] {
        let response = app
            .sync_raw(Some(&user.access_token), bad.to_owned(), &[])
            .await;
        assert_refused(response, StatusCode::BAD_REQUEST, b).await;
    }
    app.assert_all_created(&user, &[workout("a")]).await;
}

per_backend!(an_envelope_of_the_wrong_json_types_is_400);
async fn an_envelope_of_the_wrong_json_types_is_400(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let a = workout("a");
    for bad in [
        json!({"workouts": {}, "idempotency_key": key}),
        json!({"workouts": "x", "idempotency_key": key}),
        json!({"workouts": [a], "mode": 5, "idempotency_key": key}),
        json!({"workouts": [a], "deleted_client_ids": "b", "idempotency_key": key}),
        json!({"workouts": [a], "deleted_client_ids": [7], "idempotency_key": key}),
        json!({"workouts": [a], "idempotency_key": 7}),
        json!({"workouts": [a], "client_sync_timestamp": 1705309200, "idempotency_key": key}),
        json!(null),
        json!("workouts"),
    ] {
        let response = app.sync(&user, &bad).await;
        assert_refused(response, StatusCode::BAD_REQUEST, b).await;
    }
    assert_fresh_and_created(&app, &user, &key, &[a]).await;
}

per_backend!(a_json_array_is_not_an_envelope);
async fn a_json_array_is_not_an_envelope(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    // Each element in the order of the envelope's fields: serde would read a struct from it.
    for bad in [json!([[workout("a")], "incremental", key]), json!([])] {
        let response = app.sync(&user, &bad).await;
        assert_refused(response, StatusCode::BAD_REQUEST, b).await;
    }
    assert_fresh_and_created(&app, &user, &key, &[workout("a")]).await;
}

per_backend!(an_unknown_mode_is_422);
async fn an_unknown_mode_is_422(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"workouts": [workout("a")], "mode": "everything", "idempotency_key": key});
    assert_refused(
        app.sync(&user, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        b,
    )
    .await;

    let full = json!({"workouts": [workout("a")], "mode": "full", "idempotency_key": key});
    let body = app.sync_ok(&user, &full).await;
    assert_eq!(Counts::of(&body), Counts::created(1), "[{b}] {body}");
}

/// Sends `body` with `Transfer-Encoding: chunked` (no `Content-Length`) over a plain socket;
/// returns the response's status code.
fn post_chunked(address: &str, path: &str, token: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut request = head.into_bytes();
    for chunk in body.chunks(200) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer before reading everything; a failed write is not the point.
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"))
}

per_backend!(
    a_body_over_the_size_limit_is_413,
    [("MAX_BODY_BYTES", "1024")]
);
async fn a_body_over_the_size_limit_is_413(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let workouts: Vec<Value> = (0..12).map(|i| workout(&format!("w{i}"))).collect();
    let body = serde_json::to_vec(&json!({"workouts": workouts, "idempotency_key": key})).unwrap();
    assert!(body.len() > 2048, "the body must exceed the limit");

    let response = app
        .sync_raw(Some(&user.access_token), body.clone(), &[])
        .await;
    assert_refused(response, StatusCode::PAYLOAD_TOO_LARGE, b).await;

    let (address, token) = (app.address.clone(), user.access_token.clone());
    let status = tokio::task::spawn_blocking(move || {
        post_chunked(&address, "/api/v1/workouts/sync", &token, &body)
    })
    .await
    .unwrap();
    assert_eq!(status, 413, "[{b}] a chunked body over the limit");

    assert_fresh_and_created(&app, &user, &key, &workouts[..1]).await;
}

per_backend!(
    more_workouts_than_the_batch_limit_is_413,
    [("MAX_BATCH_SIZE", "3")]
);
async fn more_workouts_than_the_batch_limit_is_413(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let workouts: Vec<Value> = (0..4).map(|i| workout(&format!("w{i}"))).collect();
    let body = json!({"workouts": workouts, "idempotency_key": key});
    assert_refused(
        app.sync(&user, &body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        b,
    )
    .await;

    assert_fresh_and_created(&app, &user, &key, &workouts[..3]).await;
    app.assert_all_created(&user, &workouts[3..]).await;
}

per_backend!(the_same_client_id_twice_in_one_batch_is_422);
async fn the_same_client_id_twice_in_one_batch_is_422(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let mut again = workout("a");
    again["distance_meters"] = json!(6000);
    let body = json!({"workouts": [workout("a"), workout("b"), again], "idempotency_key": key});
    assert_refused(
        app.sync(&user, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        b,
    )
    .await;

    assert_fresh_and_created(&app, &user, &key, &[workout("a"), workout("b")]).await;
}

per_backend!(a_missing_malformed_or_forged_token_is_401);
async fn a_missing_malformed_or_forged_token_is_401(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let key = Uuid::new_v4().to_string();
    let body =
        serde_json::to_vec(&json!({"workouts": [workout("a")], "idempotency_key": key})).unwrap();

    let token = &user.access_token;
    let claims = claims_of(token);
    assert_eq!(
        claims["sub"],
        json!(user.id),
        "[{b}] the token speaks for the user"
    );
    let mut flipped = token.clone().into_bytes();
    let in_signature = token.rfind('.').unwrap() + 10;
    flipped[in_signature] = if flipped[in_signature] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_secret = sign(
        Algorithm::HS256,
        &claims,
        b"another-secret-that-is-long-enough-for-hs256",
    );
    let now = chrono::Utc::now().timestamp();
    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now - 7200);
    expired_claims["exp"] = json!(now - 3600);
    let expired = sign(
        Algorithm::HS256,
        &expired_claims,
        TEST_JWT_SECRET.as_bytes(),
    );
    let mut audience_claims = claims.clone();
    audience_claims["aud"] = json!("someone-else");
    let wrong_audience = sign(
        Algorithm::HS256,
        &audience_claims,
        TEST_JWT_SECRET.as_bytes(),
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );

    let mut cases: Vec<(&str, Vec<(&str, String)>)> = vec![("missing", vec![])];
    for (name, bearer) in [
        ("garbage", "garbage"),
        ("flipped signature", flipped.as_str()),
        ("other secret", other_secret.as_str()),
        ("expired", expired.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("alg none", unsigned.as_str()),
    ] {
        cases.push((name, vec![("Authorization", format!("Bearer {bearer}"))]));
    }
    let refresh = format!("Bearer {}", user.refresh_token);
    cases.push(("refresh token as bearer", vec![("Authorization", refresh)]));
    let credentials = URL_SAFE_NO_PAD.encode(format!("{}:{}", user.email, user.password));
    cases.push((
        "basic credentials",
        vec![("Authorization", format!("Basic {credentials}"))],
    ));
    cases.push((
        "empty bearer",
        vec![("Authorization", "Bearer ".to_owned())],
    ));

    for (name, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = app.sync_raw(None, body.clone(), &headers).await;
        let error = assert_refused(response, StatusCode::UNAUTHORIZED, b).await;
        assert_eq!(
            error["error"],
            json!("unauthorized"),
            "[{b}] {name}: {error}"
        );
    }

    // The forging itself is sound: the real claims re-signed with the real secret pass.
    let resigned = sign(Algorithm::HS256, &claims, TEST_JWT_SECRET.as_bytes());
    let response = app.sync_raw(Some(&resigned), body, &[]).await;
    let body = assert_fresh(response, &format!("[{b}] re-signed control")).await;
    assert_eq!(
        body["created"],
        json!(1),
        "[{b}] nothing stored by the 401s: {body}"
    );
}

per_backend!(every_response_carries_a_request_id_and_a_sent_one_is_echoed);
async fn every_response_carries_a_request_id_and_a_sent_one_is_echoed(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let valid = serde_json::to_vec(&json!({"workouts": [workout("a")]})).unwrap();
    let token = Some(user.access_token.as_str());

    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (token, valid.clone(), StatusCode::OK),
        (token, b"{".to_vec(), StatusCode::BAD_REQUEST),
        (None, valid.clone(), StatusCode::UNAUTHORIZED),
        (
            token,
            br#"{"mode": "everything"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (i, (token, body, status)) in cases.into_iter().enumerate() {
        let generated = app.sync_raw(token, body.clone(), &[]).await;
        assert_eq!(generated.status(), status, "[{b}] case {i}");
        let id = request_id_header(&generated);
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "[{b}] case {i}: a generated X-Request-Id"
        );

        let sent = format!("ios-trace-{i}-{}", Uuid::new_v4().simple());
        let echoed = app.sync_raw(token, body, &[("X-Request-Id", &sent)]).await;
        assert_eq!(echoed.status(), status, "[{b}] case {i}");
        let id = request_id_header(&echoed);
        assert_eq!(
            id.as_deref(),
            Some(sent.as_str()),
            "[{b}] case {i}: the sent X-Request-Id is echoed"
        );
    }
}
