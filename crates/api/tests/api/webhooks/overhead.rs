//! What the outbox costs a sync: the same syncs for an account without subscriptions, with one
//! that takes the workout and sync events, and with one that takes every event (the years'
//! achievements are then read and compared). Nothing is delivered meanwhile (the worker looks
//! once an hour), so the numbers are the sync's own. A measurement, not a check: run with
//! `cargo test -p api --test api overhead -- --ignored --nocapture` (docs/webhooks.md).

use std::time::{Duration, Instant};

use serde_json::json;
use test_support::{workouts, TestApp};

use super::{subscribe_ok, ALL_EVENTS};

const ROUNDS: usize = 30;

async fn mean_sync(app: &TestApp, events: Option<&[&str]>, batch: usize, tag: &str) -> Duration {
    let user = app.register().await;
    if let Some(events) = events {
        subscribe_ok(app, &user, "http://127.0.0.1:9/never-called", events).await;
    }
    let mut total = Duration::ZERO;
    for round in 0..ROUNDS {
        let body = json!({"workouts": workouts(&format!("{tag}-{round}"), batch)});
        let started = Instant::now();
        app.sync_ok(&user, &body).await;
        total += started.elapsed();
    }
    total / ROUNDS as u32
}

async fn sync_overhead_of_webhooks(app: TestApp) {
    for batch in [1, 100] {
        let none = mean_sync(&app, None, batch, "none").await;
        let some = mean_sync(
            &app,
            Some(&["workout.created", "sync.completed"]),
            batch,
            "some",
        )
        .await;
        let all = mean_sync(&app, Some(&ALL_EVENTS), batch, "all").await;
        println!(
            "[{}] batch {batch:>3}: no subscription {:>7.2} ms, workout+sync events {:>7.2} ms, every event {:>7.2} ms",
            app.backend,
            none.as_secs_f64() * 1e3,
            some.as_secs_f64() * 1e3,
            all.as_secs_f64() * 1e3,
        );
    }
}

mod sync_overhead {
    #[tokio::test]
    #[ignore = "a measurement: run with --ignored --nocapture"]
    async fn sqlite() {
        test_support::on_backend_with_app(
            test_support::Backend::Sqlite,
            &super::QUIET,
            super::sync_overhead_of_webhooks,
        )
        .await;
    }

    #[tokio::test]
    #[ignore = "a measurement: run with --ignored --nocapture"]
    async fn postgres() {
        test_support::on_backend_with_app(
            test_support::Backend::Postgres,
            &super::QUIET,
            super::sync_overhead_of_webhooks,
        )
        .await;
    }
}

/// Private targets allowed, and a worker that looks once an hour.
const QUIET: [(&str, &str); 2] = [
    ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ("WEBHOOK_POLL_INTERVAL_MS", "3600000"),
];
