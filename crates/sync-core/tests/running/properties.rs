//! Properties of the running-days rules for any runner: the bounded fetch gives the numbers
//! the whole history gives, counts never exceed the calendar, adding a run never lowers a
//! number, streaks agree with a brute-force count, and re-dating never loses a workout.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sync_core::running::{
    achievements, chart_data, goal_progress, insights, monthly_data, parse_time_zone, progress,
    stats, streaks, weekly_data, workout_date, Goal, RunFact, YearData, DAY_MILESTONES,
};
use uuid::Uuid;

use crate::helpers::fetched;

/// A runner: blocks of consecutive running days around a year, and the day it is seen on.
#[derive(Debug, Clone)]
struct Runner {
    year: i32,
    today: NaiveDate,
    history: Vec<RunFact>,
}

/// Days from 1 January of the year before Y to 31 December of the year after.
const SPREAD_DAYS: i64 = 3 * 366;

fn runner() -> impl Strategy<Value = Runner> {
    (2023i32..=2025, 0..SPREAD_DAYS)
        .prop_flat_map(|(year, today_offset)| {
            // Streaks start anywhere, but often near the edges that matter: New Year on both
            // sides of Y (offsets about 365 and 730) and the days before today.
            let start = prop_oneof![
                0..SPREAD_DAYS,
                355i64..375,
                720i64..740,
                (today_offset - 45).max(0)..today_offset + 2,
            ];
            let block = (start, 1usize..40, 0u32..1440, 0.0f64..25_000.0, 0i64..9000);
            (
                Just(year),
                Just(today_offset),
                prop::collection::vec(block, 0..10),
            )
        })
        .prop_map(|(year, today_offset, blocks)| {
            let origin = NaiveDate::from_ymd_opt(year - 1, 1, 1).unwrap();
            let mut history = Vec::new();
            for (n, (start, len, minute, meters, seconds)) in blocks.into_iter().enumerate() {
                for (i, day) in (origin + Duration::days(start))
                    .iter_days()
                    .take(len)
                    .enumerate()
                {
                    let start_time = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
                        + Duration::minutes(i64::from(minute));
                    history.push(RunFact {
                        id: Uuid::from_u128((n as u128) << 32 | i as u128),
                        start_time,
                        date: day,
                        distance_meters: (meters * (1.0 + i as f64 / 7.0)).round(),
                        duration_seconds: seconds + i as i64,
                    });
                }
            }
            Runner {
                year,
                today: origin + Duration::days(today_offset),
                history,
            }
        })
}

fn days_of(history: &[RunFact]) -> BTreeSet<NaiveDate> {
    history.iter().map(|run| run.date).collect()
}

/// Every maximal run of consecutive days, as (first, last), found by walking day by day.
fn brute_force_streaks(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut streaks: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &day in days {
        match streaks.last_mut() {
            Some((_, last)) if *last + Duration::days(1) == day => *last = day,
            _ => streaks.push((day, day)),
        }
    }
    streaks
}

