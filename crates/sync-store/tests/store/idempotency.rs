//! Idempotency keys: replay, reuse, per-user scope, expiry and purge.

use chrono::Duration;
use serde_json::{json, Value};
use sync_store::testing::per_backend;
use sync_store::SyncOutcome;

use crate::{
    applied, position, register, replayed, sync, sync_with, t0, workout, workouts, Backend,
};

fn keyed(key: &str, workouts: Vec<Value>) -> Value {
    json!({
        "workouts": workouts,
        "mode": "incremental",
        "idempotency_key": key,
        "client_sync_timestamp": "2024-06-01T11:59:58Z",
    })
}

per_backend!(
    the_same_key_and_request_replays_the_stored_body_and_writes_nothing,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "replay@example.com");
        let body = keyed("sync_20240601_abc", workouts("w", 3));

        let first = b.applied(user.id, body.clone(), t0());
        first.assert_counts(n, [3, 0, 0, 0, 0, 0]);

        let t = t0() + Duration::seconds(30);
        let again = replayed(n, sync(&b.store, user.id, body.clone(), t));
        assert_eq!(
            again, first.body,
            "{n}: the replay is byte for byte the first response"
        );

        // A retry by the iOS client regenerates per-workout `id`s and its timestamp: still the
        // same request.
        let mut retry = body.clone();
        for (i, w) in retry["workouts"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            w["id"] = json!(format!("random-{i}"));
        }
        retry["client_sync_timestamp"] = json!("2024-06-01T12:00:29Z");
        let t = t0() + Duration::hours(1);
        assert_eq!(
            replayed(n, sync(&b.store, user.id, retry, t)),
            first.body,
            "{n}"
        );

        // Nothing was written by the replays: one sync in the history, position 3.
        let history = b.store.sync_history(user.id, 50).unwrap();
        assert_eq!(
            history.len(),
            1,
            "{n}: replays add no sync record: {history:?}"
        );
        assert_eq!(
            history[0].idempotency_key.as_deref(),
            Some("sync_20240601_abc"),
            "{n}"
        );
        let t = t0() + Duration::hours(2);
        let fresh = b.applied(user.id, json!({"workouts": workouts("w", 3)}), t);
        fresh.assert_counts(n, [0, 0, 3, 0, 0, 0]);
        assert_eq!(fresh.position(), 3, "{n}: the batch was applied once");
    }
);

per_backend!(
    the_same_key_with_another_request_is_refused_and_applies_nothing,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "reuse@example.com");
        let first = b.applied(user.id, keyed("k", vec![workout("a", 1.0)]), t0());
        first.assert_counts(n, [1, 0, 0, 0, 0, 0]);

        let t = t0() + Duration::seconds(1);
        let other = keyed("k", vec![workout("a", 1.0), workout("b", 2.0)]);
        assert_eq!(
            sync(&b.store, user.id, other, t),
            SyncOutcome::KeyReused,
            "{n}: new workout"
        );
        let mut deleting = keyed("k", vec![workout("a", 1.0)]);
        deleting["deleted_client_ids"] = json!(["a0"]);
        assert_eq!(
            sync(&b.store, user.id, deleting, t),
            SyncOutcome::KeyReused,
            "{n}: deletion"
        );
        let mut full = keyed("k", vec![workout("a", 1.0)]);
        full["mode"] = json!("full");
        assert_eq!(
            sync(&b.store, user.id, full, t),
            SyncOutcome::KeyReused,
            "{n}: mode"
        );

        // The original request still replays.
        let original = keyed("k", vec![workout("a", 1.0)]);
        assert_eq!(
            replayed(n, sync(&b.store, user.id, original, t)),
            first.body,
            "{n}"
        );

        // Nothing of the refused requests was applied: `b` is new, the position moved once.
        assert_eq!(
            b.store.sync_history(user.id, 50).unwrap().len(),
            1,
            "{n}: no sync recorded"
        );
        let t = t0() + Duration::seconds(2);
        let body = json!({"workouts": [workout("a", 1.0), workout("b", 2.0)]});
        let fresh = b.applied(user.id, body, t);
        fresh.assert_counts(n, [1, 0, 1, 0, 0, 0]);
        assert_eq!(fresh.position(), 2, "{n}");
    }
);

