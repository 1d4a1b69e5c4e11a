//! The achievements catalogue of a year: running-day and distance milestones, and the goal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::goal::Goal;
use super::model::YearData;
use crate::time::{serde_format, truncate_to_seconds};

/// Running-day milestones, in catalogue order (ids `days_<n>`).
pub const DAY_MILESTONES: [u32; 10] = [1, 7, 30, 50, 100, 150, 200, 250, 300, 365];
/// Distance milestones in kilometres, in catalogue order (ids `km_<n>`).
pub const KM_MILESTONES: [u32; 6] = [50, 100, 250, 500, 1000, 2000];
/// The id of the goal achievement, last in the catalogue.
pub const GOAL_ACHIEVEMENT_ID: &str = "goal";

/// One entry of `achievements`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Achievement {
    /// Stable id: `days_1` … `days_365`, `km_50` … `km_2000`, `goal`.
    pub id: String,
    /// A short title.
    pub name: String,
    /// One sentence saying what unlocks it.
    pub description: String,
    /// Running days, kilometres, or (for `goal`) the year's target.
    pub milestone: u32,
    /// The `start_time` (whole seconds, UTC) of the workout that crossed the milestone; null
    /// while locked.
    #[serde(serialize_with = "serde_format::server_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub unlocked_at: Option<DateTime<Utc>>,
    /// Whether the milestone is reached in Y.
    pub is_unlocked: bool,
}

/// The whole catalogue for `data`'s year, in catalogue order: derived from the workouts alone,
/// so a deleted or edited workout can lock an achievement again.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{achievements, Goal, RunFact, YearData};
///
/// let day = NaiveDate::from_ymd_opt(2025, 3, 2).unwrap();
/// let run = RunFact {
///     id: uuid::Uuid::new_v4(),
///     start_time: Utc.with_ymd_and_hms(2025, 3, 2, 7, 15, 0).unwrap(),
///     date: day,
///     distance_meters: 52_000.0,
///     duration_seconds: 18_000,
/// };
/// let data = YearData::new(2025, day, [run]).unwrap();
/// let list = achievements(&data, &Goal::default_for(2025, 300));
/// assert_eq!(list.len(), 17);
/// assert_eq!((list[0].id.as_str(), list[0].is_unlocked), ("days_1", true));
/// assert_eq!((list[10].id.as_str(), list[10].is_unlocked), ("km_50", true));
/// assert_eq!((list[11].id.as_str(), list[11].is_unlocked), ("km_100", false));
/// assert_eq!(list[16].milestone, 300);
/// ```
pub fn achievements(data: &YearData, goal: &Goal) -> Vec<Achievement> {
    // The first workout of the day that crossed a running-day milestone.
    let first_start_of_day = |n: u32| data.nth_running_day(n).map(|day| day.first_start);
    let km_crossings = distance_crossings(data);
    let target = goal.effective_target();

    let days = DAY_MILESTONES.iter().map(|&n| {
        unlockable(
            format!("days_{n}"),
            day_milestone_name(n),
            format!("Run on {n} different days in one year."),
            n,
            first_start_of_day(n),
        )
    });
    let km = KM_MILESTONES.iter().zip(km_crossings).map(|(&n, crossed)| {
        unlockable(
            format!("km_{n}"),
            format!("{n} km"),
            format!("Run {n} km in total in one year."),
            n,
            crossed,
        )
    });
    let goal_entry = unlockable(
        GOAL_ACHIEVEMENT_ID.to_owned(),
        "Goal Reached".to_owned(),
        format!("Run on {target} days in {}: the year's goal.", data.year()),
        target,
        first_start_of_day(target),
    );
    days.chain(km).chain(std::iter::once(goal_entry)).collect()
}

fn unlockable(
    id: String,
    name: String,
    description: String,
    milestone: u32,
    crossed_at: Option<DateTime<Utc>>,
) -> Achievement {
    let unlocked_at = crossed_at.map(truncate_to_seconds);
    Achievement {
        id,
        name,
        description,
        milestone,
        is_unlocked: unlocked_at.is_some(),
        unlocked_at,
    }
}

fn day_milestone_name(n: u32) -> String {
    match n {
        1 => "First Run".to_owned(),
        7 => "One Week of Runs".to_owned(),
        30 => "One Month of Runs".to_owned(),
        365 => "Every Day of a Year".to_owned(),
        _ => format!("{n} Running Days"),
    }
}

/// For each distance milestone, the start of the workout (in start order) whose distance took
/// the year's total to the milestone or past it.
fn distance_crossings(data: &YearData) -> [Option<DateTime<Utc>>; KM_MILESTONES.len()] {
    let mut crossings = [None; KM_MILESTONES.len()];
    let mut total_meters = 0.0;
    let mut next = 0;
    for run in data.year_runs() {
        total_meters += run.distance_meters;
        while next < KM_MILESTONES.len() && total_meters >= f64::from(KM_MILESTONES[next]) * 1000.0
        {
            crossings[next] = Some(run.start_time);
            next += 1;
        }
    }
    crossings
}
