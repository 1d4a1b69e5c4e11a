//! The whole response bodies of the running-days endpoints, each from one entry point, so that
//! the API, the web dashboard and any other caller serve the same numbers.

use serde::{Deserialize, Serialize};

use super::achievements::{achievements, Achievement};
use super::goal::Goal;
use super::model::YearData;
use super::progress::{pace_metrics, progress, PaceMetrics, Progress};
use super::series::{
    chart_data, monthly_data, pace_data, weekly_data, ChartPoint, MonthlyEntry, PacePoint,
    WeeklyEntry,
};
use super::streaks::{streaks, Streaks};
use super::totals::{personal_bests, stats, DashboardStats, PersonalBests};
use crate::wire::WorkoutView;

/// How many of the year's newest workouts the dashboard lists (`recent_runs`).
pub const RECENT_RUNS: i64 = 10;

/// `PUT /goals/{year}`'s body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetGoalBody {
    /// Running days aimed for: 1 to the days of the year (366 only in a leap year).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 366))]
    pub target_days: u16,
}

/// `GET /goals/{year}`: `{goal, progress}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalWithProgressBody {
    /// The year's goal (the default one when none is set).
    pub goal: Goal,
    /// Progress towards it.
    pub progress: Progress,
}

/// `GET /goals/{year}/progress`: `{goal, progress, pace_metrics, streaks, achievements, stats}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalProgressBody {
    /// The year's goal.
    pub goal: Goal,
    /// Progress towards it.
    pub progress: Progress,
    /// What it takes to reach it.
    pub pace_metrics: PaceMetrics,
    /// The runner's streaks.
    pub streaks: Streaks,
    /// The catalogue, in catalogue order.
    pub achievements: Vec<Achievement>,
    /// The year's totals.
    pub stats: DashboardStats,
}

/// `GET /stats/dashboard`: `{goal, progress, stats, recent_runs, chart_data, pace_metrics, streaks}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardBody {
    /// The year's goal.
    pub goal: Goal,
    /// Progress towards it.
    pub progress: Progress,
    /// The year's totals.
    pub stats: DashboardStats,
    /// The [`RECENT_RUNS`] newest workouts of Y, as `GET /workouts` serves them.
    pub recent_runs: Vec<WorkoutView>,
    /// The last 30 running days of Y, oldest first.
    pub chart_data: Vec<ChartPoint>,
    /// What it takes to reach the goal.
    pub pace_metrics: PaceMetrics,
    /// The runner's streaks.
    pub streaks: Streaks,
}

/// `GET /stats/insights`: `{year, streaks, monthly_data, weekly_data, pace_data,
/// personal_bests, achievements}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightsBody {
    /// The year Y.
    pub year: i32,
    /// The runner's streaks.
    pub streaks: Streaks,
    /// January to December of Y.
    pub monthly_data: Vec<MonthlyEntry>,
    /// Twelve ISO weeks, oldest first.
    pub weekly_data: Vec<WeeklyEntry>,
    /// The last 50 workouts of Y of at least 1,000 m, oldest first.
    pub pace_data: Vec<PacePoint>,
    /// Y's personal bests.
    pub personal_bests: PersonalBests,
    /// The catalogue, in catalogue order.
    pub achievements: Vec<Achievement>,
}

/// The body of `GET /goals/{year}`. Needs only the workouts of Y in `data` (no
/// [`YearData::fill_running_days`]). `goal` is echoed as given; its target is the one used.
pub fn goal_with_progress(data: &YearData, goal: &Goal) -> GoalWithProgressBody {
    GoalWithProgressBody {
        goal: goal.clone(),
        progress: progress(data, goal),
    }
}

/// The body of `GET /goals/{year}/progress`; exact once `data` is complete
/// ([`YearData::is_complete`]).
pub fn goal_progress(data: &YearData, goal: &Goal) -> GoalProgressBody {
    GoalProgressBody {
        goal: goal.clone(),
        progress: progress(data, goal),
        pace_metrics: pace_metrics(data, goal),
        streaks: streaks(data),
        achievements: achievements(data, goal),
        stats: stats(data),
    }
}

/// The body of `GET /stats/dashboard`, with `recent_runs` as the caller serves workouts;
/// exact once `data` is complete ([`YearData::is_complete`]).
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{dashboard, Goal, RunFact, YearData};
///
/// let today = NaiveDate::from_ymd_opt(2024, 6, 12).unwrap();
/// let run = RunFact {
///     id: uuid::Uuid::new_v4(),
///     start_time: Utc.with_ymd_and_hms(2024, 6, 11, 17, 0, 0).unwrap(),
///     date: NaiveDate::from_ymd_opt(2024, 6, 11).unwrap(),
///     distance_meters: 10_000.0,
///     duration_seconds: 3000,
/// };
/// let mut data = YearData::new(2024, today, [run]).unwrap();
/// data.fill_running_days(|_| Ok::<_, std::convert::Infallible>(Vec::new())).unwrap();
/// let body = dashboard(&data, &Goal::default_for(2024, 300), Vec::new());
/// assert_eq!(body.streaks.current, 1); // yesterday's run: today is not over yet
/// assert_eq!(body.stats.avg_pace_min_per_km, Some(5.0));
/// let json = serde_json::to_value(&body).unwrap();
/// assert_eq!(json["chart_data"][0]["duration"], 3000);
/// assert_eq!(json["chart_data"][0]["date"], "2024-06-11");
/// ```
pub fn dashboard(data: &YearData, goal: &Goal, recent_runs: Vec<WorkoutView>) -> DashboardBody {
    DashboardBody {
        goal: goal.clone(),
        progress: progress(data, goal),
        stats: stats(data),
        recent_runs,
        chart_data: chart_data(data),
        pace_metrics: pace_metrics(data, goal),
        streaks: streaks(data),
    }
}

/// The body of `GET /stats/insights`; `goal` decides the `goal` achievement. Exact once `data`
/// is complete ([`YearData::is_complete`]).
pub fn insights(data: &YearData, goal: &Goal) -> InsightsBody {
    InsightsBody {
        year: data.year(),
        streaks: streaks(data),
        monthly_data: monthly_data(data),
        weekly_data: weekly_data(data),
        pace_data: pace_data(data),
        personal_bests: personal_bests(data),
        achievements: achievements(data, goal),
    }
}
