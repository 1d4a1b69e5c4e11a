//! The rules' input: one runner's workouts around a year Y, seen on one day, and the running
//! days further out that finish the streaks touching Y (see the [module docs](super) for what a
//! store fetches and why it stays bounded).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::calendar::{days_after, days_before, merge_spans, DateSpan};
use super::days::{chain_end, chain_start, current_anchor, weekly_window, DaySet};
use super::goal::{validate_year, YearOutOfRange};

/// The fewest days [`YearData::missing_days`] asks for at once: one year of dates.
pub const STREAK_FETCH_DAYS: u64 = 366;

/// The most days [`YearData::missing_days`] asks for at once: eight years of dates. Between the
/// two, a span is as long as the streak it follows is known to be, so a streak of n days costs
/// about log2(n ÷ 366) reads of dates instead of n ÷ 366, each still bounded.
pub const STREAK_FETCH_MAX_DAYS: u64 = 8 * STREAK_FETCH_DAYS;

/// One live (not deleted) workout, as the rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFact {
    /// The server's id of the workout.
    pub id: Uuid,
    /// When it started (UTC).
    pub start_time: DateTime<Utc>,
    /// Its calendar day, as stored (see [`workout_date`](super::workout_date)).
    pub date: NaiveDate,
    /// Metres; a value that is negative or not finite counts as 0.
    pub distance_meters: f64,
    /// Whole seconds; a negative value counts as 0.
    pub duration_seconds: i64,
}

impl RunFact {
    /// The fact with impossible values (which validation never lets through) made harmless, so
    /// that no number can become NaN (which JSON cannot carry).
    fn cleaned(mut self) -> RunFact {
        if !(self.distance_meters.is_finite() && self.distance_meters > 0.0) {
            self.distance_meters = 0.0;
        }
        self.duration_seconds = self.duration_seconds.max(0);
        self
    }
}

/// One running day of Y: its workouts summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DayTotals {
    pub date: NaiveDate,
    /// The `start_time` of the day's first workout.
    pub first_start: DateTime<Utc>,
    pub distance_meters: f64,
    pub duration_seconds: i128,
}

/// What the rules know of one runner around year Y on the day `today` (in the runner's zone).
///
/// Built in two steps (the [module docs](super) explain why these and no others):
/// 1. [`YearData::new`] with every live workout dated in [`YearData::workout_spans`];
/// 2. [`YearData::fill_running_days`] (or [`YearData::missing_days`] and
///    [`YearData::add_running_days`] in a loop) with the running days of the spans it asks for,
///    until the streaks that touch those workouts are whole.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use sync_core::running::{streaks, RunFact, YearData};
///
/// let today = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
/// // The store's one query for workouts: everything dated in these spans.
/// let spans = YearData::workout_spans(2025, today).unwrap();
/// let from = NaiveDate::from_ymd_opt(2024, 10, 14).unwrap(); // twelve weeks back from this one
/// assert_eq!(spans.len(), 1);
/// assert_eq!((spans[0].first(), spans[0].last()), (from, NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()));
/// let run = |d: NaiveDate| RunFact {
///     id: uuid::Uuid::new_v4(),
///     start_time: Utc.from_utc_datetime(&d.and_hms_opt(7, 0, 0).unwrap()),
///     date: d,
///     distance_meters: 5000.0,
///     duration_seconds: 1800,
/// };
/// // A runner who has run every day since 14 October 2024, and on 1 and 2 October.
/// let mut data = YearData::new(2025, today, from.iter_days().take(81).map(run)).unwrap();
/// // The streak reaches the edge of what the workouts cover: the rules ask for the dates
/// // before it, a year at most at a time.
/// let asked = data.missing_days().unwrap();
/// assert_eq!(asked.last(), NaiveDate::from_ymd_opt(2024, 10, 13).unwrap());
/// assert_eq!(asked.len_days(), 366);
/// let earlier = [NaiveDate::from_ymd_opt(2024, 10, 1).unwrap(), NaiveDate::from_ymd_opt(2024, 10, 2).unwrap()];
/// data.fill_running_days(|_span| Ok::<_, std::convert::Infallible>(earlier)).unwrap();
/// assert!(data.is_complete());
/// assert_eq!(streaks(&data).current, 81);
/// ```
#[derive(Debug, Clone)]
pub struct YearData {
    year: i32,
    span: DateSpan,
    today: NaiveDate,
    /// Workouts dated in Y, in `(start_time, id)` order.
    year_runs: Vec<RunFact>,
    /// Workouts dated outside Y (the weeks around it), in `(start_time, id)` order.
    nearby_runs: Vec<RunFact>,
    /// The running days of Y, in date order.
    year_days: Vec<DayTotals>,
    /// Every running day known, in Y or not.
    running_days: DaySet,
    /// Spans whose running days are all in `running_days`: merged, sorted.
    known: Vec<DateSpan>,
}

