//! The change feed, `GET /workouts/changes`: every change in commit order, enough for a second
//! device to rebuild every live workout.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration as StdDuration;

use serde_json::{json, Value};
use test_support::{per_backend, with, workout, TestApp};

use super::{apply_changes, days_back, feed_all, feed_page, live_by_id, run_at};

per_backend!(the_change_feed_carries_creates_updates_and_deletes_in_commit_order);
async fn the_change_feed_carries_creates_updates_and_deletes_in_commit_order(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let other = app.register().await;

    // A fresh account: an empty feed.
    let empty = feed_page(&app, &user, None, None).await;
    assert_eq!(empty["changes"], json!([]), "[{b}] {empty}");
    assert_eq!(empty["has_more"], json!(false), "[{b}] {empty}");
    let start = empty["next_cursor"].as_str().expect("cursor").to_owned();

    // 1. Three creates by a sync.
    let s1 = app
        .sync_ok(
            &user,
            &json!({"workouts": [workout("w1"), workout("w2"), workout("w3")]}),
        )
        .await;
    let s1_cursor = s1["next_cursor"].as_str().unwrap().to_owned();
    let (step1, c1) = feed_all(&app, &user, Some(&start), "50").await;
    assert_eq!(step1.len(), 3, "[{b}] {step1:?}");
    assert!(step1.iter().all(|c| c["deleted"] == json!(false)), "[{b}]");
    assert!(
        step1.iter().all(|c| c["workout"]["revision"] == json!(1)),
        "[{b}]"
    );
    assert_eq!(
        c1, s1_cursor,
        "[{b}] the feed after the sync's changes is where the sync's next_cursor points"
    );

    // The sync's next_cursor returns nothing of that sync; another user's sync is not here.
    app.assert_all_created(&other, &[workout("theirs")]).await;
    let after_s1 = feed_page(&app, &user, Some(&s1_cursor), None).await;
    assert_eq!(after_s1["changes"], json!([]), "[{b}] {after_s1}");
    assert_eq!(after_s1["has_more"], json!(false), "[{b}] {after_s1}");
    assert_eq!(
        after_s1["next_cursor"],
        json!(s1_cursor),
        "[{b}] an empty page returns the cursor sent"
    );

    // 2. An update by a server-side edit.
    let w2 = app.id_of(&user, "w2").await;
    app.patch_ok(&user, &w2, &json!({"distance_meters": 4800}))
        .await;
    let (step2, c2) = feed_all(&app, &user, Some(&c1), "50").await;
    assert_eq!(step2.len(), 1, "[{b}] {step2:?}");
    assert_eq!(step2[0]["workout"]["id"], json!(w2), "[{b}] {step2:?}");
    assert_eq!(step2[0]["deleted"], json!(false), "[{b}]");
    assert_eq!(step2[0]["workout"]["revision"], json!(2), "[{b}]");
    assert_eq!(
        step2[0]["workout"]["distance_meters"].as_f64(),
        Some(4800.0),
        "[{b}]"
    );

    // 3. An update by a newer client_version.
    let s3 = app
        .sync_ok(
            &user,
            &json!({"workouts": [with(
                workout("w3"),
                json!({"distance_meters": 5100, "client_version": 1})
            )]}),
        )
        .await;
    assert_eq!(s3["updated"], json!(1), "[{b}] {s3}");
    let (step3, c3) = feed_all(&app, &user, Some(&c2), "50").await;
    assert_eq!(step3.len(), 1, "[{b}] {step3:?}");
    assert_eq!(step3[0]["workout"]["client_id"], json!("w3"), "[{b}]");
    assert_eq!(step3[0]["workout"]["revision"], json!(2), "[{b}]");
    assert_eq!(
        step3[0]["workout"]["distance_meters"].as_f64(),
        Some(5100.0),
        "[{b}]"
    );
    assert_eq!(c3, s3["next_cursor"].as_str().unwrap(), "[{b}]");

    // 4. A create and a delete in one sync.
    let s4 = app
        .sync_ok(
            &user,
            &json!({"workouts": [workout("w4")], "deleted_client_ids": ["w1"]}),
        )
        .await;
    assert_eq!(
        (s4["created"].clone(), s4["deleted"].clone()),
        (json!(1), json!(1)),
        "[{b}] {s4}"
    );
    let (step4, c4) = feed_all(&app, &user, Some(&c3), "50").await;
    let got: HashSet<(String, bool)> = step4
        .iter()
        .map(|c| {
            (
                c["workout"]["client_id"].as_str().unwrap().to_owned(),
                c["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        HashSet::from([("w4".to_owned(), false), ("w1".to_owned(), true)]),
        "[{b}] {step4:?}"
    );
    assert_eq!(c4, s4["next_cursor"].as_str().unwrap(), "[{b}]");

    // 5. A delete on the server.
    let w4 = app.id_of(&user, "w4").await;
    app.delete_ok(&user, &w4).await;
    let (step5, c5) = feed_all(&app, &user, Some(&c4), "50").await;
    assert_eq!(step5.len(), 1, "[{b}] {step5:?}");
    assert_eq!(step5[0]["workout"]["id"], json!(w4), "[{b}]");
    assert_eq!(step5[0]["deleted"], json!(true), "[{b}]");

    // Commit order across the steps: every step's changes come after the previous step's.
    let seqs: Vec<i64> = [&step1, &step2, &step3, &step4, &step5]
        .iter()
        .flat_map(|step| step.iter().map(|c| c["change_seq"].as_i64().unwrap()))
        .collect();
    assert!(
        seqs.windows(2).all(|p| p[0] < p[1]),
        "[{b}] change_seq in commit order: {seqs:?}"
    );

    // From the start, one change at a time: exactly the current state, tombstones included.
    let (all, end) = feed_all(&app, &user, None, "1").await;
    assert_eq!(end, c5, "[{b}] the walk ends where the steps ended");
    let final_seqs: Vec<i64> = all
        .iter()
        .map(|c| c["change_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        final_seqs.last(),
        seqs.last(),
        "[{b}] the latest change is the last one"
    );
    let mut local = BTreeMap::new();
    apply_changes(&mut local, &all);
    assert_eq!(
        local,
        live_by_id(&app, &user).await,
        "[{b}] the feed rebuilds the list"
    );
    let mut tombstones: Vec<&str> = all
        .iter()
        .filter(|c| c["deleted"] == json!(true))
        .map(|c| c["workout"]["client_id"].as_str().unwrap())
        .collect();
    tombstones.sort();
    assert_eq!(tombstones, vec!["w1", "w4"], "[{b}]");
    let status = app.get_ok(&user, "/sync/status", &[]).await;
    assert_eq!(status["server_cursor"], json!(c5), "[{b}] {status}");
}

per_backend!(a_second_device_rebuilds_every_live_workout_from_the_feed_alone);
async fn a_second_device_rebuilds_every_live_workout_from_the_feed_alone(app: TestApp) {
    let b = app.backend;
    let phone = app.register().await;
    let laptop = app.new_session(&phone).await;

    let batch: Vec<Value> = (0..40)
        .map(|i| run_at(&format!("w{i:02}"), &days_back(i)))
        .collect();
    app.assert_all_created(&phone, &batch).await;

    // The laptop reads part of the feed, then the phone keeps changing things.
    let first = feed_page(&app, &laptop, None, Some("15")).await;
    let mut local = BTreeMap::new();
    apply_changes(&mut local, first["changes"].as_array().unwrap());
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(first["has_more"], json!(true), "[{b}]");

    let updates: Vec<Value> = (0..10)
        .map(|i| {
            with(
                run_at(&format!("w{i:02}"), &days_back(i)),
                json!({"distance_meters": 6000 + i, "client_version": 1}),
            )
        })
        .collect();
    let sync = app
        .sync_ok(
            &phone,
            &json!({"workouts": updates, "deleted_client_ids": ["w20", "w21", "w39"]}),
        )
        .await;
    assert_eq!(
        (sync["updated"].clone(), sync["deleted"].clone()),
        (json!(10), json!(3)),
        "[{b}] {sync}"
    );
    let w30 = app.id_of(&phone, "w30").await;
    app.patch_ok(&phone, &w30, &json!({"avg_heart_rate": 160}))
        .await;
    let w31 = app.id_of(&phone, "w31").await;
    app.delete_ok(&phone, &w31).await;

    // And keeps syncing while the laptop reads.
    let bodies = (0..15i64).map(|k| {
        json!({
            "workouts": [run_at(&format!("live-{k}"), &days_back(-k - 1))],
            "deleted_client_ids": [format!("w{:02}", 10 + k)],
        })
    });
    let writer = app.sync_in_background(&phone, bodies.collect());
    for _ in 0..200 {
        let page = feed_page(&app, &laptop, Some(&cursor), Some("4")).await;
        apply_changes(&mut local, page["changes"].as_array().unwrap());
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if writer.is_finished() && page["has_more"] == json!(false) {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    writer.await.expect("the writer succeeded");
    // Catch up on whatever was committed last.
    let (rest, _) = feed_all(&app, &laptop, Some(&cursor), "4").await;
    apply_changes(&mut local, &rest);

    let live = live_by_id(&app, &laptop).await;
    // 40, minus w20, w21, w39 and w31, minus w10..w24 but for the two already gone, plus 15.
    assert_eq!(live.len(), 40 - 4 - 13 + 15, "[{b}]");
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>(),
        "[{b}] the same set of workouts"
    );
    assert_eq!(local, live, "[{b}] the same content of every workout");
    let status = app.get_ok(&laptop, "/sync/status", &[]).await;
    assert_eq!(
        status["total_workouts"],
        json!(live.len()),
        "[{b}] {status}"
    );
}
