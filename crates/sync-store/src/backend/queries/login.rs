//! Failed-login budgets: counted before a password is checked, so that a burst of guesses
//! gets at most a budget's worth checked, on any number of instances.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::schema::login_throttles;
use super::{hooks, Conn};
use crate::records::{LoginAttempt, LoginBudget, Reservation};
use crate::types::DbTime;
use crate::StoreError;

/// Takes one attempt from every budget, or from none: per budget, in the order given, it
/// creates the row if absent, starts it afresh if it has seen no attempt for `idle_reset`
/// (and no lock is in force), then takes an attempt with one conditional update. The row
/// locks those updates take (PostgreSQL) or the immediate transaction (SQLite) make it atomic
/// across instances; rows are always taken in the same order, so two logins never deadlock.
pub(crate) fn reserve(
    conn: &mut Conn,
    budgets: &[LoginBudget],
    now: DateTime<Utc>,
    idle_reset: Duration,
) -> Result<LoginAttempt, StoreError> {
    let (now_db, idle_since) = (DbTime(now), DbTime(now - idle_reset));
    hooks::write_transaction(conn, |conn| {
        let mut attempts = Vec::with_capacity(budgets.len());
        for budget in budgets {
            let key = login_throttles::table.find(&budget.key);
            let unlocked = login_throttles::locked_until
                .is_null()
                .or(login_throttles::locked_until.le(now_db).assume_not_null());
            diesel::insert_into(login_throttles::table)
                .values((
                    login_throttles::budget_key.eq(&budget.key),
                    login_throttles::failures.eq(0),
                    login_throttles::updated_at.eq(now_db),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            diesel::update(
                key.filter(login_throttles::updated_at.lt(idle_since))
                    .filter(unlocked),
            )
            .set(login_throttles::failures.eq(0))
            .execute(conn)?;
            let taken: Option<i32> = diesel::update(
                key.filter(login_throttles::failures.lt(budget.threshold))
                    .filter(unlocked),
            )
            .set((
                login_throttles::failures.eq(login_throttles::failures + 1),
                login_throttles::locked_until.eq(None::<DbTime>),
                login_throttles::updated_at.eq(now_db),
            ))
            .returning(login_throttles::failures)
            .get_result(conn)
            .optional()?;
            let Some(attempt) = taken else {
                // Give back what the earlier budgets gave: a refused login takes nothing.
                for (earlier, _) in &attempts {
                    give_back(conn, earlier)?;
                }
                let locked_until: Option<DbTime> =
                    key.select(login_throttles::locked_until).first(conn)?;
                return Ok(LoginAttempt::Refused {
                    locked_until: locked_until.map(|t| t.0).filter(|t| *t > now),
                });
            };
            attempts.push((budget.clone(), attempt));
        }
        Ok(LoginAttempt::Granted(Reservation { attempts }))
    })
}

fn give_back(conn: &mut Conn, budget: &LoginBudget) -> Result<(), StoreError> {
    diesel::update(login_throttles::table.find(&budget.key))
        .set(login_throttles::failures.eq(login_throttles::failures - 1))
        .execute(conn)?;
    Ok(())
}

/// After a reserved attempt failed: every budget whose last attempt it was is locked for
/// `lock_for` (and starts afresh after the lock). Returns the lock's end when one was set;
/// costs no statement when none was.
pub(crate) fn fail(
    conn: &mut Conn,
    reservation: &Reservation,
    now: DateTime<Utc>,
    lock_for: Duration,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let used_up: Vec<&str> = reservation
        .attempts
        .iter()
        .filter(|(budget, attempt)| *attempt >= budget.threshold)
        .map(|(budget, _)| budget.key.as_str())
        .collect();
    if used_up.is_empty() {
        return Ok(None);
    }
    let until = now + lock_for;
    diesel::update(login_throttles::table.filter(login_throttles::budget_key.eq_any(&used_up)))
        .set((
            login_throttles::locked_until.eq(Some(DbTime(until))),
            login_throttles::failures.eq(0),
            login_throttles::updated_at.eq(DbTime(now)),
        ))
        .execute(conn)?;
    Ok(Some(until))
}

/// After a successful login: the budgets start afresh.
pub(crate) fn clear(conn: &mut Conn, keys: &[String]) -> Result<(), StoreError> {
    diesel::delete(login_throttles::table.filter(login_throttles::budget_key.eq_any(keys)))
        .execute(conn)?;
    Ok(())
}

/// Deletes budgets that have seen no attempt since `idle_since` and hold no lock at `now`
/// (they would start afresh anyway), through the `updated_at` index; at most `limit` rows a
/// call, so one purge never holds the write lock long.
pub(crate) fn purge(
    conn: &mut Conn,
    idle_since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, StoreError> {
    let idle = login_throttles::table
        .filter(login_throttles::updated_at.lt(DbTime(idle_since)))
        .filter(
            login_throttles::locked_until
                .is_null()
                .or(login_throttles::locked_until
                    .le(DbTime(now))
                    .assume_not_null()),
        )
        .order(login_throttles::updated_at.asc())
        .limit(limit)
        .select(login_throttles::budget_key);
    let keys: Vec<String> = idle.load(conn)?;
    if keys.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(login_throttles::table.filter(login_throttles::budget_key.eq_any(&keys)))
            .filter(login_throttles::updated_at.lt(DbTime(idle_since)))
            .execute(conn)?,
    )
}
