//! The conflict table as the store executes it, and the per-user change feed position.

use chrono::Duration;
use serde_json::{json, Value};
use sync_store::testing::per_backend;
use sync_store::StoreError;
use uuid::Uuid;

use crate::{position, prepare, register, t0, ttl, workout, workouts, Backend};

fn versioned(client_id: &str, distance_meters: f64, client_version: i64) -> Value {
    let mut w = workout(client_id, distance_meters);
    w["client_version"] = json!(client_version);
    w
}

fn uuid_of(value: &Value) -> Uuid {
    Uuid::parse_str(value.as_str().expect("a UUID string")).expect("a valid UUID")
}

per_backend!(sync_creates_updates_conflicts_and_deletes, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "runner@example.com");
    let batch = json!([
        workout("a", 5000.0),
        workout("b", 6000.0),
        workout("c", 7000.0)
    ]);

    // New workouts are created.
    let first = b.applied(user.id, json!({"workouts": batch}), t0());
    first.assert_counts(n, [3, 0, 0, 0, 0, 0]);
    uuid_of(&first.json["sync_id"]);
    assert_eq!(
        first.json["server_timestamp"],
        json!("2024-06-01T12:00:00Z"),
        "{n}"
    );

    // The same batch again changes nothing.
    let t = t0() + Duration::seconds(1);
    b.applied(user.id, json!({"workouts": batch}), t)
        .assert_counts(n, [0, 0, 3, 0, 0, 0]);

    // Different content without a client_version: the server's copy wins and is returned.
    let t = t0() + Duration::seconds(2);
    let mismatch = b.applied(user.id, json!({"workouts": [workout("a", 5100.0)]}), t);
    mismatch.assert_counts(n, [0, 0, 0, 0, 1, 0]);
    let conflict = &mismatch.conflicts()[0];
    assert_eq!(conflict["client_id"], json!("a"), "{n}: {conflict}");
    assert_eq!(
        conflict["reason"],
        json!("data_mismatch"),
        "{n}: {conflict}"
    );
    assert_eq!(
        conflict["resolution"],
        json!("server_wins"),
        "{n}: {conflict}"
    );
    assert_eq!(
        conflict["fields"],
        json!(["distance_meters"]),
        "{n}: {conflict}"
    );
    let server = &conflict["server_workout"];
    let server_id = uuid_of(&conflict["server_id"]);
    assert_eq!(
        uuid_of(&server["id"]),
        server_id,
        "{n}: server_id names server_workout"
    );
    assert_eq!(server["client_id"], json!("a"), "{n}: {server}");
    assert_eq!(
        server["distance_meters"].as_f64(),
        Some(5000.0),
        "{n}: {server}"
    );
    assert_eq!(
        server["duration_seconds"],
        json!(2100),
        "{n}: integers stay integers"
    );
    assert_eq!(server["revision"], json!(1), "{n}: {server}");
    assert_eq!(server["date"], json!("2024-05-01"), "{n}: {server}");
    assert_eq!(
        server["start_time"],
        json!("2024-05-01T08:00:00Z"),
        "{n}: {server}"
    );
    assert_eq!(
        server["created_at"],
        json!("2024-06-01T12:00:00Z"),
        "{n}: {server}"
    );
    // Nothing was written: the original content is still the server's.
    let t = t0() + Duration::seconds(3);
    b.applied(user.id, json!({"workouts": [workout("a", 5000.0)]}), t)
        .assert_counts(n, [0, 0, 1, 0, 0, 0]);

    // A newer client_version replaces the server's copy; its revision goes up.
    let t = t0() + Duration::seconds(4);
    b.applied(user.id, json!({"workouts": [versioned("a", 5100.0, 1)]}), t)
        .assert_counts(n, [0, 1, 0, 0, 0, 0]);
    let t = t0() + Duration::seconds(5);
    let after_update = b.applied(user.id, json!({"workouts": [workout("a", 5000.0)]}), t);
    after_update.assert_counts(n, [0, 0, 0, 0, 1, 0]);
    let conflict = &after_update.conflicts()[0];
    let server = &conflict["server_workout"];
    assert_eq!(
        conflict["reason"],
        json!("data_mismatch"),
        "{n}: {conflict}"
    );
    assert_eq!(
        server["revision"],
        json!(2),
        "{n}: revision after one update: {server}"
    );
    assert_eq!(
        server["distance_meters"].as_f64(),
        Some(5100.0),
        "{n}: {server}"
    );
    assert_eq!(
        uuid_of(&conflict["server_id"]),
        server_id,
        "{n}: an update keeps the id"
    );
    assert_eq!(
        server["created_at"],
        json!("2024-06-01T12:00:00Z"),
        "{n}: {server}"
    );
    assert_eq!(
        server["updated_at"],
        json!("2024-06-01T12:00:04Z"),
        "{n}: {server}"
    );

    // A client_version that is not greater than the stored one is stale.
    let t = t0() + Duration::seconds(6);
    let stale = b.applied(user.id, json!({"workouts": [versioned("a", 5200.0, 1)]}), t);
    stale.assert_counts(n, [0, 0, 0, 0, 1, 0]);
    assert_eq!(
        stale.conflicts()[0]["reason"],
        json!("stale_version"),
        "{n}"
    );
    assert_eq!(
        stale.conflicts()[0]["server_workout"]["distance_meters"].as_f64(),
        Some(5100.0),
        "{n}: a stale version writes nothing"
    );

    // An explicit deletion of an existing workout is applied; unknown ids are ignored.
    let t = t0() + Duration::seconds(7);
    let body = json!({"workouts": [], "deleted_client_ids": ["b", "b", "never-synced"]});
    b.applied(user.id, body, t)
        .assert_counts(n, [0, 0, 0, 1, 0, 0]);
    let t = t0() + Duration::seconds(8);
    let body = json!({"deleted_client_ids": ["b"]});
    b.applied(user.id, body, t)
        .assert_counts(n, [0, 0, 0, 0, 0, 0]);

    // Syncing a deleted workout again conflicts, whatever its version.
    for (i, w) in [workout("b", 6000.0), versioned("b", 6000.0, 9)]
        .into_iter()
        .enumerate()
    {
        let t = t0() + Duration::seconds(9 + i as i64);
        let gone = b.applied(user.id, json!({"workouts": [w]}), t);
        gone.assert_counts(n, [0, 0, 0, 0, 1, 0]);
        let conflict = &gone.conflicts()[0];
        assert_eq!(
            conflict["reason"],
            json!("deleted_on_server"),
            "{n}: {conflict}"
        );
        assert_eq!(conflict["client_id"], json!("b"), "{n}: {conflict}");
        assert_eq!(
            conflict["server_workout"]["client_id"],
            json!("b"),
            "{n}: {conflict}"
        );
    }
});

