//! The whole response bodies: exactly the contract's keys, integers as integers, timestamps
//! with whole seconds, and each body read back by a client as it was written.

use std::collections::BTreeSet;

use serde_json::Value;
use sync_core::running::{
    dashboard, goal_progress, goal_with_progress, insights, validate_goal, DashboardBody, Goal,
    GoalProgressBody, GoalWithProgressBody, InsightsBody,
};
use sync_core::WorkoutView;

use crate::helpers::{daily, date, instant, run_at, year_data};

/// The object's keys are exactly `expected`, in any order.
#[track_caller]
fn assert_keys(value: &Value, expected: &[&str]) {
    let actual: BTreeSet<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(actual, expected.iter().copied().collect::<BTreeSet<_>>());
}

/// Every string that looks like a date-time has whole seconds and a `Z`.
fn assert_whole_second_times(value: &Value) {
    match value {
        Value::String(text) if text.len() > 10 && text.contains('T') => {
            assert!(text.ends_with('Z') && !text.contains('.'), "{text}");
        }
        Value::Array(items) => items.iter().for_each(assert_whole_second_times),
        Value::Object(map) => map.values().for_each(assert_whole_second_times),
        _ => {}
    }
}

fn a_set_goal() -> Goal {
    let at = instant("2025-01-01T10:00:00.400Z");
    Goal::set(validate_goal(2025, 20).unwrap(), at, at)
}

fn history() -> Vec<sync_core::running::RunFact> {
    let mut runs = daily(date(2025, 1, 1), 25);
    runs.push(run_at(date(2025, 1, 10), 18, 12_345.6, 3725));
    runs[6].start_time = instant("2025-01-07T07:00:00.250Z");
    runs
}

#[test]
fn the_goal_progress_body() {
    let data = year_data(2025, date(2025, 2, 1), &history());
    let body = goal_progress(&data, &a_set_goal());
    let json = serde_json::to_value(&body).unwrap();
    assert_keys(
        &json,
        &[
            "goal",
            "progress",
            "pace_metrics",
            "streaks",
            "achievements",
            "stats",
        ],
    );
    assert_keys(
        &json["goal"],
        &["year", "target_days", "created_at", "updated_at"],
    );
    assert_eq!(json["goal"]["created_at"], "2025-01-01T10:00:00Z");
    assert_keys(
        &json["progress"],
        &[
            "days_completed",
            "days_remaining",
            "percent_complete",
            "expected_days",
            "days_ahead",
            "on_track",
        ],
    );
    assert_keys(
        &json["pace_metrics"],
        &[
            "required_days_per_week",
            "current_pace_per_week",
            "projected_completion",
            "will_meet_goal",
            "open_days",
        ],
    );
    assert_keys(
        &json["streaks"],
        &[
            "current",
            "longest",
            "this_week",
            "last_week",
            "last_run_date",
        ],
    );
    assert_keys(
        &json["achievements"][0],
        &[
            "id",
            "name",
            "description",
            "milestone",
            "unlocked_at",
            "is_unlocked",
        ],
    );
    assert_keys(
        &json["stats"],
        &[
            "total_distance_km",
            "total_duration_hours",
            "avg_pace_min_per_km",
            "days_left",
        ],
    );
    for count in [
        "days_completed",
        "days_remaining",
        "expected_days",
        "days_ahead",
    ] {
        assert!(json["progress"][count].is_i64(), "{count}");
    }
    assert!(json["pace_metrics"]["open_days"].is_u64());
    assert!(json["streaks"]["longest"].is_u64());
    assert_eq!(json["progress"]["days_completed"], 25);
    assert_eq!(json["pace_metrics"]["projected_completion"], "2025-01-20");
    assert_eq!(json["streaks"]["last_run_date"], "2025-01-25");
    assert_eq!(json["achievements"][1]["id"], "days_7");
    assert_eq!(
        json["achievements"][1]["unlocked_at"],
        "2025-01-07T07:00:00Z"
    );
    assert_whole_second_times(&json);
    let read_back: GoalProgressBody = serde_json::from_value(json).unwrap();
    assert_eq!(read_back.progress, body.progress);
    assert_eq!(read_back.achievements.len(), 17);
}

