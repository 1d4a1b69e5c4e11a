//! Running days (docs/running-days.md): a runner's goals, and the reads behind the numbers of
//! a year. Every read names the user and is bounded by the year: the year's workouts through
//! the `(user_id, start_date)` index of live workouts, never the runner's whole history.

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use sync_core::running::{
    parse_time_zone, today_in, DateSpan, Goal, ValidGoal, YearData, YearOutOfRange, MAX_YEAR,
    MIN_YEAR,
};
use uuid::Uuid;

use super::rows::GoalRow;
use super::schema::{goals, users};
use super::spans::{run_facts, running_days};
use super::webhooks::{queue_goal_milestones, MilestoneContext, Outbox};
use super::workouts::newest_of;
use super::{hooks, Conn};
use crate::history::{HistoryCache, HistoryMark};
use crate::records::{RunningState, RunningYear, YearRead};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Every goal a user can have: one per year the rules know.
const MAX_GOALS: i64 = (MAX_YEAR - MIN_YEAR + 1) as i64;

/// The user's goals, newest year first.
pub(crate) fn list_goals(conn: &mut Conn, user_id: Uuid) -> Result<Vec<Goal>, StoreError> {
    let rows: Vec<GoalRow> = goals::table
        .filter(goals::user_id.eq(DbUuid(user_id)))
        .order(goals::year.desc())
        .limit(MAX_GOALS)
        .select(GoalRow::as_select())
        .load(conn)?;
    rows.into_iter().map(GoalRow::into_goal).collect()
}

/// Creates or replaces the goal of a year: a replaced goal keeps its `created_at`. When a
/// subscription wants `goal.reached` or `achievement.unlocked`, the change runs under the
/// user's lock and queues what the new target reached; otherwise it is one statement.
pub(crate) fn put_goal(
    conn: &mut Conn,
    user_id: Uuid,
    goal: ValidGoal,
    now: DateTime<Utc>,
    default_target: u16,
) -> Result<Goal, StoreError> {
    let year = goal.year();
    goal_change(conn, user_id, year, now, default_target, |conn| {
        upsert_goal(conn, user_id, goal, now)
    })
}

/// One statement: the upsert returns the row as stored (with the kept `created_at`).
fn upsert_goal(
    conn: &mut Conn,
    user_id: Uuid,
    goal: ValidGoal,
    now: DateTime<Utc>,
) -> Result<Goal, StoreError> {
    let row = GoalRow {
        user_id: DbUuid(user_id),
        year: goal.year(),
        target_days: i32::from(goal.target_days()),
        created_at: DbTime(now),
        updated_at: DbTime(now),
    };
    let stored: GoalRow = diesel::insert_into(goals::table)
        .values(&row)
        .on_conflict((goals::user_id, goals::year))
        .do_update()
        .set((
            goals::target_days.eq(excluded(goals::target_days)),
            goals::updated_at.eq(excluded(goals::updated_at)),
        ))
        .returning(GoalRow::as_returning())
        .get_result(conn)?;
    stored.into_goal()
}

/// Removes the goal of a year; `false` when it had none. The year falls back to the default
/// target, which may reach it: queued as `put_goal` does.
pub(crate) fn delete_goal(
    conn: &mut Conn,
    user_id: Uuid,
    year: i32,
    now: DateTime<Utc>,
    default_target: u16,
) -> Result<bool, StoreError> {
    let mut removed = false;
    goal_change(conn, user_id, year, now, default_target, |conn| {
        removed = diesel::delete(goals::table.find((DbUuid(user_id), year))).execute(conn)? > 0;
        Ok(Goal::default_for(year, default_target))
    })?;
    Ok(removed)
}

/// Runs `change` (which returns the year's goal after it). When one of the user's
/// subscriptions wants an event of the achievements, it runs in a write transaction under the
/// user's lock, between reading the goal it replaces and queuing what the new one reached.
fn goal_change(
    conn: &mut Conn,
    user_id: Uuid,
    year: i32,
    now: DateTime<Utc>,
    default_target: u16,
    change: impl FnOnce(&mut Conn) -> Result<Goal, StoreError>,
) -> Result<Goal, StoreError> {
    if !Outbox::load(conn, user_id, now)?.wants_milestones() {
        return change(conn);
    }
    hooks::write_transaction(conn, |conn| {
        let lock = hooks::lock_user(conn, user_id)?;
        let before = goals::table
            .find((DbUuid(user_id), year))
            .select(GoalRow::as_select())
            .first(conn)
            .optional()?
            .map(GoalRow::into_goal)
            .transpose()?
            .unwrap_or_else(|| Goal::default_for(year, default_target));
        let after = change(conn)?;
        // Loaded again under the lock: a subscription made meanwhile gets the events too.
        let mut outbox = Outbox::load(conn, user_id, now)?;
        let context = MilestoneContext {
            zone: lock.zone()?,
            default_target,
        };
        queue_goal_milestones(conn, &mut outbox, &context, &before, &after)?;
        outbox.write(conn)?;
        Ok(after)
    })
}

