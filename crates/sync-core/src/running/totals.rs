//! Sums over workouts: the year's `stats`, the personal bests, and the totals every series
//! entry is made of.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::days_after_today;
use super::model::{RunFact, YearData};
use super::rounding::{hours_one_decimal, km_one_decimal, km_two_decimals, pace_min_per_km};

/// The shortest workout, in metres, that has a pace worth comparing (`pace_data`, bests).
pub const PACE_MIN_METERS: f64 = 1000.0;

/// `stats` of the dashboard and goal-progress responses: the year's totals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DashboardStats {
    /// Distance run in Y, kilometres, one decimal.
    pub total_distance_km: f64,
    /// Time run in Y, hours, one decimal.
    pub total_duration_hours: f64,
    /// Total duration ÷ total km, minutes per km, two decimals; null without distance.
    pub avg_pace_min_per_km: Option<f64>,
    /// Days of Y after today.
    pub days_left: u32,
}

/// `personal_bests` of the insights response, for Y.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PersonalBests {
    /// The longest single workout, kilometres, two decimals; null when Y has none.
    pub longest_run_km: Option<f64>,
    /// The day of that workout.
    pub longest_run_date: Option<NaiveDate>,
    /// The fastest average pace among workouts of at least 1,000 m, minutes per km, two
    /// decimals; null when there is none.
    pub fastest_pace_min_per_km: Option<f64>,
    /// The day of that workout.
    pub fastest_pace_date: Option<NaiveDate>,
}

/// Distance and time of some workouts, and the units the responses write them in.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub meters: f64,
    pub seconds: i128,
}

impl Totals {
    pub fn add(&mut self, meters: f64, seconds: impl Into<i128>) {
        self.meters += meters;
        self.seconds += seconds.into();
    }

    pub fn km(&self) -> f64 {
        km_one_decimal(self.meters)
    }

    pub fn hours(&self) -> f64 {
        hours_one_decimal(self.seconds)
    }

    pub fn pace(&self) -> Option<f64> {
        pace_min_per_km(self.seconds, self.meters)
    }
}

/// The year's totals (only the workouts of Y matter).
pub fn stats(data: &YearData) -> DashboardStats {
    let mut totals = Totals::default();
    for run in data.year_runs() {
        totals.add(run.distance_meters, run.duration_seconds);
    }
    DashboardStats {
        total_distance_km: totals.km(),
        total_duration_hours: totals.hours(),
        avg_pace_min_per_km: totals.pace(),
        days_left: days_after_today(data.year(), data.today()),
    }
}

/// The personal bests of Y. Of equal workouts, the earliest counts.
pub fn personal_bests(data: &YearData) -> PersonalBests {
    let runs = data.year_runs();
    let longest = earliest_best(runs.iter(), |run| run.distance_meters);
    let fastest = earliest_best(
        runs.iter()
            .filter(|run| run.distance_meters >= PACE_MIN_METERS),
        // Compared unrounded: the faster of two paces that round alike is still the faster.
        |run| -(run.duration_seconds as f64 / run.distance_meters),
    );
    PersonalBests {
        longest_run_km: longest.map(|run| km_two_decimals(run.distance_meters)),
        longest_run_date: longest.map(|run| run.date),
        fastest_pace_min_per_km: fastest
            .and_then(|run| pace_min_per_km(run.duration_seconds.into(), run.distance_meters)),
        fastest_pace_date: fastest.map(|run| run.date),
    }
}

/// The run with the highest `score`, the earliest of equals (`max_by` would keep the last).
fn earliest_best<'a>(
    runs: impl Iterator<Item = &'a RunFact>,
    score: impl Fn(&RunFact) -> f64,
) -> Option<&'a RunFact> {
    runs.fold(None, |best, run| match best {
        Some(best) if score(best) >= score(run) => Some(best),
        _ => Some(run),
    })
}
