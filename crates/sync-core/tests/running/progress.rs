//! `progress` and `pace_metrics`, worked by hand from the contract's formulas.

use chrono::NaiveDate;
use sync_core::running::{pace_metrics, progress, stats, Goal, PaceMetrics, Progress};

use crate::helpers::{daily, date, run, year_data};

struct Case {
    name: &'static str,
    year: i32,
    today: NaiveDate,
    target: u16,
    run_days: Vec<NaiveDate>,
    progress: Progress,
    pace: PaceMetrics,
}

fn days(first: NaiveDate, count: usize) -> Vec<NaiveDate> {
    daily(first, count).iter().map(|run| run.date).collect()
}

fn check(case: &Case) {
    let history: Vec<_> = case.run_days.iter().copied().map(run).collect();
    let data = year_data(case.year, case.today, &history);
    let goal = Goal::default_for(case.year, case.target);
    assert_eq!(
        progress(&data, &goal),
        case.progress,
        "{}: progress",
        case.name
    );
    assert_eq!(
        pace_metrics(&data, &goal),
        case.pace,
        "{}: pace_metrics",
        case.name
    );
}

#[test]
fn the_current_year_behind_the_goal() {
    check(&Case {
        name: "1 March 2024 (day 61 of 366), 30 running days, target 300",
        year: 2024,
        today: date(2024, 3, 1),
        target: 300,
        run_days: days(date(2024, 1, 1), 30),
        progress: Progress {
            days_completed: 30,
            days_remaining: 270,
            percent_complete: 10.0,
            expected_days: 50, // 61 ÷ 366 × 300 = 50
            days_ahead: -20,
            on_track: false,
        },
        pace: PaceMetrics {
            required_days_per_week: 6.2,                  // 270 ÷ 306 × 7 = 6.18
            current_pace_per_week: 3.4,                   // 30 ÷ 61 × 7 = 3.44
            projected_completion: Some(date(2025, 9, 1)), // 1 March + ceil(270 × 61 ÷ 30) = 549 days
            will_meet_goal: false,
            open_days: 306, // 1 March to 31 December
        },
    });
}

#[test]
fn the_current_year_ahead_of_the_goal() {
    check(&Case {
        name: "2 July 2025 (day 183), 150 running days, target 200",
        year: 2025,
        today: date(2025, 7, 2),
        target: 200,
        run_days: days(date(2025, 1, 1), 150),
        progress: Progress {
            days_completed: 150,
            days_remaining: 50,
            percent_complete: 75.0,
            expected_days: 100, // 183 ÷ 365 × 200 = 100.27
            days_ahead: 50,
            on_track: true,
        },
        pace: PaceMetrics {
            required_days_per_week: 1.9,                  // 50 ÷ 183 × 7 = 1.91
            current_pace_per_week: 5.7,                   // 150 ÷ 183 × 7 = 5.74
            projected_completion: Some(date(2025, 9, 1)), // + ceil(50 × 183 ÷ 150) = 61 days
            will_meet_goal: true,
            open_days: 183,
        },
    });
}

#[test]
fn a_reached_goal_projects_the_day_it_was_reached() {
    check(&Case {
        name: "target 3, four running days, 1 February 2025",
        year: 2025,
        today: date(2025, 2, 1),
        target: 3,
        run_days: vec![
            date(2025, 1, 1),
            date(2025, 1, 5),
            date(2025, 1, 9),
            date(2025, 1, 10),
        ],
        progress: Progress {
            days_completed: 4,
            days_remaining: 0,
            percent_complete: 100.0,
            expected_days: 0, // 32 ÷ 365 × 3 = 0.26
            days_ahead: 4,
            on_track: true,
        },
        pace: PaceMetrics {
            required_days_per_week: 0.0,
            current_pace_per_week: 0.9, // 4 ÷ 32 × 7 = 0.875
            projected_completion: Some(date(2025, 1, 9)),
            will_meet_goal: true,
            open_days: 334,
        },
    });
}

#[test]
fn a_past_year() {
    let missed = Case {
        name: "2023 seen in May 2024, 150 of 200",
        year: 2023,
        today: date(2024, 5, 10),
        target: 200,
        run_days: days(date(2023, 1, 1), 150),
        progress: Progress {
            days_completed: 150,
            days_remaining: 50,
            percent_complete: 75.0,
            expected_days: 200, // the target: every day has gone by
            days_ahead: -50,
            on_track: false,
        },
        pace: PaceMetrics {
            required_days_per_week: 7.0, // something remains and no day is open
            current_pace_per_week: 2.9,  // 150 ÷ 365 × 7 = 2.88
            projected_completion: None,
            will_meet_goal: false,
            open_days: 0,
        },
    };
    check(&missed);
    check(&Case {
        name: "2023 seen in May 2024, 150 of 100",
        target: 100,
        progress: Progress {
            days_remaining: 0,
            percent_complete: 100.0,
            expected_days: 100,
            days_ahead: 50,
            on_track: true,
            ..missed.progress
        },
        pace: PaceMetrics {
            required_days_per_week: 0.0,
            projected_completion: Some(date(2023, 4, 10)), // the 100th running day
            will_meet_goal: true,
            ..missed.pace
        },
        ..missed
    });
}