per_backend!(keys_are_scoped_to_the_user, |b: Backend| {
    let n = b.name;
    let (alice, _) = register(&b, "alice@example.com");
    let (bob, _) = register(&b, "bob@example.com");
    let (carol, _) = register(&b, "carol@example.com");
    let body = keyed("shared-key", workouts("w", 2));

    let alices = b.applied(alice.id, body.clone(), t0());
    alices.assert_counts(n, [2, 0, 0, 0, 0, 0]);

    // Bob's request with the same key and body is his own sync, processed for him.
    let bobs = b.applied(bob.id, body.clone(), t0());
    bobs.assert_counts(n, [2, 0, 0, 0, 0, 0]);
    assert_ne!(
        bobs.json["sync_id"], alices.json["sync_id"],
        "{n}: a sync of Bob's own"
    );
    assert_eq!(bobs.position(), 2, "{n}");

    // Carol's different request under the same key is not a reuse of Alice's key.
    let carols = b.applied(carol.id, keyed("shared-key", workouts("c", 1)), t0());
    carols.assert_counts(n, [1, 0, 0, 0, 0, 0]);

    // Each user's key replays their own response.
    let t = t0() + Duration::seconds(1);
    assert_eq!(
        replayed(n, sync(&b.store, alice.id, body.clone(), t)),
        alices.body,
        "{n}"
    );
    assert_eq!(
        replayed(n, sync(&b.store, bob.id, body, t)),
        bobs.body,
        "{n}"
    );
    assert_eq!(
        position(&b, alice.id, t),
        2,
        "{n}: Alice's workouts were created once"
    );
});

per_backend!(an_expired_record_is_processed_afresh, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "expiry@example.com");
    let body = keyed("k", workouts("w", 2));
    let first = b.applied(user.id, body.clone(), t0());
    first.assert_counts(n, [2, 0, 0, 0, 0, 0]);

    // A zero TTL: the record is already expired.
    let second = applied(
        n,
        sync_with(&b.store, user.id, body.clone(), t0(), Duration::zero()),
    );
    second.assert_counts(n, [0, 0, 2, 0, 0, 0]);
    assert_ne!(second.json["sync_id"], first.json["sync_id"], "{n}");

    // Past the default TTL: processed again, and its response replaces the old one.
    let later = t0() + Duration::hours(25);
    let third = b.applied(user.id, body.clone(), later);
    third.assert_counts(n, [0, 0, 2, 0, 0, 0]);
    let t = later + Duration::seconds(1);
    assert_eq!(
        replayed(n, sync(&b.store, user.id, body, t)),
        third.body,
        "{n}: new record"
    );

    // An expired key may carry a different request: not a reuse.
    let much_later = later + Duration::hours(25);
    let other = b.applied(user.id, keyed("k", workouts("v", 1)), much_later);
    other.assert_counts(n, [1, 0, 0, 0, 0, 0]);
    assert_eq!(other.position(), 3, "{n}");
});

per_backend!(
    purge_deletes_only_records_older_than_the_cutoff,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "purge@example.com");
        let (other_user, _) = register(&b, "purge2@example.com");
        let old_body = keyed("old", workouts("a", 2));
        let new_body = keyed("new", workouts("b", 2));
        let old = b.applied(user.id, old_body.clone(), t0());
        let t = t0() + Duration::minutes(10);
        let new = b.applied(user.id, new_body.clone(), t);
        let t = t0() + Duration::minutes(1);
        b.applied(other_user.id, keyed("old", workouts("a", 1)), t);

        let purged = b
            .store
            .purge_idempotency(t0() + Duration::minutes(5))
            .unwrap();
        assert_eq!(purged, 2, "{n}: the two records older than the cutoff");
        assert_eq!(
            b.store
                .purge_idempotency(t0() + Duration::minutes(5))
                .unwrap(),
            0,
            "{n}"
        );

        // The purged key is processed afresh; the newer one still replays.
        let t = t0() + Duration::minutes(20);
        let fresh = b.applied(user.id, old_body, t);
        fresh.assert_counts(n, [0, 0, 2, 0, 0, 0]);
        assert_ne!(fresh.body, old.body, "{n}");
        assert_eq!(
            replayed(n, sync(&b.store, user.id, new_body, t)),
            new.body,
            "{n}"
        );
    }
);
