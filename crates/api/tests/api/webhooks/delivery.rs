//! What a receiver gets: every event of a sync, an edit and a delete, signed; a goal reached
//! and the achievements unlocked; the retry of a failed attempt with the same `webhook-id`;
//! and each attempt in `GET /webhooks/{id}/deliveries`.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{per_backend, workouts, TestApp};

use super::{attempts, call, of_type, subscribe_ok, verified_events, Receiver, ALL_EVENTS};
use crate::helpers::is_server_timestamp;
use crate::running::put_goal;

const WAIT: Duration = Duration::from_secs(20);

async fn every_change_reaches_the_receiver_signed(app: TestApp) {
    let b = app.backend;
    let receiver = Receiver::start().await;
    let user = app.register().await;
    let (webhook, secret) = subscribe_ok(&app, &user, &receiver.url, &ALL_EVENTS).await;
    // Two running days reach this goal: 2024-01-01 and 2024-01-02.
    let goal = put_goal(&app, &user, "2024", json!({"target_days": 2})).await;
    assert_eq!(goal.status(), StatusCode::OK);

    // 30 workouts an hour apart from 2024-01-01T06:00Z, 5 km each: 150 km over two days.
    let batch = workouts("hook", 30);
    let body = json!({"workouts": batch, "idempotency_key": "webhook-sync-1"});
    let sync = app.sync_ok(&user, &body).await;
    // 30 workout.created, sync.completed, goal.reached, and achievement.unlocked for days_1,
    // km_50, km_100 and goal.
    let events = verified_events(&secret, &receiver.wait_for(36, WAIT).await);
    assert_eq!(events.len(), 36, "[{b}] {events:#?}");
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 36, "[{b}] every event has its own id");
    for event in &events {
        assert!(is_server_timestamp(&event["created_at"]), "[{b}] {event}");
        assert_eq!(
            event.as_object().unwrap().len(),
            4,
            "[{b}] {{id, type, created_at, data}}"
        );
    }

    let created = of_type(&events, "workout.created");
    let mut fed: Vec<&str> = created
        .iter()
        .map(|e| e["data"]["workout"]["client_id"].as_str().unwrap())
        .collect();
    fed.sort_unstable();
    let sent: Vec<&str> = batch
        .iter()
        .map(|w| w["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(fed, sent, "[{b}] one workout.created per workout");
    for event in &created {
        assert_eq!(event["data"]["sync_id"], sync["sync_id"], "[{b}]");
        assert_eq!(event["data"]["workout"]["revision"], 1, "[{b}]");
        assert!(event["data"]["change_seq"].is_i64(), "[{b}]");
    }

    let completed = of_type(&events, "sync.completed");
    assert_eq!(completed.len(), 1, "[{b}]");
    let record = &completed[0]["data"]["sync"];
    assert_eq!(record["sync_id"], sync["sync_id"], "[{b}]");
    assert_eq!(
        (record["created"].as_u64(), record["conflicts"].as_u64()),
        (Some(30), Some(0))
    );
    assert_eq!(record["idempotency_key"], "webhook-sync-1", "[{b}]");

    let reached = of_type(&events, "goal.reached");
    assert_eq!(reached.len(), 1, "[{b}] {reached:?}");
    let data = &reached[0]["data"];
    assert_eq!(data["goal"]["year"], 2024, "[{b}]");
    assert_eq!(data["goal"]["target_days"], 2, "[{b}]");
    assert_eq!(data["days_completed"], 2, "[{b}]");
    // The first workout of the second running day: the 19th, at 00:00 on 2 January.
    assert_eq!(data["reached_at"], "2024-01-02T00:00:00Z", "[{b}]");

    let mut unlocked: Vec<&str> = of_type(&events, "achievement.unlocked")
        .iter()
        .map(|e| {
            assert_eq!(e["data"]["year"], 2024);
            assert_eq!(e["data"]["achievement"]["is_unlocked"], true);
            e["data"]["achievement"]["id"].as_str().unwrap()
        })
        .collect();
    unlocked.sort_unstable();
    assert_eq!(unlocked, ["days_1", "goal", "km_100", "km_50"], "[{b}]");

    // A replay applies nothing, so it sends nothing.
    let replay = app.sync(&user, &body).await;
    assert_eq!(replay.headers()["x-idempotent-replayed"], "true");

    // An edit and a delete through /workouts/{id}: workout.updated, workout.deleted.
    let edited_id = app.id_of(&user, "hook-0003").await;
    let deleted_id = app.id_of(&user, "hook-0004").await;
    app.patch_ok(&user, &edited_id, &json!({"distance_meters": 6000}))
        .await;
    app.delete_ok(&user, &deleted_id).await;
    let requests = receiver.wait_for(38, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = verified_events(&secret, &receiver.requests());
    assert_eq!(
        events.len(),
        38,
        "[{b}] the replay sent nothing: {:#?}",
        &events[36..]
    );
    assert_eq!(requests.len(), 38);
    let updated = of_type(&events, "workout.updated");
    assert_eq!(updated.len(), 1, "[{b}]");
    assert_eq!(updated[0]["data"]["workout"]["id"], edited_id.as_str());
    assert_eq!(updated[0]["data"]["workout"]["distance_meters"], 6000.0);
    assert_eq!(updated[0]["data"]["workout"]["revision"], 2);
    assert_eq!(updated[0]["data"]["sync_id"], Value::Null);
    let deleted = of_type(&events, "workout.deleted");
    assert_eq!(deleted.len(), 1, "[{b}]");
    assert_eq!(deleted[0]["data"]["workout"]["id"], deleted_id.as_str());

    // Every attempt is listed: one each, delivered.
    let listed = attempts(&app, &user, &webhook).await;
    assert_eq!(listed.len(), 38, "[{b}]");
    for attempt in &listed {
        assert_eq!(attempt["attempt"], 1, "[{b}] {attempt}");
        assert_eq!(attempt["status_code"], 200, "[{b}] {attempt}");
        assert_eq!(attempt["success"], true, "[{b}] {attempt}");
        assert_eq!(attempt["next_attempt_at"], Value::Null, "[{b}] {attempt}");
        assert!(
            is_server_timestamp(&attempt["attempted_at"]),
            "[{b}] {attempt}"
        );
        assert!(attempt["duration_ms"].is_u64(), "[{b}] {attempt}");
    }
    receiver.stop().await;
}
per_backend!(
    every_change_reaches_the_receiver_signed,
    crate::webhooks::FAST
);

async fn a_failed_attempt_is_retried_with_the_same_id(app: TestApp) {
    let b = app.backend;
    let receiver = Receiver::failing_first().await;
    let user = app.register().await;
    let (webhook, secret) = subscribe_ok(&app, &user, &receiver.url, &["sync.completed"]).await;
    app.sync_ok(&user, &json!({"workouts": workouts("retry", 1)}))
        .await;
    let requests = receiver.wait_for(2, WAIT).await;
    let (first, retry) = (&requests[0], &requests[1]);
    assert_eq!(first.id, retry.id, "[{b}] the same webhook-id on the retry");
    assert_eq!(first.body, retry.body, "[{b}] the same body on the retry");
    let (a, b2) = (super::verify(&secret, first), super::verify(&secret, retry));
    assert_eq!(a["type"], "sync.completed");
    assert_eq!(a, b2);
    let t = |r: &super::Received| r.timestamp.as_deref().unwrap().parse::<i64>().unwrap();
    assert!(
        t(retry) > t(first),
        "[{b}] the retry came after the schedule's second"
    );

    // Recorded before the retry is made: wait for the second attempt's record.
    test_support::wait_for("two recorded attempts", WAIT, || async {
        attempts(&app, &user, &webhook).await.len() == 2
    })
    .await;
    let listed = attempts(&app, &user, &webhook).await;
    let (newest, oldest) = (&listed[0], &listed[1]);
    assert_eq!(
        (oldest["attempt"].as_u64(), oldest["status_code"].as_u64()),
        (Some(1), Some(500))
    );
    assert_eq!(oldest["success"], false, "[{b}] {oldest}");
    assert!(
        oldest["error"].as_str().is_some_and(|e| e.contains("500")),
        "[{b}] {oldest}"
    );
    assert!(
        is_server_timestamp(&oldest["next_attempt_at"]),
        "[{b}] {oldest}"
    );
    assert_eq!(
        (newest["attempt"].as_u64(), newest["success"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(newest["event_id"], oldest["event_id"], "[{b}]");
    assert_eq!(newest["event_id"].as_str(), first.id.as_deref());

    // The test event goes through the same path: queued, signed, retried.
    let response = call(
        &app,
        &user,
        Method::POST,
        &format!("/webhooks/{webhook}/test"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "[{b}]");
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["type"], "webhook.test");
    let requests = receiver.wait_for(4, WAIT).await;
    let test_event = super::verify(&secret, &requests[3]);
    assert_eq!(
        test_event, queued,
        "[{b}] the body sent is the one announced"
    );
    assert_eq!(test_event["data"]["webhook_id"], webhook.as_str());
    receiver.stop().await;
}
per_backend!(
    a_failed_attempt_is_retried_with_the_same_id,
    crate::webhooks::FAST
);

async fn a_delivery_that_never_succeeds_fails_after_its_schedule(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    // A port nobody listens on: every attempt is a connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/gone",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let (webhook, _) = subscribe_ok(&app, &user, &url, &["sync.completed"]).await;
    app.sync_ok(&user, &json!({"workouts": workouts("gone", 1)}))
        .await;
    // "1,1,1": four attempts, then no more.
    test_support::wait_for("four attempts", WAIT, || async {
        attempts(&app, &user, &webhook).await.len() == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listed = attempts(&app, &user, &webhook).await;
    assert_eq!(listed.len(), 4, "[{b}] no fifth attempt: {listed:#?}");
    for attempt in &listed {
        assert_eq!(attempt["status_code"], Value::Null, "[{b}] {attempt}");
        assert!(attempt["error"].is_string(), "[{b}] {attempt}");
        assert!(
            !attempt["error"].as_str().unwrap().contains("/gone"),
            "[{b}] no URL in errors"
        );
    }
    assert_eq!(listed[0]["attempt"], 4);
    assert_eq!(
        listed[0]["next_attempt_at"],
        Value::Null,
        "[{b}] the last attempt ends it"
    );
}
per_backend!(
    a_delivery_that_never_succeeds_fails_after_its_schedule,
    crate::webhooks::FAST
);
