//! The series the charts draw: months, weeks, paces and the last running days.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::calendar::{days_after, DateSpan};
pub use super::days::WEEKLY_WEEKS;
use super::days::{count, weekly_window};
use super::model::YearData;
use super::rounding::{km_one_decimal, pace_min_per_km, pace_s_per_km};
use super::totals::{Totals, PACE_MIN_METERS};
use crate::time::{serde_format, truncate_to_seconds};

/// How many workouts `pace_data` has at most.
pub const PACE_POINTS: usize = 50;
/// How many running days `chart_data` has at most.
pub const CHART_DAYS: usize = 30;

/// One month of `monthly_data`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyEntry {
    /// `YYYY-MM`.
    pub month: String,
    /// Running days in the month.
    pub running_days: u32,
    /// Kilometres, one decimal.
    pub total_distance_km: f64,
    /// Hours, one decimal.
    pub total_duration_hours: f64,
    /// Minutes per km, two decimals; null without distance.
    pub avg_pace_min_per_km: Option<f64>,
}

/// One ISO week of `weekly_data`; a week spanning New Year counts all its days.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyEntry {
    /// The week's Monday, `YYYY-MM-DD`.
    pub week_label: NaiveDate,
    /// Kilometres, one decimal.
    pub distance_km: f64,
    /// Running days in the week.
    pub running_days: u32,
}

/// One workout of `pace_data`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacePoint {
    /// The workout's id.
    pub id: Uuid,
    /// The workout's `start_time`, whole seconds, UTC (a date-time, as the client decodes it).
    #[serde(serialize_with = "serde_format::server")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub date: DateTime<Utc>,
    /// Minutes per km, two decimals.
    pub pace_min_per_km: f64,
}

/// One running day of `chart_data`, its workouts summed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    /// The day.
    pub date: NaiveDate,
    /// Metres, as stored (summed).
    pub distance: f64,
    /// Seconds (summed).
    pub duration: i64,
    /// Seconds per km (total duration ÷ total km), two decimals; null without distance.
    pub pace: Option<f64>,
}

/// The twelve months of Y, January to December; a month without runs has zeros and a null pace.
pub fn monthly_data(data: &YearData) -> Vec<MonthlyEntry> {
    let year = data.year();
    (1..=12)
        .map(|month| {
            let mut totals = Totals::default();
            let mut running_days = 0;
            for day in data.year_days().iter().filter(|d| d.date.month() == month) {
                totals.add(day.distance_meters, day.duration_seconds);
                running_days += 1;
            }
            MonthlyEntry {
                month: format!("{year:04}-{month:02}"),
                running_days,
                total_distance_km: totals.km(),
                total_duration_hours: totals.hours(),
                avg_pace_min_per_km: totals.pace(),
            }
        })
        .collect()
}

/// The twelve ISO weeks ending with this week (for a past year, with the week of its
/// 31 December), oldest first. Every day of those weeks counts, in Y or not.
pub fn weekly_data(data: &YearData) -> Vec<WeeklyEntry> {
    let window = weekly_window(data.year_span(), data.today());
    let runs: Vec<_> = data
        .all_runs()
        .filter(|run| window.contains(run.date))
        .collect();
    window
        .first()
        .iter_weeks()
        .take(WEEKLY_WEEKS as usize)
        .map(|monday| {
            let week = DateSpan::iso_week(monday);
            let meters = runs
                .iter()
                .filter(|run| week.contains(run.date))
                .map(|run| run.distance_meters)
                .sum();
            let running_days = (0..7)
                .map(|offset| days_after(monday, offset))
                .filter(|day| data.is_running_day(*day))
                .count();
            WeeklyEntry {
                week_label: monday,
                distance_km: km_one_decimal(meters),
                running_days: count(running_days),
            }
        })
        .collect()
}

/// The last [`PACE_POINTS`] workouts of Y of at least 1,000 m, oldest first.
pub fn pace_data(data: &YearData) -> Vec<PacePoint> {
    let points: Vec<PacePoint> = data
        .year_runs()
        .iter()
        .filter(|run| run.distance_meters >= PACE_MIN_METERS)
        .filter_map(|run| {
            Some(PacePoint {
                id: run.id,
                date: truncate_to_seconds(run.start_time),
                pace_min_per_km: pace_min_per_km(run.duration_seconds.into(), run.distance_meters)?,
            })
        })
        .collect();
    let skip = points.len().saturating_sub(PACE_POINTS);
    points.into_iter().skip(skip).collect()
}

/// The last [`CHART_DAYS`] running days of Y, oldest first, each day's workouts summed.
pub fn chart_data(data: &YearData) -> Vec<ChartPoint> {
    let days = data.year_days();
    days[days.len().saturating_sub(CHART_DAYS)..]
        .iter()
        .map(|day| ChartPoint {
            date: day.date,
            distance: day.distance_meters,
            duration: i64::try_from(day.duration_seconds).unwrap_or(i64::MAX),
            pace: pace_s_per_km(day.duration_seconds, day.distance_meters),
        })
        .collect()
}