per_backend!(
    a_mixed_batch_counts_every_workout_once_and_stores_nothing_of_rejected_ones,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "mixed@example.com");
        let body = json!({"workouts": [workout("a", 5000.0), workout("b", 6000.0)]});
        b.applied(user.id, body, t0())
            .assert_counts(n, [2, 0, 0, 0, 0, 0]);

        let mut bad = workout("bad", 3000.0);
        bad["end_time"] = json!("2024-05-01T07:00:00Z");
        let mut wrong_type = workout("wrong-type", 3000.0);
        wrong_type["distance_meters"] = json!("3000");
        let body = json!({
            "workouts": [
                workout("a", 5000.0),       // unchanged
                bad,                        // rejected
                workout("b", 6500.0),       // conflict
                workout("new", 4000.0),     // created
                versioned("a2", 1.0, 3),    // created
                wrong_type,                 // rejected
            ],
            "deleted_client_ids": ["missing"],
        });
        let t = t0() + Duration::seconds(1);
        let mixed = b.applied(user.id, body, t);
        mixed.assert_counts(n, [2, 0, 1, 0, 1, 2]);
        let rejected = mixed.json["rejected"].as_array().unwrap();
        assert_eq!(rejected[0]["index"], json!(1), "{n}: {rejected:?}");
        assert_eq!(rejected[0]["client_id"], json!("bad"), "{n}: {rejected:?}");
        assert!(
            rejected[0]["errors"]
                .as_object()
                .is_some_and(|e| !e.is_empty()),
            "{n}: rejected entries say why: {rejected:?}"
        );
        assert_eq!(rejected[1]["index"], json!(5), "{n}: {rejected:?}");
        assert_eq!(mixed.position(), 4, "{n}: two creates after two creates");

        // Nothing of a rejected workout was stored: its valid version is new to the server.
        let t = t0() + Duration::seconds(2);
        let body = json!({"workouts": [workout("bad", 3000.0), workout("wrong-type", 3000.0)]});
        let fixed = b.applied(user.id, body, t);
        fixed.assert_counts(n, [2, 0, 0, 0, 0, 0]);
        assert_eq!(fixed.position(), 6, "{n}");
    }
);