impl YearData {
    /// The spans of days whose workouts the store passes to [`YearData::new`] for year Y seen
    /// on `today`: Y itself, the twelve ISO weeks of `weekly_data`, and this week and last week
    /// (for `streaks`), merged into as few spans as possible, in date order.
    pub fn workout_spans(year: i32, today: NaiveDate) -> Result<Vec<DateSpan>, YearOutOfRange> {
        let span = year_span(year)?;
        let this_week = DateSpan::iso_week(today);
        let weeks_of_streaks = DateSpan::new(days_before(this_week.first(), 7), this_week.last());
        Ok(merge_spans(vec![
            span,
            weeks_of_streaks,
            weekly_window(span, today),
        ]))
    }

    /// The data of year Y seen on `today`, from every live workout dated in
    /// [`YearData::workout_spans`] (in any order; workouts dated elsewhere do no harm).
    /// Refuses a year outside 2000..=2100.
    pub fn new(
        year: i32,
        today: NaiveDate,
        runs: impl IntoIterator<Item = RunFact>,
    ) -> Result<YearData, YearOutOfRange> {
        let span = year_span(year)?;
        let known = YearData::workout_spans(year, today)?;
        let mut runs: Vec<RunFact> = runs.into_iter().map(RunFact::cleaned).collect();
        runs.sort_by_key(|run| (run.start_time, run.id));
        let running_days = runs.iter().map(|run| run.date).collect();
        let (year_runs, nearby_runs): (Vec<RunFact>, Vec<RunFact>) =
            runs.into_iter().partition(|run| span.contains(run.date));
        let year_days = day_totals(&year_runs);
        Ok(YearData {
            year,
            span,
            today,
            year_runs,
            nearby_runs,
            year_days,
            running_days,
            known,
        })
    }

    /// The next span of days whose running days the rules still need, or `None` once every
    /// streak that matters is whole: the streak through 1 January of Y (backwards), the streak
    /// through 31 December of Y (forwards) and the current streak (backwards). A span is as long
    /// as the streak it follows is known to be, from [`STREAK_FETCH_DAYS`] to
    /// [`STREAK_FETCH_MAX_DAYS`], and never overlaps what is already known.
    pub fn missing_days(&self) -> Option<DateSpan> {
        let days = &self.running_days;
        let backward_anchors = [
            days.contains(self.span.first())
                .then_some(self.span.first()),
            current_anchor(days, self.today),
        ];
        for anchor in backward_anchors.into_iter().flatten() {
            let start = chain_start(days, anchor);
            if let Some(before) = start.pred_opt().filter(|day| !self.knows(*day)) {
                let reach = fetch_reach(start, chain_end(days, anchor));
                return Some(self.unknown_span_ending(before, reach));
            }
        }
        if days.contains(self.span.last()) {
            let end = chain_end(days, self.span.last());
            if let Some(after) = end.succ_opt().filter(|day| !self.knows(*day)) {
                let reach = fetch_reach(chain_start(days, self.span.last()), end);
                return Some(self.unknown_span_starting(after, reach));
            }
        }
        None
    }

    /// Records the running days of `span` (the distinct dates of its live workouts): from now
    /// on every day of `span` not among `days` is known not to be a running day. Dates outside
    /// `span` are ignored.
    pub fn add_running_days(&mut self, span: DateSpan, days: impl IntoIterator<Item = NaiveDate>) {
        self.running_days
            .extend(days.into_iter().filter(|day| span.contains(*day)));
        self.known.push(span);
        self.known = merge_spans(std::mem::take(&mut self.known));
    }

