//! Syncs and refreshes racing each other: never a double apply, never a gap.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use chrono::Duration;
use serde_json::json;
use sync_store::testing::{per_backend, sync_with_change_between};
use sync_store::{RefreshOutcome, Store, StoreError, StoreOptions, SyncCommand, SyncOutcome};

use crate::{applied, new_session, prepare, register, sync, t0, ttl, workouts, Backend};

const THREADS: usize = 8;

per_backend!(concurrent_syncs_with_one_key_apply_once, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "racer@example.com");
    let batch = workouts("w", 20);
    let request = Arc::new(prepare(
        json!({"workouts": batch, "idempotency_key": "same-key"}),
        t0(),
    ));
    // Two instances, as two servers behind a load balancer; the threads alternate.
    let other: Arc<Store> =
        Arc::new(Store::open(b.db.url(), &StoreOptions::default()).expect("second instance"));
    let store: Arc<Store> = Arc::new(b.store);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            let (request, barrier) = (request.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                store.sync(&SyncCommand {
                    user_id: user.id,
                    session: None,
                    request: &request,
                    now: t0(),
                    idempotency_ttl: ttl(),
                })
            })
        })
        .collect();
    let results: Vec<Result<SyncOutcome, StoreError>> = handles
        .into_iter()
        .map(|h| h.join().expect("sync thread"))
        .collect();

    let mut applied_bodies = Vec::new();
    let mut replayed_bodies = Vec::new();
    let mut busy = 0;
    for result in results {
        match result {
            Ok(SyncOutcome::Applied { body, counts }) => {
                assert_eq!(counts.created, 20, "{n}: {body}");
                applied_bodies.push(body);
            }
            Ok(SyncOutcome::Replayed { body }) => replayed_bodies.push(body),
            Err(e) if e.is_transient() => busy += 1,
            other => panic!("{n}: unexpected result of a concurrent sync: {other:?}"),
        }
    }
    assert_eq!(
        applied_bodies.len(),
        1,
        "{n}: exactly one apply ({busy} busy)"
    );
    for body in &replayed_bodies {
        assert_eq!(
            body, &applied_bodies[0],
            "{n}: replays carry the applied body"
        );
    }
    if busy > 0 {
        eprintln!("{n}: {busy} of {THREADS} concurrent syncs were busy");
    }

    // The batch was created exactly once.
    drop(other);
    let store = Arc::into_inner(store).expect("threads are done");
    let history = store.sync_history(user.id, 50).unwrap();
    assert_eq!(history.len(), 1, "{n}: one sync recorded: {history:?}");
    let t = t0() + Duration::seconds(1);
    let fresh = applied(n, sync(&store, user.id, json!({"workouts": batch}), t));
    fresh.assert_counts(n, [0, 0, 20, 0, 0, 0]);
    assert_eq!(
        fresh.position(),
        20,
        "{n}: change position equals the batch size"
    );
    drop(store);
    drop(b.db);
});

per_backend!(
    concurrent_syncs_of_one_user_keep_the_change_feed_gap_free,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "parallel@example.com");
        let barrier = Barrier::new(THREADS);
        let positions: Vec<i64> = thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (store, barrier) = (&b.store, &barrier);
                    scope.spawn(move || {
                        let body = json!({"workouts": workouts(&format!("t{i}"), 10)});
                        let request = prepare(body, t0());
                        barrier.wait();
                        let command = SyncCommand {
                            user_id: user.id,
                            session: None,
                            request: &request,
                            now: t0(),
                            idempotency_ttl: ttl(),
                        };
                        // SQLite's writer lock may be busy past its wait: retry as a client would.
                        loop {
                            match store.sync(&command) {
                                Err(e) if e.is_transient() => continue,
                                other => break applied(n, other.expect("sync")).position(),
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sync thread"))
                .collect()
        });
        let got: BTreeSet<i64> = positions.into_iter().collect();
        let expected: BTreeSet<i64> = (1..=THREADS as i64).map(|i| i * 10).collect();
        assert_eq!(
            got, expected,
            "{n}: each sync's cursor is after its own ten changes"
        );
        let history = b.store.sync_history(user.id, 50).unwrap();
        assert_eq!(history.len(), THREADS, "{n}");
    }
);

