//! Building runners for the tests: workouts on given days, and a fake store that answers the
//! rules' questions from a whole history, as the real store would.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sync_core::running::{DateSpan, RunFact, YearData};
use uuid::Uuid;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

pub fn instant(text: &str) -> DateTime<Utc> {
    sync_core::time::parse_client_timestamp(text)
        .expect("test timestamp")
        .utc
}

/// A workout on `day` starting at `hour`:00 UTC, dated `day`.
pub fn run_at(day: NaiveDate, hour: u32, meters: f64, seconds: i64) -> RunFact {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("test hour"));
    RunFact {
        id: Uuid::new_v4(),
        start_time: start,
        date: day,
        distance_meters: meters,
        duration_seconds: seconds,
    }
}

/// A 5 km, 30-minute workout at 07:00 UTC on `day`.
pub fn run(day: NaiveDate) -> RunFact {
    run_at(day, 7, 5000.0, 1800)
}

/// One 5 km workout on each day from `first`, `count` days in a row.
pub fn daily(first: NaiveDate, count: usize) -> Vec<RunFact> {
    first.iter_days().take(count).map(run).collect()
}

/// What a store does: pass the workouts of the spans, then answer the rules' questions for
/// running days from the whole `history`. Returns the data and how many questions it asked.
pub fn fetched(year: i32, today: NaiveDate, history: &[RunFact]) -> (YearData, usize) {
    let spans = YearData::workout_spans(year, today).expect("valid year");
    let in_spans = history
        .iter()
        .filter(|run| spans.iter().any(|span| span.contains(run.date)))
        .cloned();
    let mut data = YearData::new(year, today, in_spans).expect("valid year");
    let all_days: BTreeSet<NaiveDate> = history.iter().map(|run| run.date).collect();
    let mut questions = 0;
    data.fill_running_days(|span: DateSpan| {
        questions += 1;
        Ok::<_, std::convert::Infallible>(
            all_days
                .range(span.first()..=span.last())
                .copied()
                .collect::<Vec<_>>(),
        )
    })
    .expect("the fake store never fails");
    (data, questions)
}

/// [`fetched`] without the count.
pub fn year_data(year: i32, today: NaiveDate, history: &[RunFact]) -> YearData {
    fetched(year, today, history).0
}
