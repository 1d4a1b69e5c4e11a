//! Subscriptions: the secret shown once, every object the caller's own, limits on what a
//! client controls, and targets on private addresses refused (SSRF).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{assert_error, per_backend, TestApp};

use super::{call, subscribe, subscribe_ok, ALL_EVENTS};

async fn a_subscription_is_its_owners_alone(app: TestApp) {
    let b = app.backend;
    let (owner, other) = (app.register().await, app.register().await);
    let url = "http://127.0.0.1:9/hooks";
    let response = subscribe(&app, &owner, url, &["goal.reached", "workout.created"]).await;
    assert_eq!(response.status(), StatusCode::CREATED, "[{b}]");
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 6 + 44,
        "[{b}] {secret}"
    );
    // Catalogue order, whatever the request's.
    assert_eq!(
        created["events"],
        json!(["workout.created", "goal.reached"]),
        "[{b}]"
    );
    assert_eq!(created["url"], url);

    let listed: Value = call(&app, &owner, Method::GET, "/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "[{b}] {listed}");
    assert!(
        listed[0].get("secret").is_none(),
        "[{b}] the secret is shown once"
    );
    let one: Value = call(&app, &owner, Method::GET, &format!("/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one, listed[0], "[{b}]");

    // Another account sees nothing of it, by any path.
    let empty: Value = call(&app, &other, Method::GET, "/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty, json!([]), "[{b}]");
    for (method, path) in [
        (Method::GET, format!("/webhooks/{id}")),
        (Method::GET, format!("/webhooks/{id}/deliveries")),
        (Method::POST, format!("/webhooks/{id}/test")),
        (Method::DELETE, format!("/webhooks/{id}")),
    ] {
        let response = call(&app, &other, method.clone(), &path).await;
        assert_error(
            response,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("[{b}] {method} {path}"),
        )
        .await;
        let response = call(
            &app,
            &owner,
            method.clone(),
            &path.replace(&id, "not-a-uuid"),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "[{b}] {method} {path}"
        );
    }
    let response = app.client.get(app.api("/webhooks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "[{b}]");

    // Deleted: gone for the owner too.
    let response = call(&app, &owner, Method::DELETE, &format!("/webhooks/{id}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "[{b}]");
    let response = call(&app, &owner, Method::GET, &format!("/webhooks/{id}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "[{b}]");
}
per_backend!(a_subscription_is_its_owners_alone, crate::webhooks::FAST);

async fn what_a_client_sends_is_bounded(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let refused = |body: Value| {
        let app = &app;
        let user = &user;
        async move {
            let response = app
                .client
                .post(app.api("/webhooks"))
                .bearer_auth(&user.access_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let body = assert_error(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "",
            )
            .await;
            body["errors"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        }
    };
    let url = "http://127.0.0.1:9/x";
    assert_eq!(refused(json!({"url": url, "events": []})).await, ["events"]);
    assert_eq!(refused(json!({"url": url})).await, ["events"]);
    assert_eq!(
        refused(json!({"url": url, "events": ["workout.created", "workout.created"]})).await,
        ["events[1]"]
    );
    assert_eq!(
        refused(json!({"url": url, "events": ["webhook.test"]})).await,
        ["events[0]"]
    );
    let long = format!("https://example.com/{}", "a".repeat(2048));
    assert_eq!(
        refused(json!({"url": long, "events": ["sync.completed"]})).await,
        ["url"]
    );
    assert_eq!(
        refused(json!({"url": 5, "events": "all"})).await,
        ["events", "url"]
    );
    assert_eq!(
        refused(json!({"url": "ftp://example.com/", "events": ["sync.completed"]})).await,
        ["url"]
    );

    // At most ten subscriptions per account.
    for _ in 0..10 {
        subscribe_ok(&app, &user, url, &ALL_EVENTS).await;
    }
    let response = subscribe(&app, &user, url, &ALL_EVENTS).await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        "webhook_limit_reached",
        &format!("[{b}] the eleventh"),
    )
    .await;
}
per_backend!(what_a_client_sends_is_bounded, crate::webhooks::FAST);

/// Without `WEBHOOK_ALLOW_PRIVATE_TARGETS`, every target that is not on the public internet is
/// refused when subscribing, whether written as an address or as a name that resolves to one.
async fn private_targets_are_refused(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://LOCALHOST./hook",
        "http://2130706433/",
        "http://0.0.0.0/",
        "http://10.0.0.8/hook",
        "http://172.20.1.1/hook",
        "http://192.168.1.10/hook",
        "http://100.64.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::1]/hook",
        "http://[::]/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:a9fe:a9fe]/hook",
        "https://user:password@example.com/hook",
        "http://does-not-resolve.invalid/hook",
    ] {
        let response = subscribe(&app, &user, url, &["sync.completed"]).await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &format!("[{b}] {url}"),
        )
        .await;
        assert!(body["errors"]["url"].is_array(), "[{b}] {url}: {body}");
    }
    let listed: Value = call(&app, &user, Method::GET, "/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "[{b}] nothing was stored");
}
per_backend!(private_targets_are_refused);
