//! The chart series, the personal bests and the year's totals.

use sync_core::running::{
    chart_data, monthly_data, pace_data, personal_bests, progress, stats, weekly_data,
    DashboardStats, Goal, MonthlyEntry, PersonalBests, WeeklyEntry,
};

use crate::helpers::{daily, date, instant, run, run_at, year_data};

#[test]
fn monthly_data_has_twelve_months_and_sums_each() {
    let history = vec![
        run_at(date(2024, 1, 5), 7, 5000.0, 1800),
        run_at(date(2024, 1, 6), 7, 3000.0, 1000),
        run_at(date(2024, 1, 6), 18, 2000.0, 800),
        run_at(date(2024, 3, 1), 7, 10_000.0, 3000),
        run_at(date(2023, 12, 31), 7, 10_000.0, 3000), // the year before: not counted
    ];
    let data = year_data(2024, date(2024, 6, 1), &history);
    let months = monthly_data(&data);
    assert_eq!(months.len(), 12);
    assert_eq!(months[0].month, "2024-01");
    assert_eq!(months[11].month, "2024-12");
    assert_eq!(
        months[0],
        MonthlyEntry {
            month: "2024-01".into(),
            running_days: 2,
            total_distance_km: 10.0,
            total_duration_hours: 1.0,
            avg_pace_min_per_km: Some(6.0),
        }
    );
    assert_eq!(
        months[1],
        MonthlyEntry {
            month: "2024-02".into(),
            running_days: 0,
            total_distance_km: 0.0,
            total_duration_hours: 0.0,
            avg_pace_min_per_km: None,
        }
    );
    assert_eq!(
        (
            months[2].total_duration_hours,
            months[2].avg_pace_min_per_km
        ),
        (0.8, Some(5.0))
    );
    let counted: u32 = months.iter().map(|m| m.running_days).sum();
    assert_eq!(
        counted,
        progress(&data, &Goal::default_for(2024, 300)).days_completed
    );
}

fn labels(weeks: &[WeeklyEntry]) -> (chrono::NaiveDate, chrono::NaiveDate) {
    assert_eq!(weeks.len(), 12);
    for pair in weeks.windows(2) {
        assert_eq!(
            pair[1].week_label - pair[0].week_label,
            chrono::Duration::days(7)
        );
    }
    (weeks[0].week_label, weeks[11].week_label)
}

#[test]
fn weekly_data_ends_with_this_week_in_the_current_year() {
    // Wednesday 12 March 2025: this week starts on Monday 10 March; eleven weeks before
    // starts on 23 December 2024, and that week's days count although they are in 2024.
    let history = vec![
        run_at(date(2024, 12, 23), 7, 4000.0, 1200),
        run(date(2025, 3, 10)),
        run(date(2025, 3, 12)),
    ];
    let weeks = weekly_data(&year_data(2025, date(2025, 3, 12), &history));
    assert_eq!(labels(&weeks), (date(2024, 12, 23), date(2025, 3, 10)));
    assert_eq!((weeks[0].distance_km, weeks[0].running_days), (4.0, 1));
    assert_eq!((weeks[11].distance_km, weeks[11].running_days), (10.0, 2));
    assert_eq!(weeks[5].running_days, 0);
}

#[test]
fn weekly_data_of_a_past_year_ends_with_the_week_of_its_last_day() {
    // 31 December 2024 is a Tuesday: the last week runs from 30 December to 5 January 2025
    // and counts all of its days.
    let history = vec![
        run(date(2024, 12, 30)),
        run(date(2025, 1, 1)),
        run(date(2025, 1, 4)),
        run(date(2025, 1, 6)), // the week after
    ];
    let weeks = weekly_data(&year_data(2024, date(2025, 3, 12), &history));
    assert_eq!(labels(&weeks), (date(2024, 10, 14), date(2024, 12, 30)));
    assert_eq!((weeks[11].distance_km, weeks[11].running_days), (15.0, 3));
    // 31 December 2023 is a Sunday: 2023's last week starts on Christmas Day.
    let weeks = weekly_data(&year_data(2023, date(2025, 3, 12), &history));
    assert_eq!(labels(&weeks).1, date(2023, 12, 25));
}

#[test]
fn weekly_data_of_a_future_year_ends_with_this_week() {
    let weeks = weekly_data(&year_data(
        2026,
        date(2025, 3, 12),
        &[run(date(2025, 3, 11))],
    ));
    assert_eq!(labels(&weeks).1, date(2025, 3, 10));
    assert_eq!(weeks[11].running_days, 1);
}

