//! The runner's numbers: running days, goals, progress, pace, streaks, achievements and the
//! chart series of the contract's "Running days" section, as pure functions.
//!
//! Time is always an argument: "today" is a [`chrono::NaiveDate`] in the runner's zone (see
//! [`today_in`]), and nothing here reads a clock, so the same data always gives the same
//! numbers. The API and the web dashboard call the same entry points: [`goal_with_progress`],
//! [`goal_progress`], [`dashboard`] and [`insights`], each built from the smaller public
//! functions ([`progress`], [`pace_metrics`], [`streaks`], [`achievements`], [`stats`],
//! [`personal_bests`], [`monthly_data`], [`weekly_data`], [`pace_data`], [`chart_data`]).
//!
//! # What a store fetches, and why it stays bounded
//!
//! Everything is a function of [`YearData`]: one runner's workouts around year Y seen on one
//! day. Most numbers need only the workouts dated in Y; a few look outside it:
//!
//! - `this_week`/`last_week` count the current and previous ISO week, whichever year their
//!   days fall in; `weekly_data` covers twelve ISO weeks that may start in the previous year.
//! - `longest` counts a streak whole when it has at least one day in Y, so a streak through
//!   1 January or 31 December reaches into the neighbouring years; `current` ends today (or
//!   yesterday), which for a past year is outside Y altogether.
//!
//! The contract between store and rules is therefore two steps, both bounded by what the
//! numbers are about and never by the runner's whole history:
//!
//! 1. **Workouts**: every live workout dated in [`YearData::workout_spans`]`(Y, today)`: Y, the
//!    twelve weeks of `weekly_data` and this week and last week, merged (usually Y alone, or Y
//!    plus up to twelve weeks around New Year, plus two weeks around today for a past year).
//!    These go to [`YearData::new`] as [`RunFact`]s.
//! 2. **Running days of the streaks that touch them**: [`YearData::missing_days`] names the
//!    next span of dates whose running days (distinct `date`s of live workouts, dates only)
//!    the rules still need: the dates before the streak through 1 January of Y, after the
//!    streak through 31 December, and before the current streak, when those streaks reach the
//!    edge of what is known. Each span is as long as its streak is known to be, from
//!    [`STREAK_FETCH_DAYS`] to [`STREAK_FETCH_MAX_DAYS`], and the store answers with
//!    [`YearData::add_running_days`]; [`YearData::fill_running_days`] runs that loop with a
//!    fetch closure. A runner without a streak at those edges costs no extra query; a streak
//!    of n days beyond them costs about log2(n ÷ 366) small queries of dates (a ten-year
//!    streak, four), each of at most eight years of dates.
//!
//! The rules never guess: a date outside what was fetched is not a running day for them, so a
//! caller that skips step 2 gets streaks that may be short. [`goal_with_progress`] needs only
//! the workouts of Y.
//!
//! # Decisions where the contract is silent
//!
//! - `last_run_date` is the latest running day **of Y** (null when Y has none), like the
//!   other "for Y" numbers; `current`, `this_week` and `last_week` are about today.
//! - `weekly_data` ends with the week of today, or of 31 December of Y when that comes first
//!   (a past year): a future year shows the weeks up to today.
//! - `open_days` applies its definition to every year: in a future year it is every day of Y
//!   unless a workout is already dated there.
//! - A goal's `target_days` is at least 1 in every formula (a hand-built 0 cannot divide by
//!   zero); [`Goal::default_for`] keeps a configured default within the days of the year.
//! - Distance milestones unlock when the total reaches the milestone (50 km exactly counts),
//!   crossed by workouts in `start_time` order.
//! - Of equal personal bests, the earliest workout counts; paces compare unrounded.
//! - `chart_data.pace` (seconds per km) has two decimals, like a workout's
//!   `avg_pace_seconds_per_km`; distances are summed as stored.
//! - Workouts are ordered by `(start_time, id)`, whatever order the store passes them in.
//!
//! # Example
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use sync_core::running::{self, Goal, RunFact, YearData};
//!
//! let zone = running::parse_time_zone("Europe/Stockholm").unwrap();
//! let today = running::today_in(zone, Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap());
//! let start = Utc.with_ymd_and_hms(2024, 2, 29, 6, 30, 0).unwrap();
//! let run = RunFact {
//!     id: uuid::Uuid::new_v4(),
//!     start_time: start,
//!     date: running::workout_date(start, 0, zone),
//!     distance_meters: 8000.0,
//!     duration_seconds: 2640,
//! };
//! // Step 1: the workouts of the spans; step 2: the running days the streaks still need.
//! let mut data = YearData::new(2024, today, vec![run]).unwrap();
//! data.fill_running_days(|_span| Ok::<_, std::convert::Infallible>(Vec::new())).unwrap();
//!
//! let body = running::goal_progress(&data, &Goal::default_for(2024, 300));
//! assert_eq!(body.progress.days_completed, 1);
//! assert_eq!(body.streaks.current, 1);
//! assert_eq!(body.pace_metrics.open_days, 306); // 1 March to 31 December of a leap year
//! assert_eq!(body.stats.total_distance_km, 8.0);
//! ```

mod achievements;
mod bodies;
mod calendar;
mod days;
mod goal;
mod model;
mod progress;
mod rounding;
mod series;
mod streaks;
mod totals;

pub use achievements::{
    achievements, Achievement, DAY_MILESTONES, GOAL_ACHIEVEMENT_ID, KM_MILESTONES,
};
pub use bodies::{
    dashboard, goal_progress, goal_with_progress, insights, DashboardBody, GoalProgressBody,
    GoalWithProgressBody, InsightsBody, SetGoalBody, RECENT_RUNS,
};
pub use calendar::{
    days_after_today, days_in_year, elapsed_days, is_leap_year, merge_spans, parse_time_zone,
    today_in, week_monday, workout_date, DateSpan, UnknownTimeZone,
};
pub use goal::{
    validate_goal, validate_year, Goal, GoalError, TargetOutOfRange, ValidGoal, YearOutOfRange,
    DEFAULT_TARGET_DAYS, MAX_YEAR, MIN_YEAR,
};
pub use model::{RunFact, YearData, STREAK_FETCH_DAYS, STREAK_FETCH_MAX_DAYS};
pub use progress::{pace_metrics, progress, PaceMetrics, Progress};
pub use series::{
    chart_data, monthly_data, pace_data, weekly_data, ChartPoint, MonthlyEntry, PacePoint,
    WeeklyEntry, CHART_DAYS, PACE_POINTS, WEEKLY_WEEKS,
};
pub use streaks::{streaks, Streaks};
pub use totals::{personal_bests, stats, DashboardStats, PersonalBests, PACE_MIN_METERS};

/// A date for the unit tests, which only use valid ones.
#[cfg(test)]
fn test_date(year: i32, month: u32, day: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(year, month, day).expect("a valid test date")
}

/// The IANA time zone type the calendar functions take (re-exported from `chrono-tz`).
pub use chrono_tz::Tz;