#[test]
fn the_dashboard_body() {
    let data = year_data(2025, date(2025, 2, 1), &history());
    let view: WorkoutView = serde_json::from_value(serde_json::json!({
        "id": "00000000-0000-0000-0000-000000000001", "client_id": "a", "date": "2025-01-25",
        "start_time": "2025-01-25T07:00:00Z", "end_time": "2025-01-25T07:30:00Z",
        "duration_seconds": 1800, "distance_meters": 5000.0, "avg_pace_seconds_per_km": 360.0,
        "avg_heart_rate": null, "max_heart_rate": null, "energy_burned_kcal": null,
        "source": "apple_watch", "revision": 1,
        "created_at": "2025-01-25T08:00:00Z", "updated_at": "2025-01-25T08:00:00Z"
    }))
    .unwrap();
    let body = dashboard(&data, &Goal::default_for(2025, 300), vec![view]);
    let json = serde_json::to_value(&body).unwrap();
    assert_keys(
        &json,
        &[
            "goal",
            "progress",
            "stats",
            "recent_runs",
            "chart_data",
            "pace_metrics",
            "streaks",
        ],
    );
    assert_eq!(json["goal"]["created_at"], Value::Null);
    assert_eq!(json["recent_runs"][0]["client_id"], "a");
    assert_keys(
        &json["chart_data"][0],
        &["date", "distance", "duration", "pace"],
    );
    assert_eq!(json["chart_data"].as_array().unwrap().len(), 25);
    let tenth = &json["chart_data"][9];
    assert_eq!(tenth["date"], "2025-01-10");
    assert_eq!(tenth["duration"], 5525);
    assert_eq!(json["stats"]["days_left"], 333); // 1 February is day 32
    assert_whole_second_times(&json);
    let read_back: DashboardBody = serde_json::from_value(json).unwrap();
    assert_eq!(read_back, body);
}

#[test]
fn the_insights_body() {
    let data = year_data(2025, date(2025, 2, 1), &history());
    let body = insights(&data, &a_set_goal());
    let json = serde_json::to_value(&body).unwrap();
    assert_keys(
        &json,
        &[
            "year",
            "streaks",
            "monthly_data",
            "weekly_data",
            "pace_data",
            "personal_bests",
            "achievements",
        ],
    );
    assert_eq!(json["year"], 2025);
    assert_keys(
        &json["monthly_data"][0],
        &[
            "month",
            "running_days",
            "total_distance_km",
            "total_duration_hours",
            "avg_pace_min_per_km",
        ],
    );
    assert_keys(
        &json["weekly_data"][0],
        &["week_label", "distance_km", "running_days"],
    );
    assert_eq!(json["weekly_data"][11]["week_label"], "2025-01-27");
    assert_keys(&json["pace_data"][0], &["id", "date", "pace_min_per_km"]);
    assert_keys(
        &json["personal_bests"],
        &[
            "longest_run_km",
            "longest_run_date",
            "fastest_pace_min_per_km",
            "fastest_pace_date",
        ],
    );
    assert_eq!(json["personal_bests"]["longest_run_km"], 12.35);
    assert_eq!(json["pace_data"][6]["date"], "2025-01-07T07:00:00Z");
    assert_whole_second_times(&json);
    let goal_entry = &json["achievements"][16];
    assert_eq!(
        (goal_entry["id"].as_str(), goal_entry["milestone"].as_u64()),
        (Some("goal"), Some(20))
    );
    let read_back: InsightsBody = serde_json::from_value(json).unwrap();
    assert_eq!(read_back.weekly_data, body.weekly_data);
}

#[test]
fn the_goal_with_progress_body() {
    let data = year_data(2025, date(2025, 2, 1), &history());
    let body = goal_with_progress(&data, &a_set_goal());
    let json = serde_json::to_value(&body).unwrap();
    assert_keys(&json, &["goal", "progress"]);
    assert_eq!(json["progress"]["percent_complete"], 100.0);
    let read_back: GoalWithProgressBody = serde_json::from_value(json).unwrap();
    assert_eq!(read_back, body);
}
