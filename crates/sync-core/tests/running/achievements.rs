//! `achievements`: the catalogue in order, unlocked by the workout that crossed each milestone,
//! and locked again when that workout is deleted.

use chrono::{DateTime, Utc};
use sync_core::running::{achievements, Achievement, Goal, RunFact};

use crate::helpers::{daily, date, instant, run_at, year_data};

const CATALOGUE: [&str; 17] = [
    "days_1", "days_7", "days_30", "days_50", "days_100", "days_150", "days_200", "days_250",
    "days_300", "days_365", "km_50", "km_100", "km_250", "km_500", "km_1000", "km_2000", "goal",
];

fn find<'a>(list: &'a [Achievement], id: &str) -> &'a Achievement {
    list.iter().find(|a| a.id == id).expect("in the catalogue")
}

/// When the achievement `id` of `list` was unlocked, if it is.
fn unlocked_at(list: &[Achievement], id: &str) -> Option<DateTime<Utc>> {
    find(list, id).unlocked_at
}

#[test]
fn the_catalogue_is_served_in_order_with_its_milestones() {
    let list = achievements(
        &year_data(2025, date(2025, 3, 1), &[]),
        &Goal::default_for(2025, 250),
    );
    let ids: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, CATALOGUE);
    let milestones: Vec<u32> = list.iter().map(|a| a.milestone).collect();
    assert_eq!(
        milestones,
        [1, 7, 30, 50, 100, 150, 200, 250, 300, 365, 50, 100, 250, 500, 1000, 2000, 250]
    );
    for a in &list {
        assert!(!a.is_unlocked && a.unlocked_at.is_none(), "{}", a.id);
        assert!(
            !a.name.is_empty() && a.description.ends_with('.'),
            "{}",
            a.id
        );
    }
}

#[test]
fn a_day_milestone_unlocks_at_the_first_workout_of_the_day_that_crossed_it() {
    let mut history = daily(date(2025, 1, 1), 6);
    // The seventh running day has two workouts; the store may pass them in any order.
    let mut evening = run_at(date(2025, 1, 9), 18, 3000.0, 1000);
    let mut morning = run_at(date(2025, 1, 9), 6, 3000.0, 1000);
    morning.start_time = instant("2025-01-09T06:00:00.750Z");
    evening.start_time = instant("2025-01-09T18:00:00Z");
    history.extend([evening, morning]);
    let list = achievements(
        &year_data(2025, date(2025, 2, 1), &history),
        &Goal::default_for(2025, 7),
    );

    let first = find(&list, "days_1");
    assert_eq!(first.unlocked_at, Some(instant("2025-01-01T07:00:00Z")));
    let week = find(&list, "days_7");
    assert!(week.is_unlocked);
    assert_eq!(
        week.unlocked_at,
        Some(instant("2025-01-09T06:00:00Z")),
        "whole seconds"
    );
    let goal = find(&list, "goal");
    assert_eq!((goal.milestone, goal.unlocked_at), (7, week.unlocked_at));
    assert!(!find(&list, "days_30").is_unlocked);
    let json = serde_json::to_value(week).unwrap();
    assert_eq!(json["unlocked_at"], "2025-01-09T06:00:00Z");
    assert_eq!(
        serde_json::to_value(find(&list, "days_30")).unwrap()["unlocked_at"],
        serde_json::Value::Null
    );
}

#[test]
fn a_distance_milestone_unlocks_at_the_workout_that_took_the_total_past_it() {
    let history = vec![
        run_at(date(2025, 2, 1), 7, 20_000.0, 7200),
        run_at(date(2025, 2, 2), 7, 20_000.0, 7200),
        run_at(date(2025, 2, 3), 7, 10_000.0, 3600), // exactly 50 km
        run_at(date(2025, 2, 4), 7, 49_999.0, 18000),
        run_at(date(2025, 2, 5), 7, 1.0, 60), // exactly 100 km
    ];
    let list = achievements(
        &year_data(2025, date(2025, 3, 1), &history),
        &Goal::default_for(2025, 300),
    );
    assert_eq!(unlocked_at(&list, "km_50"), Some(history[2].start_time));
    assert_eq!(unlocked_at(&list, "km_100"), Some(history[4].start_time));
    assert!(!find(&list, "km_250").is_unlocked);
}

#[test]
fn deleting_the_workout_that_unlocked_an_achievement_locks_it_again() {
    let mut history: Vec<RunFact> = daily(date(2025, 1, 1), 7);
    for run in &mut history {
        run.distance_meters = 7500.0; // 52.5 km in seven days
    }
    let goal = Goal::default_for(2025, 7);
    let today = date(2025, 2, 1);
    let before = achievements(&year_data(2025, today, &history), &goal);
    for id in ["days_7", "km_50", "goal"] {
        assert!(find(&before, id).is_unlocked, "{id}");
    }

    // The third run is deleted: the store no longer passes it.
    history.remove(2);
    let after = achievements(&year_data(2025, today, &history), &goal);
    for id in ["days_7", "km_50", "goal"] {
        let a = find(&after, id);
        assert!(!a.is_unlocked && a.unlocked_at.is_none(), "{id}");
    }
    assert!(find(&after, "days_1").is_unlocked);

    // Running again on another day unlocks them anew, at that workout.
    history.push(run_at(date(2025, 1, 20), 9, 7500.0, 2700));
    let again = achievements(&year_data(2025, today, &history), &goal);
    assert_eq!(unlocked_at(&again, "days_7"), Some(history[6].start_time));
    assert_eq!(unlocked_at(&again, "km_50"), Some(history[6].start_time));
}

#[test]
fn only_the_years_workouts_count() {
    // 20 December 2024 to 2 January 2025: twelve days of 2024, two of 2025.
    let history = daily(date(2024, 12, 20), 14);
    let data = year_data(2025, date(2025, 1, 2), &history);
    let list = achievements(&data, &Goal::default_for(2025, 300));
    assert_eq!(
        unlocked_at(&list, "days_1"),
        Some(instant("2025-01-01T07:00:00Z"))
    );
    assert!(
        !find(&list, "days_7").is_unlocked,
        "December's days belong to 2024"
    );
    let last_year = achievements(
        &year_data(2024, date(2025, 1, 2), &history),
        &Goal::default_for(2024, 300),
    );
    assert_eq!(
        unlocked_at(&last_year, "days_7"),
        Some(instant("2024-12-26T07:00:00Z"))
    );
}
