//! Helpers on sets of running days and date windows, below the numbers that use them (the
//! streaks, the series and the store's fetch plan in `model.rs` all need them).

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::NaiveDate;

use super::calendar::{days_after, days_before, week_monday, DateSpan};

/// The day the current streak ends on: today when it is a running day, else yesterday when
/// that is one (today is not over yet); `None` when neither is.
pub(crate) fn current_anchor(days: &BTreeSet<NaiveDate>, today: NaiveDate) -> Option<NaiveDate> {
    if days.contains(&today) {
        return Some(today);
    }
    today
        .pred_opt()
        .filter(|yesterday| days.contains(yesterday))
}

/// The first day of the streak that contains the running day `day`.
pub(crate) fn chain_start(days: &BTreeSet<NaiveDate>, day: NaiveDate) -> NaiveDate {
    let mut start = day;
    for &earlier in days.range(..day).rev() {
        if earlier.succ_opt() != Some(start) {
            break;
        }
        start = earlier;
    }
    start
}

/// The last day of the streak that contains the running day `day`.
pub(crate) fn chain_end(days: &BTreeSet<NaiveDate>, day: NaiveDate) -> NaiveDate {
    let mut end = day;
    for &later in days.range((Bound::Excluded(day), Bound::Unbounded)) {
        if end.succ_opt() != Some(later) {
            break;
        }
        end = later;
    }
    end
}

/// A count of days as the responses carry it (no set of days comes near `u32::MAX`).
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
