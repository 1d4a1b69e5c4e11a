use reqwest::StatusCode;
use serde_json::json;

use test_support::{per_backend, workout, TestApp};

per_backend!(health_and_readiness_answer);
async fn health_and_readiness_answer(app: TestApp) {
    let health = app.get_root("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK, "[{}]", app.backend);
    let ready = app.get_root("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK, "[{}]", app.backend);
    assert!(health.headers().contains_key("x-request-id"));
}

per_backend!(register_then_sync_creates_the_workout);
async fn register_then_sync_creates_the_workout(app: TestApp) {
    let user = app.register().await;
    let body = app
        .sync_ok(&user, &json!({"workouts": [workout("a")]}))
        .await;
    assert_eq!(body["created"], json!(1), "[{}] {body}", app.backend);
}
