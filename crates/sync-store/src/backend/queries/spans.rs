//! Reads of a user's live workouts dated in a span of days, the way the running-days rules
//! take them: the year's numbers (`running`) and the milestones a change may reach
//! (`webhooks`) both read here, through the partial `(user_id, start_date)` index.

use chrono::NaiveDate;
use diesel::dsl::{count, max, min};
use diesel::prelude::*;
use sync_core::running::{DateSpan, RunFact, STREAK_FETCH_DAYS};
use uuid::Uuid;

use super::schema::workouts;
use super::Conn;
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// The live workouts dated in `span`, as the rules need them (five columns, not whole rows).
pub(crate) fn run_facts(
    conn: &mut Conn,
    user_id: Uuid,
    span: DateSpan,
) -> Result<Vec<RunFact>, StoreError> {
    let rows: Vec<(DbUuid, DbTime, NaiveDate, f64, i64)> = live_in(user_id, span)
        .select((
            workouts::id,
            workouts::start_time,
            workouts::start_date,
            workouts::distance_meters,
            workouts::duration_seconds,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, start_time, date, distance_meters, duration_seconds)| RunFact {
                id: id.0,
                start_time: start_time.0,
                date,
                distance_meters,
                duration_seconds,
            },
        )
        .collect())
}

/// The running days in `span`: the distinct dates of its live workouts.
///
/// The rules ask for more than a year of days at once only while they follow a streak already
/// longer than a year, which is a runner who runs every day. Such a span is counted first,
/// with its first and last running day: when every day between those two is a running day,
/// the days are made here instead of read. So a ten-year streak costs three counts and one
/// year of dates rather than 3,650 rows sent and decoded (docs/benchmarks.md, optimisation
/// 16), and a streak that reaches back to the runner's first run inside the span needs no
/// read of its dates either (optimisation 20). Otherwise the dates are read as for any span.
pub(crate) fn running_days(
    conn: &mut Conn,
    user_id: Uuid,
    span: DateSpan,
) -> Result<Vec<NaiveDate>, StoreError> {
    if span.len_days() > STREAK_FETCH_DAYS {
        let (distinct, first, last): (i64, Option<NaiveDate>, Option<NaiveDate>) =
            live_in(user_id, span)
                .select((
                    count(workouts::start_date).aggregate_distinct(),
                    min(workouts::start_date),
                    max(workouts::start_date),
                ))
                .get_result(conn)?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let between = DateSpan::new(first, last);
        if u64::try_from(distinct) == Ok(between.len_days()) {
            return Ok(first.iter_days().take_while(|day| *day <= last).collect());
        }
    }
    Ok(live_in(user_id, span)
        .select(workouts::start_date)
        .distinct()
        .load(conn)?)
}

/// The user's live workouts dated in `span`, through the partial `(user_id, start_date)` index.
fn live_in(
    user_id: Uuid,
    span: DateSpan,
) -> workouts::BoxedQuery<'static, <Conn as diesel::Connection>::Backend> {
    workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::deleted_at.is_null())
        .filter(workouts::start_date.between(span.first(), span.last()))
        .into_boxed()
}
