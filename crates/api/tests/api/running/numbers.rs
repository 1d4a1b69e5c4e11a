//! The numbers through HTTP, on hand-worked cases: a streak that survives while today has no
//! run yet, an achievement that locks again when its workout is deleted, New Year in a zone far
//! from UTC, a past and a future year, the `ETag`/304 of the two stats reads, the bodies an
//! instance keeps under their `ETag`s, and the settled days of a long streak it keeps.

use chrono::{Datelike, Days, NaiveDate};
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, TestApp, TestUser};

use super::{morning_of, put_goal, register_in, run, set_time_zone, sync_runs, today_in};

/// `GET /goals/{year}/progress`.
async fn progress_of(app: &TestApp, user: &TestUser, year: i32) -> Value {
    app.get_ok(user, &format!("/goals/{year}/progress"), &[])
        .await
}

/// The achievement `id` of a numbers body.
fn achievement<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["achievements"]
        .as_array()
        .expect("achievements")
        .iter()
        .find(|a| a["id"] == json!(id))
        .unwrap_or_else(|| panic!("achievement {id} in {body}"))
}

per_backend!(a_streak_survives_today_and_a_deleted_run_locks_its_achievement_again);
async fn a_streak_survives_today_and_a_deleted_run_locks_its_achievement_again(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let today = today_in("UTC");
    let (first, second) = (today - Days::new(2), today - Days::new(1));
    sync_runs(
        &app,
        &user,
        vec![
            run("first", &morning_of(first), 30, 5000.0),
            run("second", &morning_of(second), 30, 5000.0),
        ],
    )
    .await;
    let ids = [
        app.id_of(&user, "first").await,
        app.id_of(&user, "second").await,
    ];

    let body = progress_of(&app, &user, today.year()).await;
    assert_eq!(
        body["streaks"]["current"],
        json!(2),
        "[{b}] today is not over: {body}"
    );
    let in_year = [first, second]
        .iter()
        .filter(|d| d.year() == today.year())
        .count();
    assert_eq!(
        body["progress"]["days_completed"],
        json!(in_year),
        "[{b}] {body}"
    );
    let days_1 = achievement(&body, "days_1");
    if first.year() == today.year() {
        assert_eq!(days_1["is_unlocked"], json!(true), "[{b}] {days_1}");
        assert_eq!(
            days_1["unlocked_at"],
            json!(morning_of(first)),
            "[{b}] {days_1}"
        );
    }

    app.delete_ok(&user, &ids[0]).await;
    let body = progress_of(&app, &user, today.year()).await;
    assert_eq!(body["streaks"]["current"], json!(1), "[{b}] {body}");
    let days_1 = achievement(&body, "days_1");
    if second.year() == today.year() {
        assert_eq!(
            days_1["unlocked_at"],
            json!(morning_of(second)),
            "[{b}] {days_1}"
        );
    }

    app.delete_ok(&user, &ids[1]).await;
    let body = progress_of(&app, &user, today.year()).await;
    assert_eq!(body["streaks"]["current"], json!(0), "[{b}] {body}");
    let days_1 = achievement(&body, "days_1");
    assert_eq!(
        days_1["is_unlocked"],
        json!(false),
        "[{b}] locked again: {days_1}"
    );
    assert_eq!(days_1["unlocked_at"], Value::Null, "[{b}] {days_1}");
}

