//! A runner's year as the store reads it for the numbers: streaks longer than a year, which the
//! store follows back in spans longer than a year and counts before it reads their dates.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use sync_core::running::streaks;
use sync_core::testing::incoming;
use sync_store::testing::per_backend;
use sync_store::YearRead;

use crate::{register, Backend};

/// Syncs one 40-minute run at 06:30 UTC on every day from `first` to `last` except `skipped`.
fn run_daily(
    b: &Backend,
    user: uuid::Uuid,
    first: NaiveDate,
    last: NaiveDate,
    skipped: &[NaiveDate],
) {
    let runs: Vec<Value> = first
        .iter_days()
        .take_while(|day| *day <= last)
        .filter(|day| !skipped.contains(day))
        .map(|day| {
            let start = Utc.from_utc_datetime(&day.and_hms_opt(6, 30, 0).unwrap());
            incoming(&format!("run-{day}"))
                .start(&start.to_rfc3339())
                .end(&(start + Duration::minutes(40)).to_rfc3339())
                .set("duration_seconds", 2400)
                .into()
        })
        .collect();
    let now = Utc.from_utc_datetime(&last.and_hms_opt(20, 0, 0).unwrap());
    for batch in runs.chunks(1000) {
        b.applied(user, json!({"workouts": batch, "mode": "full"}), now);
    }
}

fn current_streak(b: &Backend, user: uuid::Uuid, today: NaiveDate) -> u32 {
    let now = Utc.from_utc_datetime(&today.and_hms_opt(20, 0, 0).unwrap());
    let year = b
        .store
        .running_year(user, None, now, YearRead::WITH_STREAKS)
        .unwrap_or_else(|e| panic!("{}: running_year: {e}", b.name))
        .expect("the user exists");
    assert!(year.data.is_complete(), "{}: the streaks are whole", b.name);
    streaks(&year.data).current
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

per_backend!(
    a_streak_of_years_is_counted_whole_and_stops_at_its_one_missing_day,
    |b: Backend| {
        let n = b.name;
        let today = date(2026, 6, 30);
        // Every day for 1,500 days: the store reads a year of dates, then counts the longer
        // spans before it, each of them full.
        let daily = register(&b, "daily@example.com").0.id;
        let first = today - Duration::days(1499);
        run_daily(&b, daily, first, today, &[]);
        assert_eq!(
            current_streak(&b, daily, today),
            1500,
            "{n}: every day since {first}"
        );

        // The same with one day missed 1,000 days ago: a counted span falls short by one, and
        // its dates are read to find where the streak starts.
        let missed = register(&b, "missed@example.com").0.id;
        let gap = today - Duration::days(1000);
        run_daily(&b, missed, first, today, &[gap]);
        assert_eq!(
            current_streak(&b, missed, today),
            1000,
            "{n}: since the day after {gap}"
        );
    }
);
