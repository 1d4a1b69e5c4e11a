//! The database unreachable, locked, or out of pooled connections: a quick 503 with
//! `Retry-After`, then service again without a restart.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use test_support::{per_backend, wait_for, workouts, TestApp, TestDatabase, TestUser};

use crate::helpers::{socket_addr_of, DbProbe, TcpProxy};

use super::{
    assert_unavailable, assert_unavailable_within, hold_sync_lock, spawn_sync, timed_get,
    timed_sync, wait_until_parked, QUICK,
};

/// A server on `db` reached through a [`TcpProxy`] (a small pool that gives up quickly), and a
/// user with two workouts stored before anything goes wrong.
async fn behind_proxy(db: &TestDatabase) -> (TcpProxy, TestApp, TestUser) {
    let proxy = TcpProxy::start(socket_addr_of(db.url()));
    let app = TestApp::spawn_at(
        &proxy.url_for(db.url()),
        &[("DB_POOL_TIMEOUT_MS", "500"), ("DB_POOL_SIZE", "2")],
    )
    .await;
    let user = app.register().await;
    app.assert_all_created(&user, &workouts("before", 2)).await;
    (proxy, app, user)
}

/// Waits (up to 20 s) until `/readyz` answers 200 again.
async fn wait_until_ready(app: &TestApp, what: &str) {
    wait_for(what, Duration::from_secs(20), || async {
        app.get_root("/readyz").await.status() == StatusCode::OK
    })
    .await;
}

