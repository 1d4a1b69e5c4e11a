//! The server's own lifecycle: SIGTERM lets the sync in flight finish before a clean exit, and
//! the periodic task purges expired idempotency records.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, wait_for, wait_until, workouts, TestApp, TestDatabase};
use uuid::Uuid;

use crate::helpers::{DbProbe, ServerProcess};

use super::{hold_sync_lock, spawn_sync, sync_answer, wait_until_parked};

per_backend!(
    sigterm_stops_accepting_finishes_the_sync_in_flight_and_exits_zero,
    database
);
async fn sigterm_stops_accepting_finishes_the_sync_in_flight_and_exits_zero(db: TestDatabase) {
    let env = [
        ("DB_LOCK_WAIT_MS", "10000"),
        ("SHUTDOWN_TIMEOUT_SECS", "10"),
    ];
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(db.url(), data_dir.path(), &env).await;
    let b = server.backend;
    let app = server.client();
    let user = app.register().await;
    let batch = workouts("term", 200);

    let mut probe = DbProbe::connect(db.url());
    hold_sync_lock(&mut probe, &user);
    let in_flight = spawn_sync(&app, &user, &json!({ "workouts": batch }));
    wait_until_parked(&mut probe, &app).await;

    server.sigterm();
    let signalled = Instant::now();
    let port = server.port;
    wait_until(
        "new connections refused after SIGTERM",
        Duration::from_secs(3),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        },
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "[{b}] the sync is still parked when the listener is closed"
    );
    // Held past actix's first one-second shutdown check, so a server that gave in-flight
    // requests no grace (SHUTDOWN_TIMEOUT_SECS=0) would drop this one.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(signalled.elapsed())).await;
    assert!(
        !in_flight.is_finished(),
        "[{b}] the sync waits for the lock"
    );
    probe.execute("ROLLBACK;");

    let (status, replayed, _, text) = in_flight
        .await
        .unwrap()
        .expect("the in-flight sync gets its answer");
    assert_eq!(status, StatusCode::OK, "[{b}] in-flight sync: {text}");
    assert_eq!(replayed, None, "[{b}]");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["created"], json!(batch.len()), "[{b}] {parsed}");
    let exit = server
        .wait_for_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("[{b}] the server did not exit after SIGTERM"));
    assert_eq!(exit.code(), Some(0), "[{b}] exit status {exit:?}");

    // Its effects were committed.
    let server = ServerProcess::start(db.url(), data_dir.path(), &env).await;
    let app = server.client();
    assert_eq!(
        app.status_counts(&user).await,
        (batch.len() as i64, batch.len() as i64),
        "[{b}] after restart"
    );
}

per_backend!(
    expired_idempotency_records_are_purged_by_the_periodic_task,
    database
);
async fn expired_idempotency_records_are_purged_by_the_periodic_task(db: TestDatabase) {
    let url = db.url().to_owned();
    let app = TestApp::spawn_on(
        db,
        &[("IDEMPOTENCY_TTL_SECS", "1"), ("PURGE_INTERVAL_SECS", "1")],
    )
    .await;
    let b = app.backend;
    let user = app.register().await;
    let key = format!("purge_{}", Uuid::new_v4().simple());
    let keyed = |prefix| json!({"workouts": workouts(prefix, 1), "idempotency_key": key});
    let first = sync_answer(&app, &user, &keyed("a")).await;
    assert_eq!(first.0, StatusCode::OK, "[{b}] {}", first.3);

    let mut probe = DbProbe::connect(&url);
    let stored = "SELECT COUNT(*) AS n FROM idempotency_records";
    assert_eq!(probe.count(stored), 1, "[{b}] the key's record is stored");
    let before = app
        .metric("idempotency_records_purged_total")
        .await
        .unwrap_or_else(|| panic!("[{b}] /metrics has idempotency_records_purged_total"));
    wait_for(
        &format!("[{b}] the purge to count a record"),
        Duration::from_secs(10),
        || async {
            app.metric("idempotency_records_purged_total")
                .await
                .is_some_and(|n| n > before)
        },
    )
    .await;
    assert_eq!(probe.count(stored), 0, "[{b}] the record is gone");

    // The key is free again: another request with it is processed, not refused.
    let other = sync_answer(&app, &user, &keyed("b")).await;
    assert_eq!(other.0, StatusCode::OK, "[{b}] {}", other.3);
    assert_eq!(other.1, None, "[{b}] processed, not replayed");
    let parsed: Value = serde_json::from_str(&other.3).unwrap();
    assert_eq!(parsed["created"], json!(1), "[{b}] {parsed}");
}
