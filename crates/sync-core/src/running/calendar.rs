//! The runner's calendar: the day a workout belongs to, the day it is today, and the date
//! arithmetic (years, ISO weeks, spans of days) that the numbers are built on.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use thiserror::Error;

use crate::time::local_date;

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be an IANA time zone name, such as Europe/Stockholm or UTC")]
pub struct UnknownTimeZone {
    /// The name as given.
    pub name: String,
}

/// Reads a user's `time_zone`: an IANA name (`Europe/Stockholm`, `America/Los_Angeles`, `UTC`),
/// spelled exactly as the database spells it. Offsets (`+01:00`), abbreviations that are not
/// zone names (`CEST`) and miscapitalised names are refused.
///
/// ```
/// use sync_core::running::parse_time_zone;
/// assert_eq!(parse_time_zone("Europe/Stockholm").unwrap().name(), "Europe/Stockholm");
/// assert!(parse_time_zone("UTC").is_ok());
/// let refused = parse_time_zone("+01:00").unwrap_err();
/// assert_eq!(refused.to_string(), "must be an IANA time zone name, such as Europe/Stockholm or UTC");
/// ```
pub fn parse_time_zone(name: &str) -> Result<Tz, UnknownTimeZone> {
    Tz::from_str(name).map_err(|_| UnknownTimeZone {
        name: name.to_owned(),
    })
}

/// A workout's calendar `date`: the day of `start` in the offset it was sent with when that
/// offset is not zero, otherwise the day in the user's `zone` at that instant (daylight saving
/// included). A start sent in UTC is how the iOS client always sends it.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{parse_time_zone, workout_date};
///
/// let la = parse_time_zone("America/Los_Angeles").unwrap();
/// // 23:30 in Los Angeles on 15 January, sent in UTC.
/// let start = Utc.with_ymd_and_hms(2024, 1, 16, 7, 30, 0).unwrap();
/// assert_eq!(workout_date(start, 0, la), NaiveDate::from_ymd_opt(2024, 1, 15).unwrap());
/// // The same instant sent with a +01:00 offset belongs to that offset's day.
/// assert_eq!(workout_date(start, 60, la), NaiveDate::from_ymd_opt(2024, 1, 16).unwrap());
/// ```
pub fn workout_date(start: DateTime<Utc>, sent_offset_minutes: i32, zone: Tz) -> NaiveDate {
    if sent_offset_minutes == 0 {
        start.with_timezone(&zone).date_naive()
    } else {
        local_date(start, sent_offset_minutes)
    }
}

/// The runner's "today": the calendar day in `zone` at the instant `now`.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{parse_time_zone, today_in};
///
/// let kiritimati = parse_time_zone("Pacific/Kiritimati").unwrap(); // UTC+14
/// let now = Utc.with_ymd_and_hms(2024, 12, 31, 10, 0, 0).unwrap();
/// assert_eq!(today_in(kiritimati, now), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
/// ```
pub fn today_in(zone: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// Whether `year` has a 29 February (proleptic Gregorian calendar).
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `year`: 365, or 366 in a leap year.
///
/// ```
/// assert_eq!(sync_core::running::days_in_year(2024), 366);
/// assert_eq!(sync_core::running::days_in_year(2100), 365);
/// ```
pub fn days_in_year(year: i32) -> u16 {
    if is_leap_year(year) {
        366
    } else {
        365
    }
}

/// The days of `year` gone by on `today`, today included: today's day of the year in the
/// current year, every day of a past year, none of a future one.
pub fn elapsed_days(year: i32, today: NaiveDate) -> u32 {
    match today.year().cmp(&year) {
        std::cmp::Ordering::Equal => today.ordinal(),
        std::cmp::Ordering::Greater => u32::from(days_in_year(year)),
        std::cmp::Ordering::Less => 0,
    }
}

/// The days of `year` after `today`: the rest of the current year, none of a past year, every
/// day of a future one.
pub fn days_after_today(year: i32, today: NaiveDate) -> u32 {
    u32::from(days_in_year(year)) - elapsed_days(year, today)
}

/// The Monday that starts the ISO week of `date`.
pub fn week_monday(date: NaiveDate) -> NaiveDate {
    days_before(date, u64::from(date.weekday().num_days_from_monday()))
}

/// `date` moved `days` back, stopping at the earliest date chrono represents.
pub(crate) fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// `date` moved `days` on, stopping at the latest date chrono represents.
pub(crate) fn days_after(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// A closed span of calendar days, `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateSpan {
    first: NaiveDate,
    last: NaiveDate,
}

impl DateSpan {
    /// The days from the earlier of the two dates to the later, both included.
    pub fn new(a: NaiveDate, b: NaiveDate) -> DateSpan {
        DateSpan {
            first: a.min(b),
            last: a.max(b),
        }
    }

    /// 1 January to 31 December of `year`; `None` for a year chrono cannot represent.
    pub fn year(year: i32) -> Option<DateSpan> {
        Some(DateSpan {
            first: NaiveDate::from_ymd_opt(year, 1, 1)?,
            last: NaiveDate::from_ymd_opt(year, 12, 31)?,
        })
    }

    /// The ISO week (Monday to Sunday) that `date` falls in.
    pub fn iso_week(date: NaiveDate) -> DateSpan {
        let monday = week_monday(date);
        DateSpan::new(monday, days_after(monday, 6))
    }

    /// The first day of the span.
    pub fn first(&self) -> NaiveDate {
        self.first
    }

    /// The last day of the span.
    pub fn last(&self) -> NaiveDate {
        self.last
    }

    /// Whether `date` lies in the span.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.first <= date && date <= self.last
    }

    /// The number of days in the span.
    pub fn len_days(&self) -> u64 {
        // `last >= first`, so the difference is never negative.
        self.last
            .signed_duration_since(self.first)
            .num_days()
            .unsigned_abs()
            + 1
    }
}

