//! The OpenAPI document, the docs page and the metrics endpoint. The document and the page do
//! not depend on the database, so their tests run on SQLite only; the metrics test runs per
//! backend.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use test_support::{per_backend, workout, TestApp};

/// Registration is the documentation: every operation of the document reaches a handler (no
/// fallback 404 or 405), and any other method on a documented path is a 405 whose `Allow`
/// names exactly the documented methods.
#[tokio::test]
async fn every_documented_operation_is_served_and_other_methods_are_refused_with_allow() {
    let app = TestApp::spawn().await;
    let response = app.get_with("/openapi.json", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("the document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 18, "only {} paths documented", paths.len());
    let any_id = uuid::Uuid::new_v4().to_string();
    for (path, item) in paths {
        let url = format!("{}{}", app.address, fill_parameters(path, &any_id));
        let documented: BTreeSet<String> = item
            .as_object()
            .expect("path item")
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in &documented {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && !(status == StatusCode::NOT_FOUND && body["message"] == "no such endpoint"),
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
        let other = ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .find(|m| !documented.contains(*m))
            .expect("some method is not documented");
        let method = reqwest::Method::from_bytes(other.as_bytes()).unwrap();
        let response = app.client.request(method, &url).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{other} {path}"
        );
        let allow: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        // `HEAD` is served wherever `GET` is, undocumented (`edge`).
        let mut served = documented.clone();
        if documented.contains("GET") {
            served.insert("HEAD".to_owned());
        }
        assert_eq!(allow, served, "Allow of {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], json!("method_not_allowed"), "{body}");
    }
    let unknown = app.get_with("/no-such-thing", None, &[]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], json!("not_found"), "{body}");
}

/// The served OpenAPI document.
pub(crate) async fn document(app: &TestApp) -> Value {
    let response = app.get_with("/openapi.json", None, &[]).await;
    response.json().await.expect("the document is JSON")
}

/// A documented path with every `{parameter}` replaced by `value`.
pub(crate) fn fill_parameters(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_endpoint_that_needs_a_token_says_so_and_names_its_errors() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer_auth"];
    assert_eq!(scheme["scheme"], json!("bearer"), "{scheme}");

    let public = [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().expect("responses");
            // 200, 201, 204, or 202 for work queued (a webhook's test event).
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} documents no success"
            );
            if path.starts_with("/api/v1/")
                && !public.contains(&path.as_str())
                && !path.ends_with("openapi.json")
                && !path.ends_with("/docs")
            {
                assert!(
                    op["security"].is_array(),
                    "{method} {path} does not require the bearer token"
                );
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} does not document 401"
                );
            }
        }
    }
    let sync = &doc["paths"]["/api/v1/workouts/sync"]["post"];
    for status in ["200", "400", "401", "409", "413", "422", "429", "503"] {
        assert!(
            sync["responses"][status].is_object(),
            "sync does not document {status}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "SyncResponse",
        "Conflict",
        "RejectedWorkout",
        "WorkoutView",
        "ErrorBody",
        "SyncRequest",
        "WorkoutInput",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

#[tokio::test]
async fn the_docs_page_renders_the_document() {
    let app = TestApp::spawn().await;
    let response = app.get_with("/docs", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(
        page.contains("/api/v1/openapi.json"),
        "the page does not load the document"
    );
    assert!(
        page.contains("<code>/api/v1/workouts/sync</code>"),
        "the page does not list the operations"
    );
    assert!(
        !page.contains("://"),
        "the page loads something from another host"
    );
}

/// The value of one sample line of a Prometheus text exposition (0 when absent).
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name_and_labels)?
                .strip_prefix(' ')?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

per_backend!(metrics_move_after_a_sync);
async fn metrics_move_after_a_sync(app: TestApp) {
    let b = app.backend;
    let metrics = || async {
        let r = app.get_root("/metrics").await;
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    };
    let user = app.register().await;
    let before = metrics().await;
    let body = json!({"workouts": [workout("a"), workout("b"), {"client_id": "bad"}], "idempotency_key": "m1"});
    app.sync_ok(&user, &body).await;
    app.sync_ok(&user, &body).await; // replayed
    let after = metrics().await;

    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta(r#"sync_workouts_total{outcome="created"}"#),
        2.0,
        "[{b}]\n{after}"
    );
    assert_eq!(
        delta(r#"sync_workouts_total{outcome="rejected"}"#),
        1.0,
        "[{b}]"
    );
    assert_eq!(delta("sync_idempotent_replays_total"), 1.0, "[{b}]");
    let route = r#"route="/api/v1/workouts/sync",method="POST""#;
    assert_eq!(
        delta(&format!("http_requests_total{{{route},status=\"200\"}}")),
        2.0,
        "[{b}]"
    );
    assert!(
        sample(
            &after,
            &format!("http_request_duration_seconds_count{{{route}}}")
        ) >= 2.0,
        "[{b}]"
    );
    assert!(sample(&after, "db_pool_max_size") >= 1.0, "[{b}]");
    assert!(after.contains("db_pool_in_use "), "[{b}]");
}

/// With rate limits on, the limiter needs the user to pick a budget and `AuthUser` needs the
/// session: the bearer token is still verified once per request, not twice.
#[tokio::test]
async fn each_authenticated_request_verifies_its_token_once() {
    let app = TestApp::spawn_with(&[("RATE_LIMITS", "on")]).await;
    let user = app.register().await;
    let before = app
        .metric("auth_token_verifications_total")
        .await
        .expect("the counter is exported");
    for _ in 0..5 {
        app.get_ok(&user, "/sync/status", &[]).await;
    }
    let after = app.metric("auth_token_verifications_total").await.unwrap();
    assert_eq!(after - before, 5.0);
}

/// Every operation has an `operationId`, and no two share one (generators name methods by it).
#[tokio::test]
async fn every_operation_id_is_present_and_unique() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                seen.insert(id.to_owned()),
                "{method} {path}: operationId {id} repeats"
            );
        }
    }
}

