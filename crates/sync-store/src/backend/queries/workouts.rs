//! Reading a user's workouts (the dashboard's list, one workout, the change feed, status) and
//! server-side edits, each an indexed, bounded query.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use sync_core::webhooks::EventType;
use sync_core::{ListCursor, StoredWorkout};
use uuid::Uuid;

use super::rows::WorkoutRow;
use super::schema::{users, workouts};
use super::sync::upsert_workouts;
use super::webhooks::{queue_workout_events, MilestoneContext, Outbox, WorkoutChange};
use super::{hooks, Conn};
use crate::history::{days_changed, live_day};
use crate::records::{ChangePage, EditOutcome, SyncStatus, WorkoutPage, WorkoutQuery};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// The widest UTC offset RFC 3339 can express (±23:59): a calendar year's workouts start within
/// this much of the year's UTC bounds, so the year filter can narrow by the indexed
/// `start_time` first.
const MAX_OFFSET_HOURS: i64 = 24;

pub(crate) fn list(
    conn: &mut Conn,
    user_id: Uuid,
    q: &WorkoutQuery,
) -> Result<WorkoutPage, StoreError> {
    let mut query = workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::deleted_at.is_null())
        .into_boxed();
    if let Some(since) = q.since {
        query = query.filter(workouts::start_time.ge(DbTime(since)));
    }
    if let Some(until) = q.until {
        query = query.filter(workouts::start_time.lt(DbTime(until)));
    }
    if let Some(year) = q.year {
        let Some((first, next)) = year_bounds(year) else {
            return Ok(WorkoutPage {
                workouts: Vec::new(),
                next_cursor: None,
                has_more: false,
            });
        };
        let slack = Duration::hours(MAX_OFFSET_HOURS);
        query = query
            .filter(workouts::start_time.ge(DbTime(utc_midnight(first) - slack)))
            .filter(workouts::start_time.lt(DbTime(utc_midnight(next) + slack)))
            .filter(workouts::start_date.ge(first))
            .filter(workouts::start_date.lt(next));
    }
    if let Some(cursor) = q.cursor {
        let t = DbTime(cursor.start_time);
        query = query.filter(
            workouts::start_time.lt(t).or(workouts::start_time
                .eq(t)
                .and(workouts::id.lt(DbUuid(cursor.id)))),
        );
    }
    let mut rows: Vec<WorkoutRow> = query
        .order((workouts::start_time.desc(), workouts::id.desc()))
        .limit(q.limit + 1)
        .select(WorkoutRow::as_select())
        .load(conn)?;
    let has_more = rows.len() as i64 > q.limit;
    rows.truncate(q.limit as usize);
    let workouts: Vec<StoredWorkout> = rows.into_iter().map(WorkoutRow::into_stored).collect();
    let next_cursor = if has_more {
        workouts.last().map(|w| ListCursor {
            start_time: w.content.start_time,
            id: w.id,
        })
    } else {
        None
    };
    Ok(WorkoutPage {
        workouts,
        next_cursor,
        has_more,
    })
}

/// The first day of `year` and of the next; `None` for a year chrono cannot represent.
fn year_bounds(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1)?;
    let next = NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?;
    Some((first, next))
}

fn utc_midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// One live workout of the user.
pub(crate) fn get(
    conn: &mut Conn,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<StoredWorkout>, StoreError> {
    let row: Option<WorkoutRow> = workouts::table
        .filter(workouts::id.eq(DbUuid(id)))
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::deleted_at.is_null())
        .select(WorkoutRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(WorkoutRow::into_stored))
}

/// The user's live workouts among `ids`, newest first as [`list`] orders them: primary-key
/// reads, for a caller that already knows which workouts a page holds. The stats read takes
/// its recent runs this way from the year's facts. The year's range query in [`list`] would
/// be planned once for all runners on PostgreSQL, and that plan reads the whole year through
/// the date index and sorts it (docs/benchmarks.md, optimisation 19).
///
/// The statement names the ids alone. With the user, or an order, beside them, SQLite's
/// planner preferred walking all of the user's workouts by an index on `user_id`. The owner
/// and liveness are checked here instead, and the few rows are sorted here.
pub(crate) fn newest_of(
    conn: &mut Conn,
    user_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<StoredWorkout>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<DbUuid> = ids.iter().copied().map(DbUuid).collect();
    let mut rows: Vec<WorkoutRow> = workouts::table
        .filter(workouts::id.eq_any(ids))
        .select(WorkoutRow::as_select())
        .load(conn)?;
    rows.retain(|row| row.user_id.0 == user_id && row.deleted_at.is_none());
    rows.sort_unstable_by_key(|row| std::cmp::Reverse((row.start_time.0, row.id.0)));
    Ok(rows.into_iter().map(WorkoutRow::into_stored).collect())
}

