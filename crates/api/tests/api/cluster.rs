//! Several API instances sharing one PostgreSQL behave as one service: an idempotency key sent
//! to two instances at once applies once, a change-feed reader on one instance misses nothing
//! written through both, and instances started together migrate once. PostgreSQL only (SQLite is
//! one process's file); skipped with a message when `TEST_DATABASE_URL` is unset.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{
    backend_of, sync_at_once, test_config, with, workouts, Counts, TestApp, TestDatabase, TestUser,
};
use uuid::Uuid;

use crate::helpers::DbProbe;

/// Two instances on one fresh PostgreSQL database: `(a, b)`.
async fn two_instances() -> Option<(TestApp, TestApp)> {
    let db = TestDatabase::postgres()?;
    let url = db.url().to_owned();
    let a = TestApp::spawn_on(db, &[]).await;
    let b = TestApp::spawn_at(&url, &[]).await;
    Some((a, b))
}

/// One answer: which instance, status, replay header, `Retry-After` present, body.
type Answer = (&'static str, StatusCode, Option<String>, bool, String);

#[tokio::test]
async fn one_key_sent_to_two_instances_at_once_is_applied_exactly_once() {
    const ROUNDS: usize = 4;
    const REQUESTS: usize = 8;
    const BATCH: usize = 100;
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let instances = [("A", &a), ("B", &b)];
    let mut replays = 0;
    let mut busy = 0;
    for round in 0..ROUNDS {
        // Registered on one instance, used on both: sessions live in the database.
        let user = instances[round % 2].1.register().await;
        let batch = workouts(&format!("round{round}"), BATCH);
        let key = format!("cluster_{}", Uuid::new_v4().simple());
        let body = serde_json::to_vec(&json!({"workouts": batch, "idempotency_key": key})).unwrap();

        let answers: Vec<Answer> = sync_at_once(&[&a, &b], &user, &body, REQUESTS)
            .await
            .into_iter()
            .map(|(i, status, replayed, retry_after, text)| {
                (instances[i].0, status, replayed, retry_after, text)
            })
            .collect();

        let fresh: Vec<&Answer> = answers
            .iter()
            .filter(|(_, status, replayed, _, _)| {
                *status == StatusCode::OK && replayed.as_deref() != Some("true")
            })
            .collect();
        assert_eq!(
            fresh.len(),
            1,
            "[postgres] round {round}: exactly one fresh response across both instances: {answers:#?}"
        );
        let fresh_text = &fresh[0].4;
        let parsed: Value = serde_json::from_str(fresh_text).unwrap();
        assert_eq!(
            Counts::of(&parsed),
            Counts::created(BATCH as u64),
            "[postgres] round {round}: {parsed}"
        );
        for (name, status, replayed, retry_after, text) in &answers {
            match *status {
                StatusCode::OK if replayed.as_deref() == Some("true") => {
                    replays += 1;
                    assert_eq!(
                        text, fresh_text,
                        "[postgres] round {round}: a replay from instance {name} is byte-identical"
                    );
                }
                StatusCode::OK => {}
                StatusCode::CONFLICT => {
                    busy += 1;
                    assert!(
                        retry_after,
                        "[postgres] round {round}: a 409 from instance {name} carries Retry-After: {text}"
                    );
                    let error: Value = serde_json::from_str(text).unwrap();
                    assert_eq!(
                        error["error"],
                        json!("sync_in_progress"),
                        "[postgres] {text}"
                    );
                }
                other => {
                    panic!(
                        "[postgres] round {round}: unexpected {other} from instance {name}: {text}"
                    )
                }
            }
        }

        // Applied once: a re-sync without a key (on the other instance) changes nothing, and
        // the feed holds one change per workout.
        let other = instances[(round + 1) % 2].1;
        other
            .sync_counted(&user, &batch, Counts::unchanged(BATCH as u64))
            .await;
        for (name, app) in instances {
            assert_eq!(
                app.status_counts(&user).await,
                (BATCH as i64, BATCH as i64),
                "[postgres] round {round}: (total_workouts, feed position) seen from instance {name}"
            );
        }
    }
    eprintln!(
        "[postgres] {ROUNDS} rounds of {REQUESTS} concurrent requests over two instances: \
         {replays} replays, {busy} × 409"
    );
}

/// Follows the feed on `app` from `cursor` until it is drained *after* `finished` was seen set:
/// every change read, in order. Returns the new cursor.
async fn follow_feed(
    app: &TestApp,
    user: &TestUser,
    mut cursor: Option<String>,
    finished: &AtomicBool,
    seen: &mut Vec<i64>,
    latest: &mut BTreeMap<String, Value>,
) -> Option<String> {
    loop {
        // Read the flag before the page: a drained page read after the writers finished
        // holds everything they wrote.
        let writers_done = finished.load(Ordering::SeqCst);
        let (changes, next, more) = app.changes_page(user, cursor.as_deref(), 7).await;
        for change in changes {
            let seq = change["change_seq"].as_i64().expect("change_seq");
            if let Some(last) = seen.last() {
                assert!(
                    seq > *last,
                    "[postgres] the feed went back or repeated: {seq} after {last}"
                );
            }
            seen.push(seq);
            let client_id = change["workout"]["client_id"]
                .as_str()
                .expect("client_id")
                .to_owned();
            latest.insert(client_id, change);
        }
        cursor = Some(next);
        if !more {
            if writers_done {
                return cursor;
            }
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
}

/// One writer of the shared account: its syncs alternate between the two instances.
struct Writer<'a> {
    instances: [&'a TestApp; 2],
    user: &'a TestUser,
    id: usize,
    /// The writer's workouts: client id, last client version sent, distance sent with it.
    own: RefCell<Vec<(String, i64, f64)>>,
}

impl Writer<'_> {
    /// `syncs` syncs; in each, `updates` of the writer's workouts get a new version and
    /// `creates` new ones appear.
    async fn run(&self, phase: usize, syncs: usize, creates: usize, updates: usize) {
        for s in 0..syncs {
            let app = self.instances[(self.id + s) % 2];
            let mut batch = workouts(&format!("w{}-p{phase}-s{s:02}", self.id), creates);
            let mut updated = 0;
            {
                let mut own = self.own.borrow_mut();
                let len = own.len();
                for k in 0..updates.min(len) {
                    let (client_id, version, distance) = &mut own[(s * updates + k) % len];
                    *version += 1;
                    *distance = 7000.0 + *version as f64;
                    updated += 1;
                    let mut update = workouts("x", 1).remove(0);
                    update["client_id"] = json!(client_id);
                    batch.push(with(
                        update,
                        json!({"client_version": *version, "distance_meters": *distance}),
                    ));
                }
            }
            let body = app.sync_ok(self.user, &json!({"workouts": batch})).await;
            assert_eq!(
                Counts::of(&body),
                Counts {
                    created: creates as u64,
                    updated,
                    ..Counts::default()
                },
                "[postgres] writer {} sync {s} on {}: {body}",
                self.id,
                app.address
            );
            let mut own = self.own.borrow_mut();
            for w in &batch[..creates] {
                own.push((
                    w["client_id"].as_str().unwrap().to_owned(),
                    0,
                    w["distance_meters"].as_f64().unwrap(),
                ));
            }
        }
    }
}

#[tokio::test]
async fn a_change_feed_reader_on_one_instance_misses_nothing_written_through_both() {
    const WRITERS: usize = 4;
    const SYNCS: usize = 10;
    const CREATES: usize = 3;
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let user = a.register().await;
    let writers: Vec<Writer> = (0..WRITERS)
        .map(|id| Writer {
            instances: [&a, &b],
            user: &user,
            id,
            own: RefCell::default(),
        })
        .collect();

    // Phase 1, creates only: every change keeps its position, so a reader that misses nothing
    // has seen exactly 1..=N.
    let finished = AtomicBool::new(false);
    let mut seen = Vec::new();
    let mut latest = BTreeMap::new();
    let writing = async {
        tokio::join!(
            writers[0].run(1, SYNCS, CREATES, 0),
            writers[1].run(1, SYNCS, CREATES, 0),
            writers[2].run(1, SYNCS, CREATES, 0),
            writers[3].run(1, SYNCS, CREATES, 0),
        );
        finished.store(true, Ordering::SeqCst);
    };
    let (cursor, ()) = tokio::join!(
        follow_feed(&b, &user, None, &finished, &mut seen, &mut latest),
        writing
    );
    let n1 = (WRITERS * SYNCS * CREATES) as i64;
    assert_eq!(
        seen,
        (1..=n1).collect::<Vec<_>>(),
        "[postgres] a reader on instance B saw every position exactly once, in order"
    );
    assert_eq!(b.status_counts(&user).await, (n1, n1), "[postgres]");

    // Phase 2, updates and creates: a change moves a workout to a new position, so the reader
    // must end with every workout's latest state and every position still in the feed.
    let finished = AtomicBool::new(false);
    let phase1_seen = seen.len();
    let writing = async {
        tokio::join!(
            writers[0].run(2, SYNCS, 1, 2),
            writers[1].run(2, SYNCS, 1, 2),
            writers[2].run(2, SYNCS, 1, 2),
            writers[3].run(2, SYNCS, 1, 2),
        );
        finished.store(true, Ordering::SeqCst);
    };
    tokio::join!(
        follow_feed(&b, &user, cursor, &finished, &mut seen, &mut latest),
        writing
    );
    let n2 = n1 + (WRITERS * SYNCS * 3) as i64;
    let (total, position) = a.status_counts(&user).await;
    assert_eq!(
        (total, position),
        (n1 + (WRITERS * SYNCS) as i64, n2),
        "[postgres] after phase 2"
    );
    assert!(seen[phase1_seen..].iter().all(|s| *s > n1 && *s <= n2));

    // Every change still in the feed (each workout at its latest position) was seen...
    let feed = a.all_changes(&user).await;
    let seen_set: BTreeSet<i64> = seen.iter().copied().collect();
    for change in &feed {
        let seq = change["change_seq"].as_i64().unwrap();
        assert!(
            seen_set.contains(&seq),
            "[postgres] the reader on B missed change {seq}: {change}"
        );
    }
    // ...and the reader's picture is the server's final state, workout by workout.
    assert_eq!(
        latest.len(),
        total as usize,
        "[postgres] every workout seen"
    );
    for change in &feed {
        let client_id = change["workout"]["client_id"].as_str().unwrap();
        assert_eq!(
            latest.get(client_id),
            Some(change),
            "[postgres] the reader's last view of {client_id} is its final state"
        );
    }
    // The writers' own record of what they sent last agrees with what was stored.
    for writer in &writers {
        for (client_id, _, distance) in writer.own.borrow().iter() {
            let served = &latest[client_id]["workout"];
            assert_eq!(
                served["distance_meters"].as_f64(),
                Some(*distance),
                "[postgres] {client_id}: {served}"
            );
        }
    }
}

#[tokio::test]
async fn instances_started_together_on_an_empty_database_migrate_once() {
    const INSTANCES: usize = 4;
    const ATTEMPTS: usize = 3;
    for attempt in 0..ATTEMPTS {
        let Some(db) = TestDatabase::postgres() else {
            return;
        };
        let url = db.url().to_owned();
        let barrier = Arc::new(Barrier::new(INSTANCES));
        let threads: Vec<_> = (0..INSTANCES)
            .map(|_| {
                let url = url.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let data_dir = tempfile::tempdir().expect("temp dir");
                    let config = test_config(&url, data_dir.path(), &[]);
                    barrier.wait();
                    let app = api::Application::build(config).map_err(|e| e.to_string());
                    (app, data_dir)
                })
            })
            .collect();
        let mut apps = Vec::new();
        for (i, thread) in threads.into_iter().enumerate() {
            let (app, data_dir) = thread.join().expect("start-up thread");
            let app = app.unwrap_or_else(|e| {
                panic!("[postgres] attempt {attempt}: instance {i} failed to start: {e}")
            });
            apps.push(TestApp::serve(app, backend_of(&url), data_dir));
        }

        let applied =
            DbProbe::connect(&url).count("SELECT COUNT(*) AS n FROM __diesel_schema_migrations");
        let migrations = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../migrations/postgres"
        ))
        .expect("migrations directory")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count() as i64;
        assert_eq!(
            applied, migrations,
            "[postgres] attempt {attempt}: every migration recorded once"
        );
        for (i, app) in apps.iter().enumerate() {
            let ready = app.get_root("/readyz").await;
            assert_eq!(
                ready.status(),
                StatusCode::OK,
                "[postgres] attempt {attempt}: instance {i} ready"
            );
        }
        // And they serve as one: an account made on one works on another.
        let user = apps[0].register().await;
        apps[INSTANCES - 1]
            .assert_all_created(&user, &workouts("migrated", 3))
            .await;
        drop(apps);
        drop(db);
    }
}
