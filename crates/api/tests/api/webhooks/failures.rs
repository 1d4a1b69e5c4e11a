//! The outbox under failure: a sync that rolls back emits nothing; a server killed with
//! `kill -9` after commit delivers after its restart; SIGTERM lets the attempt in flight
//! finish and be recorded; and a target that turns private is refused at delivery time.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, workouts, TestApp, TestDatabase};

use super::{attempts, subscribe_ok, verified_events, Receiver, FAST};
use crate::helpers::{DbProbe, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);

/// The server's settings as environment variables, with `poll_ms` between looks.
fn env(poll_ms: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = FAST
        .iter()
        .copied()
        .filter(|(k, _)| *k != "WEBHOOK_POLL_INTERVAL_MS")
        .collect();
    env.push(("WEBHOOK_POLL_INTERVAL_MS", poll_ms));
    env
}

fn deliveries(probe: &mut DbProbe, state: &str) -> i64 {
    probe.count(&format!(
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = '{state}'"
    ))
}

async fn a_rolled_back_sync_emits_nothing(db: TestDatabase) {
    let app = TestApp::spawn_at(db.url(), &FAST).await;
    let b = app.backend;
    let receiver = Receiver::start().await;
    let user = app.register().await;
    let (_, secret) = subscribe_ok(&app, &user, &receiver.url, &super::ALL_EVENTS).await;
    let mut probe = DbProbe::connect(db.url());
    // The sync's last statements fail: its workouts and events are written by then.
    if b == "postgres" {
        probe.execute(
            "CREATE FUNCTION rd_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'rolled back by the test'; END $$;
             CREATE TRIGGER rd_test_fail BEFORE INSERT ON syncs
             FOR EACH ROW EXECUTE FUNCTION rd_test_fail();",
        );
    } else {
        probe.execute(
            "CREATE TRIGGER rd_test_fail BEFORE INSERT ON syncs
             BEGIN SELECT RAISE(ABORT, 'rolled back by the test'); END;",
        );
    }
    let response = app
        .sync(&user, &json!({"workouts": workouts("rollback", 20)}))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "[{b}]"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        probe.count("SELECT COUNT(*) AS n FROM webhook_deliveries"),
        0,
        "[{b}] no delivery survived the rollback"
    );
    assert!(receiver.requests().is_empty(), "[{b}] nothing was sent");

    // The same sync, committed this time, is delivered: the subscription was listening.
    if b == "postgres" {
        probe.execute("DROP TRIGGER rd_test_fail ON syncs; DROP FUNCTION rd_test_fail();");
    } else {
        probe.execute("DROP TRIGGER rd_test_fail;");
    }
    app.sync_ok(&user, &json!({"workouts": workouts("rollback", 20)}))
        .await;
    let events = verified_events(&secret, &receiver.wait_for(21, WAIT).await);
    assert_eq!(
        super::of_type(&events, "workout.created").len(),
        20,
        "[{b}]"
    );
    receiver.stop().await;
}
per_backend!(a_rolled_back_sync_emits_nothing, database);

async fn events_committed_before_kill_9_are_delivered_after_the_restart(db: TestDatabase) {
    let receiver = Receiver::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    // A worker that looks once at start-up and then not for an hour: nothing it commits is
    // sent before the kill.
    let mut first = ServerProcess::start(db.url(), data_dir.path(), &env("3600000")).await;
    let b = first.backend;
    let client = first.client();
    let user = client.register().await;
    let (_, secret) = subscribe_ok(
        &client,
        &user,
        &receiver.url,
        &["workout.created", "sync.completed"],
    )
    .await;
    let sync = client
        .sync_ok(&user, &json!({"workouts": workouts("killed", 10)}))
        .await;
    first.kill9();
    assert!(receiver.requests().is_empty(), "[{b}] sent before the kill");
    let mut probe = DbProbe::connect(db.url());
    assert_eq!(
        deliveries(&mut probe, "pending"),
        11,
        "[{b}] committed with the sync"
    );

    let second = ServerProcess::start(db.url(), data_dir.path(), &env("50")).await;
    let events = verified_events(&secret, &receiver.wait_for(11, WAIT).await);
    assert_eq!(
        super::of_type(&events, "workout.created").len(),
        10,
        "[{b}]"
    );
    let completed = super::of_type(&events, "sync.completed");
    assert_eq!(
        completed[0]["data"]["sync"]["sync_id"], sync["sync_id"],
        "[{b}]"
    );
    test_support::wait_until("every delivery recorded", WAIT, || {
        deliveries(&mut probe, "delivered") == 11
    })
    .await;
    drop(second);
    receiver.stop().await;
}
per_backend!(
    events_committed_before_kill_9_are_delivered_after_the_restart,
    database
);

