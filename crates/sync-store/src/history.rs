//! The settled history of a runner's running days, and what this instance keeps of it
//! (docs/running-days.md, "The settled history").
//!
//! The streaks are the costliest part of a year's read: a ten-year daily runner's streak is
//! thousands of index entries counted on every read (docs/benchmarks.md, optimisation 23). The
//! days far behind the newest run rarely change, since a phone syncs the runs of the last few
//! days. So each user row carries a [`HistoryMark`]: a floor, before which days are *settled*,
//! and a version that every change touching a settled day moves on. A read keeps the running
//! days it read of settled days under the version it read; a later read that sees the same
//! version takes them from memory instead of the database.
//!
//! Why that is exact: every change of a user's workouts (a sync, an edit, re-dating) runs
//! under the user's lock and writes the mark [`HistoryMark::after_change`] gives. The floor
//! never moves back, so a change committed after a read that touches a day before that read's
//! floor moves the version the read saw. A read takes its mark and its days from one snapshot.
//! Each instance keeps its own copy; all of them check the database's mark on every read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use sync_core::running::{merge_spans, DateSpan};
use sync_core::StoredWorkout;
use uuid::Uuid;

/// How far behind the newest day a change touches the floor follows it: a sync of the last
/// month's runs (a phone that was offline for weeks) leaves the settled history alone.
pub(crate) const RECENT_DAYS: u64 = 31;

/// A user's settled history as their row records it (selected as `(history_version,
/// history_floor)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, diesel::Queryable)]
pub(crate) struct HistoryMark {
    /// Moves on with every change that touched a day before `floor`.
    pub version: i64,
    /// The days before it are settled; `None`: none is.
    pub floor: Option<NaiveDate>,
}

impl HistoryMark {
    /// The mark after a change that touched `days`: the days of every live workout it removed,
    /// moved or wrote, before and after. `today` (UTC, of the change) caps how far a workout
    /// dated in the future can move the floor.
    pub(crate) fn after_change(
        self,
        days: impl IntoIterator<Item = NaiveDate>,
        today: NaiveDate,
    ) -> HistoryMark {
        let mut touched: Option<(NaiveDate, NaiveDate)> = None;
        for day in days {
            touched = Some(touched.map_or((day, day), |(lo, hi)| (lo.min(day), hi.max(day))));
        }
        let Some((earliest, latest)) = touched else {
            return self;
        };
        let unsettles = self.floor.is_some_and(|floor| earliest < floor);
        let newest = latest.min(today.checked_add_days(Days::new(1)).unwrap_or(today));
        HistoryMark {
            version: self.version + i64::from(unsettles),
            floor: self
                .floor
                .max(newest.checked_sub_days(Days::new(RECENT_DAYS))),
        }
    }

    /// Whether every day of `span` is settled.
    pub(crate) fn settles(self, span: DateSpan) -> bool {
        self.settled_part(span) == Some(span)
    }

    /// The days of `span` that are settled, if any.
    pub(crate) fn settled_part(self, span: DateSpan) -> Option<DateSpan> {
        let last_settled = self.floor?.pred_opt()?;
        (span.first() <= last_settled)
            .then(|| DateSpan::new(span.first(), span.last().min(last_settled)))
    }
}

/// The days whose being running days a write may change: a workout's day before the write and
/// after it, each when the workout is live then, unless it stayed live on the same day (an
/// edit of its distance changes no running day). `before` is `None` for a new workout; each
/// side is `(day, live)`.
pub(crate) fn days_changed(
    before: Option<(NaiveDate, bool)>,
    after: (NaiveDate, bool),
) -> impl Iterator<Item = NaiveDate> {
    let same = before == Some(after) && after.1;
    [before, Some(after)]
        .into_iter()
        .flatten()
        .filter(move |(_, live)| *live && !same)
        .map(|(day, _)| day)
}

/// A stored workout's side of [`days_changed`].
pub(crate) fn live_day(workout: &StoredWorkout) -> (NaiveDate, bool) {
    (workout.start_date, !workout.is_deleted())
}

/// The running days of spans of one user's settled history, as read under one version.
#[derive(Debug, Default)]
struct Settled {
    version: i64,
    /// The spans read: sorted, neither overlapping nor adjacent.
    known: Vec<DateSpan>,
    /// The running days in them as runs of consecutive days: sorted, neither overlapping nor
    /// adjacent. A ten-year streak is one.
    runs: Vec<DateSpan>,
}

