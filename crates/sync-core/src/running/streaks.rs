//! Streaks: runs of consecutive running days, and the running days of this week and last.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{days_before, DateSpan};
use super::days::{count, current_anchor, DaySet};
use super::model::YearData;

/// `streaks` of the goal-progress, dashboard and insights responses.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streaks {
    /// Consecutive running days ending today, or ending yesterday while today has no run yet;
    /// 0 otherwise. Crosses year boundaries, whatever the year asked for.
    pub current: u32,
    /// The longest run of consecutive running days among those with at least one day in Y,
    /// counted whole (days outside Y included).
    pub longest: u32,
    /// Running days in the current ISO week (Monday to Sunday), whichever year they fall in.
    pub this_week: u32,
    /// Running days in the previous ISO week.
    pub last_week: u32,
    /// The latest running day of Y, or null when Y has none.
    pub last_run_date: Option<NaiveDate>,
}

/// The streaks of `data`'s runner; exact once [`YearData::missing_days`] is `None`.
pub fn streaks(data: &YearData) -> Streaks {
    let days = data.running_days();
    let this_week = DateSpan::iso_week(data.today());
    let last_week = DateSpan::iso_week(days_before(this_week.first(), 7));
    Streaks {
        current: current_anchor(days, data.today()).map_or(0, |anchor| chain_length(days, anchor)),
        longest: longest_touching(days, data.year_span()),
        this_week: days_in(days, this_week),
        last_week: days_in(days, last_week),
        last_run_date: data.year_days().last().map(|day| day.date),
    }
}

/// The length of the streak ending on the running day `day`.
fn chain_length(days: &DaySet, day: NaiveDate) -> u32 {
    days.run_of(day)
        .map_or(0, |run| count(DateSpan::new(run.first(), day).len_days()))
}

/// The longest streak with at least one day in `year`, counted whole.
fn longest_touching(days: &DaySet, year: DateSpan) -> u32 {
    let longest = days.runs_touching(year).map(|run| run.len_days()).max();
    count(longest.unwrap_or(0))
}

/// The running days within `span`.
fn days_in(days: &DaySet, span: DateSpan) -> u32 {
    count(days.count_in(span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::running::days::{chain_end, chain_start};
    use crate::running::test_date as date;

    fn set(days: &[NaiveDate]) -> DaySet {
        days.iter().copied().collect()
    }

    #[test]
    fn chains_stop_at_the_first_gap() {
        let days = set(&[
            date(2024, 3, 1),
            date(2024, 3, 3),
            date(2024, 3, 4),
            date(2024, 3, 5),
            date(2024, 3, 7),
        ]);
        assert_eq!(chain_start(&days, date(2024, 3, 5)), date(2024, 3, 3));
        assert_eq!(chain_end(&days, date(2024, 3, 3)), date(2024, 3, 5));
        assert_eq!(chain_length(&days, date(2024, 3, 4)), 2);
        assert_eq!(chain_length(&days, date(2024, 3, 7)), 1);
    }

    #[test]
    fn the_current_streak_waits_for_today_to_end() {
        let days = set(&[date(2024, 3, 4), date(2024, 3, 5)]);
        assert_eq!(
            current_anchor(&days, date(2024, 3, 5)),
            Some(date(2024, 3, 5))
        );
        assert_eq!(
            current_anchor(&days, date(2024, 3, 6)),
            Some(date(2024, 3, 5))
        );
        assert_eq!(current_anchor(&days, date(2024, 3, 7)), None);
    }

    #[test]
    fn the_longest_streak_counts_its_days_outside_the_year() {
        let year = DateSpan::year(2024).unwrap();
        let mut days = set(&[date(2023, 12, 30), date(2023, 12, 31), date(2024, 1, 1)]);
        days.extend([date(2024, 6, 1), date(2024, 6, 2)]);
        assert_eq!(longest_touching(&days, year), 3);
        // A longer streak entirely outside the year does not count.
        days.extend(date(2025, 1, 2).iter_days().take(10));
        assert_eq!(longest_touching(&days, year), 3);
        // One that reaches into the year from the other side does, whole.
        days.extend(date(2024, 12, 28).iter_days().take(5));
        assert_eq!(longest_touching(&days, year), 15);
    }
}
