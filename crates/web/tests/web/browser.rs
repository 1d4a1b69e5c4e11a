//! A runner in real headless Chromium: registering, syncing through the API and seeing the
//! numbers, setting the goal, changing the time zone, correcting and deleting a workout, being
//! signed out by a revocation from the app, and a form post refused without its CSRF token.

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{TestApp, TestUser, PASSWORD};

use crate::helpers::chromium::{Browser, PHONE};
use crate::helpers::runs::{batch, run_at, run_hours_ago};

/// Registers in the browser (landing on the dashboard), and the same account's API session.
async fn register(app: &TestApp, browser: &Browser) -> TestUser {
    let email = format!("runner-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.open("/register").await;
    browser.fill("email", &email).await;
    browser.fill("password", PASSWORD).await;
    browser.choose("time_zone", "UTC").await;
    browser
        .click(r#"form[action="/register"] button[type="submit"]"#)
        .await;
    assert_eq!(
        browser.path().await,
        "/",
        "registered and signed in; the page said: {}",
        browser.text("main").await
    );
    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    TestUser {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        email,
        password: PASSWORD.to_owned(),
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

async fn figure(browser: &Browser, id: &str) -> f64 {
    let value = browser.value(id).await;
    value
        .parse()
        .unwrap_or_else(|_| panic!("#{id} = {value:?}"))
}

async fn started() -> Option<(TestApp, Browser)> {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.address).await?;
    Some((app, browser))
}

#[tokio::test]
async fn a_runner_registers_syncs_and_sees_their_numbers_on_a_phone_and_a_desktop() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    assert!(browser.text("main").await.contains("No runs this year yet"));
    let runs = (0..3)
        .map(|i| run_hours_ago(&format!("run-{i}"), 2 + 24 * i, 5.0 + i as f64, 30))
        .collect();
    app.sync_ok(&user, &batch(runs)).await;
    let api = app.get_ok(&user, "/stats/dashboard", &[]).await;
    browser.open("/").await;
    assert_eq!(
        Some(figure(&browser, "days-completed").await),
        api["progress"]["days_completed"].as_f64()
    );
    assert_eq!(
        Some(figure(&browser, "total-distance").await),
        api["stats"]["total_distance_km"].as_f64()
    );
    assert_eq!(
        Some(figure(&browser, "current-streak").await),
        api["streaks"]["current"].as_f64()
    );
    let latest = browser.text("#latest-runs").await;
    assert_eq!(
        latest.lines().filter(|l| l.contains("km")).count(),
        api["recent_runs"].as_array().unwrap().len()
    );
    // Every page fits a 375-pixel phone without sideways scrolling.
    browser.resize(PHONE).await;
    for path in ["/", "/insights", "/workouts", "/syncs", "/settings"] {
        browser.open(path).await;
        let overflow = browser
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        let culprits = browser
            .client
            .execute(
                "return [...document.querySelectorAll('main *')].filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible').slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id);",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_f64().unwrap() <= 0.0,
            "{path} overflows by {overflow} px on a phone: {culprits}"
        );
        let external = browser
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(external, json!([]), "{path} fetched from elsewhere");
    }
    browser.close().await;
}

#[tokio::test]
async fn setting_the_goal_moves_the_ring_and_the_pace() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    app.sync_ok(&user, &batch(vec![run_hours_ago("one", 2, 5.0, 30)]))
        .await;
    browser.open("/").await;
    let year = app.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .unwrap();
    let ring_before = browser
        .element(".ring-fill")
        .await
        .attr("stroke-dasharray")
        .await
        .unwrap();
    let ahead_before = figure(&browser, "days-ahead").await;
    browser.open("/settings").await;
    browser.fill(&format!("target-{year}"), "2").await;
    browser
        .click(&format!("#goal-{year} button[type=\"submit\"]"))
        .await;
    assert!(browser.text("#notice").await.contains("Goal saved"));
    browser.open("/").await;
    assert_eq!(figure(&browser, "target-days").await, 2.0);
    let ring_after = browser
        .element(".ring-fill")
        .await
        .attr("stroke-dasharray")
        .await
        .unwrap();
    assert_ne!(ring_before, ring_after, "the ring moved");
    let api = app.get_ok(&user, "/stats/dashboard", &[]).await;
    assert_eq!(api["goal"]["target_days"], json!(2));
    let ahead_after = figure(&browser, "days-ahead").await;
    assert_eq!(Some(ahead_after), api["progress"]["days_ahead"].as_f64());
    assert!(
        ahead_after >= ahead_before,
        "a smaller target is never further behind"
    );
    assert!(browser.text("#pace-line").await.contains("pace"));
    browser.close().await;
}

#[tokio::test]
async fn a_new_time_zone_moves_a_late_evening_run_to_its_local_day() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    // 02:30 UTC three days ago: the evening before in Los Angeles.
    let day = (Utc::now() - Duration::days(3)).date_naive();
    let start = Utc.from_utc_datetime(&day.and_hms_opt(2, 30, 0).unwrap());
    app.sync_ok(&user, &batch(vec![run_at("late", start, 8.0, 45)]))
        .await;
    let id = app.get_ok(&user, "/workouts", &[]).await["workouts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.open(&format!("/workouts/{id}")).await;
    assert_eq!(browser.text("#summary-day").await, day.to_string());
    browser.open("/settings").await;
    browser.choose("time_zone", "America/Los_Angeles").await;
    browser
        .click(r#"form[action="/settings/time-zone"] button[type="submit"]"#)
        .await;
    assert!(browser.text("#notice").await.contains("Time zone saved"));
    browser.open(&format!("/workouts/{id}")).await;
    let evening_before: NaiveDate = day.pred_opt().unwrap();
    assert_eq!(
        browser.text("#summary-day").await,
        evening_before.to_string()
    );
    assert!(
        browser.text("h1").await.contains(":30"),
        "started shown at local time"
    );
    let me = app.get_ok(&user, "/auth/me", &[]).await;
    assert_eq!(me["user"]["time_zone"], json!("America/Los_Angeles"));
    browser.close().await;
}

#[tokio::test]
async fn correcting_a_distance_changes_the_totals_and_the_old_copy_then_conflicts() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    let original = run_hours_ago("watch-1", 3, 5.0, 30);
    app.sync_ok(&user, &batch(vec![original.clone()])).await;
    let id = app.get_ok(&user, "/workouts", &[]).await["workouts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.open("/").await;
    let before = figure(&browser, "total-distance").await;
    browser.open(&format!("/workouts/{id}")).await;
    browser.fill("distance_km", "12.5").await;
    browser
        .click(&format!(
            r#"form[action="/workouts/{id}"] button[type="submit"]"#
        ))
        .await;
    assert!(browser.text("#notice").await.contains("Saved"));
    assert_eq!(browser.text("#summary-distance").await, "12.5 km");
    browser.open("/").await;
    let after = figure(&browser, "total-distance").await;
    assert_eq!((before, after), (5.0, 12.5));
    let stored = app.get_ok(&user, &format!("/workouts/{id}"), &[]).await;
    assert_eq!(stored["workout"]["revision"], json!(2));
    // The watch still holds the 5 km copy: its next sync is told the server's copy wins.
    let resync = app.sync_ok(&user, &batch(vec![original])).await;
    let conflict = &resync["conflicts"][0];
    assert_eq!(conflict["reason"], json!("data_mismatch"), "{resync}");
    assert_eq!(
        conflict["server_workout"]["distance_meters"],
        json!(12_500.0)
    );
    browser.close().await;
}

#[tokio::test]
async fn a_workout_is_deleted_after_a_confirmation() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    app.sync_ok(
        &user,
        &batch(vec![
            run_hours_ago("keep", 3, 5.0, 30),
            run_hours_ago("drop", 27, 9.0, 50),
        ]),
    )
    .await;
    let listed = app.get_ok(&user, "/workouts", &[]).await;
    let drop = listed["workouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["client_id"] == json!("drop"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.open(&format!("/workouts/{drop}")).await;
    browser
        .click(&format!(r#"a[href="/workouts/{drop}/delete"]"#))
        .await;
    assert!(browser.text("h1").await.contains("Delete this workout?"));
    browser.click(r#"button.danger[type="submit"]"#).await;
    assert_eq!(browser.path().await, "/workouts");
    assert!(browser.text("#notice").await.contains("deleted"));
    assert_eq!(browser.text("#workouts tbody").await.lines().count(), 1);
    let gone = app.get(&user, &format!("/workouts/{drop}"), &[]).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let changes = app.get_ok(&user, "/workouts/changes", &[]).await;
    let tombstone =
        changes["changes"].as_array().unwrap().iter().find(|c| {
            c["workout"]["client_id"] == json!("drop") || c["client_id"] == json!("drop")
        });
    assert!(
        tombstone.is_some(),
        "the deletion is on the change feed: {changes}"
    );
    browser.close().await;
}

#[tokio::test]
async fn revoking_the_browsers_session_from_the_api_signs_it_out() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    browser.open("/settings").await;
    assert!(browser.text("#sessions").await.contains("(this browser)"));
    let sessions = app.get_ok(&user, "/auth/sessions", &[]).await;
    let browser_session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == json!(false))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .client
        .delete(app.api(&format!("/auth/sessions/{browser_session}")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    browser.open("/").await;
    assert_eq!(browser.path().await, "/login", "signed out at once");
    browser.close().await;
}

#[tokio::test]
async fn a_form_post_without_its_csrf_token_is_refused() {
    let Some((app, browser)) = started().await else {
        return;
    };
    let user = register(&app, &browser).await;
    let year = app.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .unwrap();
    browser.open("/settings").await;
    browser.fill(&format!("target-{year}"), "7").await;
    browser
        .client
        .execute(
            "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    browser
        .click(&format!("#goal-{year} button[type=\"submit\"]"))
        .await;
    assert!(browser.text("h1").await.contains("Not allowed"));
    let goals = app.get_ok(&user, "/goals", &[]).await;
    assert_eq!(goals, json!([]), "nothing stored");
    browser.close().await;
}

/// Not a check: `scripts/screenshots` runs it (with `SCREENSHOTS_DIR`) to take every page, at a
/// phone's and a desktop's width, with a demo runner's year, into `docs/screenshots/`.
#[tokio::test]
#[ignore = "run by scripts/screenshots"]
async fn screenshots() {
    let Ok(dir) = std::env::var("SCREENSHOTS_DIR") else {
        panic!("set SCREENSHOTS_DIR (scripts/screenshots does)");
    };
    let Some((app, browser)) = started().await else {
        panic!("Chromium is needed for screenshots")
    };
    let user = register(&app, &browser).await;
    app.sync_ok(&user, &batch(demo_year())).await;
    let year = app.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .unwrap();
    let goal = app
        .client
        .put(app.api(&format!("/goals/{year}")))
        .bearer_auth(&user.access_token)
        .json(&json!({"target_days": 250}))
        .send()
        .await
        .unwrap();
    assert_eq!(goal.status(), StatusCode::OK);
    let id = app.get_ok(&user, "/workouts", &[]).await["workouts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pages = [
        ("dashboard", "/".to_owned()),
        ("insights", "/insights".to_owned()),
        ("workouts", "/workouts".to_owned()),
        ("workout", format!("/workouts/{id}")),
        ("syncs", "/syncs".to_owned()),
        ("settings", "/settings".to_owned()),
    ];
    std::fs::create_dir_all(&dir).unwrap();
    for (width, height, name) in [(375, 1700, "phone"), (1280, 1300, "desktop")] {
        browser.resize((width, height)).await;
        for (page, path) in &pages {
            browser.open(path).await;
            let png = browser.client.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{page}-{name}.png"), png).unwrap();
        }
    }
    browser.close().await;
}

/// A runner's year so far: a run on about two days in three, 5 to 15 km at 5 to 6 min/km,
/// in the morning; the same every time (a fixed sequence, not a random one).
fn demo_year() -> Vec<Value> {
    let today = Utc::now().date_naive();
    let first = NaiveDate::from_yo_opt(today.year_ce().1 as i32, 1).unwrap();
    let mut seed: u64 = 7;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % 1000
    };
    let mut runs = Vec::new();
    let mut day = first;
    while day < today && runs.len() < 900 {
        if next() < 660 {
            let km = 5.0 + (next() as f64) / 100.0;
            let pace = 5.0 + (next() as f64) / 1000.0;
            let minutes = (km * pace).round() as i64;
            let start = Utc.from_utc_datetime(&day.and_hms_opt(6, 30, 0).unwrap());
            runs.push(run_at(
                &format!("demo-{day}"),
                start,
                (km * 10.0).round() / 10.0,
                minutes,
            ));
        }
        day = day.succ_opt().unwrap();
    }
    runs
}
