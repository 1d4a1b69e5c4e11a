//! The list, `GET /workouts`: newest first, keyset pagination that stays stable while other
//! devices sync, and the filters (`since`, `until`, `year`).

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use serde_json::{json, Value};
use test_support::{per_backend, with, TestApp, TestUser};

use super::{assert_full_workout, client_ids, days_back, filtered, run_at, sort_key, strs, Query};

per_backend!(pagination_walks_every_workout_once_newest_first_while_new_ones_are_inserted);
async fn pagination_walks_every_workout_once_newest_first_while_new_ones_are_inserted(
    app: TestApp,
) {
    let b = app.backend;
    let user = app.register().await;
    let other = app.register().await;

    // 25 workouts: ten on distinct days, then three groups of five sharing a start_time.
    let originals: Vec<Value> = (0..25)
        .map(|i| {
            let back = if i < 10 { i } else { 10 + (i - 10) / 5 };
            run_at(&format!("orig-{i:02}"), &days_back(back))
        })
        .collect();
    app.assert_all_created(&user, &originals).await;
    // Noise that must never be listed: a deleted workout and another user's.
    app.assert_all_created(&user, &[run_at("gone", &days_back(5))])
        .await;
    let deleted = app
        .sync_ok(
            &user,
            &json!({"workouts": [], "deleted_client_ids": ["gone"]}),
        )
        .await;
    assert_eq!(deleted["deleted"], json!(1), "[{b}] {deleted}");
    app.assert_all_created(
        &other,
        &[
            run_at("theirs-0", &days_back(0)),
            run_at("theirs-1", &days_back(11)),
        ],
    )
    .await;

    let mut walked: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query: Vec<(&str, &str)> = vec![("limit", "7")];
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = app.get_ok(&user, "/workouts", &query).await;
        pages += 1;
        let workouts = page["workouts"].as_array().expect("workouts array");
        assert!(
            workouts.len() <= 7,
            "[{b}] page {pages} over the limit: {page}"
        );
        walked.extend(workouts.iter().cloned());

        // Between page fetches, other devices keep syncing.
        match pages {
            1 => {
                // Newer than everything already read.
                let newer: Vec<Value> = (1..=3)
                    .map(|k| run_at(&format!("new-{k}"), &days_back(-k)))
                    .collect();
                app.assert_all_created(&user, &newer).await;
            }
            2 => {
                // The cursor now sits inside the group of equal start_times ten days back:
                // another workout at that very start_time, and one older than everything.
                app.assert_all_created(
                    &user,
                    &[
                        run_at("tie", &days_back(10)),
                        run_at("late-old", &days_back(30)),
                        run_at("new-4", &days_back(-4)),
                    ],
                )
                .await;
            }
            3 => {
                app.assert_all_created(&user, &[run_at("new-5", &days_back(-5))])
                    .await;
            }
            _ => {}
        }

        if page["has_more"] == json!(true) {
            assert_eq!(
                workouts.len(),
                7,
                "[{b}] a short page with has_more: {page}"
            );
            cursor = Some(
                page["next_cursor"]
                    .as_str()
                    .unwrap_or_else(|| panic!("[{b}] has_more without next_cursor: {page}"))
                    .to_owned(),
            );
        } else {
            assert_eq!(page["has_more"], json!(false), "[{b}] {page}");
            assert_eq!(
                page["next_cursor"],
                Value::Null,
                "[{b}] the last page has no next_cursor: {page}"
            );
            break;
        }
        assert!(pages < 20, "[{b}] the walk does not end");
    }
    assert!(pages >= 4, "[{b}] 26+ workouts at 7 a page: {pages} pages");

    for w in &walked {
        assert_full_workout(b, w);
    }
    let ids: Vec<&str> = walked.iter().map(|w| w["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "[{b}] duplicates in the walk: {ids:?}"
    );
    for pair in walked.windows(2) {
        assert!(
            sort_key(&pair[0]) > sort_key(&pair[1]),
            "[{b}] not newest start_time first (ties by id): {} then {}",
            pair[0],
            pair[1]
        );
    }
    let seen = client_ids(&walked);
    for i in 0..25 {
        let id = format!("orig-{i:02}");
        assert_eq!(
            seen.iter().filter(|c| **c == id).count(),
            1,
            "[{b}] {id} must be walked exactly once: {seen:?}"
        );
    }
    assert!(
        seen.contains(&"late-old".to_owned()),
        "[{b}] a workout inserted after the cursor's position is reached: {seen:?}"
    );
    for newer in ["new-1", "new-2", "new-3", "new-4", "new-5"] {
        assert!(
            !seen.contains(&newer.to_owned()),
            "[{b}] {newer} is newer than the first page and must not shift the walk: {seen:?}"
        );
    }
    for never in ["gone", "theirs-0", "theirs-1"] {
        assert!(!seen.contains(&never.to_owned()), "[{b}] {never} listed");
    }

    // A fresh walk sees everything live, and agrees with the status count.
    let all = app.list_all(&user, &[]).await;
    assert_eq!(all.len(), 25 + 7, "[{b}] {:?}", client_ids(&all));
    let status = app.get_ok(&user, "/sync/status", &[]).await;
    assert_eq!(status["total_workouts"], json!(32), "[{b}] {status}");
}