per_backend!(
    next_cursor_is_the_users_gap_free_change_position,
    |b: Backend| {
        let n = b.name;
        let (alice, _) = register(&b, "alice@example.com");
        let (bob, _) = register(&b, "bob@example.com");
        let mut clock = t0();
        let mut tick = || {
            clock += Duration::seconds(1);
            clock
        };

        let batch = json!([
            workout("a", 5000.0),
            workout("b", 6000.0),
            workout("c", 7000.0)
        ]);
        let created = b.applied(alice.id, json!({"workouts": batch}), tick());
        created.assert_counts(n, [3, 0, 0, 0, 0, 0]);
        assert_eq!(created.position(), 3, "{n}: three creates");

        let body = json!({"workouts": [versioned("a", 5100.0, 1)]});
        let updated = b.applied(alice.id, body, tick());
        updated.assert_counts(n, [0, 1, 0, 0, 0, 0]);
        assert_eq!(updated.position(), 4, "{n}: one update");

        let body = json!({"deleted_client_ids": ["b"]});
        let deleted = b.applied(alice.id, body, tick());
        deleted.assert_counts(n, [0, 0, 0, 1, 0, 0]);
        assert_eq!(deleted.position(), 5, "{n}: one delete");

        // Nothing written: unchanged, conflicting and ignored entries do not move the position.
        let body = json!({
            "workouts": [workout("c", 7000.0), workout("a", 1.0)],
            "deleted_client_ids": ["b", "unknown"],
        });
        let idle = b.applied(alice.id, body, tick());
        idle.assert_counts(n, [0, 0, 1, 0, 1, 0]);
        assert_eq!(idle.position(), 5, "{n}: nothing was written");
        let body = json!({"workouts": [workout("b", 6000.0)]});
        let gone = b.applied(alice.id, body, tick());
        gone.assert_counts(n, [0, 0, 0, 0, 1, 0]);
        assert_eq!(
            gone.position(),
            5,
            "{n}: a deleted_on_server conflict writes nothing"
        );

        // Bob's changes have their own sequence and leave Alice's alone.
        let body = json!({"workouts": [workout("a", 1.0), workout("x", 2.0)]});
        let bobs = b.applied(bob.id, body, tick());
        bobs.assert_counts(n, [2, 0, 0, 0, 0, 0]);
        assert_eq!(bobs.position(), 2, "{n}: Bob's first two changes");
        let body = json!({"deleted_client_ids": ["a", "x"]});
        assert_eq!(b.applied(bob.id, body, tick()).position(), 4, "{n}");
        assert_eq!(
            position(&b, alice.id, tick()),
            5,
            "{n}: Bob's syncs moved Alice's position"
        );

        // The history records the position after each sync.
        let history = b.store.sync_history(alice.id, 10).unwrap();
        let seqs: Vec<i64> = history.iter().map(|r| r.change_seq).collect();
        assert_eq!(seqs, vec![5, 5, 5, 5, 4, 3], "{n}: newest first");
    }
);