fn length((first, last): (NaiveDate, NaiveDate)) -> u32 {
    (last - first).num_days() as u32 + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_bounded_fetch_gives_what_the_whole_history_gives(r in runner()) {
        let goal = Goal::default_for(r.year, 200);
        let (bounded, _) = fetched(r.year, r.today, &r.history);
        let mut whole = YearData::new(r.year, r.today, r.history.clone()).unwrap();
        let all = days_of(&r.history);
        whole
            .fill_running_days(|span| {
                Ok::<_, std::convert::Infallible>(all.range(span.first()..=span.last()).copied().collect::<Vec<_>>())
            })
            .unwrap();
        prop_assert_eq!(goal_progress(&bounded, &goal), goal_progress(&whole, &goal));
        prop_assert_eq!(insights(&bounded, &goal), insights(&whole, &goal));
    }

    #[test]
    fn streaks_agree_with_a_brute_force_count(r in runner()) {
        let (data, questions) = fetched(r.year, r.today, &r.history);
        let s = streaks(&data);
        let all = brute_force_streaks(&days_of(&r.history));
        let (first, last) = (
            NaiveDate::from_ymd_opt(r.year, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(r.year, 12, 31).unwrap(),
        );
        let longest_in_year = all
            .iter()
            .filter(|(a, b)| *a <= last && *b >= first)
            .map(|s| length(*s))
            .max()
            .unwrap_or(0);
        prop_assert_eq!(s.longest, longest_in_year);
        let yesterday = r.today - Duration::days(1);
        let current = all
            .iter()
            .find(|(a, b)| (*a <= r.today && r.today <= *b) || (*b == yesterday))
            .filter(|(_, b)| *b >= yesterday)
            .map_or(0, |(a, b)| if *b >= r.today { length((*a, r.today)) } else { length((*a, *b)) });
        prop_assert_eq!(s.current, current);
        let longest_overall = all.iter().map(|s| length(*s)).max().unwrap_or(0);
        prop_assert!(s.current <= longest_overall);
        prop_assert!(s.longest <= longest_overall);
        // Each of the three streaks that may need fetching costs at most a question per year.
        prop_assert!(questions as u32 <= 3 * (1 + longest_overall / 366), "{questions} questions");
    }

    #[test]
    fn days_completed_never_exceed_the_days_gone_by(r in runner()) {
        let until_today: Vec<RunFact> = r.history.iter().filter(|run| run.date <= r.today).cloned().collect();
        let (data, _) = fetched(r.year, r.today, &until_today);
        let p = progress(&data, &Goal::default_for(r.year, 300));
        prop_assert!(p.days_completed <= sync_core::running::elapsed_days(r.year, r.today));
    }

    #[test]
    fn adding_a_workout_never_lowers_a_number(r in runner(), day in 0..SPREAD_DAYS, meters in 0.0f64..30_000.0) {
        let goal = Goal::default_for(r.year, 100);
        let origin = NaiveDate::from_ymd_opt(r.year - 1, 1, 1).unwrap();
        let added_day = origin + Duration::days(day);
        let mut more = r.history.clone();
        more.push(RunFact {
            id: Uuid::from_u128(u128::MAX),
            start_time: Utc.from_utc_datetime(&added_day.and_hms_opt(12, 0, 0).unwrap()),
            date: added_day,
            distance_meters: meters,
            duration_seconds: 1800,
        });
        let (before, _) = fetched(r.year, r.today, &r.history);
        let (after, _) = fetched(r.year, r.today, &more);
        let (p0, p1) = (progress(&before, &goal), progress(&after, &goal));
        prop_assert!(p1.days_completed >= p0.days_completed);
        prop_assert!(p1.percent_complete >= p0.percent_complete);
        let (s0, s1) = (streaks(&before), streaks(&after));
        prop_assert!(s1.current >= s0.current && s1.longest >= s0.longest);
        prop_assert!(s1.this_week >= s0.this_week && s1.last_week >= s0.last_week);
        prop_assert!(stats(&after).total_distance_km >= stats(&before).total_distance_km);
        for (m0, m1) in monthly_data(&before).iter().zip(monthly_data(&after).iter()) {
            prop_assert!(m1.running_days >= m0.running_days && m1.total_distance_km >= m0.total_distance_km);
        }
        for (w0, w1) in weekly_data(&before).iter().zip(weekly_data(&after).iter()) {
            prop_assert!(w1.running_days >= w0.running_days && w1.distance_km >= w0.distance_km);
        }
        let unlocked = |data: &YearData| achievements(data, &goal).iter().filter(|a| a.is_unlocked).count();
        prop_assert!(unlocked(&after) >= unlocked(&before));
    }

    #[test]
    fn counts_add_up(r in runner()) {
        let (data, _) = fetched(r.year, r.today, &r.history);
        let goal = Goal::default_for(r.year, 250);
        let completed = progress(&data, &goal).days_completed;
        let in_year = r.history.iter().filter(|run| run.date.year() == r.year).map(|run| run.date).collect::<BTreeSet<_>>();
        prop_assert_eq!(completed as usize, in_year.len());
        prop_assert_eq!(monthly_data(&data).iter().map(|m| m.running_days).sum::<u32>(), completed);
        prop_assert_eq!(chart_data(&data).len(), (completed as usize).min(30));
        for a in achievements(&data, &goal) {
            prop_assert_eq!(a.is_unlocked, a.unlocked_at.is_some());
            if let Some(n) = a.id.strip_prefix("days_").and_then(|n| n.parse::<u32>().ok()) {
                prop_assert!(DAY_MILESTONES.contains(&n));
                prop_assert_eq!(a.is_unlocked, completed >= n);
            }
        }
    }

    #[test]
    fn re_dating_never_changes_the_number_of_workouts(
        year in 2023i32..=2025,
        seconds in prop::collection::vec(0i64..365 * 86_400, 0..60),
        zones in (0usize..5, 0usize..5),
    ) {
        const ZONES: [&str; 5] = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Los_Angeles", "Europe/Stockholm"];
        let year_start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
        let today = NaiveDate::from_ymd_opt(year + 2, 6, 1).unwrap();
        let count_in = |zone: &str| {
            let zone = parse_time_zone(zone).unwrap();
            let facts: Vec<RunFact> = seconds
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let start = year_start + Duration::seconds(*s);
                    RunFact {
                        id: Uuid::from_u128(i as u128),
                        start_time: start,
                        date: workout_date(start, 0, zone),
                        distance_meters: 5000.0,
                        duration_seconds: 1800,
                    }
                })
                .collect();
            (year - 1..=year + 1)
                .map(|y| YearData::new(y, today, facts.clone()).unwrap().year_runs().len())
                .sum::<usize>()
        };
        prop_assert_eq!(count_in(ZONES[zones.0]), seconds.len());
        prop_assert_eq!(count_in(ZONES[zones.0]), count_in(ZONES[zones.1]));
    }
}