impl Settled {
    /// The running days of `span` that were read, and the parts of `span` that were not.
    fn days_in(&self, span: DateSpan) -> (Vec<NaiveDate>, Vec<DateSpan>) {
        let mut days = Vec::new();
        for run in &self.runs {
            let (from, to) = (run.first().max(span.first()), run.last().min(span.last()));
            if from <= to {
                days.extend(from.iter_days().take_while(|day| *day <= to));
            }
        }
        let mut unknown = Vec::new();
        let mut next = Some(span.first());
        for known in &self.known {
            let Some(from) = next.filter(|from| *from <= span.last()) else {
                break;
            };
            if known.last() < from {
                continue;
            }
            if known.first() > span.last() {
                break;
            }
            if known.first() > from {
                unknown.push(DateSpan::new(
                    from,
                    known.first().pred_opt().unwrap_or(from),
                ));
            }
            next = known.last().succ_opt();
        }
        if let Some(from) = next.filter(|from| *from <= span.last()) {
            unknown.push(DateSpan::new(from, span.last()));
        }
        (days, unknown)
    }

    /// These spans and days with `learned` added (spans read with their running days).
    fn with(&self, learned: &[(DateSpan, Vec<NaiveDate>)]) -> Settled {
        let known = self
            .known
            .iter()
            .chain(learned.iter().map(|(span, _)| span));
        let read = learned.iter().flat_map(|(span, days)| {
            days.iter()
                .filter(|day| span.contains(**day))
                .map(|&day| DateSpan::new(day, day))
        });
        Settled {
            version: self.version,
            known: merge_spans(known.copied().collect()),
            runs: merge_spans(self.runs.iter().copied().chain(read).collect()),
        }
    }

    fn bytes(&self) -> u64 {
        ((self.known.len() + self.runs.len()) * std::mem::size_of::<DateSpan>()) as u64
    }
}

/// What an entry costs besides its spans and runs: the key, the version and the cache's slot.
const ENTRY_OVERHEAD_BYTES: u64 = 96;

/// Weighs an entry by the memory it holds.
#[derive(Clone)]
struct ByBytes;

impl Weighter<Uuid, Arc<Settled>> for ByBytes {
    fn weight(&self, _user: &Uuid, settled: &Arc<Settled>) -> u64 {
        settled.bytes() + ENTRY_OVERHEAD_BYTES
    }
}

/// How often the streaks' spans of settled days were answered from memory, for metrics and
/// tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryReads {
    /// Spans answered from memory alone.
    pub kept: u64,
    /// Spans read from the database, whole or in part (and then kept).
    pub read: u64,
}

/// The settled days this instance has read, by user, within a byte budget (0: none kept).
pub(crate) struct HistoryCache {
    entries: Option<Cache<Uuid, Arc<Settled>, ByBytes>>,
    kept: AtomicU64,
    read: AtomicU64,
}

impl HistoryCache {
    pub(crate) fn new(budget_bytes: u64) -> HistoryCache {
        let entries = (budget_bytes > 0).then(|| {
            // A ten-year daily runner's entry is about 110 bytes; the first allocation only.
            let items = usize::try_from(budget_bytes / 256)
                .unwrap_or(usize::MAX)
                .max(1);
            Cache::with_weighter(items, budget_bytes, ByBytes)
        });
        HistoryCache {
            entries,
            kept: AtomicU64::new(0),
            read: AtomicU64::new(0),
        }
    }

    /// What is kept of the user's running days in `span` (all settled under `version`): the
    /// days, and the parts of `span` that must still be read (all of it when nothing is kept).
    pub(crate) fn running_days(
        &self,
        user_id: Uuid,
        version: i64,
        span: DateSpan,
    ) -> (Vec<NaiveDate>, Vec<DateSpan>) {
        let (days, unknown) = self
            .entries
            .as_ref()
            .and_then(|entries| entries.get(&user_id))
            .filter(|settled| settled.version == version)
            .map_or_else(|| (Vec::new(), vec![span]), |settled| settled.days_in(span));
        let counter = if unknown.is_empty() {
            &self.kept
        } else {
            &self.read
        };
        counter.fetch_add(1, Ordering::Relaxed);
        (days, unknown)
    }