per_backend!(new_year_far_from_utc_and_a_past_and_a_future_year);
async fn new_year_far_from_utc_and_a_past_and_a_future_year(app: TestApp) {
    let b = app.backend;
    // UTC+14: the first place to see the new year.
    let (user, _) = register_in(&app, Some("Pacific/Kiritimati")).await;
    sync_runs(
        &app,
        &user,
        vec![
            // 23:30 on New Year's Eve there, sent in UTC.
            run("eve", "2025-12-31T09:30:00Z", 30, 6000.0),
            // 00:30 on New Year's Day there.
            run("day", "2025-12-31T10:30:00Z", 30, 4000.0),
        ],
    )
    .await;

    let past = progress_of(&app, &user, 2025).await;
    assert_eq!(past["progress"]["days_completed"], json!(1), "[{b}] {past}");
    assert_eq!(
        past["progress"]["expected_days"],
        json!(300),
        "[{b}] a past year: {past}"
    );
    assert_eq!(past["progress"]["days_ahead"], json!(-299), "[{b}] {past}");
    assert_eq!(past["pace_metrics"]["open_days"], json!(0), "[{b}] {past}");
    assert_eq!(
        past["streaks"]["longest"],
        json!(2),
        "[{b}] counted whole across New Year: {past}"
    );
    assert_eq!(
        past["streaks"]["last_run_date"],
        json!("2025-12-31"),
        "[{b}] {past}"
    );
    assert_eq!(
        past["stats"]["total_distance_km"],
        json!(6.0),
        "[{b}] {past}"
    );

    let next = app.get_ok(&user, "/goals/2026", &[]).await;
    assert_eq!(next["progress"]["days_completed"], json!(1), "[{b}] {next}");

    let future = progress_of(&app, &user, 2099).await;
    let expected_future = json!({
        "days_completed": 0,
        "days_remaining": 300,
        "percent_complete": 0.0,
        "expected_days": 0,
        "days_ahead": 0,
        "on_track": true
    });
    assert_eq!(future["progress"], expected_future, "[{b}] {future}");
    assert_eq!(
        future["pace_metrics"]["open_days"],
        json!(365),
        "[{b}] {future}"
    );
    assert_eq!(
        future["pace_metrics"]["current_pace_per_week"],
        json!(0.0),
        "[{b}] {future}"
    );

    let insights = app
        .get_ok(&user, "/stats/insights", &[("year", "2025")])
        .await;
    assert_eq!(insights["year"], json!(2025), "[{b}]");
    let december = &insights["monthly_data"][11];
    assert_eq!(december["month"], json!("2025-12"), "[{b}] {december}");
    assert_eq!(december["running_days"], json!(1), "[{b}] {december}");
    assert_eq!(
        insights["monthly_data"].as_array().map(Vec::len),
        Some(12),
        "[{b}]"
    );
    assert_eq!(
        insights["weekly_data"].as_array().map(Vec::len),
        Some(12),
        "[{b}]"
    );
    let longest = &insights["personal_bests"];
    assert_eq!(longest["longest_run_km"], json!(6.0), "[{b}] {longest}");
    assert_eq!(
        longest["longest_run_date"],
        json!("2025-12-31"),
        "[{b}] {longest}"
    );
}

/// A stats read with `If-None-Match`: its status and `ETag`.
async fn revalidate(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    etag: &str,
) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.api(path))
        .bearer_auth(&user.access_token)
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("GET with If-None-Match");
    let status = response.status();
    let tag = response.headers()[ETAG].to_str().expect("ETag").to_owned();
    let body = response.bytes().await.expect("body");
    if status == StatusCode::NOT_MODIFIED {
        assert!(body.is_empty(), "a 304 has no body");
    }
    (status, tag)
}