per_backend!(
    a_refresh_token_presented_concurrently_rotates_at_most_once,
    |b: Backend| {
        let n = b.name;
        for round in 0..10 {
            let session = new_session(&format!("first-{round}"), t0());
            b.store
                .register(&format!("refresh-{round}@example.com"), "hash", &session)
                .unwrap_or_else(|e| panic!("{n}: register: {e}"));
            let barrier = Barrier::new(4);
            let outcomes: Vec<RefreshOutcome> = thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|i| {
                        let (store, barrier, session) = (&b.store, &barrier, &session);
                        scope.spawn(move || {
                            let next = format!("next-{round}-{i}");
                            barrier.wait();
                            loop {
                                let now = t0() + Duration::seconds(1);
                                match store.rotate_refresh(&session.refresh_token_hash, &next, now)
                                {
                                    Err(e) if e.is_transient() => continue,
                                    other => break other.expect("rotate_refresh"),
                                }
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("refresh thread"))
                    .collect()
            });
            let rotated = outcomes
                .iter()
                .filter(|o| matches!(o, RefreshOutcome::Rotated(_)))
                .count();
            assert_eq!(rotated, 1, "{n}: one token, one rotation: {outcomes:?}");
            assert!(
                outcomes
                    .iter()
                    .any(|o| matches!(o, RefreshOutcome::Reused { .. })),
                "{n}: the replays are detected as reuse: {outcomes:?}"
            );
            let stored = b
                .store
                .session(session.id)
                .unwrap()
                .expect("session exists");
            assert!(
                stored.revoked_at.is_some(),
                "{n}: reuse revokes the session"
            );
        }
    }
);

per_backend!(
    a_sync_planned_before_another_commits_is_planned_again_under_the_lock,
    |b: Backend| {
        let n = b.name;
        let (user, session) = register(&b, "stale@example.com");
        let command_of = |request| SyncCommand {
            user_id: user.id,
            session: Some(session.id),
            request,
            now: t0(),
            idempotency_ttl: ttl(),
        };
        // The same hundred workouts, first planned as new by `late`, are created by `early`
        // between that plan and its write. (A hundred: SQLite plans a smaller sync in the
        // writer's turn, where nothing can come in between.)
        let batch = workouts("w", 100);
        let late = prepare(json!({"workouts": batch, "idempotency_key": "late"}), t0());
        let early = prepare(json!({"workouts": batch, "idempotency_key": "early"}), t0());
        let outcome = sync_with_change_between(&b.store, &command_of(&late), || {
            let first = applied(n, b.store.sync(&command_of(&early)).expect("early sync"));
            first.assert_counts(n, [100, 0, 0, 0, 0, 0]);
        });
        let second = applied(n, outcome.expect("late sync"));
        second.assert_counts(n, [0, 0, 100, 0, 0, 0]);
        assert_eq!(second.position(), 100, "{n}: nothing was written twice");
        let history = b.store.sync_history(user.id, 10).unwrap();
        assert_eq!(history.len(), 2, "{n}: both syncs are recorded, once each");
        // Its key replays what it answered under the lock.
        let replay = b.store.sync(&command_of(&late)).expect("replay");
        assert!(
            matches!(&replay, SyncOutcome::Replayed { body } if *body == second.body),
            "{n}: {replay:?}"
        );

        // A session revoked between the plan and the write ends the sync, which writes nothing.
        let revoked = prepare(json!({"workouts": workouts("r", 100)}), t0());
        let ended = sync_with_change_between(&b.store, &command_of(&revoked), || {
            b.store
                .revoke_session(user.id, session.id, t0())
                .expect("revoke");
        });
        assert!(
            matches!(ended, Err(StoreError::SessionEnded)),
            "{n}: {ended:?}"
        );
        assert_eq!(
            b.store.sync_history(user.id, 10).unwrap().len(),
            2,
            "{n}: the ended sync left no record"
        );
    }
);
