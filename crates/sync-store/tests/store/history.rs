//! The sync history: what each sync did, newest first, visible only to its user.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
use sync_core::SyncCounts;
use sync_store::testing::per_backend;
use uuid::Uuid;

use crate::{register, t0, workout, Backend};

fn sync_id(json: &Value) -> Uuid {
    Uuid::parse_str(json["sync_id"].as_str().expect("sync_id")).expect("sync_id is a UUID")
}

per_backend!(
    sync_history_lists_the_users_syncs_newest_first,
    |b: Backend| {
        let n = b.name;
        let (user, _) = register(&b, "history@example.com");
        let (other, _) = register(&b, "other@example.com");

        let body = json!({
            "workouts": [workout("a", 1.0), workout("b", 2.0)],
            "idempotency_key": "first",
            "client_sync_timestamp": "2024-06-01T13:59:00+02:00",
        });
        let first = b.applied(user.id, body, t0());
        let t1 = t0() + Duration::minutes(1);
        let body = json!({
            "mode": "full",
            "workouts": [workout("a", 1.0), workout("b", 2.0), workout("c", 3.0)],
        });
        let second = b.applied(user.id, body, t1);
        let t2 = t0() + Duration::minutes(2);
        let body = json!({"workouts": [workout("a", 9.0)], "deleted_client_ids": ["b"]});
        let third = b.applied(user.id, body, t2);
        // Another user's sync is not in this user's history.
        b.applied(other.id, json!({"workouts": [workout("z", 1.0)]}), t2);

        let history = b.store.sync_history(user.id, 10).unwrap();
        let ids: Vec<Uuid> = history.iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            vec![
                sync_id(&third.json),
                sync_id(&second.json),
                sync_id(&first.json)
            ],
            "{n}: newest first"
        );
        let modes: Vec<&str> = history.iter().map(|r| r.mode.as_str()).collect();
        assert_eq!(modes, vec!["incremental", "full", "incremental"], "{n}");
        let counts = |created, unchanged, deleted, conflicts| SyncCounts {
            created,
            updated: 0,
            unchanged,
            deleted,
            conflicts,
            rejected: 0,
        };
        assert_eq!(history[0].counts, counts(0, 0, 1, 1), "{n}: third sync");
        assert_eq!(history[1].counts, counts(1, 2, 0, 0), "{n}: second sync");
        assert_eq!(history[2].counts, counts(2, 0, 0, 0), "{n}: first sync");
        let seqs: Vec<i64> = history.iter().map(|r| r.change_seq).collect();
        assert_eq!(seqs, vec![4, 3, 2], "{n}");
        let times: Vec<_> = history.iter().map(|r| r.created_at).collect();
        assert_eq!(times, vec![t2, t1, t0()], "{n}");
        assert_eq!(history[2].idempotency_key.as_deref(), Some("first"), "{n}");
        assert_eq!(history[1].idempotency_key, None, "{n}");
        assert_eq!(
            history[2].client_sync_timestamp,
            Some(Utc.with_ymd_and_hms(2024, 6, 1, 11, 59, 0).unwrap()),
            "{n}: normalised to UTC"
        );
        assert_eq!(history[0].client_sync_timestamp, None, "{n}");

        // The limit is respected and clamped to at least one.
        let newest_two = b.store.sync_history(user.id, 2).unwrap();
        assert_eq!(newest_two, history[..2].to_vec(), "{n}");
        assert_eq!(
            b.store.sync_history(user.id, 0).unwrap(),
            history[..1].to_vec(),
            "{n}"
        );

        // One record: the user's own only.
        let second_id = sync_id(&second.json);
        assert_eq!(
            b.store.sync_record(user.id, second_id).unwrap(),
            Some(history[1].clone())
        );
        assert_eq!(
            b.store.sync_record(other.id, second_id).unwrap(),
            None,
            "{n}: another user's sync"
        );
        assert_eq!(
            b.store.sync_record(user.id, Uuid::new_v4()).unwrap(),
            None,
            "{n}: unknown"
        );
        assert_eq!(b.store.sync_history(other.id, 10).unwrap().len(), 1, "{n}");
    }
);