/// Changes after `after_seq`, in commit order, at most `limit`.
pub(crate) fn changes(
    conn: &mut Conn,
    user_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> Result<ChangePage, StoreError> {
    let mut rows: Vec<WorkoutRow> = workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::change_seq.gt(after_seq))
        .order(workouts::change_seq.asc())
        .limit(limit + 1)
        .select(WorkoutRow::as_select())
        .load(conn)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let changes: Vec<StoredWorkout> = rows.into_iter().map(WorkoutRow::into_stored).collect();
    let last_seq = changes.last().map_or(after_seq, |w| w.change_seq);
    Ok(ChangePage {
        changes,
        last_seq,
        has_more,
    })
}

pub(crate) fn status(conn: &mut Conn, user_id: Uuid) -> Result<Option<SyncStatus>, StoreError> {
    let user: Option<(i64, i64, Option<DbTime>)> = users::table
        .find(DbUuid(user_id))
        .select((users::change_seq, users::workout_count, users::last_sync_at))
        .first(conn)
        .optional()?;
    let Some((change_seq, workout_count, last_sync_at)) = user else {
        return Ok(None);
    };
    let live = workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::deleted_at.is_null())
        .select(workouts::start_time);
    let oldest: Option<DbTime> = live
        .order(workouts::start_time.asc())
        .first(conn)
        .optional()?;
    let newest: Option<DbTime> = live
        .order(workouts::start_time.desc())
        .first(conn)
        .optional()?;
    Ok(Some(SyncStatus {
        last_sync_at: last_sync_at.map(|t| t.0),
        change_seq,
        total_workouts: workout_count,
        oldest_workout: oldest.map(|t| t.0),
        newest_workout: newest.map(|t| t.0),
    }))
}

/// A server-side edit: `edit` turns the stored workout into its new content (or refuses).
/// Runs under the user lock like a sync, and dates the result in the user's zone as a sync
/// does; an edit that changes nothing writes nothing. Its webhook event is queued in the same
/// transaction (`default_target`: the target of a year without a goal, for `goal.reached`).
pub(crate) fn edit<E>(
    conn: &mut Conn,
    user_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
    default_target: u16,
    edit: impl FnOnce(&StoredWorkout) -> Result<Option<StoredWorkout>, E>,
) -> Result<EditOutcome<E>, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let lock = hooks::lock_user(conn, user_id)?;
        let (after_seq, zone) = (lock.change_seq, lock.zone()?);
        let Some(current) = get(conn, user_id, id)? else {
            return Ok(EditOutcome::NotFound);
        };
        let next = match edit(&current) {
            Err(e) => return Ok(EditOutcome::Refused(e)),
            Ok(None) => return Ok(EditOutcome::Unchanged(current)),
            Ok(Some(next)) => next,
        };
        let was_live = i64::from(!current.is_deleted());
        let is_live = i64::from(!next.is_deleted());
        let written = StoredWorkout {
            // An edit may move the start: date it as a sync would, in the zone read under the lock.
            start_date: next.date_in(zone),
            revision: current.revision + 1,
            change_seq: after_seq + 1,
            updated_at: now,
            ..next
        };
        upsert_workouts(conn, &[WorkoutRow::from_stored(user_id, &written)])?;
        let mut outbox = Outbox::load(conn, user_id, now)?;
        let event = if written.is_deleted() {
            EventType::WorkoutDeleted
        } else {
            EventType::WorkoutUpdated
        };
        let change = WorkoutChange {
            event,
            before: Some(&current),
            after: &written,
        };
        let context = MilestoneContext {
            zone,
            default_target,
        };
        queue_workout_events(conn, &mut outbox, &context, &[change], None)?;
        outbox.write(conn)?;
        let history = lock.history.after_change(
            days_changed(Some(live_day(&current)), live_day(&written)),
            now.date_naive(),
        );
        diesel::update(users::table.find(DbUuid(user_id)))
            .set((
                users::change_seq.eq(after_seq + 1),
                users::workout_count.eq(users::workout_count + (is_live - was_live)),
                users::history_version.eq(history.version),
                users::history_floor.eq(history.floor),
            ))
            .execute(conn)?;
        Ok(EditOutcome::Written(written))
    })
}