    /// Keeps spans of the user's settled days read under `version` with their running days,
    /// beside those kept under the same version. Under an older version it replaces them; an
    /// entry of a newer version (a read that saw a later change) stays.
    pub(crate) fn learn(
        &self,
        user_id: Uuid,
        version: i64,
        learned: &[(DateSpan, Vec<NaiveDate>)],
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        if learned.is_empty() {
            return;
        }
        let settled = match entries.get(&user_id) {
            Some(kept) if kept.version > version => return,
            Some(kept) if kept.version == version => kept.with(learned),
            _ => Settled {
                version,
                ..Settled::default()
            }
            .with(learned),
        };
        entries.insert(user_id, Arc::new(settled));
    }

    pub(crate) fn reads(&self) -> HistoryReads {
        HistoryReads {
            kept: self.kept.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn span(first: &str, last: &str) -> DateSpan {
        DateSpan::new(day(first), day(last))
    }

    #[test]
    fn a_change_of_recent_days_moves_the_floor_and_keeps_the_version() {
        let today = day("2026-12-04");
        let mark = HistoryMark::default().after_change([day("2026-12-04")], today);
        assert_eq!(
            mark,
            HistoryMark {
                version: 0,
                floor: Some(day("2026-11-03"))
            }
        );
        // Last week's run synced late: recent, nothing settled changes.
        let later = mark.after_change([day("2026-11-28"), day("2026-12-05")], day("2026-12-05"));
        assert_eq!(later.version, 0);
        assert_eq!(later.floor, Some(day("2026-11-04")));
    }

    #[test]
    fn a_change_of_a_settled_day_moves_the_version_and_the_floor_never_moves_back() {
        let mark = HistoryMark {
            version: 7,
            floor: Some(day("2026-11-03")),
        };
        // A run of last spring backfilled, or deleted: a day before the floor.
        let after = mark.after_change([day("2026-04-01")], day("2026-12-04"));
        assert_eq!(
            after,
            HistoryMark {
                version: 8,
                floor: Some(day("2026-11-03"))
            }
        );
        // The day before the floor is settled; the floor itself is not.
        assert!(mark.settles(span("2020-01-01", "2026-11-02")));
        assert!(!mark.settles(span("2020-01-01", "2026-11-03")));
        assert!(!HistoryMark::default().settles(span("2000-01-01", "2000-01-01")));
        assert_eq!(
            mark.settled_part(span("2026-10-01", "2026-12-31")),
            Some(span("2026-10-01", "2026-11-02"))
        );
        assert_eq!(mark.settled_part(span("2026-11-03", "2026-12-31")), None);
        assert_eq!(
            HistoryMark::default().settled_part(span("2000-01-01", "2000-01-02")),
            None
        );
    }

    #[test]
    fn a_workout_dated_in_the_future_moves_the_floor_no_further_than_tomorrow_allows() {
        let after = HistoryMark::default().after_change([day("2099-01-01")], day("2026-12-04"));
        assert_eq!(after.floor, Some(day("2026-11-04")));
        // A change that touched no live workout's day leaves the mark as it was.
        let mark = HistoryMark {
            version: 3,
            floor: Some(day("2026-01-01")),
        };
        assert_eq!(mark.after_change([], day("2026-12-04")), mark);
    }

    #[test]
    fn only_a_workout_that_appears_disappears_or_moves_touches_its_days() {
        let (monday, friday) = (day("2024-05-06"), day("2024-05-10"));
        let changed = |before, after| days_changed(before, after).collect::<Vec<_>>();
        assert_eq!(changed(None, (monday, true)), [monday]);
        assert_eq!(changed(Some((monday, true)), (monday, false)), [monday]);
        assert_eq!(
            changed(Some((monday, true)), (friday, true)),
            [monday, friday]
        );
        assert_eq!(changed(Some((monday, false)), (friday, true)), [friday]);
        assert_eq!(changed(Some((monday, true)), (monday, true)), []);
        assert_eq!(changed(Some((monday, false)), (monday, false)), []);
    }

    #[test]
    fn kept_days_answer_what_was_read_under_the_same_version_and_name_the_rest() {
        let cache = HistoryCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        let read = span("2020-01-01", "2020-01-10");
        let days = vec![day("2020-01-02"), day("2020-01-03"), day("2020-01-07")];
        assert_eq!(cache.running_days(runner, 1, read), (vec![], vec![read]));
        cache.learn(runner, 1, &[(read, days.clone())]);
        assert_eq!(cache.running_days(runner, 1, read), (days, vec![]));
        assert_eq!(
            cache.running_days(runner, 1, span("2020-01-03", "2020-01-06")),
            (vec![day("2020-01-03")], vec![])
        );
        // A span reaching beyond what was read: the kept days, and the part left to read.
        assert_eq!(
            cache.running_days(runner, 1, span("2019-12-30", "2020-01-02")),
            (
                vec![day("2020-01-02")],
                vec![span("2019-12-30", "2019-12-31")]
            )
        );
        // Another version, another runner: all of it is read.
        assert_eq!(cache.running_days(runner, 2, read), (vec![], vec![read]));
        assert_eq!(
            cache.running_days(Uuid::new_v4(), 1, read),
            (vec![], vec![read])
        );
        assert_eq!(cache.reads(), HistoryReads { kept: 2, read: 4 });
    }

    #[test]
    fn a_span_around_two_kept_spans_is_read_in_its_three_gaps() {
        let cache = HistoryCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        let (a, b) = (
            span("2020-01-05", "2020-01-06"),
            span("2020-01-09", "2020-01-09"),
        );
        cache.learn(runner, 0, &[(a, vec![day("2020-01-06")]), (b, vec![])]);
        let (days, unknown) = cache.running_days(runner, 0, span("2020-01-01", "2020-01-12"));
        assert_eq!(days, [day("2020-01-06")]);
        assert_eq!(
            unknown,
            [
                span("2020-01-01", "2020-01-04"),
                span("2020-01-07", "2020-01-08"),
                span("2020-01-10", "2020-01-12")
            ]
        );
    }

    #[test]
    fn spans_read_one_after_another_join_into_one_streak() {
        let cache = HistoryCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        let every_day = |s: DateSpan| s.first().iter_days().take(s.len_days() as usize).collect();
        let (later, earlier) = (
            span("2019-01-01", "2019-12-31"),
            span("2017-01-01", "2018-12-31"),
        );
        cache.learn(runner, 4, &[(later, every_day(later))]);
        cache.learn(runner, 4, &[(earlier, every_day(earlier))]);
        let whole = span("2017-01-01", "2019-12-31");
        assert_eq!(
            cache.running_days(runner, 4, whole),
            (every_day(whole), vec![])
        );
        let kept = cache.entries.as_ref().unwrap().get(&runner).unwrap();
        assert_eq!((kept.known.len(), kept.runs.len()), (1, 1));
    }

    #[test]
    fn a_newer_version_replaces_the_older_and_an_older_one_never_replaces_it() {
        let cache = HistoryCache::new(1024 * 1024);
        let runner = Uuid::new_v4();
        let read = span("2020-01-01", "2020-01-10");
        cache.learn(runner, 1, &[(read, vec![day("2020-01-01")])]);
        cache.learn(runner, 2, &[(read, vec![day("2020-01-09")])]);
        // A slow read that began before the change comes back with the old days.
        cache.learn(runner, 1, &[(read, vec![day("2020-01-01")])]);
        assert_eq!(cache.running_days(runner, 1, read), (vec![], vec![read]));
        assert_eq!(
            cache.running_days(runner, 2, read),
            (vec![day("2020-01-09")], vec![])
        );
    }

    #[test]
    fn the_budget_holds_and_zero_keeps_nothing() {
        let runner = Uuid::new_v4();
        let read = span("2020-01-01", "2020-12-31");
        // Every other day: 183 runs of one day.
        let days: Vec<NaiveDate> = read.first().iter_days().step_by(2).take(183).collect();
        let none = HistoryCache::new(0);
        none.learn(runner, 0, &[(read, days.clone())]);
        assert_eq!(none.running_days(runner, 0, read), (vec![], vec![read]));
        let small = HistoryCache::new(4 * 1024);
        for _ in 0..20 {
            small.learn(Uuid::new_v4(), 0, &[(read, days.clone())]);
        }
        let held = small.entries.as_ref().unwrap().weight();
        assert!(held <= 4 * 1024, "{held} bytes held");
    }
}