per_backend!(
    a_full_sync_never_deletes_what_it_leaves_out,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "full@example.com");
        let body = json!({"workouts": [workout("a", 5000.0), workout("b", 6000.0)]});
        b.applied(user.id, body, t0())
            .assert_counts(n, [2, 0, 0, 0, 0, 0]);

        let t = t0() + Duration::seconds(1);
        let body = json!({"mode": "full", "workouts": [workout("a", 5000.0)]});
        let full = b.applied(user.id, body, t);
        full.assert_counts(n, [0, 0, 1, 0, 0, 0]);
        assert_eq!(full.position(), 2, "{n}: nothing deleted");

        // `b` is still live: syncing it is unchanged, not deleted_on_server.
        let t = t0() + Duration::seconds(2);
        let body = json!({"workouts": [workout("b", 6000.0)]});
        b.applied(user.id, body, t)
            .assert_counts(n, [0, 0, 1, 0, 0, 0]);
    }
);

per_backend!(a_thousand_workouts_sync_in_one_call, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "marathon@example.com");
    let batch = workouts("hk", 1000);

    let started = std::time::Instant::now();
    let created = b.applied(user.id, json!({"workouts": batch}), t0());
    created.assert_counts(n, [1000, 0, 0, 0, 0, 0]);
    assert_eq!(created.position(), 1000, "{n}");
    eprintln!("{n}: 1,000 creates in {:?}", started.elapsed());

    let t = t0() + Duration::seconds(1);
    let again = b.applied(user.id, json!({"workouts": batch}), t);
    again.assert_counts(n, [0, 0, 1000, 0, 0, 0]);
    assert_eq!(again.position(), 1000, "{n}");

    let newer: Vec<Value> = (0..1000)
        .map(|i| versioned(&format!("hk-{i}"), 2000.0 + i as f64, 1))
        .collect();
    let t = t0() + Duration::seconds(2);
    let updated = b.applied(user.id, json!({"workouts": newer}), t);
    updated.assert_counts(n, [0, 1000, 0, 0, 0, 0]);
    assert_eq!(updated.position(), 2000, "{n}");

    let ids: Vec<String> = (0..1000).map(|i| format!("hk-{i}")).collect();
    let t = t0() + Duration::seconds(3);
    let deleted = b.applied(user.id, json!({"deleted_client_ids": ids}), t);
    deleted.assert_counts(n, [0, 0, 0, 1000, 0, 0]);
    assert_eq!(deleted.position(), 3000, "{n}");
});

// SQLite writes a batch in statements of 100 rows, then 10, then one at a time: 321 rows take
// every size, and every row of every statement must land as sent.
per_backend!(
    a_batch_of_every_statement_size_stores_every_row_as_sent,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "every-size@example.com");
        let batch = workouts("hk", 321);
        b.applied(user.id, json!({"workouts": batch}), t0())
            .assert_counts(n, [321, 0, 0, 0, 0, 0]);
        let t = t0() + Duration::seconds(1);
        b.applied(user.id, json!({"workouts": batch}), t)
            .assert_counts(n, [0, 0, 321, 0, 0, 0]);

        // Updates and creates in one batch, each of them in statements of every size.
        let mixed: Vec<Value> = (0..111)
            .map(|i| versioned(&format!("hk-{i}"), 3000.0 + i as f64 / 8.0, 1))
            .chain((321..531).map(|i| workout(&format!("hk-{i}"), 4000.0 + i as f64)))
            .collect();
        let t = t0() + Duration::seconds(2);
        b.applied(user.id, json!({"workouts": mixed}), t)
            .assert_counts(n, [210, 111, 0, 0, 0, 0]);
        let t = t0() + Duration::seconds(3);
        let again = b.applied(user.id, json!({"workouts": mixed}), t);
        again.assert_counts(n, [0, 0, 321, 0, 0, 0]);
        assert_eq!(again.position(), 321 + 321, "{n}");
    }
);

