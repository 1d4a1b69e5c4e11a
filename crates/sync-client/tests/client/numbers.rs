//! The runner's numbers through the client: goals set and read, the dashboard and the
//! insights, by the library and by `rdsync goal` / `rdsync stats` against the real server.
//!
//! The runs of `runs_xml` are in 2020, a past (leap) year, so its numbers do not depend on
//! today: every day of it has gone by, the goal is all expected, no streak reaches today.

use std::path::{Path, PathBuf};

use chrono::Datelike;
use sync_client::{ClientError, SyncMode};

use crate::helpers::*;

/// A server with an account logged in with `rdsync`, and the cache file of that login.
async fn logged_in() -> (TestApp, TestUser, tempfile::TempDir, PathBuf) {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_path(dir.path());
    let login = rdsync(
        &cache,
        &["login", "--email", &user.email],
        &[
            ("RDSYNC_SERVER", &server.address),
            ("RDSYNC_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(login.status.code(), Some(0), "{}", stderr(&login));
    (server, user, dir, cache)
}

/// `rdsync ARGS` that must succeed: its stdout lines.
async fn rdsync_ok(cache: &Path, args: &[&str]) -> Vec<String> {
    let output = rdsync(cache, args, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    stdout_lines(&output)
}

/// `rdsync ARGS` that must fail with `code`: its stderr.
async fn rdsync_fails(cache: &Path, args: &[&str], code: i32) -> String {
    let output = rdsync(cache, args, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {}",
        stderr(&output)
    );
    assert!(
        output.stdout.is_empty(),
        "{args:?}: {:?}",
        stdout_lines(&output)
    );
    stderr(&output)
}

/// The two runs of 2020 once synced, as `goal` and `stats` show them against a 100-day goal.
const TWO_RUNS_OF_100: [&str; 5] = [
    "2020: 2 of 100 running days (2.0%)",
    "98 days behind",
    "the year ended 98 running days short of the goal",
    "streak: 0 days now, longest in 2020: 2 days",
    "next achievement: One Week of Runs, 5 more running days",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goal_and_stats_commands_print_the_year() {
    let (server, user, dir, cache) = logged_in().await;

    // A goal for 2020 before any run.
    let lines = rdsync_ok(&cache, &["goal", "2020", "--set", "100"]).await;
    assert_eq!(
        lines,
        [
            "goal for 2020 set to 100 running days",
            "2020: 0 of 100 running days (0.0%)",
            "100 days behind",
            "the year ended 100 running days short of the goal",
            "streak: 0 days now, longest in 2020: 0 days",
            "next achievement: First Run, 1 more running day",
        ]
    );

    // Two runs, 1 and 2 January 2020, 5.0 and 5.1 km in 30 minutes each.
    let export = write_xml(dir.path(), &runs_xml(2));
    rdsync_ok(&cache, &["import", &export.to_string_lossy()]).await;
    rdsync_ok(&cache, &["sync"]).await;

    assert_eq!(rdsync_ok(&cache, &["goal", "2020"]).await, TWO_RUNS_OF_100);
    let stats = rdsync_ok(&cache, &["stats", "2020"]).await;
    assert_eq!(stats[..5], TWO_RUNS_OF_100);
    assert_eq!(
        stats[5..],
        [
            "distance: 10.1 km in 1.0 h, 5:56 min/km on average",
            "best: longest run 5.10 km on 2020-01-02, fastest pace 5:53 min/km on 2020-01-02",
        ]
    );

    // Replacing the goal: reached.
    let lines = rdsync_ok(&cache, &["goal", "2020", "--set", "2"]).await;
    assert_eq!(
        lines[..3],
        [
            "goal for 2020 set to 2 running days",
            "2020: 2 of 2 running days (100.0%)",
            "goal reached on 2020-01-02",
        ]
    );

    // No YEAR: this year as the server counts it in the runner's zone.
    let this_year = server.get_ok(&user, "/stats/dashboard", &[]).await["goal"]["year"]
        .as_i64()
        .expect("the dashboard's goal.year");
    let lines = rdsync_ok(&cache, &["goal", "--set", "50"]).await;
    assert_eq!(
        lines[0],
        format!("goal for {this_year} set to 50 running days")
    );
    assert_eq!(
        lines[1],
        format!("{this_year}: 0 of 50 running days (0.0%)")
    );
    let lines = rdsync_ok(&cache, &["stats"]).await;
    assert_eq!(
        lines[0],
        format!("{this_year}: 0 of 50 running days (0.0%)")
    );
    assert_eq!(lines.last().unwrap(), "distance: 0.0 km in 0.0 h");
    assert_eq!(rdsync_ok(&cache, &["goal"]).await[0], lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_year_or_target_is_refused_before_anything_is_sent() {
    let (server, user, dir, cache) = logged_in().await;

    let err = rdsync_fails(&cache, &["goal", "2025", "--set", "366"], 2).await;
    assert_eq!(
        err.trim_end(),
        "rdsync: cannot set the goal of 2025 to 366 days: target_days must be between 1 and 365"
    );
    let err = rdsync_fails(&cache, &["goal", "2024", "--set", "0"], 2).await;
    assert!(
        err.contains("target_days must be between 1 and 366"),
        "{err}"
    );
    let err = rdsync_fails(&cache, &["goal", "2024", "--set", "-3"], 2).await;
    assert!(
        err.contains("target_days must be between 1 and 366"),
        "{err}"
    );
    let err = rdsync_fails(&cache, &["goal", "1999"], 2).await;
    assert_eq!(
        err.trim_end(),
        "rdsync: year 1999 must be between 2000 and 2100"
    );
    let err = rdsync_fails(&cache, &["stats", "2101"], 2).await;
    assert_eq!(
        err.trim_end(),
        "rdsync: year 2101 must be between 2000 and 2100"
    );
    let err = rdsync_fails(&cache, &["goal", "--set", "many"], 2).await;
    assert!(err.contains("invalid value 'many'"), "{err}");
    rdsync_fails(&cache, &["stats", "20x5"], 2).await;
    // A leap year takes 366.
    let lines = rdsync_ok(&cache, &["goal", "2024", "--set", "366"]).await;
    assert_eq!(lines[0], "goal for 2024 set to 366 running days");

    // Only the valid goal reached the server.
    let goals = server.get_ok(&user, "/goals", &[]).await;
    let years: Vec<i64> = goals
        .as_array()
        .expect("an array of goals")
        .iter()
        .map(|g| g["year"].as_i64().unwrap())
        .collect();
    assert_eq!(years, [2024]);

    // Not logged in: exit 4, as for sync.
    let elsewhere = cache_path(&dir.path().join("other"));
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    let err = rdsync_fails(&elsewhere, &["goal", "2024"], 4).await;
    assert!(err.contains("log in"), "{err}");
    rdsync_fails(&elsewhere, &["stats"], 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_reads_and_sets_goals_with_the_servers_types_and_rules() {
    let server = TestApp::spawn().await;
    let user = server.register().await;
    let proxy = FaultProxy::start(&server.address).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, sleeper) = client_at(dir.path(), &proxy.address, 1000);

    let error = client.dashboard(None).await.unwrap_err();
    assert!(matches!(error, ClientError::NotLoggedIn), "{error:?}");

    client.login(&user.email, PASSWORD).await.unwrap();
    import(&client, dir.path(), &runs_xml(2));
    client.sync(SyncMode::Incremental).await.unwrap();

    let goal = client.set_goal(2020, 100).await.unwrap();
    assert_eq!((goal.year, goal.target_days), (2020, 100));
    assert!(goal.created_at.is_some() && !goal.is_default());

    let body = client.goal(2020).await.unwrap();
    assert_eq!(body.goal, goal);
    assert_eq!(body.progress.days_completed, 2);
    assert_eq!(body.progress.days_ahead, -98);

    let progress = client.goal_progress(2020).await.unwrap();
    assert_eq!(progress.progress, body.progress);
    assert_eq!(progress.streaks.longest, 2);
    assert_eq!(progress.stats.total_distance_km, 10.1);
    assert!(progress.achievements[0].is_unlocked);

    // A year without a goal has the server's default.
    let default = client.goal(2021).await.unwrap();
    assert!(default.goal.is_default());
    assert_eq!(default.progress.days_completed, 0);

    let insights = client.insights(Some(2020)).await.unwrap();
    assert_eq!(insights.year, 2020);
    assert_eq!(insights.monthly_data[0].running_days, 2);
    assert_eq!(insights.personal_bests.longest_run_km, Some(5.1));

    // An expired access token is refreshed once, as for a sync.
    proxy.fault("/stats/dashboard", Fault::Status(401, None));
    let dashboard = client.dashboard(Some(2020)).await.unwrap();
    assert_eq!(dashboard.progress, body.progress);
    assert_eq!(dashboard.recent_runs.len(), 2);
    let this_year = client.dashboard(None).await.unwrap().goal.year;
    assert!(
        (chrono::Utc::now().year() - 1..=chrono::Utc::now().year() + 1).contains(&this_year),
        "{this_year}"
    );
    // A 500 is retried like any other request.
    proxy.fault("/goals/2020/progress", Fault::Status(500, None));
    assert_eq!(client.goal_progress(2020).await.unwrap(), progress);
    assert_eq!(sleeper.delays().len(), 1);

    // The server's 422 names the field and says what is wrong with it.
    let error = client.set_goal(2025, 366).await.unwrap_err();
    match &error {
        ClientError::Refused {
            status: 422,
            code,
            errors,
            ..
        } => {
            assert_eq!(code, "validation_failed");
            assert_eq!(errors["target_days"], ["must be between 1 and 365"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .ends_with("(target_days must be between 1 and 365)"),
        "{error}"
    );
    let error = client.set_goal(1999, 10).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("year must be between 2000 and 2100"),
        "{error}"
    );
    // A year the server cannot read in the path: 422 too, not a panic here.
    let error = client.goal(2101).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Refused { status: 422, .. }),
        "{error:?}"
    );
}
