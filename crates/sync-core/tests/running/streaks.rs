//! `streaks`: the current streak waits for today to end, streaks cross year boundaries and are
//! counted whole, and ISO weeks spanning New Year count all their days.

use sync_core::running::{streaks, Streaks};

use crate::helpers::{daily, date, fetched, run, year_data};

#[test]
fn a_streak_survives_while_today_has_no_run_yet() {
    let history = daily(date(2025, 3, 1), 3);
    for (today, current) in [
        (date(2025, 3, 3), 3), // today's run counts
        (date(2025, 3, 4), 3), // no run yet today: the streak ends yesterday
        (date(2025, 3, 5), 0), // a whole day without a run breaks it
    ] {
        let s = streaks(&year_data(2025, today, &history));
        assert_eq!(s.current, current, "{today}");
        assert_eq!(s.longest, 3);
    }
}

#[test]
fn a_streak_crosses_the_year_boundary() {
    // 29 December 2024 to 3 January 2025; 3 January is a Friday of the week from 30 December.
    let history = daily(date(2024, 12, 29), 6);
    let today = date(2025, 1, 3);
    assert_eq!(
        streaks(&year_data(2025, today, &history)),
        Streaks {
            current: 6,
            longest: 6,
            this_week: 5, // 30 December to 3 January, whichever year
            last_week: 1, // 29 December
            last_run_date: Some(date(2025, 1, 3)),
        }
    );
    let last_year = streaks(&year_data(2024, today, &history));
    assert_eq!((last_year.current, last_year.longest), (6, 6));
    assert_eq!(last_year.last_run_date, Some(date(2024, 12, 31)));
}

#[test]
fn weeks_spanning_new_year_count_all_their_days() {
    let history: Vec<_> = [
        date(2024, 12, 23),
        date(2024, 12, 27),
        date(2024, 12, 30),
        date(2024, 12, 31),
        date(2025, 1, 2),
    ]
    .into_iter()
    .map(run)
    .collect();
    let s = streaks(&year_data(2025, date(2025, 1, 2), &history));
    assert_eq!((s.this_week, s.last_week), (3, 2));
    assert_eq!((s.current, s.longest), (1, 1));
    assert_eq!(
        streaks(&year_data(2024, date(2025, 1, 2), &history)).longest,
        2
    );
}

#[test]
fn the_longest_streak_is_counted_whole_from_outside_the_year() {
    // 1 June 2023 to 10 January 2024 (214 + 10 days), then 20 days in June 2024.
    let mut history = daily(date(2023, 6, 1), 224);
    history.extend(daily(date(2024, 6, 1), 20));
    let today = date(2024, 8, 15);

    let (data, questions) = fetched(2024, today, &history);
    assert_eq!(streaks(&data).longest, 224);
    assert_eq!(
        questions, 1,
        "one year of dates before 1 January finds the start"
    );

    let (data, questions) = fetched(2023, today, &history);
    let s = streaks(&data);
    assert_eq!((s.longest, s.current), (224, 0));
    assert_eq!(s.last_run_date, Some(date(2023, 12, 31)));
    assert_eq!(
        questions, 1,
        "the dates after 31 December, up to the weeks around today"
    );
}

#[test]
fn a_streak_of_years_is_fetched_a_year_at_a_time() {
    let today = date(2024, 6, 12);
    // Every day from 1 January 2021 to today: 3 × 365 + 164 days.
    let history = daily(date(2021, 1, 1), 1259);
    assert_eq!(history.last().unwrap().date, today);
    let (data, questions) = fetched(2024, today, &history);
    let s = streaks(&data);
    assert_eq!((s.current, s.longest), (1259, 1259));
    assert_eq!(questions, 3);
    assert!(data.is_complete());
}

#[test]
fn the_current_streak_of_a_past_year_is_todays() {
    let history = daily(date(2024, 6, 1), 12);
    let s = streaks(&year_data(2022, date(2024, 6, 12), &history));
    assert_eq!(
        s,
        Streaks {
            current: 12,
            longest: 0, // no running day in 2022
            this_week: 3,
            last_week: 7,
            last_run_date: None,
        }
    );
}

#[test]
fn a_runner_without_runs_has_no_streaks() {
    let s = streaks(&year_data(2025, date(2025, 5, 5), &[]));
    assert_eq!(
        s,
        Streaks {
            current: 0,
            longest: 0,
            this_week: 0,
            last_week: 0,
            last_run_date: None
        }
    );
}
