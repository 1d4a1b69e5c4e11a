//! HTTP itself, as the contract promises it: 415 for a body that is not JSON, `HEAD` wherever
//! `GET` is served, and the contract's error body on what actix refuses. None of it depends on
//! the database, so these run on SQLite only.

use reqwest::{Method, StatusCode};
use serde_json::json;
use test_support::{assert_error, request_id_header, workout, TestApp};

use crate::docs::{document, fill_parameters};

/// Non-JSON `Content-Type`s and codings the server does not decode are 415 with the error body,
/// on every kind of JSON endpoint (the sync reads its body itself, the others through the
/// JSON extractor), before authentication is even looked at; JSON types are read as before.
#[tokio::test]
async fn a_body_that_is_not_json_or_in_an_unknown_coding_is_415() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("run")]).await;
    let id = app.id_of(&user, "run").await;
    let sync = json!({"workouts": []}).to_string();
    let patch = json!({"distance_meters": 5100}).to_string();
    let register = json!({"email": "m@example.com", "password": "a long password"}).to_string();
    let patch_path = format!("/workouts/{id}");
    let endpoints = [
        (Method::POST, "/workouts/sync", sync.as_str()),
        (Method::PATCH, patch_path.as_str(), patch.as_str()),
        (Method::POST, "/auth/register", register.as_str()),
    ];
    let refused: [(&str, &str); 6] = [
        ("content-type", "text/plain"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "application/"),
        ("content-encoding", "br"),
        ("content-encoding", "x-unknown"),
        ("content-encoding", "gzip, identity"),
    ];
    for (method, path, body) in &endpoints {
        for (name, value) in refused {
            let ctx = format!("{method} {path} with {name}: {value}");
            let mut request = app
                .client
                .request(method.clone(), app.api(path))
                .bearer_auth(&user.access_token)
                .body(body.to_string());
            if name == "content-encoding" {
                request = request.header("content-type", "application/json");
            }
            let response = request.header(name, value).send().await.unwrap();
            assert!(request_id_header(&response).is_some(), "{ctx}");
            assert_error(
                response,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &ctx,
            )
            .await;
        }
        // Without a token too: the body is refused before anything reads it.
        let response = app
            .client
            .request(method.clone(), app.api(path))
            .header("content-type", "text/plain")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path}"
        );
    }
    // JSON types, identity and no Content-Type at all are read as JSON.
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("application/merge-patch+json"),
        None,
    ] {
        let mut request = app
            .client
            .patch(app.api(&patch_path))
            .bearer_auth(&user.access_token)
            .header("content-encoding", "identity")
            .body(patch.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{content_type:?}");
    }
    // Endpoints without a body do not look at Content-Type.
    let response = app
        .client
        .get(app.api("/workouts"))
        .bearer_auth(&user.access_token)
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// `HEAD` answers every documented `GET` with the `GET`'s status and headers and no body;
/// where no `GET` is served it is a 405 whose `Allow` names what is.
#[tokio::test]
async fn head_is_served_wherever_get_is() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    app.assert_all_created(&user, &[workout("run")]).await;
    let id = app.id_of(&user, "run").await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        // A year the goals accept; every id is the workout's (a 404 elsewhere is a HEAD too).
        let filled = fill_parameters(&path.replace("{year}", "2024"), &id);
        let url = format!("{}{filled}", app.address);
        let get = app
            .client
            .get(&url)
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        let head = app
            .client
            .head(&url)
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for name in ["content-type", "content-length", "etag", "cache-control"] {
            // The metrics change between the two requests (they count them).
            if path == "/metrics" && name == "content-length" {
                assert!(head.headers().contains_key(name), "HEAD {path}: {name}");
                continue;
            }
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path}: {name}"
            );
        }
        assert!(request_id_header(&head).is_some(), "HEAD {path}");
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} sent a body"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} GET operations");

    let head = app
        .client
        .head(app.api("/workouts/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.headers()["allow"], "POST");
    assert!(head.bytes().await.unwrap().is_empty());
    let get_only = app
        .client
        .delete(app.api("/workouts/changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_only.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_only.headers()["allow"], "GET, HEAD");
}
