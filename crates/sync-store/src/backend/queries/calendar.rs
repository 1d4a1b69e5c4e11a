//! The runner's calendar: an account's time zone, and re-dating the workouts it dates when it
//! changes (docs/running-days.md).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sync_core::running::{workout_date, Tz};
use uuid::Uuid;

use super::auth::user;
use super::rows::{UserLock, WorkoutRow};
use super::schema::{users, workouts};
use super::sync::upsert_workouts;
use super::{hooks, Conn};
use crate::records::{TimeZoneChange, User};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Sets the user's zone and, in the same transaction, re-dates their live workouts that were
/// sent in UTC (the ones the zone dates): each one whose day moves gets a new revision and
/// change-feed position, so a reader caching `date` learns of it. One read of those
/// workouts and one bulk upsert, whatever their number. `None` when the user does not exist.
pub(crate) fn set_time_zone(
    conn: &mut Conn,
    user_id: Uuid,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<Option<TimeZoneChange>, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let lock = match hooks::lock_user(conn, user_id) {
            Err(StoreError::NotFound) => return Ok(None),
            other => other?,
        };
        let mut redated = 0;
        if lock.time_zone != zone.name() {
            diesel::update(users::table.find(DbUuid(user_id)))
                .set(users::time_zone.eq(zone.name()))
                .execute(conn)?;
            redated = redate_utc_workouts(conn, &lock, user_id, zone, now)?;
        }
        let user: Option<User> = user(conn, user_id)?;
        Ok(user.map(|user| TimeZoneChange { user, redated }))
    })
}

/// Gives every live workout of the user sent in UTC its day in `zone`; returns how many moved.
/// The moved ones take the change-feed positions after `after_seq`, in start order.
fn redate_utc_workouts(
    conn: &mut Conn,
    lock: &UserLock,
    user_id: Uuid,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let after_seq = lock.change_seq;
    let sent_in_utc: Vec<WorkoutRow> = workouts::table
        .filter(workouts::user_id.eq(DbUuid(user_id)))
        .filter(workouts::deleted_at.is_null())
        .filter(workouts::start_offset_minutes.eq(0))
        .order((workouts::start_time.asc(), workouts::id.asc()))
        .select(WorkoutRow::as_select())
        .load(conn)?;
    let mut touched = Vec::new();
    let moved: Vec<WorkoutRow> = sent_in_utc
        .into_iter()
        .filter_map(|row| {
            let date = workout_date(row.start_time.0, 0, zone);
            (date != row.start_date).then(|| {
                touched.extend([row.start_date, date]);
                WorkoutRow {
                    start_date: date,
                    ..row
                }
            })
        })
        .zip(after_seq + 1..)
        .map(|(row, change_seq)| WorkoutRow {
            revision: row.revision + 1,
            change_seq,
            updated_at: DbTime(now),
            ..row
        })
        .collect();
    if moved.is_empty() {
        return Ok(0);
    }
    upsert_workouts(conn, &moved)?;
    let count = moved.len();
    let history = lock.history.after_change(touched, now.date_naive());
    diesel::update(users::table.find(DbUuid(user_id)))
        .set((
            users::change_seq.eq(after_seq + count as i64),
            users::history_version.eq(history.version),
            users::history_floor.eq(history.floor),
        ))
        .execute(conn)?;
    Ok(count)
}