async fn sigterm_lets_the_attempt_in_flight_finish(db: TestDatabase) {
    let receiver = Receiver::slow(Duration::from_millis(1500)).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(db.url(), data_dir.path(), &env("50")).await;
    let b = server.backend;
    let client = server.client();
    let user = client.register().await;
    subscribe_ok(&client, &user, &receiver.url, &["sync.completed"]).await;
    client
        .sync_ok(&user, &json!({"workouts": workouts("term", 1)}))
        .await;
    receiver.wait_for(1, WAIT).await;
    // The receiver holds the answer for 1.5 s: the worker is mid-attempt.
    server.sigterm();
    let status = server
        .wait_for_exit(Duration::from_secs(20))
        .await
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "[{b}] a clean exit: {status}");
    let mut probe = DbProbe::connect(db.url());
    assert_eq!(
        deliveries(&mut probe, "delivered"),
        1,
        "[{b}] the attempt in flight was finished and recorded before the exit"
    );
    assert_eq!(
        probe.count("SELECT COUNT(*) AS n FROM webhook_attempts"),
        1,
        "[{b}]"
    );
    receiver.stop().await;
}
per_backend!(sigterm_lets_the_attempt_in_flight_finish, database);

/// A subscription made while private targets were allowed, delivered by an instance where
/// they are not: refused at delivery time, both as an address and as a name that resolves to
/// one (the resolver's check, which a DNS rebinding meets too). The receiver sees nothing.
async fn a_private_target_is_refused_at_delivery_time(db: TestDatabase) {
    let receiver = Receiver::start().await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let by_name = format!("http://localhost:{port}/by-name");
    let mut env = env("3600000");
    env.push(("WEBHOOK_RETRY_DELAYS_SECS", "1"));
    let lenient = TestApp::spawn_at(db.url(), &env).await;
    let b = lenient.backend;
    let user = lenient.register().await;
    let (by_address, _) = subscribe_ok(&lenient, &user, &receiver.url, &["sync.completed"]).await;
    let (by_name, _) = subscribe_ok(&lenient, &user, &by_name, &["sync.completed"]).await;
    lenient
        .sync_ok(&user, &json!({"workouts": workouts("private", 1)}))
        .await;

    let strict = TestApp::spawn_at(
        db.url(),
        &[
            ("WEBHOOK_POLL_INTERVAL_MS", "50"),
            ("WEBHOOK_RETRY_DELAYS_SECS", "1"),
        ],
    )
    .await;
    for webhook in [&by_address, &by_name] {
        test_support::wait_for("two refused attempts", WAIT, || async {
            attempts(&strict, &user, webhook).await.len() == 2
        })
        .await;
        for attempt in attempts(&strict, &user, webhook).await {
            assert_eq!(attempt["status_code"], Value::Null, "[{b}] {attempt}");
            let error = attempt["error"].as_str().unwrap();
            assert!(
                error.contains("private") || error.contains("refused"),
                "[{b}] {error}"
            );
        }
    }
    assert!(
        receiver.requests().is_empty(),
        "[{b}] nothing reached the private address"
    );
    receiver.stop().await;
}
per_backend!(a_private_target_is_refused_at_delivery_time, database);