per_backend!(the_stats_reads_answer_304_until_the_numbers_change);
async fn the_stats_reads_answer_304_until_the_numbers_change(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let year = today_in("UTC").year();
    let response = app.get(&user, "/stats/dashboard", &[]).await;
    assert_eq!(response.status(), StatusCode::OK, "[{b}]");
    assert_eq!(
        response.headers()[CACHE_CONTROL],
        "private, no-cache",
        "[{b}] no shared cache keeps a runner's numbers"
    );
    let etag = response.headers()[ETAG].to_str().expect("ETag").to_owned();
    let body: Value = response.json().await.expect("dashboard");
    assert_eq!(
        body["goal"]["year"],
        json!(year),
        "[{b}] this year by default"
    );

    let (status, same) = revalidate(&app, &user, "/stats/dashboard", &etag).await;
    assert_eq!((status, &same), (StatusCode::NOT_MODIFIED, &etag), "[{b}]");
    let (status, _) =
        revalidate(&app, &user, &format!("/stats/dashboard?year={year}"), &etag).await;
    assert_eq!(
        status,
        StatusCode::NOT_MODIFIED,
        "[{b}] the default year is this year"
    );
    let (status, insights_tag) = revalidate(&app, &user, "/stats/insights", &etag).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "[{b}] the insights are other numbers"
    );
    let (status, _) = revalidate(&app, &user, "/stats/insights", &insights_tag).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED, "[{b}]");

    // Each change the numbers depend on gives a new ETag: a run, the goal, the time zone.
    let yesterday: NaiveDate = today_in("UTC") - Days::new(1);
    sync_runs(
        &app,
        &user,
        vec![run("r", &morning_of(yesterday), 40, 8000.0)],
    )
    .await;
    let (status, after_run) = revalidate(&app, &user, "/stats/dashboard", &etag).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "[{b}] a new run changes the numbers"
    );
    let goal = put_goal(&app, &user, &year.to_string(), json!({"target_days": 100})).await;
    assert_eq!(goal.status(), StatusCode::OK, "[{b}]");
    let (status, after_goal) = revalidate(&app, &user, "/stats/dashboard", &after_run).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "[{b}] a new goal changes the numbers"
    );
    let zone = set_time_zone(&app, &user, "Asia/Tokyo").await;
    assert_eq!(zone.status(), StatusCode::OK, "[{b}]");
    let (status, _) = revalidate(&app, &user, "/stats/dashboard", &after_goal).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "[{b}] a new zone changes the numbers"
    );

    // recent_runs are the year's newest workouts exactly as GET /workouts serves them.
    let dashboard = app.get_ok(&user, "/stats/dashboard", &[]).await;
    let listed = app
        .get_ok(&user, "/workouts", &[("year", &year.to_string())])
        .await;
    assert_eq!(dashboard["recent_runs"], listed["workouts"], "[{b}]");
    assert_eq!(dashboard["goal"]["target_days"], json!(100), "[{b}]");
}

/// A stats read without `If-None-Match`: its `ETag` and the bytes of its body.
async fn read_raw(app: &TestApp, user: &TestUser, path: &str) -> (String, Vec<u8>) {
    let response = app.get(user, path, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "[{}] {path}",
        app.backend
    );
    let tag = response.headers()[ETAG].to_str().expect("ETag").to_owned();
    let body = response.bytes().await.expect("body").to_vec();
    (tag, body)
}

/// The stats reads this instance answered from a kept body (`result="hit"`) or by reading
/// the year (`result="miss"`).
const KEPT_BODIES: &str = "stats_cache_reads_total";

/// Spans of a streak's settled days this instance answered from memory (`result="kept"`) or
/// read from the database (`result="read"`).
const KEPT_HISTORY: &str = "history_cache_reads_total";

/// The `result` series of one of this instance's cache counters.
async fn cache_reads(app: &TestApp, counter: &str, result: &str) -> f64 {
    let series = format!("{counter}{{result=\"{result}\"}}");
    app.metric(&series)
        .await
        .expect("the series is there from the start")
}

/// A fresh runner with one run, on 1 June 2025: a past year, so that the numbers do not move
/// with today.
async fn runner_of_one_day_in_2025(app: &TestApp) -> TestUser {
    let user = app.register().await;
    sync_runs(
        app,
        &user,
        vec![run("june", "2025-06-01T07:00:00Z", 30, 5000.0)],
    )
    .await;
    user
}