/// The document says what the server enforces: `mode` is one of two names, cursors are
/// base64url as the server makes them, `workouts` may be `null` (the server reads it as
/// absent), and every operation with a body documents its 415.
#[tokio::test]
async fn the_document_describes_modes_cursors_null_workouts_and_415() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let request = &schemas["SyncRequest"]["properties"];
    // `mode` may be `null` (absent) or one of the `SyncMode` names.
    let mode = request["mode"]["oneOf"]
        .as_array()
        .and_then(|choices| choices.iter().find_map(|c| c["$ref"].as_str()))
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map_or(&request["mode"], |name| &schemas[name]);
    let modes: BTreeSet<&str> = mode["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("mode is not an enum: {}", request["mode"]))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        modes,
        BTreeSet::from(["incremental", "full"]),
        "{}",
        request["mode"]
    );
    assert!(
        request["workouts"]["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null"))),
        "workouts: null is accepted by the server: {}",
        request["workouts"]
    );

    const PATTERN: &str = "^[A-Za-z0-9_-]+$";
    let cursors = [
        &schemas["WorkoutPage"]["properties"]["next_cursor"],
        &schemas["ChangesPage"]["properties"]["next_cursor"],
        &schemas["SyncResponse"]["properties"]["next_cursor"],
        &schemas["SyncStatusBody"]["properties"]["server_cursor"],
        &schemas["SyncView"]["properties"]["server_cursor"],
    ];
    for cursor in cursors {
        assert_eq!(cursor["pattern"], json!(PATTERN), "{cursor}");
    }
    for path in ["/api/v1/workouts", "/api/v1/workouts/changes"] {
        let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let cursor = parameters.iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(
            cursor["schema"]["pattern"],
            json!(PATTERN),
            "{path}: {cursor}"
        );
    }
    // The server's cursors match it.
    let user = app.register().await;
    let synced = app
        .sync_ok(&user, &json!({"workouts": [workout("a"), workout("b")]}))
        .await;
    let page = app.get_ok(&user, "/workouts", &[("limit", "1")]).await;
    for cursor in [&synced["next_cursor"], &page["next_cursor"]] {
        let text = cursor.as_str().unwrap();
        assert!(
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
    }

    // Login reads any password (a short one is a wrong one: 401), registration bounds it.
    let login = &doc["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["$ref"];
    let login = &schemas[login
        .as_str()
        .unwrap()
        .trim_start_matches("#/components/schemas/")];
    let password = &login["properties"]["password"];
    assert!(
        password.is_object() && password.get("minLength").is_none(),
        "{login}"
    );
    assert_eq!(
        schemas["Credentials"]["properties"]["password"]["minLength"],
        json!(8)
    );

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                assert!(
                    op["responses"]["415"].is_object(),
                    "{method} {path} does not document 415"
                );
            }
        }
    }
}
