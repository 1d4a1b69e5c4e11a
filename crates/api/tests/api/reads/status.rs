//! `GET /sync/status` and the sync history (`GET /syncs`, `GET /syncs/{id}`).

use std::time::Duration as StdDuration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{assert_refused, per_backend, with, Counts, TestApp};
use uuid::Uuid;

use super::{days_back, feed_all, feed_page, run_at};
use crate::helpers::is_server_timestamp;

per_backend!(sync_status_and_history_match_what_was_synced);
async fn sync_status_and_history_match_what_was_synced(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let other = app.register().await;

    let fresh = app.get_ok(&user, "/sync/status", &[]).await;
    for key in ["last_sync_at", "oldest_workout", "newest_workout"] {
        assert_eq!(fresh[key], Value::Null, "[{b}] {key}: {fresh}");
    }
    assert_eq!(fresh["total_workouts"], json!(0), "[{b}] {fresh}");
    assert_eq!(fresh["pending_sync"], json!(0), "[{b}] {fresh}");
    let fresh_cursor = fresh["server_cursor"].as_str().expect("server_cursor");
    let nothing = feed_page(&app, &user, Some(fresh_cursor), None).await;
    assert_eq!(nothing["changes"], json!([]), "[{b}] {nothing}");

    let s1 = app
        .sync_ok(
            &user,
            &json!({
                "workouts": [
                    run_at("jan", "2024-01-10T08:00:00Z"),
                    run_at("feb", "2024-02-10T08:00:00Z"),
                    run_at("mar", "2024-03-10T08:00:00Z"),
                ],
                "mode": "full",
                "client_sync_timestamp": "2024-03-11T09:00:00Z",
            }),
        )
        .await;
    // Different seconds, so that "newest first" is well defined here (the same-second case
    // has its own test).
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    let s2 = app
        .sync_ok(
            &user,
            &json!({
                "workouts": [
                    run_at("apr", "2024-04-10T08:00:00Z"),
                    run_at("may", "2024-05-10T08:00:00Z"),
                    run_at("feb", "2024-02-10T08:00:00Z"),
                    with(
                        run_at("bad", "2024-04-20T08:00:00Z"),
                        json!({"end_time": "2024-04-20T07:00:00Z"})
                    ),
                ],
                "deleted_client_ids": ["jan", "never-existed"],
            }),
        )
        .await;
    assert_eq!(
        Counts::of(&s2),
        Counts {
            created: 2,
            unchanged: 1,
            rejected: 1,
            deleted: 1,
            ..Counts::default()
        },
        "[{b}] {s2}"
    );
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    let s3 = app
        .sync_ok(
            &user,
            &json!({"workouts": [with(
                run_at("mar", "2024-03-10T08:00:00Z"),
                json!({"distance_meters": 4000})
            )], "mode": "incremental"}),
        )
        .await;
    assert_eq!(
        s3["conflicts"].as_array().map(Vec::len),
        Some(1),
        "[{b}] {s3}"
    );

    let status = app.get_ok(&user, "/sync/status", &[]).await;
    let ctx = format!("[{b}] {status}");
    assert_eq!(status["total_workouts"], json!(4), "live only: {ctx}");
    assert_eq!(status["pending_sync"], json!(0), "{ctx}");
    assert!(
        is_server_timestamp(&status["last_sync_at"]),
        "no fractional seconds: {ctx}"
    );
    assert_eq!(status["last_sync_at"], s3["server_timestamp"], "{ctx}");
    assert_eq!(status["server_cursor"], s3["next_cursor"], "{ctx}");
    assert_eq!(
        status["oldest_workout"],
        json!("2024-02-10T08:00:00Z"),
        "{ctx}"
    );
    assert_eq!(
        status["newest_workout"],
        json!("2024-05-10T08:00:00Z"),
        "{ctx}"
    );

    // A delete on the server moves the count, the newest workout and the cursor.
    let may = app.id_of(&user, "may").await;
    app.delete_ok(&user, &may).await;
    let status = app.get_ok(&user, "/sync/status", &[]).await;
    let ctx = format!("[{b}] {status}");
    assert_eq!(status["total_workouts"], json!(3), "{ctx}");
    assert_eq!(
        status["newest_workout"],
        json!("2024-04-10T08:00:00Z"),
        "{ctx}"
    );
    assert_ne!(status["server_cursor"], s3["next_cursor"], "{ctx}");
    let (_, feed_end) = feed_all(&app, &user, None, "100").await;
    assert_eq!(
        status["server_cursor"],
        json!(feed_end),
        "the feed's position: {ctx}"
    );

    // The history, newest first, with mode and counts.
    let history = app.get_ok(&user, "/syncs", &[]).await;
    let syncs = history["syncs"].as_array().expect("syncs array");
    let ids: Vec<&Value> = syncs.iter().map(|s| &s["sync_id"]).collect();
    assert_eq!(
        ids,
        vec![&s3["sync_id"], &s2["sync_id"], &s1["sync_id"]],
        "[{b}] newest first: {history}"
    );
    for (entry, response, mode) in [
        (&syncs[0], &s3, "incremental"),
        (&syncs[1], &s2, "incremental"),
        (&syncs[2], &s1, "full"),
    ] {
        let ctx = format!("[{b}] {entry} for {response}");
        assert_eq!(entry["mode"], json!(mode), "{ctx}");
        for key in ["created", "updated", "unchanged", "deleted"] {
            assert_eq!(entry[key], response[key], "{key}: {ctx}");
        }
        for key in ["conflicts", "rejected"] {
            assert_eq!(
                entry[key].as_u64(),
                response[key].as_array().map(|a| a.len() as u64),
                "{key}: {ctx}"
            );
        }
        assert_eq!(entry["created_at"], response["server_timestamp"], "{ctx}");
        assert!(is_server_timestamp(&entry["created_at"]), "{ctx}");
    }
    assert_eq!(
        syncs[2]["client_sync_timestamp"],
        json!("2024-03-11T09:00:00Z"),
        "[{b}] {history}"
    );

    let two = app.get_ok(&user, "/syncs", &[("limit", "2")]).await;
    let two_ids: Vec<&Value> = two["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["sync_id"])
        .collect();
    assert_eq!(two_ids, vec![&s3["sync_id"], &s2["sync_id"]], "[{b}] {two}");

    let s2_id = s2["sync_id"].as_str().unwrap();
    let one = app.get_ok(&user, &format!("/syncs/{s2_id}"), &[]).await;
    assert_eq!(
        one["sync"], syncs[1],
        "[{b}] /syncs/{{id}} agrees with the list"
    );

    // Another user sees none of it.
    let theirs = app.get_ok(&other, "/syncs", &[]).await;
    assert_eq!(theirs["syncs"], json!([]), "[{b}] {theirs}");
    let response = app.get(&other, &format!("/syncs/{s2_id}"), &[]).await;
    assert_refused(
        response,
        StatusCode::NOT_FOUND,
        &format!("{b}] [another user's sync"),
    )
    .await;
    let response = app
        .get(&user, &format!("/syncs/{}", Uuid::new_v4()), &[])
        .await;
    assert_refused(
        response,
        StatusCode::NOT_FOUND,
        &format!("{b}] [unknown sync"),
    )
    .await;
    let status = app.get_ok(&other, "/sync/status", &[]).await;
    assert_eq!(status["total_workouts"], json!(0), "[{b}] {status}");
    assert_eq!(status["last_sync_at"], Value::Null, "[{b}] {status}");
}

per_backend!(sync_history_is_newest_first_even_within_one_second);
/// Syncs made within the same second (a device retrying, or syncing in chunks) must still be
/// listed newest first. Guards the history's order: the stored sync times have whole seconds, so
/// ordering by time alone leaves same-second syncs in an arbitrary (id) order.
async fn sync_history_is_newest_first_even_within_one_second(app: TestApp) {
    let mut failures: Vec<String> = Vec::new();
    let b = app.backend;
    let user = app.register().await;
    let mut sync_ids = Vec::new();
    for k in 0..8 {
        let body = app
            .sync_ok(
                &user,
                &json!({"workouts": [run_at(&format!("w{k}"), &days_back(k))]}),
            )
            .await;
        sync_ids.push(body["sync_id"].clone());
    }
    sync_ids.reverse();
    let history = app.get_ok(&user, "/syncs", &[]).await;
    let listed: Vec<Value> = history["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sync_id"].clone())
        .collect();
    if listed != sync_ids {
        failures.push(format!(
            "[{b}] /syncs not newest first:\n  listed   {listed:?}\n  expected {sync_ids:?}\n  {history}"
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
