//! A runner's year as the store reads it for the numbers: streaks longer than a year, which the
//! store follows back in spans longer than a year and counts before it reads their dates.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use sync_core::running::{parse_time_zone, streaks, validate_goal, Streaks};
use sync_core::testing::{incoming, utc};
use sync_store::testing::per_backend;
use sync_store::{EditOutcome, WorkoutQuery, YearRead};

use crate::{new_session, register, t0, Backend};

/// A run sent with `start` as written (RFC 3339, any offset), lasting `minutes`.
fn run(client_id: &str, start: &str, minutes: i64) -> Value {
    let end = DateTime::parse_from_rfc3339(start).unwrap() + Duration::minutes(minutes);
    incoming(client_id)
        .start(start)
        .end(&end.to_rfc3339())
        .set("duration_seconds", minutes * 60)
        .into()
}

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
            run(&format!("run-{day}"), &start.to_rfc3339(), 40)
        })
        .collect();
    for batch in runs.chunks(1000) {
        b.applied(
            user,
            json!({"workouts": batch, "mode": "full"}),
            evening_of(last),
        );
    }
}

/// The streaks of `year` (the runner's current year when `None`) seen on `today`.
fn streaks_of(b: &Backend, user: uuid::Uuid, year: Option<i32>, today: NaiveDate) -> Streaks {
    let year = b
        .store
        .running_year(user, year, evening_of(today), YearRead::WITH_STREAKS)
        .unwrap_or_else(|e| panic!("{}: running_year: {e}", b.name))
        .expect("the user exists");
    assert!(year.data.is_complete(), "{}: the streaks are whole", b.name);
    streaks(&year.data)
}

/// 20:00 UTC on `day`: when the tests sync and read.
fn evening_of(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(20, 0, 0).unwrap())
}