/// PostgreSQL only (skipped with a notice without `TEST_DATABASE_URL`): the database is cut off
/// at the network, which a SQLite file has not.
#[tokio::test]
async fn postgres_unreachable_is_a_quick_503_and_the_same_process_recovers() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (proxy, app, user) = behind_proxy(&db).await;

    // A sync inside its transaction (waiting for the user's row, which the test holds over a
    // direct connection) when the database goes away: its connection dies under it.
    let mut probe = DbProbe::connect(db.url());
    hold_sync_lock(&mut probe, &user);
    let cut_short = spawn_sync(&app, &user, &json!({"workouts": workouts("during", 2)}));
    wait_until_parked(&mut probe, &app).await;
    proxy.cut();
    let answer = tokio::time::timeout(Duration::from_secs(5), cut_short)
        .await
        .expect("[postgres] the sync whose connection died answered within 5 s")
        .unwrap()
        .expect("an answer");
    assert_unavailable(
        &answer,
        "[postgres] a sync whose connection died mid-transaction",
    );
    probe.execute("ROLLBACK;");

    for round in 0..2 {
        let body = json!({"workouts": workouts("during", 2)});
        let (answer, elapsed) = timed_sync(&app, &user, &body).await;
        let what = format!("[postgres] sync {round} with the database cut off");
        assert_unavailable_within(&answer, elapsed, QUICK, &what);
        for (what, url, as_user) in [
            ("read", app.api("/sync/status"), Some(&user)),
            ("changes", app.api("/workouts/changes"), Some(&user)),
            ("readyz", format!("{}/readyz", app.address), None),
        ] {
            let (answer, elapsed) = timed_get(&app, url, as_user).await;
            let what = format!("[postgres] {what} with the database cut off");
            assert_unavailable_within(&answer, elapsed, QUICK, &what);
        }
    }

    proxy.restore();
    wait_until_ready(&app, "[postgres] the process to recover").await;
    // The same process serves again, and the refused sync stored nothing.
    app.assert_all_created(&user, &workouts("during", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[postgres]");
    drop(app);
    drop(proxy);
}

/// PostgreSQL only: the network to the database goes silent (no reset, nothing answers). The
/// readiness probe answers 503 within its deadline each time, instead of hanging with the
/// network, and the same process is ready again once the network speaks.
#[tokio::test]
async fn a_silent_database_network_makes_readyz_a_quick_503_until_it_speaks_again() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (proxy, app, user) = behind_proxy(&db).await;

    proxy.silence();
    // More probes than pooled connections: each one stuck on a silent connection, and then the
    // ones that find no free connection, all answer in time.
    for probe in 0..4 {
        let (answer, elapsed) = timed_get(&app, format!("{}/readyz", app.address), None).await;
        let what = format!("[postgres] readyz {probe} with the network silent");
        assert_unavailable_within(&answer, elapsed, QUICK, &what);
    }

    proxy.speak();
    wait_until_ready(&app, "[postgres] the process to be ready again").await;
    app.assert_all_created(&user, &workouts("after", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[postgres]");
}

/// PostgreSQL only: a sync already inside its transaction when the network to the database goes
/// silent is answered 503 within 5 s instead of after the outage, and so are the requests that
/// come after it. The given-up sync goes on writing once the network speaks, unseen, and then
/// rolls back instead of committing: the client's retry creates its workouts, once.
#[tokio::test]
async fn a_sync_in_flight_when_the_network_goes_silent_is_a_quick_503_and_rolls_back() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (proxy, app, user) = behind_proxy(&db).await;

    let mut probe = DbProbe::connect(db.url());
    hold_sync_lock(&mut probe, &user);
    let body = json!({"workouts": workouts("during", 2)});
    let in_flight = spawn_sync(&app, &user, &body);
    wait_until_parked(&mut probe, &app).await;
    proxy.silence();
    // The lock comes free while the network is silent: the sync's lock is granted and its
    // statements run, but no answer reaches the server.
    probe.execute("ROLLBACK;");
    let answer = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("[postgres] the sync in flight answered within 5 s of the silence")
        .unwrap()
        .expect("an answer");
    assert_unavailable(&answer, "[postgres] a sync in flight on a silent network");
    for round in 0..2 {
        let (answer, elapsed) = timed_sync(&app, &user, &body).await;
        let what = format!("[postgres] sync {round} on the silent network");
        assert_unavailable_within(&answer, elapsed, QUICK, &what);
        let (answer, elapsed) = timed_get(&app, app.api("/sync/status"), Some(&user)).await;
        let what = format!("[postgres] read {round} on the silent network");
        assert_unavailable_within(&answer, elapsed, QUICK, &what);
    }

    proxy.speak();
    wait_until_ready(&app, "[postgres] the process to be ready again").await;
    // Nothing of the given-up syncs was committed: the retry creates every workout.
    app.assert_all_created(&user, &workouts("during", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[postgres]");
}

/// SQLite only: a file another connection holds locked (PostgreSQL's row locks are covered by
/// the pool and SIGTERM tests).
#[tokio::test]
async fn a_sqlite_file_locked_past_the_busy_timeout_is_a_quick_503_then_serves_again() {
    let db = TestDatabase::sqlite();
    let url = db.url().to_owned();
    let app = TestApp::spawn_on(db, &[("DB_LOCK_WAIT_MS", "300")]).await;
    let user = app.register().await;
    app.assert_all_created(&user, &workouts("before", 2)).await;

    let mut probe = DbProbe::connect(&url);
    probe.execute("BEGIN EXCLUSIVE;");
    let body = json!({"workouts": workouts("during", 2)});
    let (answer, elapsed) = timed_sync(&app, &user, &body).await;
    // It waited the busy timeout (300 ms), then answered.
    let busy_timeout_then = Duration::from_millis(250)..Duration::from_secs(5);
    let what = "[sqlite] sync with the file locked";
    assert_unavailable_within(&answer, elapsed, busy_timeout_then, what);

    probe.execute("ROLLBACK;");
    app.assert_all_created(&user, &workouts("during", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[sqlite]");
}

// PostgreSQL: the only pooled connection parks in a sync waiting for its user's row lock,
// and the next request is a 503 after the checkout timeout. SQLite: the sync parks on the
// writer's own connection, so the readers' pool is not exhausted and reads still answer.
per_backend!(
    an_exhausted_pool_is_a_503_after_the_checkout_timeout,
    database
);
async fn an_exhausted_pool_is_a_503_after_the_checkout_timeout(db: TestDatabase) {
    let url = db.url().to_owned();
    let app = TestApp::spawn_on(
        db,
        &[
            ("DB_POOL_SIZE", "1"),
            ("DB_POOL_TIMEOUT_MS", "200"),
            ("DB_LOCK_WAIT_MS", "10000"),
        ],
    )
    .await;
    let b = app.backend;
    let user = app.register().await;
    let batch = workouts("parked", 20);

    // The only connection parks in a sync waiting for a lock the test holds.
    let mut probe = DbProbe::connect(&url);
    hold_sync_lock(&mut probe, &user);
    let parked = spawn_sync(&app, &user, &json!({ "workouts": batch }));
    wait_until_parked(&mut probe, &app).await;

    for (what, url, as_user) in [
        ("read", app.api("/sync/status"), Some(&user)),
        ("readyz", format!("{}/readyz", app.address), None),
    ] {
        let (answer, elapsed) = timed_get(&app, url, as_user).await;
        if b == "sqlite" {
            // SQLite's writer parks on the writer's own connection: the readers' only one is
            // free, and answers at once.
            assert_eq!(
                answer.0,
                StatusCode::OK,
                "[{b}] {what} beside a parked writer"
            );
            assert!(
                elapsed < Duration::from_secs(1),
                "[{b}] {what}: {elapsed:?}"
            );
            continue;
        }
        // A 503 after about the 200 ms checkout timeout.
        let checkout_timeout_then = Duration::from_millis(150)..Duration::from_secs(2);
        let what = format!("[{b}] {what} with the pool exhausted");
        assert_unavailable_within(&answer, elapsed, checkout_timeout_then, &what);
    }
    assert!(
        !parked.is_finished(),
        "[{b}] the parked sync is still waiting"
    );

    probe.execute("ROLLBACK;");
    let (status, _, _, text) = parked.await.unwrap().expect("parked sync answers");
    assert_eq!(status, StatusCode::OK, "[{b}] the parked sync: {text}");
    assert_eq!(
        app.status_counts(&user).await,
        (20, 20),
        "[{b}] the pool serves again"
    );
}