/// The user's zone, change-feed position and goal for `year` (the runner's current year when
/// `None`) at `now`. `None` when the user does not exist.
pub(crate) fn running_state(
    conn: &mut Conn,
    user_id: Uuid,
    year: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Option<RunningState>, StoreError> {
    Ok(state_and_history(conn, user_id, year, now)?.map(|(state, _)| state))
}

/// [`running_state`] with the user's settled-history mark: one indexed query, the user's row
/// left-joined by primary key to the goals it may need. Without a year, the zone decides the
/// year after the read, and the runner's current year is at most one from the UTC one, so the
/// goals of those three years come along (at most three rows).
fn state_and_history(
    conn: &mut Conn,
    user_id: Uuid,
    year: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Option<(RunningState, HistoryMark)>, StoreError> {
    let (earliest, latest) = match year {
        Some(year) => (year, year),
        None => (now.year() - 1, now.year() + 1),
    };
    type Found = (String, i64, HistoryMark, Option<(i32, i32, DbTime, DbTime)>);
    let found: Vec<Found> = users::table
        .left_join(
            goals::table.on(goals::user_id
                .eq(users::id)
                .and(goals::year.between(earliest, latest))),
        )
        .filter(users::id.eq(DbUuid(user_id)))
        .select((
            users::time_zone,
            users::change_seq,
            (users::history_version, users::history_floor),
            (
                goals::year,
                goals::target_days,
                goals::created_at,
                goals::updated_at,
            )
                .nullable(),
        ))
        .limit(i64::from(latest - earliest) + 1)
        .load(conn)?;
    let Some(&(ref time_zone, change_seq, history, _)) = found.first() else {
        return Ok(None);
    };
    let time_zone = parse_time_zone(time_zone)
        .map_err(|e| StoreError::Corrupt(format!("stored time zone {:?}: {e}", e.name)))?;
    let today = today_in(time_zone, now);
    let year = year.unwrap_or(today.year());
    let goal = found
        .into_iter()
        .filter_map(|(.., goal)| goal)
        .find(|(goal_year, ..)| *goal_year == year)
        .map(|(year, target_days, created_at, updated_at)| GoalRow {
            user_id: DbUuid(user_id),
            year,
            target_days,
            created_at,
            updated_at,
        });
    let state = RunningState {
        year,
        today,
        time_zone,
        change_seq,
        goal: goal.map(GoalRow::into_goal).transpose()?,
    };
    Ok(Some((state, history)))
}

/// A runner's year seen at `now`, on one snapshot: the state, then one bounded read per
/// span of [`YearData::workout_spans`] (just the year without `read.streaks`), then the dates
/// the streaks still need (those of settled days from `history` when it has them), then the
/// year's newest workouts by primary key. `None` when the user does not exist.
pub(crate) fn running_year(
    conn: &mut Conn,
    history: &HistoryCache,
    user_id: Uuid,
    year: Option<i32>,
    now: DateTime<Utc>,
    read: YearRead,
) -> Result<Option<RunningYear>, StoreError> {
    hooks::read_transaction(conn, |conn| {
        let Some((state, mark)) = state_and_history(conn, user_id, year, now)? else {
            return Ok(None);
        };
        let (year, today) = (state.year, state.today);
        let spans = if read.streaks {
            YearData::workout_spans(year, today)?
        } else {
            vec![DateSpan::year(year).ok_or(YearOutOfRange {
                year: i64::from(year),
            })?]
        };
        // The settled days read here, the workouts' as well as the streaks', are kept once the
        // read has them all, under the mark it saw: with the workouts' among them, what is kept
        // reaches the floor, so a later read's spans fall inside it when its window moves.
        let mut learned = Vec::new();
        let mut runs = Vec::new();
        for span in spans {
            let facts = run_facts(conn, user_id, span)?;
            if let Some(settled) = mark.settled_part(span) {
                let days = facts.iter().map(|run| run.date);
                learned.push((settled, days.filter(|day| settled.contains(*day)).collect()));
            }
            runs.extend(facts);
        }
        let mut data = YearData::new(year, today, runs)?;
        if read.streaks {
            data.fill_running_days(|span| {
                if !mark.settles(span) {
                    return running_days(conn, user_id, span);
                }
                let (mut days, unknown) = history.running_days(user_id, mark.version, span);
                for part in unknown {
                    let read = running_days(conn, user_id, part)?;
                    days.extend_from_slice(&read);
                    learned.push((part, read));
                }
                Ok(days)
            })?;
        }
        history.learn(user_id, mark.version, &learned);
        // The year's newest workouts are the last of its facts, which are in `(start_time,
        // id)` order: their rows are read by primary key.
        let newest: Vec<Uuid> = data
            .year_runs()
            .iter()
            .rev()
            .take(usize::try_from(read.recent_runs).unwrap_or(0))
            .map(|run| run.id)
            .collect();
        let recent_runs = newest_of(conn, user_id, &newest)?;
        Ok(Some(RunningYear {
            state,
            data,
            recent_runs,
        }))
    })
}
