//! Running days through real HTTP: the runner's calendar (time zones and workout dates), goals,
//! and the numbers of the dashboard and insights, on every backend.

mod calendar;
mod goals;
mod numbers;
mod strict;

use chrono::{DateTime, Duration, SecondsFormat};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use test_support::{TestApp, TestUser};

/// Registers a fresh account in `time_zone` (`None`: the field is left out).
pub async fn register_in(app: &TestApp, time_zone: Option<&str>) -> (TestUser, Value) {
    let email = format!("runner-{}@example.com", Uuid::new_v4().simple());
    let password = "correct horse battery".to_owned();
    let mut body = json!({"email": email, "password": password});
    if let Some(zone) = time_zone {
        body["time_zone"] = json!(zone);
    }
    let response = app
        .client
        .post(app.api("/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("register request");
    let status = response.status();
    let body: Value = response.json().await.expect("register body");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "[{}] register: {body}",
        app.backend
    );
    let text = |key: &str| body[key].as_str().expect(key).to_owned();
    let user = TestUser {
        id: body["user"]["id"].as_str().expect("user id").to_owned(),
        email,
        password,
        access_token: text("access_token"),
        refresh_token: text("refresh_token"),
    };
    (user, body)
}

/// `PATCH /auth/me {time_zone}`.
pub async fn set_time_zone(app: &TestApp, user: &TestUser, zone: &str) -> Response {
    app.client
        .patch(app.api("/auth/me"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "time_zone": zone }))
        .send()
        .await
        .expect("PATCH /auth/me")
}

/// A run of `minutes` and `meters` starting at `start` (RFC 3339, in the offset it is sent
/// with; `end_time` in the same offset).
pub fn run(client_id: &str, start: &str, minutes: i64, meters: f64) -> Value {
    let start_at = DateTime::parse_from_rfc3339(start).expect("a valid start");
    let end = (start_at + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::AutoSi, true);
    json!({
        "client_id": client_id,
        "start_time": start,
        "end_time": end,
        "duration_seconds": minutes * 60,
        "distance_meters": meters,
        "source": "apple_watch"
    })
}

/// Syncs `runs` and returns the sync response.
pub async fn sync_runs(app: &TestApp, user: &TestUser, runs: Vec<Value>) -> Value {
    app.sync_ok(user, &json!({ "workouts": runs })).await
}

/// The user's live workouts by client id (one page; these tests store few).
pub async fn workouts_by_client_id(
    app: &TestApp,
    user: &TestUser,
) -> std::collections::BTreeMap<String, Value> {
    let page = app.get_ok(user, "/workouts?limit=200", &[]).await;
    page["workouts"]
        .as_array()
        .expect("workouts")
        .iter()
        .map(|w| {
            (
                w["client_id"].as_str().expect("client_id").to_owned(),
                w.clone(),
            )
        })
        .collect()
}

/// `PUT /goals/{year}` with a JSON body (`year` as written in the path).
pub async fn put_goal(app: &TestApp, user: &TestUser, year: &str, body: Value) -> Response {
    app.client
        .put(app.api(&format!("/goals/{year}")))
        .bearer_auth(&user.access_token)
        .json(&body)
        .send()
        .await
        .expect("PUT /goals")
}

/// `DELETE /goals/{year}`.
pub async fn delete_goal(app: &TestApp, user: &TestUser, year: &str) -> Response {
    app.client
        .delete(app.api(&format!("/goals/{year}")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("DELETE /goals")
}

/// Today in `zone`, as the server computes it (a test running across midnight could see two
/// days; the suites keep their runs a day clear of that edge).
pub fn today_in(zone: &str) -> chrono::NaiveDate {
    let zone = sync_core::running::parse_time_zone(zone).expect("a known zone");
    sync_core::running::today_in(zone, chrono::Utc::now())
}

/// 07:00 UTC on `date`, as the iOS app sends a morning run.
pub fn morning_of(date: chrono::NaiveDate) -> String {
    format!("{date}T07:00:00Z")
}
