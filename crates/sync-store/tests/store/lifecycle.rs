//! Opening, migrating and readiness; several store instances on one database.

use std::thread;

use chrono::Duration;
use serde_json::json;
use sync_store::testing::per_backend;
use sync_store::testing::TestDatabase;
use sync_store::{BackendKind, Store, StoreOptions};

use crate::{applied, register, replayed, sync, t0, workouts, Backend};

per_backend!(a_migrated_store_is_ready, |b: Backend| {
    let n = b.name;
    b.store
        .ready()
        .unwrap_or_else(|e| panic!("{n}: ready: {e}"));
    let expected = if n == "postgres" {
        BackendKind::Postgres
    } else {
        BackendKind::Sqlite
    };
    assert_eq!(b.store.kind(), expected, "{n}");
    let pool = b.store.pool_state();
    // SQLite counts the writer's own connection beside the readers' pool.
    let writer = u32::from(expected == BackendKind::Sqlite);
    assert_eq!(
        pool.max_size,
        StoreOptions::default().pool_size + writer,
        "{n}: {pool:?}"
    );
});

per_backend!(two_instances_share_one_database, |b: Backend| {
    let n = b.name;
    // A second server instance starts on the already migrated database.
    let second = Store::open(b.db.url(), &StoreOptions::default())
        .unwrap_or_else(|e| panic!("{n}: opening a second instance: {e}"));
    second
        .ready()
        .unwrap_or_else(|e| panic!("{n}: second instance ready: {e}"));
    b.store
        .ready()
        .unwrap_or_else(|e| panic!("{n}: first instance ready: {e}"));

    // What one instance writes, the other sees: accounts, workouts, idempotency records.
    let (user, _) = register(&b, "shared@example.com");
    assert_eq!(second.user(user.id).unwrap(), Some(user.clone()), "{n}");
    let body = json!({"workouts": workouts("w", 3), "idempotency_key": "k"});
    let first = b.applied(user.id, body.clone(), t0());
    let t = t0() + Duration::seconds(1);
    assert_eq!(
        replayed(n, sync(&second, user.id, body, t)),
        first.body,
        "{n}"
    );
    let fresh = applied(
        n,
        sync(&second, user.id, json!({"workouts": workouts("w", 3)}), t),
    );
    fresh.assert_counts(n, [0, 0, 3, 0, 0, 0]);
    assert_eq!(fresh.position(), 3, "{n}");
});

/// Concurrent start-up is a PostgreSQL concern (one SQLite file serves one instance), so this
/// test has no SQLite variant.
mod instances_starting_together_migrate_once {
    use super::*;

    #[test]
    fn postgres() {
        // Start from an empty database so that the instances race on the migrations.
        let Some(fresh) = TestDatabase::postgres() else {
            return;
        };
        let n = "postgres";
        let opened: Vec<Store> = thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| Store::open(fresh.url(), &StoreOptions::default())))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .expect("open thread")
                        .unwrap_or_else(|e| panic!("{n}: {e}"))
                })
                .collect()
        });
        for store in &opened {
            store.ready().unwrap_or_else(|e| panic!("{n}: ready: {e}"));
        }
        drop(opened);
    }
}