#[test]
fn pace_data_is_the_last_fifty_workouts_of_a_kilometre_or_more() {
    let mut history = Vec::new();
    for (i, day) in date(2025, 1, 1).iter_days().take(60).enumerate() {
        let mut long = run_at(day, 7, 5000.0, 1500 + i as i64);
        long.start_time += chrono::Duration::milliseconds(500);
        history.push(long);
        history.push(run_at(day, 19, 999.0, 240)); // too short for a pace
    }
    let points = pace_data(&year_data(2025, date(2025, 3, 15), &history));
    assert_eq!(points.len(), 50);
    assert_eq!(
        points[0].id, history[20].id,
        "the 11th long run is the oldest kept"
    );
    assert_eq!(
        points[0].date,
        instant("2025-01-11T07:00:00Z"),
        "whole seconds"
    );
    assert_eq!(points[0].pace_min_per_km, 5.03); // 1510 s over 5 km
    assert_eq!(points[49].id, history[118].id);
    let json = serde_json::to_value(&points[0]).unwrap();
    assert_eq!(json["date"], "2025-01-11T07:00:00Z");
}

#[test]
fn chart_data_is_the_last_thirty_running_days_summed_per_day() {
    // 1 January to 4 February 2025: 35 running days.
    let mut history = daily(date(2025, 1, 1), 35);
    history.push(run_at(date(2025, 2, 4), 18, 3000.0, 900));
    let treadmill = history
        .iter()
        .position(|r| r.date == date(2025, 1, 20))
        .unwrap();
    history[treadmill].distance_meters = 0.0;
    let chart = chart_data(&year_data(2025, date(2025, 2, 10), &history));
    assert_eq!(chart.len(), 30);
    assert_eq!(chart[0].date, date(2025, 1, 6));
    let last = &chart[29];
    assert_eq!(
        (last.date, last.distance, last.duration),
        (date(2025, 2, 4), 8000.0, 2700)
    );
    assert_eq!(last.pace, Some(337.5));
    let no_distance = chart.iter().find(|p| p.date == date(2025, 1, 20)).unwrap();
    assert_eq!((no_distance.distance, no_distance.pace), (0.0, None));
    let json = serde_json::to_value(last).unwrap();
    assert!(json["duration"].is_i64());
}

#[test]
fn personal_bests_of_the_year() {
    let history = vec![
        run_at(date(2025, 3, 1), 7, 10_000.0, 2900), // 4.83 min/km
        run_at(date(2025, 3, 5), 7, 21_097.5, 6300), // a half marathon: 21.10 km
        run_at(date(2025, 3, 8), 7, 800.0, 120),     // fast, but under 1 km
        run_at(date(2025, 3, 9), 7, 21_097.5, 7000), // as long, later
        run_at(date(2025, 3, 10), 7, 10_000.0, 2900), // as fast, later
        run_at(date(2024, 12, 31), 7, 42_195.0, 9000), // the year before
    ];
    let bests = personal_bests(&year_data(2025, date(2025, 4, 1), &history));
    assert_eq!(
        bests,
        PersonalBests {
            longest_run_km: Some(21.10),
            longest_run_date: Some(date(2025, 3, 5)),
            fastest_pace_min_per_km: Some(4.83),
            fastest_pace_date: Some(date(2025, 3, 1)),
        }
    );
    let none = personal_bests(&year_data(2025, date(2025, 4, 1), &[]));
    assert_eq!(none.longest_run_km, None);
    assert_eq!(none.fastest_pace_date, None);
    let short = personal_bests(&year_data(2025, date(2025, 4, 1), &history[2..3]));
    assert_eq!(
        (short.longest_run_km, short.fastest_pace_min_per_km),
        (Some(0.8), None)
    );
}

#[test]
fn stats_are_the_years_totals() {
    let history = vec![
        run_at(date(2025, 2, 1), 7, 10_000.0, 3000),
        run_at(date(2025, 2, 2), 7, 5000.0, 1500),
    ];
    assert_eq!(
        stats(&year_data(2025, date(2025, 3, 1), &history)),
        DashboardStats {
            total_distance_km: 15.0,
            total_duration_hours: 1.3, // 1.25 h, half away from zero
            avg_pace_min_per_km: Some(5.0),
            days_left: 305,
        }
    );
    let treadmill = [run_at(date(2025, 2, 1), 7, 0.0, 1800)];
    let s = stats(&year_data(2025, date(2025, 3, 1), &treadmill));
    assert_eq!(
        (
            s.total_distance_km,
            s.total_duration_hours,
            s.avg_pace_min_per_km
        ),
        (0.0, 0.5, None)
    );
}