/// Sorts spans and joins the ones that overlap or touch, so that each day is in at most one.
pub fn merge_spans(mut spans: Vec<DateSpan>) -> Vec<DateSpan> {
    spans.sort();
    let mut merged: Vec<DateSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(previous) if days_after(previous.last, 1) >= span.first => {
                previous.last = previous.last.max(span.last);
            }
            _ => merged.push(span),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::running::test_date as date;

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(2025));
        assert!(!is_leap_year(2100));
    }

    #[test]
    fn elapsed_and_remaining_days_cover_the_year() {
        assert_eq!(elapsed_days(2024, date(2024, 3, 1)), 61);
        assert_eq!(days_after_today(2024, date(2024, 3, 1)), 305);
        assert_eq!(elapsed_days(2023, date(2024, 3, 1)), 365);
        assert_eq!(days_after_today(2023, date(2024, 3, 1)), 0);
        assert_eq!(elapsed_days(2025, date(2024, 3, 1)), 0);
        assert_eq!(days_after_today(2025, date(2024, 3, 1)), 365);
    }

    #[test]
    fn iso_weeks_start_on_monday_across_new_year() {
        // 1 January 2025 is a Wednesday; its week starts on 30 December 2024.
        let week = DateSpan::iso_week(date(2025, 1, 1));
        assert_eq!(
            (week.first(), week.last()),
            (date(2024, 12, 30), date(2025, 1, 5))
        );
        assert_eq!(week_monday(date(2024, 12, 30)), date(2024, 12, 30));
        assert_eq!(week.len_days(), 7);
    }

    #[test]
    fn spans_that_touch_are_merged() {
        let merged = merge_spans(vec![
            DateSpan::new(date(2024, 3, 10), date(2024, 3, 20)),
            DateSpan::new(date(2024, 1, 1), date(2024, 1, 31)),
            DateSpan::new(date(2024, 2, 1), date(2024, 2, 5)),
            DateSpan::new(date(2024, 3, 12), date(2024, 3, 14)),
        ]);
        assert_eq!(
            merged,
            vec![
                DateSpan::new(date(2024, 1, 1), date(2024, 2, 5)),
                DateSpan::new(date(2024, 3, 10), date(2024, 3, 20)),
            ]
        );
    }

    #[test]
    fn date_arithmetic_saturates_at_the_ends_of_chrono() {
        assert_eq!(days_before(NaiveDate::MIN, 3), NaiveDate::MIN);
        assert_eq!(days_after(NaiveDate::MAX, 3), NaiveDate::MAX);
    }

    #[test]
    fn unknown_zones_are_refused() {
        for name in [
            "",
            "Mars/Olympus",
            "+01:00",
            "europe/stockholm",
            "CEST",
            " UTC",
        ] {
            assert!(parse_time_zone(name).is_err(), "{name:?}");
        }
    }
}
