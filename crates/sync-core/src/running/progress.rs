//! Progress towards the year's goal, and the pace needed to reach it.

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::calendar::{days_in_year, elapsed_days, DateSpan};
use super::days::count;
use super::goal::Goal;
use super::model::YearData;
use super::rounding::{ratio_one_decimal, round_ratio};

/// `progress`: how far the runner is, against the goal and against the calendar.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Running days in Y.
    pub days_completed: u32,
    /// max(0, target − completed).
    pub days_remaining: u32,
    /// min(100, completed ÷ target × 100), one decimal.
    pub percent_complete: f64,
    /// round(elapsed ÷ days_in_year × target): where the runner would be at an even pace.
    pub expected_days: u32,
    /// completed − expected_days; negative when behind.
    pub days_ahead: i32,
    /// days_ahead ≥ 0.
    pub on_track: bool,
}

/// `pace_metrics`: what it takes to reach the goal, and whether the current pace does.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaceMetrics {
    /// min(7, days_remaining ÷ open_days × 7), one decimal; 0 when nothing remains, 7 when
    /// something remains and no day is open.
    pub required_days_per_week: f64,
    /// completed ÷ elapsed × 7, one decimal; 0 when no day of Y has gone by.
    pub current_pace_per_week: f64,
    /// The day the target-th running day was (once reached), or, in the current year with a
    /// pace above 0, today + ceil(days_remaining ÷ (completed ÷ elapsed)) days; else null.
    pub projected_completion: Option<NaiveDate>,
    /// Reached, or projected within Y with days_remaining ≤ open_days.
    pub will_meet_goal: bool,
    /// Days of Y from today on that are not yet running days (today counts until it has a
    /// run); 0 for a past year, every day of a future year.
    pub open_days: u32,
}

/// The progress of `data`'s year against `goal`'s target (only the workouts of Y matter).
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{progress, Goal, RunFact, YearData};
///
/// let day = |m, d| NaiveDate::from_ymd_opt(2025, m, d).unwrap();
/// let runs = (1..=10).map(|d| RunFact {
///     id: uuid::Uuid::new_v4(),
///     start_time: Utc.from_utc_datetime(&day(1, d).and_hms_opt(7, 0, 0).unwrap()),
///     date: day(1, d),
///     distance_meters: 5000.0,
///     duration_seconds: 1800,
/// });
/// // 10 running days by 31 January against 300: expected round(31 / 365 × 300) = 25.
/// let data = YearData::new(2025, day(1, 31), runs).unwrap();
/// let p = progress(&data, &Goal::default_for(2025, 300));
/// assert_eq!((p.days_completed, p.expected_days, p.days_ahead), (10, 25, -15));
/// assert_eq!(p.percent_complete, 3.3);
/// assert!(!p.on_track);
/// ```
pub fn progress(data: &YearData, goal: &Goal) -> Progress {
    let target = goal.effective_target();
    let completed = days_completed(data);
    let expected = expected_days(data.year(), data.today(), target);
    let percent = if completed >= target {
        100.0
    } else {
        ratio_one_decimal(u64::from(completed) * 100, u64::from(target))
    };
    let days_ahead = i64::from(completed) - i64::from(expected);
    Progress {
        days_completed: completed,
        days_remaining: target.saturating_sub(completed),
        percent_complete: percent,
        expected_days: expected,
        days_ahead: i32::try_from(days_ahead).unwrap_or(i32::MIN),
        on_track: days_ahead >= 0,
    }
}

/// The pace metrics of `data`'s year against `goal`'s target (only the workouts of Y matter).
pub fn pace_metrics(data: &YearData, goal: &Goal) -> PaceMetrics {
    let (year, today) = (data.year(), data.today());
    let target = goal.effective_target();
    let completed = days_completed(data);
    let remaining = target.saturating_sub(completed);
    let elapsed = elapsed_days(year, today);
    let open = open_days(data);

    let required = if remaining == 0 {
        0.0
    } else if open == 0 {
        7.0
    } else {
        ratio_one_decimal(u64::from(remaining) * 7, u64::from(open)).min(7.0)
    };
    let current_pace = if elapsed == 0 {
        0.0
    } else {
        ratio_one_decimal(u64::from(completed) * 7, u64::from(elapsed))
    };
    let reached = completed >= target;
    let projected = if reached {
        data.nth_running_day(target).map(|day| day.date)
    } else if today.year() == year && completed > 0 {
        // ceil(remaining ÷ (completed ÷ elapsed)) = ceil(remaining × elapsed ÷ completed).
        let days = (u64::from(remaining) * u64::from(elapsed)).div_ceil(u64::from(completed));
        today.checked_add_days(Days::new(days))
    } else {
        None
    };
    let projected_in_year = projected.is_some_and(|date| date.year() == year);
    PaceMetrics {
        required_days_per_week: required,
        current_pace_per_week: current_pace,
        projected_completion: projected,
        will_meet_goal: reached || (projected_in_year && remaining <= open),
        open_days: open,
    }
}

/// Running days in Y.
pub(crate) fn days_completed(data: &YearData) -> u32 {
    count(data.year_days().len())
}

/// round(elapsed ÷ days_in_year × target), half away from zero.
fn expected_days(year: i32, today: NaiveDate, target: u32) -> u32 {
    let expected = round_ratio(
        i128::from(elapsed_days(year, today)) * i128::from(target),
        i128::from(days_in_year(year)),
    );
    u32::try_from(expected).unwrap_or(u32::MAX)
}

/// Days of Y from today on (today included) that are not running days.
fn open_days(data: &YearData) -> u32 {
    let span = data.year_span();
    let today = data.today();
    if today > span.last() {
        return 0;
    }
    let from = today.max(span.first());
    let ahead = DateSpan::new(from, span.last());
    let running_ahead = data
        .year_days()
        .iter()
        .filter(|day| ahead.contains(day.date))
        .count();
    let days_ahead = usize::try_from(ahead.len_days()).unwrap_or(usize::MAX);
    count(days_ahead.saturating_sub(running_ahead))
}