    /// Asks `fetch` for the running days of each span [`YearData::missing_days`] names, until
    /// it names none; a streak of n days outside the workouts costs about n ÷ 366 calls, and a
    /// runner without such a streak costs none. The first error stops the loop and is returned.
    pub fn fill_running_days<E, I>(
        &mut self,
        mut fetch: impl FnMut(DateSpan) -> Result<I, E>,
    ) -> Result<(), E>
    where
        I: IntoIterator<Item = NaiveDate>,
    {
        while let Some(span) = self.missing_days() {
            let days = fetch(span)?;
            self.add_running_days(span, days);
        }
        Ok(())
    }

    /// The year Y.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// 1 January to 31 December of Y.
    pub fn year_span(&self) -> DateSpan {
        self.span
    }

    /// Today, in the runner's zone.
    pub fn today(&self) -> NaiveDate {
        self.today
    }

    /// The workouts dated in Y, in `(start_time, id)` order.
    pub fn year_runs(&self) -> &[RunFact] {
        &self.year_runs
    }

    /// Whether `date` is known to be a running day.
    pub fn is_running_day(&self, date: NaiveDate) -> bool {
        self.running_days.contains(date)
    }

    /// Whether [`YearData::missing_days`] has nothing more to ask: the streaks are exact.
    pub fn is_complete(&self) -> bool {
        self.missing_days().is_none()
    }

    /// The running days of Y with their totals, in date order.
    pub(crate) fn year_days(&self) -> &[DayTotals] {
        &self.year_days
    }

    /// The `n`-th running day of Y (from 1), once there are that many.
    pub(crate) fn nth_running_day(&self, n: u32) -> Option<&DayTotals> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.year_days.get(index)
    }

    /// Every running day known.
    pub(crate) fn running_days(&self) -> &DaySet {
        &self.running_days
    }

    /// Every workout known, in Y or around it.
    pub(crate) fn all_runs(&self) -> impl Iterator<Item = &RunFact> {
        self.year_runs.iter().chain(&self.nearby_runs)
    }

    fn knows(&self, day: NaiveDate) -> bool {
        self.known.iter().any(|span| span.contains(day))
    }

    /// Up to `reach` unknown days ending with `day`.
    fn unknown_span_ending(&self, day: NaiveDate, reach: u64) -> DateSpan {
        let known_before = self
            .known
            .iter()
            .filter(|span| span.last() < day)
            .map(|span| days_after(span.last(), 1))
            .max();
        let earliest = days_before(day, reach - 1);
        DateSpan::new(known_before.map_or(earliest, |k| k.max(earliest)), day)
    }

    /// Up to `reach` unknown days starting with `day`.
    fn unknown_span_starting(&self, day: NaiveDate, reach: u64) -> DateSpan {
        let known_after = self
            .known
            .iter()
            .filter(|span| span.first() > day)
            .map(|span| days_before(span.first(), 1))
            .min();
        let latest = days_after(day, reach - 1);
        DateSpan::new(day, known_after.map_or(latest, |k| k.min(latest)))
    }
}

/// How many days to ask for next beyond the streak known to run from `first` to `last`: as
/// many as it already has, within [`STREAK_FETCH_DAYS`]..=[`STREAK_FETCH_MAX_DAYS`].
fn fetch_reach(first: NaiveDate, last: NaiveDate) -> u64 {
    let known = DateSpan::new(first, last).len_days();
    known.clamp(STREAK_FETCH_DAYS, STREAK_FETCH_MAX_DAYS)
}

fn year_span(year: i32) -> Result<DateSpan, YearOutOfRange> {
    let year = validate_year(i64::from(year))?;
    // Every year from 2000 to 2100 is a date chrono represents.
    DateSpan::year(year).ok_or(YearOutOfRange {
        year: i64::from(year),
    })
}