per_backend!(
    a_sync_for_an_unknown_user_fails_and_stores_nothing,
    |b: Backend| {
        let n = b.name;
        let request = prepare(json!({"workouts": [workout("a", 1.0)]}), t0());
        let result = b.store.sync(&sync_store::SyncCommand {
            user_id: Uuid::new_v4(),
            session: None,
            request: &request,
            now: t0(),
            idempotency_ttl: ttl(),
        });
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{n}: {result:?}"
        );
    }
);

per_backend!(stored_workouts_round_trip_exactly, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "precise@example.com");
    let long_id = format!("hk-{}", "é".repeat(252));
    let precise = json!({
        "client_id": "🏃 morning run",
        "start_time": "2024-05-01T23:30:00.123-05:00",
        "end_time": "2024-05-02T00:05:00.456-05:00",
        "duration_seconds": 2100,
        "distance_meters": 5012.7,
        "energy_burned_kcal": 351.25,
        "avg_heart_rate": 145,
        "max_heart_rate": 181,
        "source": "apple_watch",
        "client_version": 7,
    });
    let treadmill = json!({
        "client_id": long_id,
        "start_time": "2024-05-03T08:00:00Z",
        "end_time": "2024-05-03T08:30:00Z",
        "duration_seconds": 1800,
        "distance_meters": 0,
        "avg_pace_seconds_per_km": 400.5,
    });
    let body = json!({"workouts": [precise, treadmill]});
    b.applied(user.id, body.clone(), t0())
        .assert_counts(n, [2, 0, 0, 0, 0, 0]);

    // Every stored value reads back equal to what was sent: the same batch is unchanged.
    let t = t0() + Duration::seconds(1);
    b.applied(user.id, body, t)
        .assert_counts(n, [0, 0, 2, 0, 0, 0]);

    // The server's copies, as a conflict returns them.
    let mut changed = precise.clone();
    changed["distance_meters"] = json!(5012.8);
    changed.as_object_mut().unwrap().remove("client_version");
    let mut changed_treadmill = treadmill.clone();
    changed_treadmill["source"] = json!("iphone");
    let body = json!({"workouts": [changed, changed_treadmill]});
    let t = t0() + Duration::seconds(2);
    let conflicts = b.applied(user.id, body, t);
    conflicts.assert_counts(n, [0, 0, 0, 0, 2, 0]);
    let server = &conflicts.conflicts()[0]["server_workout"];
    assert_eq!(
        server["client_id"],
        json!("🏃 morning run"),
        "{n}: {server}"
    );
    assert_eq!(
        server["start_time"],
        json!("2024-05-02T04:30:00.123Z"),
        "{n}: {server}"
    );
    assert_eq!(
        server["end_time"],
        json!("2024-05-02T05:05:00.456Z"),
        "{n}: {server}"
    );
    assert_eq!(
        server["date"],
        json!("2024-05-01"),
        "{n}: the day in the client's offset"
    );
    assert_eq!(
        server["distance_meters"].as_f64(),
        Some(5012.7),
        "{n}: {server}"
    );
    assert_eq!(
        server["energy_burned_kcal"].as_f64(),
        Some(351.25),
        "{n}: {server}"
    );
    assert_eq!(server["max_heart_rate"], json!(181), "{n}: {server}");
    assert_eq!(
        server["avg_pace_seconds_per_km"].as_f64(),
        Some(418.94),
        "{n}: derived pace"
    );
    let server = &conflicts.conflicts()[1]["server_workout"];
    assert_eq!(
        server["client_id"],
        json!(long_id),
        "{n}: 255-character client id"
    );
    assert_eq!(server["source"], json!("unknown"), "{n}: default source");
    assert_eq!(
        server["avg_pace_seconds_per_km"].as_f64(),
        Some(400.5),
        "{n}: client pace"
    );
    assert_eq!(server["energy_burned_kcal"], Value::Null, "{n}: {server}");
    assert_eq!(server["avg_heart_rate"], Value::Null, "{n}: {server}");
    assert_eq!(conflicts.conflicts()[1]["fields"], json!(["source"]), "{n}");

    // The stored client_version (7) is what a newer version must beat.
    let mut newer = precise.clone();
    newer["distance_meters"] = json!(5100);
    let t = t0() + Duration::seconds(3);
    let stale = b.applied(user.id, json!({"workouts": [newer.clone()]}), t);
    assert_eq!(
        stale.conflicts()[0]["reason"],
        json!("stale_version"),
        "{n}"
    );
    newer["client_version"] = json!(8);
    let t = t0() + Duration::seconds(4);
    b.applied(user.id, json!({"workouts": [newer]}), t)
        .assert_counts(n, [0, 1, 0, 0, 0, 0]);
});

