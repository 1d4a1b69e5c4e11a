//! Every running-days response decoded with the iOS app's strictness: every required key
//! present, integers as integers (a `Double` where an `Int` is due fails a screen), and every
//! date-time in whole seconds with no fraction. The shapes below are the contract's, written
//! once as data and checked against real responses with runs in them.

use chrono::{Datelike, Days};
use serde_json::{json, Value};
use test_support::{per_backend, TestApp};

use super::{morning_of, put_goal, run, sync_runs, today_in};

/// What the iOS decoder accepts at a key.
enum Shape {
    Int,
    Number,
    Bool,
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DDTHH:MM:SSZ`: whole seconds, UTC.
    DateTime,
    Nullable(&'static Shape),
    List(&'static Shape),
    /// Every key required; extra keys are fine.
    Object(&'static [(&'static str, Shape)]),
}

use Shape::*;

const GOAL: Shape = Object(&[
    ("year", Int),
    ("target_days", Int),
    ("created_at", Nullable(&DateTime)),
    ("updated_at", Nullable(&DateTime)),
]);
const PROGRESS: Shape = Object(&[
    ("days_completed", Int),
    ("days_remaining", Int),
    ("percent_complete", Number),
    ("expected_days", Int),
    ("days_ahead", Int),
    ("on_track", Bool),
]);
const PACE_METRICS: Shape = Object(&[
    ("required_days_per_week", Number),
    ("current_pace_per_week", Number),
    ("projected_completion", Nullable(&Date)),
    ("will_meet_goal", Bool),
    ("open_days", Int),
]);
const STREAKS: Shape = Object(&[
    ("current", Int),
    ("longest", Int),
    ("this_week", Int),
    ("last_week", Int),
    ("last_run_date", Nullable(&Date)),
]);
const ACHIEVEMENT: Shape = Object(&[
    ("id", Text),
    ("name", Text),
    ("description", Text),
    ("milestone", Int),
    ("unlocked_at", Nullable(&DateTime)),
    ("is_unlocked", Bool),
]);
const STATS: Shape = Object(&[
    ("total_distance_km", Number),
    ("total_duration_hours", Number),
    ("avg_pace_min_per_km", Nullable(&Number)),
    ("days_left", Int),
]);
const WORKOUT: Shape = Object(&[
    ("id", Text),
    ("client_id", Text),
    ("date", Date),
    ("start_time", DateTime),
    ("end_time", DateTime),
    ("duration_seconds", Int),
    ("distance_meters", Number),
    ("source", Text),
    ("revision", Int),
    ("created_at", DateTime),
    ("updated_at", DateTime),
]);
const CHART_POINT: Shape = Object(&[
    ("date", Date),
    ("distance", Number),
    ("duration", Int),
    ("pace", Nullable(&Number)),
]);
const GOAL_WITH_PROGRESS: Shape = Object(&[("goal", GOAL), ("progress", PROGRESS)]);
const GOAL_PROGRESS: Shape = Object(&[
    ("goal", GOAL),
    ("progress", PROGRESS),
    ("pace_metrics", PACE_METRICS),
    ("streaks", STREAKS),
    ("achievements", List(&ACHIEVEMENT)),
    ("stats", STATS),
]);
const DASHBOARD: Shape = Object(&[
    ("goal", GOAL),
    ("progress", PROGRESS),
    ("stats", STATS),
    ("recent_runs", List(&WORKOUT)),
    ("chart_data", List(&CHART_POINT)),
    ("pace_metrics", PACE_METRICS),
    ("streaks", STREAKS),
]);
const INSIGHTS: Shape = Object(&[
    ("year", Int),
    ("streaks", STREAKS),
    (
        "monthly_data",
        List(&Object(&[
            ("month", Text),
            ("running_days", Int),
            ("total_distance_km", Number),
            ("total_duration_hours", Number),
            ("avg_pace_min_per_km", Nullable(&Number)),
        ])),
    ),
    (
        "weekly_data",
        List(&Object(&[
            ("week_label", Date),
            ("distance_km", Number),
            ("running_days", Int),
        ])),
    ),
    (
        "pace_data",
        List(&Object(&[
            ("id", Text),
            ("date", DateTime),
            ("pace_min_per_km", Number),
        ])),
    ),
    (
        "personal_bests",
        Object(&[
            ("longest_run_km", Nullable(&Number)),
            ("longest_run_date", Nullable(&Date)),
            ("fastest_pace_min_per_km", Nullable(&Number)),
            ("fastest_pace_date", Nullable(&Date)),
        ]),
    ),
    ("achievements", List(&ACHIEVEMENT)),
]);

/// Whether `text` has the shape of `pattern`, where `d` stands for a digit and anything else for
/// itself (`dddd-dd-dd` is a date).
fn matches_pattern(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// Every place in `value` where the iOS decoder would fail, as `path: problem`.
fn decode_failures(value: &Value, shape: &Shape, path: &str, failures: &mut Vec<String>) {
    let ok = match shape {
        Int => value.is_i64() || value.is_u64(),
        Number => value.is_number(),
        Bool => value.is_boolean(),
        Text => value.is_string(),
        Date => value
            .as_str()
            .is_some_and(|t| matches_pattern(t, "dddd-dd-dd")),
        DateTime => value
            .as_str()
            .is_some_and(|t| matches_pattern(t, "dddd-dd-ddTdd:dd:ddZ")),
        Nullable(inner) => {
            if !value.is_null() {
                decode_failures(value, inner, path, failures);
            }
            true
        }
        List(item) => match value.as_array() {
            Some(items) => {
                for (i, element) in items.iter().enumerate() {
                    decode_failures(element, item, &format!("{path}[{i}]"), failures);
                }
                true
            }
            None => false,
        },
        Object(fields) => match value.as_object() {
            Some(object) => {
                for (key, field) in fields.iter() {
                    let at = format!("{path}.{key}");
                    match object.get(*key) {
                        Some(v) => decode_failures(v, field, &at, failures),
                        None => failures.push(format!("{at}: missing")),
                    }
                }
                true
            }
            None => false,
        },
    };
    if !ok {
        failures.push(format!("{path}: {value} does not decode"));
    }
}

/// Asserts that `value` decodes as `shape`, naming every failure.
fn assert_decodes(value: &Value, shape: &Shape, what: &str) {
    let mut failures = Vec::new();
    decode_failures(value, shape, what, &mut failures);
    assert!(failures.is_empty(), "{what}: {failures:#?}\n{value}");
}

#[test]
fn the_checker_refuses_what_the_ios_decoder_refuses() {
    let refused = [
        (
            json!({"days_completed": 1.0}),
            &Object(&[("days_completed", Int)]),
        ),
        (json!({}), &Object(&[("days_completed", Int)])),
        (
            json!({"at": "2025-01-01T07:00:00.500Z"}),
            &Object(&[("at", DateTime)]),
        ),
        (
            json!({"at": "2025-01-01T07:00:00+00:00"}),
            &Object(&[("at", DateTime)]),
        ),
        (json!({"on": "2025-1-01"}), &Object(&[("on", Date)])),
        (json!([{"n": null}]), &List(&Object(&[("n", Number)]))),
    ];
    for (value, shape) in refused {
        let mut failures = Vec::new();
        decode_failures(&value, shape, "body", &mut failures);
        assert!(!failures.is_empty(), "{value} should not decode");
    }
    let accepted = json!({"at": "2025-01-01T07:00:00Z", "n": null, "extra": 1});
    let shape = Object(&[("at", DateTime), ("n", Nullable(&Int))]);
    assert_decodes(&accepted, &shape, "body");
}

per_backend!(every_running_days_response_decodes_with_the_ios_apps_strictness);
async fn every_running_days_response_decodes_with_the_ios_apps_strictness(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let today = today_in("UTC");
    let year = today.year();
    // Enough runs for every list to have entries and every milestone field to be set: a goal
    // of 1 day reached, the first-day achievement unlocked, paces and personal bests.
    let runs = (1..=3)
        .map(|i| {
            let day = today - Days::new(i);
            run(
                &format!("r{i}"),
                &morning_of(day),
                25 + i as i64,
                5000.0 + 250.0 * i as f64,
            )
        })
        .collect();
    sync_runs(&app, &user, runs).await;
    let set: Value = put_goal(&app, &user, &year.to_string(), json!({"target_days": 1}))
        .await
        .json()
        .await
        .expect("goal");
    assert_decodes(&set, &GOAL, &format!("[{b}] PUT /goals"));

    let list = app.get_ok(&user, "/goals", &[]).await;
    assert_decodes(&list, &List(&GOAL), &format!("[{b}] GET /goals"));
    let checks: [(&str, &Shape); 5] = [
        ("/goals/{year}", &GOAL_WITH_PROGRESS),
        ("/goals/{year}/progress", &GOAL_PROGRESS),
        ("/goals/2099/progress", &GOAL_PROGRESS),
        ("/stats/dashboard", &DASHBOARD),
        ("/stats/insights", &INSIGHTS),
    ];
    for (path, shape) in checks {
        let path = path.replace("{year}", &year.to_string());
        let body = app.get_ok(&user, &path, &[]).await;
        assert_decodes(&body, shape, &format!("[{b}] GET {path}"));
    }

    // The fields that are null without runs are set here, so their shapes were checked.
    let dashboard = app.get_ok(&user, "/stats/dashboard", &[]).await;
    if (today - Days::new(3)).year() == year {
        assert_eq!(
            dashboard["recent_runs"].as_array().map(Vec::len),
            Some(3),
            "[{b}]"
        );
        assert!(
            dashboard["pace_metrics"]["projected_completion"].is_string(),
            "[{b}] {dashboard}"
        );
        let insights = app.get_ok(&user, "/stats/insights", &[]).await;
        assert_eq!(
            insights["pace_data"].as_array().map(Vec::len),
            Some(3),
            "[{b}]"
        );
        assert!(
            insights["achievements"][0]["unlocked_at"].is_string(),
            "[{b}] {insights}"
        );
        assert!(
            insights["personal_bests"]["fastest_pace_date"].is_string(),
            "[{b}] {insights}"
        );
    }
}