/// The running days of `runs` (in start order) with their workouts summed, in date order.
fn day_totals(runs: &[RunFact]) -> Vec<DayTotals> {
    let mut days: BTreeMap<NaiveDate, DayTotals> = BTreeMap::new();
    for run in runs {
        let day = days.entry(run.date).or_insert(DayTotals {
            date: run.date,
            first_start: run.start_time,
            distance_meters: 0.0,
            duration_seconds: 0,
        });
        day.distance_meters += run.distance_meters;
        day.duration_seconds += i128::from(run.duration_seconds);
    }
    days.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::running::test_date as date;
    use chrono::{Datelike, TimeZone};

    fn run(day: NaiveDate, hour: u32, meters: f64) -> RunFact {
        RunFact {
            id: Uuid::from_u128(u128::from(hour) << 64 | day.to_string().len() as u128),
            start_time: Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap()),
            date: day,
            distance_meters: meters,
            duration_seconds: 1800,
        }
    }

    #[test]
    fn mid_year_needs_only_the_year() {
        let spans = YearData::workout_spans(2024, date(2024, 6, 12)).unwrap();
        assert_eq!(spans, vec![DateSpan::year(2024).unwrap()]);
    }

    #[test]
    fn late_december_needs_the_days_of_this_week_in_the_next_year() {
        // 30 December 2024 is a Monday; its week ends on 5 January 2025.
        let spans = YearData::workout_spans(2024, date(2024, 12, 30)).unwrap();
        assert_eq!(
            spans,
            vec![DateSpan::new(date(2024, 1, 1), date(2025, 1, 5))]
        );
    }

    #[test]
    fn a_past_year_needs_the_weeks_around_today_too() {
        let spans = YearData::workout_spans(2022, date(2024, 6, 12)).unwrap();
        assert_eq!(
            spans,
            vec![
                // 31 December 2022 is a Saturday: its week ends on 1 January 2023.
                DateSpan::new(date(2022, 1, 1), date(2023, 1, 1)),
                DateSpan::new(date(2024, 6, 3), date(2024, 6, 16)),
            ]
        );
    }

    #[test]
    fn a_year_out_of_range_is_refused() {
        assert!(YearData::new(1999, date(2024, 1, 1), []).is_err());
        assert!(YearData::workout_spans(2101, date(2024, 1, 1)).is_err());
    }

    #[test]
    fn nothing_is_missing_without_streaks_at_the_edges() {
        let data = YearData::new(2024, date(2024, 6, 12), [run(date(2024, 3, 3), 7, 5000.0)]);
        assert_eq!(data.unwrap().missing_days(), None);
    }

    #[test]
    fn a_streak_through_new_year_is_followed_back_in_spans_as_long_as_it_is_known() {
        let today = date(2024, 6, 12);
        let mut data = YearData::new(2024, today, [run(date(2024, 1, 1), 7, 5000.0)]).unwrap();
        let first = data.missing_days().unwrap();
        assert_eq!(first, DateSpan::new(date(2022, 12, 31), date(2023, 12, 31)));
        assert_eq!(first.len_days(), STREAK_FETCH_DAYS);
        // Every day of that span was a running day: the streak goes on further back, and the
        // next span is as long as the 367 days now known of it.
        let every_day: Vec<NaiveDate> = first.first().iter_days().take(366).collect();
        data.add_running_days(first, every_day);
        let second = data.missing_days().unwrap();
        assert_eq!(
            second,
            DateSpan::new(date(2021, 12, 29), date(2022, 12, 30))
        );
        assert_eq!(second.len_days(), 367);
        data.add_running_days(second, [date(2022, 12, 30)]);
        assert_eq!(data.missing_days(), None);
    }

    #[test]
    fn a_ten_year_streak_is_read_whole_in_four_bounded_spans() {
        let today = date(2026, 12, 2);
        let history: Vec<NaiveDate> = date(2017, 1, 1)
            .iter_days()
            .take_while(|day| *day <= today)
            .collect();
        let this_year = history.iter().filter(|day| day.year() == 2026);
        let runs = this_year.map(|day| run(*day, 7, 5000.0));
        let mut data = YearData::new(2026, today, runs).unwrap();
        let mut asked = Vec::new();
        data.fill_running_days(|span| {
            asked.push(span);
            let days = history
                .iter()
                .copied()
                .filter(move |day| span.contains(*day));
            Ok::<_, std::convert::Infallible>(days)
        })
        .unwrap();
        let lengths: Vec<u64> = asked.iter().map(DateSpan::len_days).collect();
        // 2026 up to today is known from the workouts (336 days); each span doubles what is
        // known, up to the bound.
        assert_eq!(lengths, [366, 702, 1404, 2808]);
        assert!(lengths.iter().all(|&days| days <= STREAK_FETCH_MAX_DAYS));
        let streaks = crate::running::streaks(&data);
        assert_eq!(streaks.current as usize, history.len());
    }

    #[test]
    fn a_streak_longer_than_the_bound_is_asked_for_in_spans_of_the_bound() {
        let today = date(2026, 12, 2);
        let known_since = date(2005, 1, 1);
        let mut data = YearData::new(2026, today, [run(today, 7, 5000.0)]).unwrap();
        let every_day: Vec<NaiveDate> = known_since
            .iter_days()
            .take_while(|day| *day <= today)
            .collect();
        data.add_running_days(DateSpan::new(known_since, today), every_day);
        let next = data.missing_days().unwrap();
        assert_eq!(next.last(), date(2004, 12, 31));
        assert_eq!(next.len_days(), STREAK_FETCH_MAX_DAYS);
    }

    #[test]
    fn a_past_years_december_streak_is_followed_forwards() {
        let today = date(2024, 6, 12);
        let mut data = YearData::new(2022, today, [run(date(2022, 12, 31), 7, 5000.0)]).unwrap();
        // 1 January 2023 is known (the week of 31 December ends that day) and was a rest day.
        assert_eq!(data.missing_days(), None);
        data = YearData::new(
            2022,
            today,
            [
                run(date(2022, 12, 31), 7, 5000.0),
                run(date(2023, 1, 1), 7, 5000.0),
            ],
        )
        .unwrap();
        let asked = data.missing_days().unwrap();
        assert_eq!(asked, DateSpan::new(date(2023, 1, 2), date(2024, 1, 2)));
    }

    #[test]
    fn the_asked_span_stops_where_the_known_days_start() {
        let today = date(2024, 6, 12);
        let mut data = YearData::new(2022, today, [run(date(2024, 6, 3), 7, 5000.0)]).unwrap();
        assert_eq!(
            data.missing_days(),
            None,
            "no current streak: nothing to ask"
        );
        let runs = [date(2024, 6, 3), date(2024, 6, 11)].map(|d| run(d, 7, 1.0));
        data = YearData::new(2022, today, runs).unwrap();
        assert_eq!(
            data.missing_days(),
            None,
            "the streak ends inside last week"
        );
        let daily = date(2024, 6, 3).iter_days().take(9).map(|d| run(d, 7, 1.0));
        data = YearData::new(2022, today, daily).unwrap();
        let asked = data.missing_days().unwrap();
        assert_eq!(asked, DateSpan::new(date(2023, 6, 3), date(2024, 6, 2)));
        data.add_running_days(asked, [date(2024, 6, 2), date(2024, 6, 1)]);
        assert_eq!(data.missing_days(), None);
    }

    #[test]
    fn a_failed_fetch_stops_the_loop() {
        let mut data =
            YearData::new(2024, date(2024, 6, 12), [run(date(2024, 1, 1), 7, 1.0)]).unwrap();
        let result = data.fill_running_days(|_| Err::<Vec<NaiveDate>, _>("database down"));
        assert_eq!(result, Err("database down"));
        assert!(!data.is_complete());
    }

    #[test]
    fn days_sum_their_runs_and_keep_the_first_start() {
        let day = date(2024, 5, 5);
        let runs = [
            run(day, 18, 3000.0),
            run(day, 6, 2000.0),
            run(date(2024, 5, 6), 7, 1.0),
        ];
        let data = YearData::new(2024, date(2024, 6, 12), runs).unwrap();
        let first = data.year_days()[0];
        assert_eq!(first.distance_meters, 5000.0);
        assert_eq!(first.duration_seconds, 3600);
        assert_eq!(first.first_start, run(day, 6, 0.0).start_time);
        assert_eq!(data.year_days().len(), 2);
    }

    #[test]
    fn impossible_values_count_as_nothing() {
        let mut bad = run(date(2024, 5, 5), 7, f64::NAN);
        bad.duration_seconds = -5;
        let data = YearData::new(2024, date(2024, 6, 12), [bad]).unwrap();
        assert_eq!(data.year_runs()[0].distance_meters, 0.0);
        assert_eq!(data.year_runs()[0].duration_seconds, 0);
    }
}