per_backend!(a_kept_body_is_served_byte_for_byte_until_the_numbers_change);
async fn a_kept_body_is_served_byte_for_byte_until_the_numbers_change(app: TestApp) {
    let b = app.backend;
    let user = runner_of_one_day_in_2025(&app).await;
    let dashboard = "/stats/dashboard?year=2025";
    let first = read_raw(&app, &user, dashboard).await;
    for path in [dashboard, "/stats/insights?year=2025"] {
        let made = read_raw(&app, &user, path).await;
        let hits = cache_reads(&app, KEPT_BODIES, "hit").await;
        let again = read_raw(&app, &user, path).await;
        assert_eq!(
            again, made,
            "[{b}] {path}: the same bytes under the same ETag"
        );
        assert_eq!(
            cache_reads(&app, KEPT_BODIES, "hit").await - hits,
            1.0,
            "[{b}] {path}: the second read was answered from the kept body"
        );
    }

    // Another runner's numbers of the same year are their own.
    let other = app.register().await;
    let theirs = app
        .get_ok(&other, "/stats/dashboard", &[("year", "2025")])
        .await;
    assert_eq!(
        theirs["progress"]["days_completed"],
        json!(0),
        "[{b}] {theirs}"
    );

    // A new run moves the ETag: the kept body is not served, the next read counts the run.
    sync_runs(
        &app,
        &user,
        vec![run("july", "2025-07-01T07:00:00Z", 30, 5000.0)],
    )
    .await;
    let misses = cache_reads(&app, KEPT_BODIES, "miss").await;
    let (tag, bytes) = read_raw(&app, &user, dashboard).await;
    assert_ne!(tag, first.0, "[{b}] a new run changes the numbers");
    let body: Value = serde_json::from_slice(&bytes).expect("dashboard");
    assert_eq!(body["progress"]["days_completed"], json!(2), "[{b}] {body}");
    assert_eq!(
        cache_reads(&app, KEPT_BODIES, "miss").await - misses,
        1.0,
        "[{b}]"
    );
    // And that body is kept in turn.
    assert_eq!(
        read_raw(&app, &user, dashboard).await,
        (tag, bytes),
        "[{b}]"
    );
}

per_backend!(
    with_no_stats_cache_every_read_is_made_again,
    [("STATS_CACHE_BYTES", "0")]
);
async fn with_no_stats_cache_every_read_is_made_again(app: TestApp) {
    let b = app.backend;
    let user = runner_of_one_day_in_2025(&app).await;
    let path = "/stats/dashboard?year=2025";
    let first = read_raw(&app, &user, path).await;
    assert_eq!(read_raw(&app, &user, path).await, first, "[{b}]");
    let (status, _) = revalidate(&app, &user, path, &first.0).await;
    assert_eq!(
        status,
        StatusCode::NOT_MODIFIED,
        "[{b}] the 304 needs no cache"
    );
    // A tag the client no longer should hold: the full read, and nothing counted as kept.
    let (status, tag) = revalidate(&app, &user, path, "\"stale\"").await;
    assert_eq!((status, &tag), (StatusCode::OK, &first.0), "[{b}]");
    for result in ["hit", "miss"] {
        assert_eq!(
            cache_reads(&app, KEPT_BODIES, result).await,
            0.0,
            "[{b}] {result}"
        );
    }
}

// No kept bodies: every read below is the full read, so only the kept history can answer.
per_backend!(
    a_long_streak_is_read_once_and_a_deleted_old_run_shows_at_once,
    [("STATS_CACHE_BYTES", "0")]
);
async fn a_long_streak_is_read_once_and_a_deleted_old_run_shows_at_once(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let today = today_in("UTC");
    // A run every day for 700 days up to today: the streak reaches back past 1 January of
    // this year, so the read follows it into the days before this year's workouts.
    let runs = (0..700)
        .map(|back| {
            let day = today - Days::new(back);
            run(&format!("day-{day}"), &morning_of(day), 30, 5000.0)
        })
        .collect();
    sync_runs(&app, &user, runs).await;
    let first = app.get_ok(&user, "/stats/dashboard", &[]).await;
    assert_eq!(first["streaks"]["current"], json!(700), "[{b}] {first}");
    let read = cache_reads(&app, KEPT_HISTORY, "read").await;
    assert!(read >= 1.0, "[{b}] the first read reads the streak");

    let again = app.get_ok(&user, "/stats/dashboard", &[]).await;
    assert_eq!(again["streaks"], first["streaks"], "[{b}]");
    assert_eq!(
        cache_reads(&app, KEPT_HISTORY, "read").await,
        read,
        "[{b}] from memory"
    );
    assert!(
        cache_reads(&app, KEPT_HISTORY, "kept").await >= 1.0,
        "[{b}]"
    );

    // A run of 400 days ago deleted: the next read has the streak that ends there.
    let old = today - Days::new(400);
    let id = app.id_of(&user, &format!("day-{old}")).await;
    app.delete_ok(&user, &id).await;
    let after = app.get_ok(&user, "/stats/dashboard", &[]).await;
    assert_eq!(after["streaks"]["current"], json!(400), "[{b}] {after}");
    assert!(
        cache_reads(&app, KEPT_HISTORY, "read").await > read,
        "[{b}] read again"
    );
}
