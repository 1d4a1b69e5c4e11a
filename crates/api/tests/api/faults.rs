//! Faults: the server killed (`kill -9`) in the middle of a large sync, the database unreachable
//! or locked, the pool exhausted, SIGTERM with a sync in flight, and the periodic purge of
//! expired idempotency records. A spawned `sync-server` process where the fault needs a real
//! process; PostgreSQL is cut off through a proxy, never stopped.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sync_store::testing::TestDatabase;
use uuid::Uuid;

use crate::helpers::{
    assert_no_driver_text, replayed_header, socket_addr_of, wait_until, workouts, Counts, DbProbe,
    ServerProcess, TcpProxy, TestApp, TestUser,
};

/// Workouts in the large sync that is interrupted.
const LARGE: usize = 1000;

/// PostgreSQL: client sessions of the current database other than the asking one.
const OTHER_CLIENT_SESSIONS: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND backend_type = 'client backend' \
     AND pid <> pg_backend_pid()";

/// `(status, X-Idempotent-Replayed, Retry-After present, body)` of a sync.
type Answer = (StatusCode, Option<String>, bool, String);

/// Sends a raw sync body (JSON bytes) and reads the whole answer.
async fn send_sync(
    client: reqwest::Client,
    url: String,
    token: String,
    body: Vec<u8>,
) -> reqwest::Result<Answer> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let replayed = replayed_header(&response);
    let retry_after = response.headers().contains_key("retry-after");
    Ok((status, replayed, retry_after, response.text().await?))
}

/// Starts a sync in the background (it may be parked or cut short by the test).
fn spawn_sync(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
) -> tokio::task::JoinHandle<reqwest::Result<Answer>> {
    tokio::spawn(send_sync(
        app.client.clone(),
        app.api("/workouts/sync"),
        user.access_token.clone(),
        serde_json::to_vec(body).unwrap(),
    ))
}

/// Asserts a 503 with `Retry-After`, the contract's body and no driver text.
fn assert_unavailable(answer: &Answer, what: &str) {
    let (status, _, retry_after, text) = answer;
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {text}");
    assert!(*retry_after, "{what}: a 503 carries Retry-After: {text}");
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert_eq!(body["success"], json!(false), "{what}: {text}");
    assert_eq!(
        body["error"],
        json!("service_unavailable"),
        "{what}: {text}"
    );
    assert_no_driver_text(text, what);
}