per_backend!(pagination_is_stable_while_another_device_syncs_concurrently);
async fn pagination_is_stable_while_another_device_syncs_concurrently(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let originals: Vec<Value> = (0..60)
        .map(|i| run_at(&format!("orig-{i:02}"), &days_back(i / 2)))
        .collect();
    app.assert_all_created(&user, &originals).await;

    // The writer: 25 syncs, each with one workout newer than everything and one in the
    // middle of the range being walked (sharing a start_time with originals).
    let bodies = (0..25i64).map(|k| {
        json!({"workouts": [
            run_at(&format!("concurrent-new-{k}"), &days_back(-1 - k)),
            run_at(&format!("concurrent-mid-{k}"), &days_back(k % 30)),
        ]})
    });
    let writer = app.sync_in_background(&user, bodies.collect());

    let mut walked: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page = app.list_page(&user, "5", cursor.as_deref(), &[]).await;
        walked.extend(page["workouts"].as_array().expect("workouts").clone());
        if page["has_more"] != json!(true) {
            assert_eq!(page["next_cursor"], Value::Null, "[{b}] {page}");
            cursor = None;
            break;
        }
        cursor = Some(page["next_cursor"].as_str().expect("cursor").to_owned());
        tokio::time::sleep(StdDuration::from_millis(3)).await;
    }
    assert!(cursor.is_none(), "[{b}] the walk did not end");
    writer.await.expect("the writer succeeded");

    let ids: Vec<&str> = walked.iter().map(|w| w["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "[{b}] duplicates in the walk");
    for pair in walked.windows(2) {
        assert!(
            sort_key(&pair[0]) > sort_key(&pair[1]),
            "[{b}] out of order: {} then {}",
            pair[0],
            pair[1]
        );
    }
    let seen: HashSet<String> = client_ids(&walked).into_iter().collect();
    for i in 0..60 {
        let id = format!("orig-{i:02}");
        assert!(seen.contains(&id), "[{b}] {id} missed by the walk");
    }
    assert_eq!(app.list_all(&user, &[]).await.len(), 110, "[{b}]");
}

// ---------------------------------------------------------------------------------------------
// The list: filters
// ---------------------------------------------------------------------------------------------

per_backend!(since_until_and_year_filter_and_another_users_workouts_never_appear);
async fn since_until_and_year_filter_and_another_users_workouts_never_appear(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let other = app.register().await;
    app.assert_all_created(
        &user,
        &[
            run_at("a-2023", "2023-06-01T08:00:00Z"),
            run_at("a-mid-2024", "2024-06-15T08:00:00Z"),
            // New Year's Eve in New York: 2025-01-01T04:30Z in UTC, but the runner's 2024.
            run_at("a-nye-west", "2024-12-31T23:30:00-05:00"),
            // New Year's morning in Tokyo: still 2024-12-31 in UTC.
            run_at("a-ny-east", "2025-01-01T00:30:00+09:00"),
            run_at("a-2025", "2025-03-01T08:00:00Z"),
        ],
    )
    .await;
    app.assert_all_created(
        &other,
        &[
            run_at("b-2024", "2024-06-15T08:00:00Z"),
            run_at("b-nye", "2024-12-31T23:30:00-05:00"),
            run_at("b-2025", "2025-03-01T08:00:00Z"),
        ],
    )
    .await;

    let west = app.served(&user, "a-nye-west").await;
    assert_eq!(west["date"], json!("2024-12-31"), "[{b}] {west}");
    assert_eq!(
        west["start_time"],
        json!("2025-01-01T04:30:00Z"),
        "[{b}] {west}"
    );
    let east = app.served(&user, "a-ny-east").await;
    assert_eq!(east["date"], json!("2025-01-01"), "[{b}] {east}");
    assert_eq!(
        east["start_time"],
        json!("2024-12-31T15:30:00Z"),
        "[{b}] {east}"
    );

    let everything = strs(&["a-2023", "a-mid-2024", "a-nye-west", "a-ny-east", "a-2025"]);
    assert_eq!(
        filtered(&app, &user, &[]).await,
        everything,
        "[{b}] no filter"
    );
    let cases: Vec<(Query, Vec<&str>)> = vec![
        (vec![("year", "2024")], vec!["a-mid-2024", "a-nye-west"]),
        (vec![("year", "2025")], vec!["a-ny-east", "a-2025"]),
        (vec![("year", "2023")], vec!["a-2023"]),
        (vec![("year", "2022")], vec![]),
        // since is inclusive: a workout starting at exactly `since` is in.
        (
            vec![("since", "2024-06-15T08:00:00Z")],
            vec!["a-mid-2024", "a-ny-east", "a-nye-west", "a-2025"],
        ),
        // The same instant written with an offset.
        (
            vec![("since", "2024-06-15T10:00:00+02:00")],
            vec!["a-mid-2024", "a-ny-east", "a-nye-west", "a-2025"],
        ),
        (
            vec![("since", "2024-06-15T08:00:00.001Z")],
            vec!["a-ny-east", "a-nye-west", "a-2025"],
        ),
        // until is exclusive: a workout starting at exactly `until` is out.
        (vec![("until", "2024-06-15T08:00:00Z")], vec!["a-2023"]),
        (
            vec![("until", "2024-06-15T08:00:00.001Z")],
            vec!["a-2023", "a-mid-2024"],
        ),
        (
            vec![
                ("since", "2024-06-15T08:00:00Z"),
                ("until", "2025-01-01T04:30:00Z"),
            ],
            vec!["a-mid-2024", "a-ny-east"],
        ),
        (
            vec![("year", "2024"), ("since", "2024-07-01T00:00:00Z")],
            vec!["a-nye-west"],
        ),
        (
            vec![("year", "2025"), ("until", "2025-01-01T00:00:00Z")],
            vec!["a-ny-east"],
        ),
    ];
    for (query, expected) in &cases {
        assert_eq!(
            filtered(&app, &user, query).await,
            strs(expected),
            "[{b}] GET /workouts {query:?}"
        );
    }
    // The filters also hold across pages (limit=1 walks one at a time).
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let year = [("year", "2025")];
        let page = app.list_page(&user, "1", cursor.as_deref(), &year).await;
        walked.extend(client_ids(page["workouts"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        walked,
        vec!["a-2025", "a-ny-east"],
        "[{b}] year=2025, limit=1"
    );

    assert_eq!(
        filtered(&app, &other, &[]).await,
        strs(&["b-2024", "b-nye", "b-2025"]),
        "[{b}] the other user sees only their own"
    );
    assert_eq!(
        filtered(&app, &other, &[("year", "2024")]).await,
        strs(&["b-2024", "b-nye"]),
        "[{b}]"
    );
}

/// One message for each year whose filtered list is not the expected client ids (sorted), all
/// years asked before any test fails; `dates` says what the workouts' dates are.
async fn year_filter_failures<const N: usize>(
    app: &TestApp,
    user: &TestUser,
    years: [(&str, Vec<String>); N],
    dates: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (year, expected) in years {
        let got = filtered(app, user, &[("year", year)]).await;
        if got != expected {
            failures.push(format!(
                "[{}] year={year}: got {got:?}, expected {expected:?} ({dates})",
                app.backend
            ));
        }
    }
    failures
}

per_backend!(the_year_filter_follows_a_start_time_moved_to_another_year);
/// The year filter must follow a workout whose start moved to another year: by a server-side
/// edit, or by a newer `client_version` from the device. Guards the stored start date, which the
/// filter reads and which every write that moves `start_time` must rewrite (a stale one hides
/// the workout from its new year). Every year's mismatch is collected before failing.
async fn the_year_filter_follows_a_start_time_moved_to_another_year(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(
        &user,
        &[
            run_at("patched", "2024-06-15T08:00:00Z"),
            run_at("resynced", "2024-07-15T08:00:00Z"),
        ],
    )
    .await;

    let id = app.id_of(&user, "patched").await;
    let edited = app
        .patch_ok(
            &user,
            &id,
            &json!({"start_time": "2023-06-15T08:00:00Z", "end_time": "2023-06-15T08:35:00Z"}),
        )
        .await;
    assert_eq!(edited["date"], json!("2023-06-15"), "[{b}] {edited}");

    let moved = with(
        run_at("resynced", "2023-07-15T08:00:00Z"),
        json!({"client_version": 1}),
    );
    let update = app.sync_ok(&user, &json!({"workouts": [moved]})).await;
    assert_eq!(update["updated"], json!(1), "[{b}] {update}");
    let resynced = app.served(&user, "resynced").await;
    assert_eq!(resynced["date"], json!("2023-07-15"), "[{b}] {resynced}");

    let years = [
        ("2023", strs(&["patched", "resynced"])),
        ("2024", strs(&[])),
    ];
    let dates = "the workouts' `date`s are 2023-06-15 and 2023-07-15";
    let failures = year_filter_failures(&app, &user, years, dates).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

per_backend!(the_year_filter_agrees_with_date_for_every_accepted_offset);
/// RFC 3339 allows offsets up to ±23:59 and the server accepts them; the workout's `date` is
/// computed in that offset, and the year filter must agree with `date`. Guards the filter's
/// margin around the UTC year boundary: it must cover the widest offset, not just the ±14 h of
/// real time zones.
async fn the_year_filter_agrees_with_date_for_every_accepted_offset(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    app.assert_all_created(
        &user,
        &[
            run_at("far-east", "2025-01-01T00:30:00+20:00"),
            run_at("far-west", "2024-12-31T23:30:00-20:00"),
        ],
    )
    .await;
    let east = app.served(&user, "far-east").await;
    let west = app.served(&user, "far-west").await;
    assert_eq!(east["date"], json!("2025-01-01"), "[{b}] {east}");
    assert_eq!(west["date"], json!("2024-12-31"), "[{b}] {west}");
    let years = [("2025", strs(&["far-east"])), ("2024", strs(&["far-west"]))];
    let dates = "far-east: date 2025-01-01, far-west: date 2024-12-31";
    let failures = year_filter_failures(&app, &user, years, dates).await;
    assert!(failures.is_empty(), "{failures:#?}");
}
