//! Helpers on sets of running days and date windows, below the numbers that use them (the
//! streaks, the series and the store's fetch plan in `model.rs` all need them).

use chrono::NaiveDate;

use super::calendar::{days_after, days_before, merge_spans, week_monday, DateSpan};

/// A set of days, kept as its runs of consecutive days (sorted, neither overlapping nor
/// touching). The rules ask it where a streak starts and ends, how many days a week has, and
/// which streak touching a year is the longest: each is a binary search or a walk over runs,
/// not over days, so a ten-year daily runner is one run, not 3,650 days to step through on
/// every question (docs/benchmarks.md, optimisation 15).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DaySet {
    runs: Vec<DateSpan>,
}

impl DaySet {
    /// Adds `days`, in any order, repeats allowed: each becomes a one-day run, and
    /// `merge_spans` joins the runs that overlap or touch.
    pub(crate) fn extend(&mut self, days: impl IntoIterator<Item = NaiveDate>) {
        let mut runs = std::mem::take(&mut self.runs);
        runs.extend(days.into_iter().map(|day| DateSpan::new(day, day)));
        self.runs = merge_spans(runs);
    }

    /// The run of consecutive days that holds `day`, if `day` is in the set.
    pub(crate) fn run_of(&self, day: NaiveDate) -> Option<DateSpan> {
        let index = self.runs.partition_point(|run| run.last() < day);
        self.runs
            .get(index)
            .copied()
            .filter(|run| run.contains(day))
    }

    /// Whether `day` is in the set.
    pub(crate) fn contains(&self, day: NaiveDate) -> bool {
        self.run_of(day).is_some()
    }

    /// The runs that share at least one day with `span`, in date order.
    pub(crate) fn runs_touching(&self, span: DateSpan) -> impl Iterator<Item = DateSpan> + '_ {
        let from = self.runs.partition_point(|run| run.last() < span.first());
        self.runs[from..]
            .iter()
            .copied()
            .take_while(move |run| run.first() <= span.last())
    }

    /// How many days of `span` are in the set.
    pub(crate) fn count_in(&self, span: DateSpan) -> u64 {
        self.runs_touching(span)
            .map(|run| {
                DateSpan::new(run.first().max(span.first()), run.last().min(span.last())).len_days()
            })
            .sum()
    }
}

impl FromIterator<NaiveDate> for DaySet {
    fn from_iter<I: IntoIterator<Item = NaiveDate>>(days: I) -> DaySet {
        let mut set = DaySet::default();
        set.extend(days);
        set
    }
}

/// The day the current streak ends on: today when it is a running day, else yesterday when
/// that is one (today is not over yet); `None` when neither is.
pub(crate) fn current_anchor(days: &DaySet, today: NaiveDate) -> Option<NaiveDate> {
    if days.contains(today) {
        return Some(today);
    }
    today
        .pred_opt()
        .filter(|yesterday| days.contains(*yesterday))
}

/// The first day of the streak that contains the running day `day` (`day` itself when it is
/// not a running day).
pub(crate) fn chain_start(days: &DaySet, day: NaiveDate) -> NaiveDate {
    days.run_of(day).map_or(day, |run| run.first())
}

/// The last day of the streak that contains the running day `day` (`day` itself when it is
/// not a running day).
pub(crate) fn chain_end(days: &DaySet, day: NaiveDate) -> NaiveDate {
    days.run_of(day).map_or(day, |run| run.last())
}

/// A count of days as the responses carry it (no set of days comes near `u32::MAX`).
pub(crate) fn count(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

/// How many ISO weeks `weekly_data` has.
pub const WEEKLY_WEEKS: u64 = 12;

/// The days of the twelve weeks of `weekly_data`: they end with the week of today, or of the
/// year's 31 December when that comes first.
pub(crate) fn weekly_window(year: DateSpan, today: NaiveDate) -> DateSpan {
    let last_monday = week_monday(today.min(year.last()));
    DateSpan::new(
        days_before(last_monday, 7 * (WEEKLY_WEEKS - 1)),
        days_after(last_monday, 6),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::running::test_date as date;

    fn span(a: NaiveDate, b: NaiveDate) -> DateSpan {
        DateSpan::new(a, b)
    }

    #[test]
    fn a_day_set_keeps_runs_of_consecutive_days_from_days_in_any_order() {
        let set: DaySet = [
            date(2024, 3, 5),
            date(2024, 3, 3),
            date(2024, 3, 4),
            date(2024, 3, 4),
            date(2024, 3, 9),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            set.runs,
            vec![
                span(date(2024, 3, 3), date(2024, 3, 5)),
                span(date(2024, 3, 9), date(2024, 3, 9))
            ]
        );
        assert!(set.contains(date(2024, 3, 4)));
        assert!(!set.contains(date(2024, 3, 6)));
        assert!(!set.contains(date(2024, 3, 2)));
        assert_eq!(
            set.run_of(date(2024, 3, 9)),
            Some(span(date(2024, 3, 9), date(2024, 3, 9)))
        );
        assert_eq!(set.run_of(date(2024, 3, 8)), None);
    }

    #[test]
    fn days_added_later_join_the_runs_they_touch_across_months_and_years() {
        let mut set: DaySet = date(2024, 12, 30).iter_days().take(3).collect();
        // The next batch starts the day after the first one ends: one run.
        set.extend(date(2025, 1, 2).iter_days().take(30));
        // A batch that bridges two runs merges all three.
        set.extend([date(2024, 12, 25), date(2024, 12, 27)]);
        set.extend([date(2024, 12, 26), date(2024, 12, 28), date(2024, 12, 29)]);
        assert_eq!(set.runs, vec![span(date(2024, 12, 25), date(2025, 1, 31))]);
        set.extend([]);
        assert_eq!(set.runs.len(), 1);
    }

    #[test]
    fn counting_and_touching_take_only_the_days_inside_the_span() {
        let set: DaySet = date(2024, 2, 26)
            .iter_days()
            .take(8)
            .chain(date(2024, 3, 10).iter_days().take(2))
            .collect();
        let march_first_week = span(date(2024, 3, 1), date(2024, 3, 10));
        assert_eq!(set.count_in(march_first_week), 4 + 1);
        let touching: Vec<DateSpan> = set.runs_touching(march_first_week).collect();
        assert_eq!(
            touching,
            vec![
                span(date(2024, 2, 26), date(2024, 3, 4)),
                span(date(2024, 3, 10), date(2024, 3, 11))
            ]
        );
        assert_eq!(set.count_in(span(date(2024, 3, 5), date(2024, 3, 9))), 0);
        assert_eq!(chain_start(&set, date(2024, 3, 2)), date(2024, 2, 26));
        assert_eq!(chain_end(&set, date(2024, 3, 2)), date(2024, 3, 4));
    }
}
