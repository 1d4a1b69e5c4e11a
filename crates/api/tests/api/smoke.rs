use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{workout, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_on_every_backend() {
    for app in TestApp::spawn_all().await {
        let health = app
            .client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK, "[{}]", app.backend);
        let ready = app
            .client
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "[{}]", app.backend);
        assert!(health.headers().contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn register_then_sync_creates_the_workout() {
    for app in TestApp::spawn_all().await {
        let user = app.register().await;
        let body = app
            .sync_ok(&user, &json!({"workouts": [workout("a")]}))
            .await;
        assert_eq!(body["created"], json!(1), "[{}] {body}", app.backend);
    }
}
