//! A NUL (which PostgreSQL cannot store in text) or another control character in every text a
//! client sends, endpoint by endpoint: each is refused with the contract's error body (or, for
//! one workout of a batch, rejected alone), never a 5xx, and nothing is stored.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{per_backend, workout, TestApp, TestUser};

/// A request as the table writes it: method, path, query, JSON body.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    query: Vec<(&'static str, &'static str)>,
    body: Option<Value>,
    /// The status the contract gives it.
    status: StatusCode,
}

async fn send(app: &TestApp, user: &TestUser, case: &Case) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(case.method.clone(), app.api(&case.path))
        .bearer_auth(&user.access_token)
        .query(&case.query);
    if let Some(body) = &case.body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

per_backend!(a_nul_in_any_text_a_client_sends_is_refused_and_nothing_is_stored);
async fn a_nul_in_any_text_a_client_sends_is_refused_and_nothing_is_stored(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("kept")]).await;
    let kept = app.id_of(&user, "kept").await;
    let nul = "a\u{0}b";
    let with = |field: &str| {
        let mut w = workout("new");
        w[field] = json!(nul);
        json!({ "workouts": [w] })
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        Case {
            what: "register: email",
            method: Method::POST,
            path: "/auth/register".into(),
            query: vec![],
            body: Some(
                json!({"email": format!("x{nul}@example.com"), "password": "long enough pw"}),
            ),
            status: unprocessable,
        },
        Case {
            what: "register: time_zone",
            method: Method::POST,
            path: "/auth/register".into(),
            query: vec![],
            body: Some(
                json!({"email": "tz-nul@example.com", "password": "long enough pw", "time_zone": nul}),
            ),
            status: unprocessable,
        },
        Case {
            what: "login: email",
            method: Method::POST,
            path: "/auth/login".into(),
            query: vec![],
            body: Some(json!({"email": format!("{nul}{}", user.email), "password": user.password})),
            status: StatusCode::UNAUTHORIZED,
        },
        Case {
            what: "refresh: refresh_token",
            method: Method::POST,
            path: "/auth/refresh".into(),
            query: vec![],
            body: Some(json!({"refresh_token": nul})),
            status: StatusCode::UNAUTHORIZED,
        },
        Case {
            what: "PATCH /auth/me: time_zone",
            method: Method::PATCH,
            path: "/auth/me".into(),
            query: vec![],
            body: Some(json!({"time_zone": nul})),
            status: unprocessable,
        },
        Case {
            what: "sync: idempotency_key",
            method: Method::POST,
            path: "/workouts/sync".into(),
            query: vec![],
            body: Some(json!({"workouts": [workout("new")], "idempotency_key": nul})),
            status: unprocessable,
        },
        Case {
            what: "sync: mode",
            method: Method::POST,
            path: "/workouts/sync".into(),
            query: vec![],
            body: Some(json!({"workouts": [workout("new")], "mode": nul})),
            status: unprocessable,
        },
        Case {
            what: "sync: deleted_client_ids",
            method: Method::POST,
            path: "/workouts/sync".into(),
            query: vec![],
            body: Some(json!({"workouts": [], "deleted_client_ids": [nul]})),
            status: unprocessable,
        },
        Case {
            what: "PATCH /workouts/{id}: source",
            method: Method::PATCH,
            path: format!("/workouts/{kept}"),
            query: vec![],
            body: Some(json!({"source": nul})),
            status: unprocessable,
        },
        Case {
            what: "PUT /goals/{year}: target_days",
            method: Method::PUT,
            path: "/goals/2025".into(),
            query: vec![],
            body: Some(json!({"target_days": nul})),
            status: unprocessable,
        },
        Case {
            what: "GET /workouts: cursor",
            method: Method::GET,
            path: "/workouts".into(),
            query: vec![("cursor", "a\u{0}b")],
            body: None,
            status: StatusCode::BAD_REQUEST,
        },
        Case {
            what: "GET /workouts/changes: cursor",
            method: Method::GET,
            path: "/workouts/changes".into(),
            query: vec![("cursor", "a\u{0}b")],
            body: None,
            status: StatusCode::BAD_REQUEST,
        },
        Case {
            what: "GET /stats/dashboard: year",
            method: Method::GET,
            path: "/stats/dashboard".into(),
            query: vec![("year", "20\u{0}25")],
            body: None,
            status: StatusCode::BAD_REQUEST,
        },
    ];
    for case in &cases {
        let (status, body) = send(&app, &user, case).await;
        let ctx = format!("[{b}] {}", case.what);
        assert_eq!(status, case.status, "{ctx}: {body}");
        assert_eq!(body["success"], json!(false), "{ctx}: {body}");
    }
    // One workout of a batch with a NUL in a text field is rejected alone.
    for field in ["client_id", "source"] {
        let (status, body) = send(
            &app,
            &user,
            &Case {
                what: "sync: a workout's text",
                method: Method::POST,
                path: "/workouts/sync".into(),
                query: vec![],
                body: Some(with(field)),
                status: StatusCode::OK,
            },
        )
        .await;
        let ctx = format!("[{b}] sync: a workout's {field}");
        assert_eq!(status, StatusCode::OK, "{ctx}: {body}");
        assert_eq!(
            body["rejected"].as_array().map(Vec::len),
            Some(1),
            "{ctx}: {body}"
        );
    }
    assert_eq!(
        app.status_counts(&user).await,
        (1, 1),
        "[{b}] only the kept workout is stored, and nothing moved the change feed"
    );
    let served = app.served(&user, "kept").await;
    assert_eq!(
        served["source"],
        workout("kept")["source"],
        "[{b}] the refused edit changed nothing"
    );
}

per_backend!(a_client_id_with_an_invisible_character_is_rejected_alone);
/// Issue 15, finding 6: two client ids that print alike must be alike, so one with a
/// zero-width space or a text-direction control is rejected, naming `client_id`; the rest of
/// the batch is stored.
async fn a_client_id_with_an_invisible_character_is_rejected_alone(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let body = json!({"workouts": [
        workout("plain-id"),
        workout("zero\u{200B}width"),
        workout("\u{202E}reversed"),
    ]});
    let response = app.sync(&user, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    let body: Value = response.json().await.unwrap();
    let rejected = body["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2, "[{b}] {body}");
    for entry in rejected {
        assert!(entry["errors"]["client_id"].is_array(), "[{b}] {entry}");
    }
    assert_eq!(body["created"], json!(1), "[{b}] {body}");
}