fn current_streak(b: &Backend, user: uuid::Uuid, today: NaiveDate) -> u32 {
    streaks_of(b, user, None, today).current
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

per_backend!(
    a_streak_that_starts_inside_a_counted_span_stops_at_its_first_day,
    |b: Backend| {
        let n = b.name;
        let today = date(2026, 6, 30);
        // Every day for 1,000 days: after a year of dates, the next span counted holds the
        // streak's first day, with no running day before it.
        let started = register(&b, "started@example.com").0.id;
        run_daily(&b, started, today - Duration::days(999), today, &[]);
        assert_eq!(current_streak(&b, started, today), 1000, "{n}");

        // The same 1,000 days, after 200 days of running and 200 days off: the counted span
        // holds both blocks, so its dates are read and the streak still stops at the gap.
        let returned = register(&b, "returned@example.com").0.id;
        let off: Vec<NaiveDate> = (1000..1200).map(|d| today - Duration::days(d)).collect();
        run_daily(&b, returned, today - Duration::days(1399), today, &off);
        assert_eq!(current_streak(&b, returned, today), 1000, "{n}");

        // Forwards: 2022's longest streak runs on into 2025, where it stops on 31 March; the
        // span counted after the first year of dates holds its last day.
        let past = register(&b, "past@example.com").0.id;
        run_daily(&b, past, date(2022, 6, 1), date(2025, 3, 31), &[]);
        let of_2022 = streaks_of(&b, past, Some(2022), today);
        assert_eq!(
            (of_2022.longest, of_2022.current),
            (1035, 0),
            "{n}: 1 June 2022 to 31 March 2025"
        );
    }
);

per_backend!(
    the_recent_runs_are_the_years_newest_workouts_as_the_list_serves_them,
    |b: Backend| {
        let n = b.name;
        let user = register(&b, "recent@example.com").0.id;
        let half_hour = |id: &str, start: &str| run(id, start, 30);
        let workouts = vec![
            half_hour("may-1", "2026-05-01T07:00:00Z"),
            half_hour("may-2", "2026-05-02T07:00:00Z"),
            half_hour("may-3", "2026-05-03T07:00:00Z"),
            // Two runs that start at the same instant: the list breaks the tie by id.
            half_hour("june-a", "2026-06-01T07:00:00Z"),
            half_hour("june-b", "2026-06-01T07:00:00Z"),
            half_hour("june-2", "2026-06-02T07:00:00Z"),
            half_hour("deleted", "2026-06-03T07:00:00Z"),
            // The year's first day in Tokyo, still 2025 in UTC: a run of 2026.
            half_hour("new-year-tokyo", "2026-01-01T08:00:00+09:00"),
            // 2025's last evening in New York, already 2026 in UTC: not a run of 2026.
            half_hour("old-year-new-york", "2025-12-31T20:00:00-05:00"),
            half_hour("last-year", "2025-06-01T07:00:00Z"),
        ];
        let now = Utc.with_ymd_and_hms(2026, 6, 30, 20, 0, 0).unwrap();
        b.applied(user, json!({"workouts": workouts}), now);
        b.applied(user, json!({"deleted_client_ids": ["deleted"]}), now);

        for limit in [1, 2, 4, 20] {
            let read = YearRead {
                streaks: true,
                recent_runs: limit,
            };
            let year = b
                .store
                .running_year(user, Some(2026), now, read)
                .unwrap_or_else(|e| panic!("{n}: running_year: {e}"))
                .expect("the user exists");
            let listed = b
                .store
                .list_workouts(
                    user,
                    &WorkoutQuery {
                        limit,
                        cursor: None,
                        since: None,
                        until: None,
                        year: Some(2026),
                    },
                )
                .unwrap_or_else(|e| panic!("{n}: list_workouts: {e}"));
            assert_eq!(listed.workouts.len(), limit.min(7) as usize, "{n}");
            assert_eq!(
                year.recent_runs, listed.workouts,
                "{n}: the newest {limit} of 2026, as listed"
            );
        }

        let all = b
            .store
            .running_year(
                user,
                Some(2026),
                now,
                YearRead {
                    streaks: false,
                    recent_runs: 20,
                },
            )
            .unwrap_or_else(|e| panic!("{n}: running_year: {e}"))
            .expect("the user exists");
        let ids: Vec<&str> = all
            .recent_runs
            .iter()
            .map(|w| w.client_id.as_str())
            .collect();
        // The two June runs that start together come in the list's order: the greater id first.
        let tie = &all.recent_runs[1..3];
        assert!(
            tie[0].id > tie[1].id,
            "{n}: a tie is broken by id, descending"
        );
        let (first, second) = (ids[1], ids[2]);
        assert_eq!(
            ids,
            [
                "june-2",
                first,
                second,
                "may-3",
                "may-2",
                "may-1",
                "new-year-tokyo"
            ],
            "{n}: newest first, live, dated in 2026"
        );
        assert_eq!(
            [first.min(second), first.max(second)],
            ["june-a", "june-b"],
            "{n}: newest first, live, dated in 2026"
        );
    }
);

per_backend!(
    the_current_year_and_its_goal_follow_the_runners_zone_at_new_year,
    |b: Backend| {
        let n = b.name;
        let set_goal = |user: uuid::Uuid, year: i64, target: i64| {
            let goal = validate_goal(year, target).unwrap();
            b.store
                .put_goal(user, goal, t0())
                .unwrap_or_else(|e| panic!("{n}: put_goal: {e}"));
        };
        // The year the state is about, and the target of its goal.
        let state_at = |user: uuid::Uuid, year: Option<i32>, now: &str| {
            let state = b
                .store
                .running_state(user, year, utc(now))
                .unwrap_or_else(|e| panic!("{n}: running_state: {e}"))
                .expect("the user exists");
            (state.year, state.goal.map(|g| g.target_days))
        };

        // UTC+14 sees 2027 first; UTC-11 is still in 2026 when UTC is not.
        let zones = [
            ("Pacific/Kiritimati", "kiritimati", (2027, Some(300))),
            ("Pacific/Pago_Pago", "pago", (2026, Some(200))),
        ];
        for (zone, name, current) in zones {
            let session = new_session(&format!("hash-{name}"), t0());
            let user = b
                .store
                .register_in_zone(
                    &format!("{name}@example.com"),
                    "hash",
                    parse_time_zone(zone).unwrap(),
                    &session,
                )
                .unwrap_or_else(|e| panic!("{n}: register: {e}"))
                .id;
            set_goal(user, 2025, 100);
            set_goal(user, 2026, 200);
            set_goal(user, 2027, 300);

            // 31 December 12:00 UTC and 1 January 05:00 UTC: 1 January 2027 in Kiritimati,
            // both times; 31 December 2026 in Pago Pago, both times.
            for now in ["2026-12-31T12:00:00Z", "2027-01-01T05:00:00Z"] {
                assert_eq!(state_at(user, None, now), current, "{n}: {zone} at {now}");
            }
            // A year asked for gets its own goal, and a year without one gets none.
            let now = "2027-01-01T05:00:00Z";
            assert_eq!(
                state_at(user, Some(2025), now),
                (2025, Some(100)),
                "{n}: {zone}"
            );
            assert_eq!(state_at(user, Some(2024), now), (2024, None), "{n}: {zone}");
        }
        // No goals at all: the user's row alone.
        let plain = register(&b, "plain@example.com").0.id;
        assert_eq!(
            state_at(plain, None, "2026-06-30T12:00:00Z"),
            (2026, None),
            "{n}"
        );
        assert!(
            b.store
                .running_state(uuid::Uuid::new_v4(), None, utc("2026-06-30T12:00:00Z"))
                .unwrap()
                .is_none(),
            "{n}: no such user"
        );
    }
);

per_backend!(
    settled_days_are_read_once_and_again_after_a_change_to_one_of_them,
    |b: Backend| {
        let n = b.name;
        let today = date(2026, 6, 30);
        let runner = register(&b, "settled@example.com").0.id;
        let first = today - Duration::days(1499);
        run_daily(&b, runner, first, today, &[]);
        assert_eq!(current_streak(&b, runner, today), 1500, "{n}");
        let cold = b.store.history_reads();
        assert!(
            cold.read > 0,
            "{n}: the first read counts the streak: {cold:?}"
        );

        // Nothing changed: the streak's settled days come from memory, none from the database.
        assert_eq!(current_streak(&b, runner, today), 1500, "{n}");
        let warm = b.store.history_reads();
        assert_eq!(warm.read, cold.read, "{n}: no settled span read again");
        assert!(warm.kept > cold.kept, "{n}: {warm:?}");

        // Tomorrow's run changes a recent day only: the settled days stand. The streak is a
        // day longer, so the first read of the day asks a day further back of each span;
        // only those days are read, and the next read of the day reads none.
        let tomorrow = today + Duration::days(1);
        run_daily(&b, runner, tomorrow, tomorrow, &[]);
        assert_eq!(current_streak(&b, runner, tomorrow), 1501, "{n}");
        let next_day = b.store.history_reads();
        assert_eq!(current_streak(&b, runner, tomorrow), 1501, "{n}");
        assert_eq!(
            b.store.history_reads().read,
            next_day.read,
            "{n}: {tomorrow}"
        );

        // An old run deleted: the streak stops at the day after it, on the next read.
        let gap = first + Duration::days(100);
        let deleted = json!({"deleted_client_ids": [format!("run-{gap}")]});
        b.applied(runner, deleted, evening_of(tomorrow));
        assert_eq!(
            current_streak(&b, runner, tomorrow),
            1400,
            "{n}: since {gap}"
        );
        let after_delete = b.store.history_reads();
        assert!(
            after_delete.read > cold.read,
            "{n}: read again after the change"
        );

        // Backfilled by another run that day: the streak is whole again.
        let gap_run = run("backfill", &format!("{gap}T18:00:00Z"), 30);
        b.applied(runner, json!({"workouts": [gap_run]}), evening_of(tomorrow));
        let backfilled = evening_of(tomorrow) + Duration::hours(1);
        let year = b
            .store
            .running_year(runner, None, backfilled, YearRead::WITH_STREAKS)
            .unwrap()
            .unwrap();
        assert_eq!(streaks(&year.data).current, 1501, "{n}: {gap} backfilled");

        // A new zone moves every run at 06:30 UTC a day back (23:30 in Los Angeles), but not
        // the backfill at 18:00 UTC: the day before the gap now has no run, and the streak
        // starts at the gap again.
        let before_zone = b.store.history_reads();
        let zone = parse_time_zone("America/Los_Angeles").unwrap();
        let change = b
            .store
            .set_time_zone(runner, zone, evening_of(tomorrow))
            .unwrap()
            .unwrap();
        assert_eq!(change.redated, 1500, "{n}: every run at 06:30 moved");
        assert_eq!(
            current_streak(&b, runner, tomorrow),
            1400,
            "{n}: in Los Angeles"
        );
        assert!(
            b.store.history_reads().read > before_zone.read,
            "{n}: read again after re-dating"
        );

        // An edit of an old run's distance changes no running day: still from memory.
        let kept = b.store.history_reads();
        let before_first_year = WorkoutQuery {
            limit: 1,
            cursor: None,
            since: None,
            until: Some(evening_of(first + Duration::days(200))),
            year: None,
        };
        let old = b
            .store
            .list_workouts(runner, &before_first_year)
            .unwrap()
            .workouts;
        let old = old.first().expect("a run of the first year");
        let edited = b
            .store
            .edit_workout(runner, old.id, evening_of(tomorrow), |w| {
                let mut longer = w.clone();
                longer.content.distance_meters += 1.0;
                Ok::<_, std::convert::Infallible>(Some(longer))
            });
        assert!(matches!(edited, Ok(EditOutcome::Written(_))), "{n}: edited");
        assert_eq!(current_streak(&b, runner, tomorrow), 1400, "{n}");
        assert_eq!(
            b.store.history_reads().read,
            kept.read,
            "{n}: a distance is no running day"
        );
    }
);