// New workouts get time-ordered ids (UUIDv7), so that a batch's rows are neighbours in the
// primary-key index: random ids dirtied a leaf page per new row (docs/benchmarks.md, 18). The
// sync's own id is time-ordered for the same reason.
per_backend!(new_workouts_and_syncs_get_time_ordered_ids, |b: Backend| {
    let n = b.name;
    let (user, _) = register(&b, "ordered@example.com");
    let first = b.applied(user.id, json!({"workouts": workouts("early", 50)}), t0());
    let t = t0() + Duration::seconds(1);
    let second = b.applied(user.id, json!({"workouts": workouts("late", 50)}), t);
    let page = b.store.changes(user.id, 0, 200).expect("changes");
    let ids: Vec<Uuid> = page.changes.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), 100, "{n}");
    assert!(
        ids.iter().all(|id| id.get_version_num() == 7),
        "{n}: {ids:?}"
    );
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "{n}: in the order they were made, across both syncs: {ids:?}"
    );
    let syncs = [
        uuid_of(&first.json["sync_id"]),
        uuid_of(&second.json["sync_id"]),
    ];
    assert!(
        syncs.iter().all(|id| id.get_version_num() == 7) && syncs[0] < syncs[1],
        "{n}: {syncs:?}"
    );
});

per_backend!(
    a_batch_of_more_ids_than_one_lookup_finds_every_stored_row,
    |b: Backend| {
        // A sync planned without the lock reads its batch's stored rows with the user row when
        // they fit one lookup (1,000 ids); this batch names 1,500 and is looked up apart.
        let n = b.name;
        let (user, _) = register(&b, "many-ids@example.com");
        b.applied(user.id, json!({"workouts": workouts("a", 1000)}), t0())
            .assert_counts(n, [1000, 0, 0, 0, 0, 0]);

        let mut batch: Vec<Value> = (0..500)
            .map(|i| versioned(&format!("a-{i}"), 9000.0, 2))
            .collect();
        batch.extend(workouts("b", 500));
        let deleted: Vec<String> = (500..1000).map(|i| format!("a-{i}")).collect();
        let t = t0() + Duration::seconds(1);
        let body = json!({"workouts": batch, "deleted_client_ids": deleted});
        b.applied(user.id, body, t)
            .assert_counts(n, [500, 500, 0, 500, 0, 0]);

        // Every row was found and written over, none inserted beside it: the same batch
        // again changes nothing.
        let body = json!({"workouts": batch, "deleted_client_ids": deleted});
        let t = t + Duration::seconds(1);
        b.applied(user.id, body, t)
            .assert_counts(n, [0, 0, 1000, 0, 0, 0]);
    }
);
