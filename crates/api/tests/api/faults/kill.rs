//! `kill -9` in the middle of a large sync, at spread-out moments and once deterministically
//! inside its transaction: after a restart the sync is all there or not at all, and its retry
//! with the same key stores it exactly once.

use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, wait_until, workouts, Counts, TestApp, TestDatabase, TestUser};
use uuid::Uuid;

use crate::helpers::{DbProbe, ServerProcess};

use super::{spawn_sync, Answer};

/// Workouts in the large sync that is interrupted.
const LARGE: usize = 1000;

/// PostgreSQL: client sessions of the current database other than the asking one.
const OTHER_CLIENT_SESSIONS: &str = "SELECT COUNT(*) AS n FROM pg_stat_activity \
     WHERE datname = current_database() AND backend_type = 'client backend' \
     AND pid <> pg_backend_pid()";

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
        Counts::unchanged(batch.len() as u64),
        "[{b}] {ctx}: a re-sync without a key changes nothing: {again}"
    );
}

/// The user's rows of (`workouts`, `syncs`, `idempotency_records`), read past the server.
fn rows_of(probe: &mut DbProbe, user: &TestUser) -> [i64; 3] {
    ["workouts", "syncs", "idempotency_records"].map(|table| {
        probe.count(&format!(
            "SELECT COUNT(*) AS n FROM {table} t JOIN users u ON u.id = t.user_id \
             WHERE u.email = '{}'",
            user.email
        ))
    })
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
        Counts::created(LARGE as u64),
        "[{b}] {ctx}: {parsed}"
    );
}

per_backend!(
    a_sync_killed_mid_flight_then_retried_with_its_key_is_stored_exactly_once,
    database
);
async fn a_sync_killed_mid_flight_then_retried_with_its_key_is_stored_exactly_once(
    db: TestDatabase,
) {
    kill_rounds(&db).await;
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
        let stored = rows_of(&mut probe, user);
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
    // SQLite's transaction dies with the process. PostgreSQL wrote this sync, planned without
    // the lock, in one statement, its own transaction: already running when the process died,
    // it lands whole once the park is lifted, and the retry meets it as a replay.
    let landed = b == "postgres";
    let kept = if landed { LARGE as i64 } else { 0 };
    assert_eq!(
        app.status_counts(user).await,
        (kept, kept),
        "[{b}] {ctx}: the transaction survives whole or not at all (workouts, change position)"
    );
    let stored = rows_of(&mut probe, user);
    let (rows, records) = if landed { (LARGE as i64, 1) } else { (0, 0) };
    assert_eq!(
        stored,
        [rows, records, records],
        "[{b}] {ctx}: rows of (workouts, syncs, idempotency_records)"
    );
    retry_after_crash(&app, user, &body, landed, None, ctx).await;
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
