//! Several instances on one database deliver each event once: their workers claim due
//! deliveries at the same moments (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one claim in
//! a write transaction at a time), and an attempt is made only under its claim.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use test_support::{per_backend, workouts, TestApp, TestDatabase};

use super::{subscribe_ok, verify, Receiver};
use crate::helpers::DbProbe;

/// Both workers look every 10 ms, so their claims overlap all the time.
const EAGER: [(&str, &str); 3] = [
    ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ("WEBHOOK_POLL_INTERVAL_MS", "10"),
    ("WEBHOOK_RETRY_DELAYS_SECS", "1,1,1"),
];

async fn two_instances_deliver_each_event_once(db: TestDatabase) {
    let a = TestApp::spawn_at(db.url(), &EAGER).await;
    let b_instance = TestApp::spawn_at(db.url(), &EAGER).await;
    let b = a.backend;
    let receiver = Receiver::start().await;
    let user = a.register().await;
    let (_, secret) = subscribe_ok(
        &a,
        &user,
        &receiver.url,
        &["workout.created", "sync.completed"],
    )
    .await;
    // Four syncs of 50 through both instances: 204 events.
    for (i, app) in [&a, &b_instance, &a, &b_instance].into_iter().enumerate() {
        app.sync_ok(
            &user,
            &json!({"workouts": workouts(&format!("pair{i}"), 50)}),
        )
        .await;
    }
    receiver.wait_for(204, Duration::from_secs(60)).await;
    // Time for a second delivery of anything, were there one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requests = receiver.requests();
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for request in &requests {
        verify(&secret, request);
        *per_id.entry(request.id.clone().unwrap()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "[{b}] delivered more than once: {twice:?}"
    );
    assert_eq!((per_id.len(), requests.len()), (204, 204), "[{b}]");
    let mut probe = DbProbe::connect(db.url());
    assert_eq!(
        probe.count(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'delivered' AND attempts = 1"
        ),
        204,
        "[{b}] each recorded once, after one attempt"
    );
    assert_eq!(
        probe.count("SELECT COUNT(*) AS n FROM webhook_attempts"),
        204,
        "[{b}]"
    );
    receiver.stop().await;
}
per_backend!(two_instances_deliver_each_event_once, database);