/// `GET` any path of the server (optionally as `user`), timed.
async fn timed_get(app: &TestApp, url: String, user: Option<&TestUser>) -> (Answer, Duration) {
    let started = Instant::now();
    let mut request = app.client.get(url);
    if let Some(user) = user {
        request = request.bearer_auth(&user.access_token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let text = response.text().await.expect("body");
    ((status, None, retry_after, text), started.elapsed())
}

/// Holds the lock a sync of `user` has to wait for: the user's row on PostgreSQL
/// (`SELECT … FOR UPDATE` in an open transaction), the writer lock on SQLite
/// (`BEGIN EXCLUSIVE`). `ROLLBACK` releases it.
fn hold_sync_lock(probe: &mut DbProbe, user: &TestUser) {
    let sql = match probe {
        DbProbe::Pg(_) => format!(
            "BEGIN; SELECT id FROM users WHERE id = '{}' FOR UPDATE;",
            user.id
        ),
        DbProbe::Sqlite(_) => "BEGIN EXCLUSIVE;".to_owned(),
    };
    probe.execute(&sql);
}

/// Waits until a request is parked on that lock, holding a pooled connection.
async fn wait_until_parked(probe: &mut DbProbe, app: &TestApp) {
    if matches!(probe, DbProbe::Pg(_)) {
        wait_until(
            "a request waiting for the user's row lock",
            Duration::from_secs(10),
            || probe.sessions_waiting_for_a_lock() >= 1,
        )
        .await;
        return;
    }
    // SQLite has no lock view: the request holds its connection while it waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = 0;
    while held < 5 {
        assert!(
            Instant::now() < deadline,
            "[sqlite] the request never parked"
        );
        if app.metric("db_pool_in_use").await.unwrap_or(0.0) >= 1.0 {
            held += 1;
        } else {
            held = 0;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// After a crash and a retry: the `LARGE` workouts of `prefix` are stored exactly once.
async fn assert_stored_exactly_once(app: &TestApp, user: &TestUser, batch: &[Value], ctx: &str) {
    let b = app.backend;
    assert_eq!(
        app.status_counts(user).await,
        (batch.len() as i64, batch.len() as i64),
        "[{b}] {ctx}: (total_workouts, feed position)"
    );
    let feed = app.all_changes(user).await;
    let seqs: Vec<i64> = feed
        .iter()
        .map(|c| c["change_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=batch.len() as i64).collect::<Vec<_>>(),
        "[{b}] {ctx}: one change per workout"
    );
    let mut fed: Vec<&str> = feed
        .iter()
        .map(|c| c["workout"]["client_id"].as_str().unwrap())
        .collect();
    fed.sort_unstable();
    let mut sent: Vec<&str> = batch
        .iter()
        .map(|w| w["client_id"].as_str().unwrap())
        .collect();
    sent.sort_unstable();
    assert_eq!(fed, sent, "[{b}] {ctx}: every workout once");
    let again = app.sync_ok(user, &json!({ "workouts": batch })).await;
    assert_eq!(
        Counts::of(&again),
        Counts {
            unchanged: batch.len() as u64,
            ..Counts::default()
        },
        "[{b}] {ctx}: a re-sync without a key changes nothing: {again}"
    );
}

/// Retries `body` (same key) after a crash and checks it against what the crash left: a fresh
/// 200 when nothing was committed, else a replay (byte-identical to an answer that got out).
async fn retry_after_crash(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
    committed: bool,
    answered: Option<&Answer>,
    ctx: &str,
) {
    let b = app.backend;
    let retry = spawn_sync(app, user, body).await.unwrap().expect("retry");
    assert_eq!(retry.0, StatusCode::OK, "[{b}] {ctx}: retry: {}", retry.3);
    if committed {
        assert_eq!(
            retry.1.as_deref(),
            Some("true"),
            "[{b}] {ctx}: committed before the crash, so the retry replays"
        );
        if let Some((StatusCode::OK, _, _, original)) = answered {
            assert_eq!(
                &retry.3, original,
                "[{b}] {ctx}: the replay is byte-identical"
            );
        }
    } else {
        assert_ne!(
            retry.1.as_deref(),
            Some("true"),
            "[{b}] {ctx}: nothing was committed, so the retry is processed afresh"
        );
    }
    let parsed: Value = serde_json::from_str(&retry.3).unwrap();
    assert_eq!(
        Counts::of(&parsed),
        Counts {
            created: LARGE as u64,
            ..Counts::default()
        },
        "[{b}] {ctx}: {parsed}"
    );
}

#[tokio::test]
async fn a_sync_killed_mid_flight_then_retried_with_its_key_is_stored_exactly_once() {
    for db in TestDatabase::all() {
        kill_rounds(&db).await;
    }
}

async fn kill_rounds(db: &TestDatabase) {
    // Lock waits long enough for the parked round below.
    let env = [("DB_LOCK_WAIT_MS", "20000")];
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(db.url(), data_dir.path(), &env).await;
    let b = server.backend;
    let app = server.client();

    // How long a large sync takes here, to spread the kills over it.
    let calibration = app.register().await;
    let started = Instant::now();
    app.sync_ok(&calibration, &json!({"workouts": workouts("cal", LARGE)}))
        .await;
    let full = started.elapsed();

    let fractions = [0.05, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.5];
    let mut users = Vec::new();
    for _ in 0..fractions.len() + 1 {
        users.push(app.register().await);
    }
    let mut probe = DbProbe::connect(db.url());
    let mut log = Vec::new();
    for (round, fraction) in fractions.iter().enumerate() {
        let user = &users[round];
        let app = server.client();
        let batch = workouts(&format!("r{round}"), LARGE);
        let key = format!("kill9_{}", Uuid::new_v4().simple());
        let body = json!({"workouts": batch, "idempotency_key": key});
        let delay = full.mul_f64(fraction * rand::thread_rng().gen_range(0.8..1.2));
        let ctx = format!("round {round}, killed {delay:?} into a {full:?} sync");

        let in_flight = spawn_sync(&app, user, &body);
        tokio::time::sleep(delay).await;
        server.kill9();
        let answered = in_flight.await.unwrap().ok();
        if b == "postgres" {
            // A COMMIT the process sent just before it died still completes: look only once
            // PostgreSQL has ended every session of the dead process.
            wait_until(
                "PostgreSQL to end the killed server's sessions",
                Duration::from_secs(20),
                || probe.count(OTHER_CLIENT_SESSIONS) == 0,
            )
            .await;
        }
        server = ServerProcess::start(db.url(), data_dir.path(), &env).await;
        let app = server.client();

        // All or nothing.
        let (total, position) = app.status_counts(user).await;
        let committed = match (total, position) {
            (0, 0) => false,
            (t, p) if t == LARGE as i64 && p == LARGE as i64 => true,
            other => panic!("[{b}] {ctx}: half-written: (total_workouts, feed position) {other:?}"),
        };
        // The rows agree: every workout, the sync record and the key's record, or none.
        let expected = if committed {
            [LARGE as i64, 1, 1]
        } else {
            [0, 0, 0]
        };
        let stored = ["workouts", "syncs", "idempotency_records"].map(|table| {
            probe.count(&format!(
                "SELECT COUNT(*) AS n FROM {table} t JOIN users u ON u.id = t.user_id \
                 WHERE u.email = '{}'",
                user.email
            ))
        });
        assert_eq!(
            stored, expected,
            "[{b}] {ctx}: rows of (workouts, syncs, idempotency_records)"
        );
        if let Some((StatusCode::OK, ..)) = answered {
            assert!(
                committed,
                "[{b}] {ctx}: a 200 was sent, so it was committed"
            );
        }
        retry_after_crash(&app, user, &body, committed, answered.as_ref(), &ctx).await;
        assert_stored_exactly_once(&app, user, &batch, &ctx).await;
        log.push(format!(
            "{delay:?}: {}",
            if committed { "committed" } else { "lost" }
        ));
    }
    eprintln!("[{b}] kill -9 during a {full:?} sync of {LARGE} workouts: {log:?}");

    let user = &users[fractions.len()];
    killed_inside_the_transaction(db, data_dir.path(), &env, server, user).await;
}

/// Deterministic: a trigger on the sync's last statement (storing the idempotency record,
/// after every workout row, the user's new position and the sync record are written in the same
/// transaction) holds the sync there, and the process is killed inside its transaction.
/// PostgreSQL: the trigger waits for an advisory lock the test holds (seen in
/// `pg_stat_activity`). SQLite, which cannot wait in SQL: the trigger runs a query that takes
/// over a second, and the test kills the process while it holds the writer lock.
async fn killed_inside_the_transaction(
    db: &TestDatabase,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    mut server: ServerProcess,
    user: &TestUser,
) {
    const PARK: i64 = 0x7061726b;
    let b = server.backend;
    let mut probe = DbProbe::connect(db.url());
    let app = server.client();
    let batch = workouts("parked", LARGE);
    let key = format!("kill9_{}", Uuid::new_v4().simple());
    let body = json!({"workouts": batch, "idempotency_key": key});

    let in_flight = if b == "postgres" {
        probe.execute(&format!(
            "CREATE FUNCTION rd_test_park() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_xact_lock({PARK}); RETURN NEW; END $$;
             CREATE TRIGGER rd_test_park BEFORE INSERT ON idempotency_records
                 FOR EACH ROW EXECUTE FUNCTION rd_test_park();
             SELECT pg_advisory_lock({PARK});"
        ));
        let in_flight = spawn_sync(&app, user, &body);
        wait_until(
            "the sync parked on storing its idempotency record",
            Duration::from_secs(20),
            || {
                probe.count(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock' \
                     AND query LIKE '%idempotency_records%'",
                ) == 1
            },
        )
        .await;
        in_flight
    } else {
        let slow = sqlite_slow_query(&mut probe, Duration::from_millis(1500));
        probe.execute(&format!(
            "CREATE TRIGGER rd_test_park BEFORE INSERT ON idempotency_records BEGIN {slow}; END;"
        ));
        let in_flight = spawn_sync(&app, user, &body);
        probe.execute("PRAGMA busy_timeout = 0;");
        let mut writer_active = || match probe.try_execute("BEGIN IMMEDIATE;") {
            Ok(()) => {
                probe.execute("ROLLBACK;");
                false
            }
            Err(e) if e.contains("locked") => true,
            Err(e) => panic!("[sqlite] BEGIN IMMEDIATE: {e}"),
        };
        wait_until(
            "the sync's write transaction",
            Duration::from_secs(20),
            &mut writer_active,
        )
        .await;
        // Its writes take milliseconds; the trigger on its last statement over a second.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            writer_active(),
            "[sqlite] the sync still holds its write transaction"
        );
        in_flight
    };
    assert!(!in_flight.is_finished(), "[{b}] the sync is parked");
    server.kill9();
    assert!(
        in_flight.await.unwrap().is_err(),
        "[{b}] the killed sync never answered"
    );
    if b == "postgres" {
        // The orphaned transaction gets its lock, finds its client gone and rolls back;
        // dropping the trigger waits for that.
        probe.execute(&format!(
            "SELECT pg_advisory_unlock({PARK});
             DROP TRIGGER rd_test_park ON idempotency_records;
             DROP FUNCTION rd_test_park();"
        ));
    } else {
        probe.execute(
            "PRAGMA busy_timeout = 10000; DROP TRIGGER rd_test_park; DROP TABLE rd_test_slow;",
        );
    }

    let server = ServerProcess::start(db.url(), data_dir, env).await;
    let app = server.client();
    let ctx = "killed inside the transaction, after every workout row was written";
    assert_eq!(
        app.status_counts(user).await,
        (0, 0),
        "[{b}] {ctx}: nothing of the transaction survives"
    );
    let stored = ["workouts", "syncs", "idempotency_records"].map(|table| {
        probe.count(&format!(
            "SELECT COUNT(*) AS n FROM {table} t JOIN users u ON u.id = t.user_id \
             WHERE u.email = '{}'",
            user.email
        ))
    });
    assert_eq!(
        stored,
        [0, 0, 0],
        "[{b}] {ctx}: rows of (workouts, syncs, idempotency_records)"
    );
    retry_after_crash(&app, user, &body, false, None, ctx).await;
    assert_stored_exactly_once(&app, user, &batch, ctx).await;
}

/// SQLite: creates `rd_test_slow` and returns a query over it that takes at least `at_least`.
fn sqlite_slow_query(probe: &mut DbProbe, at_least: Duration) -> String {
    let slow = "SELECT sum(a.x * b.x + c.x) FROM rd_test_slow a, rd_test_slow b, rd_test_slow c";
    probe.execute("CREATE TABLE rd_test_slow (x INTEGER NOT NULL);");
    let mut rows: f64 = 100.0;
    loop {
        probe.execute(&format!(
            "DELETE FROM rd_test_slow;
             INSERT INTO rd_test_slow WITH RECURSIVE c(x) AS
                 (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {})
             SELECT x FROM c;",
            rows as i64
        ));
        let started = Instant::now();
        probe.execute(slow);
        let took = started.elapsed();
        if took >= at_least {
            return slow.to_owned();
        }
        // The query's time grows with the cube of the rows.
        let factor = (at_least.as_secs_f64() * 1.3 / took.as_secs_f64().max(0.001)).cbrt();
        rows *= factor.clamp(1.1, 4.0);
    }
}

#[tokio::test]
async fn postgres_unreachable_is_a_quick_503_and_the_same_process_recovers() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let proxy = TcpProxy::start(socket_addr_of(db.url()));
    let app = TestApp::spawn_at(
        &proxy.url_for(db.url()),
        &[("DB_POOL_TIMEOUT_MS", "500"), ("DB_POOL_SIZE", "2")],
    )
    .await;
    let user = app.register().await;
    app.assert_all_created(&user, &workouts("before", 2)).await;

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
        let started = Instant::now();
        let answer = spawn_sync(&app, &user, &json!({"workouts": workouts("during", 2)}))
            .await
            .unwrap()
            .expect("an answer, not a hang");
        let elapsed = started.elapsed();
        assert_unavailable(
            &answer,
            &format!("[postgres] sync {round} with the database cut off"),
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "[postgres] the sync took {elapsed:?}"
        );
        for (what, url, as_user) in [
            ("read", app.api("/sync/status"), Some(&user)),
            ("changes", app.api("/workouts/changes"), Some(&user)),
            ("readyz", format!("{}/readyz", app.address), None),
        ] {
            let (answer, elapsed) = timed_get(&app, url, as_user).await;
            assert_unavailable(
                &answer,
                &format!("[postgres] {what} with the database cut off"),
            );
            assert!(
                elapsed < Duration::from_secs(5),
                "[postgres] {what} took {elapsed:?}"
            );
        }
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (answer, _) = timed_get(&app, format!("{}/readyz", app.address), None).await;
        if answer.0 == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[postgres] the process never recovered: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same process serves again, and the refused sync stored nothing.
    app.assert_all_created(&user, &workouts("during", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[postgres]");
    drop(app);
    drop(proxy);
}

#[tokio::test]
async fn a_sqlite_file_locked_past_the_busy_timeout_is_a_quick_503_then_serves_again() {
    let db = TestDatabase::sqlite();
    let url = db.url().to_owned();
    let app = TestApp::spawn_on(db, &[("DB_LOCK_WAIT_MS", "300")]).await;
    let user = app.register().await;
    app.assert_all_created(&user, &workouts("before", 2)).await;

    let mut probe = DbProbe::connect(&url);
    probe.execute("BEGIN EXCLUSIVE;");
    let started = Instant::now();
    let answer = spawn_sync(&app, &user, &json!({"workouts": workouts("during", 2)}))
        .await
        .unwrap()
        .expect("an answer, not a hang");
    let elapsed = started.elapsed();
    assert_unavailable(&answer, "[sqlite] sync with the file locked");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
        "[sqlite] waited the busy timeout (300 ms), then answered: {elapsed:?}"
    );

    probe.execute("ROLLBACK;");
    app.assert_all_created(&user, &workouts("during", 2)).await;
    assert_eq!(app.status_counts(&user).await, (4, 4), "[sqlite]");
}

#[tokio::test]
async fn an_exhausted_pool_is_a_503_after_the_checkout_timeout() {
    for db in TestDatabase::all() {
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
            assert_unavailable(&answer, &format!("[{b}] {what} with the pool exhausted"));
            assert!(
                elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(2),
                "[{b}] {what}: 503 after about the 200 ms checkout timeout, took {elapsed:?}"
            );
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
}

#[tokio::test]
async fn sigterm_stops_accepting_finishes_the_sync_in_flight_and_exits_zero() {
    for db in TestDatabase::all() {
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
}

#[tokio::test]
async fn expired_idempotency_records_are_purged_by_the_periodic_task() {
    for db in TestDatabase::all() {
        let url = db.url().to_owned();
        let app = TestApp::spawn_on(
            db,
            &[("IDEMPOTENCY_TTL_SECS", "1"), ("PURGE_INTERVAL_SECS", "1")],
        )
        .await;
        let b = app.backend;
        let user = app.register().await;
        let key = format!("purge_{}", Uuid::new_v4().simple());
        let first = spawn_sync(
            &app,
            &user,
            &json!({"workouts": workouts("a", 1), "idempotency_key": key}),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(first.0, StatusCode::OK, "[{b}] {}", first.3);

        let mut probe = DbProbe::connect(&url);
        let stored = "SELECT COUNT(*) AS n FROM idempotency_records";
        assert_eq!(probe.count(stored), 1, "[{b}] the key's record is stored");
        let before = app
            .metric("idempotency_records_purged_total")
            .await
            .unwrap_or_else(|| panic!("[{b}] /metrics has idempotency_records_purged_total"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = app.metric("idempotency_records_purged_total").await;
            if now.is_some_and(|n| n > before) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{b}] the purge never counted a record"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(probe.count(stored), 0, "[{b}] the record is gone");

        // The key is free again: another request with it is processed, not refused.
        let other = spawn_sync(
            &app,
            &user,
            &json!({"workouts": workouts("b", 1), "idempotency_key": key}),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(other.0, StatusCode::OK, "[{b}] {}", other.3);
        assert_eq!(other.1, None, "[{b}] processed, not replayed");
        let parsed: Value = serde_json::from_str(&other.3).unwrap();
        assert_eq!(parsed["created"], json!(1), "[{b}] {parsed}");
    }
}