#[test]
fn a_future_year() {
    check(&Case {
        name: "2026 seen in June 2025",
        year: 2026,
        today: date(2025, 6, 1),
        target: 300,
        run_days: days(date(2025, 5, 1), 20),
        progress: Progress {
            days_completed: 0,
            days_remaining: 300,
            percent_complete: 0.0,
            expected_days: 0,
            days_ahead: 0,
            on_track: true,
        },
        pace: PaceMetrics {
            required_days_per_week: 5.8, // 300 ÷ 365 × 7 = 5.75
            current_pace_per_week: 0.0,  // no day of 2026 has gone by
            projected_completion: None,
            will_meet_goal: false,
            open_days: 365,
        },
    });
}

#[test]
fn expected_days_round_half_away_from_zero() {
    // 183 of 366 days: elapsed ÷ 2 exactly; 2.5 rounds to 3 and 0.5 to 1 (not to even).
    for (today, expected) in [
        (date(2024, 1, 5), 3),
        (date(2024, 1, 1), 1),
        (date(2024, 1, 4), 2),
    ] {
        let data = year_data(2024, today, &[]);
        let p = progress(&data, &Goal::default_for(2024, 183));
        assert_eq!(p.expected_days, expected, "{today}");
        assert_eq!(p.days_ahead, -(expected as i32));
    }
}

#[test]
fn one_decimal_rounds_half_away_from_zero() {
    // 1 ÷ 16 = 6.25 % → 6.3; 3 ÷ 16 = 18.75 % → 18.8.
    for (completed, percent) in [(1, 6.3), (3, 18.8)] {
        let history = daily(date(2025, 1, 1), completed);
        let data = year_data(2025, date(2025, 3, 1), &history);
        assert_eq!(
            progress(&data, &Goal::default_for(2025, 16)).percent_complete,
            percent
        );
    }
    // One day left of 11 with 28 open days: 1 ÷ 28 × 7 = 0.25 → 0.3.
    let data = year_data(2025, date(2025, 12, 4), &daily(date(2025, 1, 1), 10));
    let pace = pace_metrics(&data, &Goal::default_for(2025, 11));
    assert_eq!((pace.open_days, pace.required_days_per_week), (28, 0.3));
    // One running day in 28: 1 ÷ 28 × 7 = 0.25 → 0.3.
    let data = year_data(2025, date(2025, 1, 28), &[run(date(2025, 1, 3))]);
    let pace = pace_metrics(&data, &Goal::default_for(2025, 300));
    assert_eq!(pace.current_pace_per_week, 0.3);
}

#[test]
fn required_days_per_week_at_its_edges() {
    let cases = [
        // (what, today, running days, target, open days, required per week)
        (
            "14 a week is capped at 7",
            date(2025, 12, 27),
            vec![],
            10,
            5,
            7.0,
        ),
        (
            "today is open until it has a run",
            date(2025, 12, 30),
            vec![date(2025, 1, 1)],
            2,
            2,
            3.5,
        ),
        (
            "once today has a run, only tomorrow is open",
            date(2025, 12, 30),
            vec![date(2025, 1, 1), date(2025, 12, 30)],
            3,
            1,
            7.0,
        ),
        (
            "nothing remains: 0, whatever is open",
            date(2025, 12, 30),
            vec![date(2025, 1, 1), date(2025, 12, 30)],
            2,
            1,
            0.0,
        ),
        (
            "a workout already dated tomorrow leaves no open day",
            date(2025, 12, 30),
            vec![date(2025, 12, 30), date(2025, 12, 31)],
            3,
            0,
            7.0,
        ),
    ];
    for (what, today, run_days, target, open, required) in cases {
        let history: Vec<_> = run_days.into_iter().map(run).collect();
        let pace = pace_metrics(
            &year_data(2025, today, &history),
            &Goal::default_for(2025, target),
        );
        assert_eq!(
            (pace.open_days, pace.required_days_per_week),
            (open, required),
            "{what}"
        );
    }
}

#[test]
fn no_run_yet_projects_nothing() {
    let data = year_data(2025, date(2025, 3, 1), &[]);
    let pace = pace_metrics(&data, &Goal::default_for(2025, 300));
    assert_eq!(pace.projected_completion, None);
    assert!(!pace.will_meet_goal);
    assert_eq!(pace.current_pace_per_week, 0.0);
}

#[test]
fn days_left_are_the_days_after_today() {
    for (year, today, left) in [
        (2024, date(2024, 3, 1), 305),
        (2024, date(2024, 12, 31), 0),
        (2023, date(2024, 3, 1), 0),
        (2025, date(2024, 3, 1), 365),
    ] {
        assert_eq!(
            stats(&year_data(year, today, &[])).days_left,
            left,
            "{year} {today}"
        );
    }
}
