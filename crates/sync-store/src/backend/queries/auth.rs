//! Accounts, sessions and refresh-token families.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sync_core::running::Tz;
use uuid::Uuid;

use super::rows::{SessionRow, UserRow};
use super::schema::{refresh_tokens, sessions, users};
use super::{hooks, Conn};
use crate::records::{Credentials, LoginAttempt, NewSession, Session, User};
use crate::types::{DbTime, DbUuid};
use crate::{RefreshOutcome, StoreError};

/// Most sessions listed for one user.
const MAX_SESSIONS_LISTED: i64 = 100;

pub(crate) fn register(
    conn: &mut Conn,
    email: &str,
    password_hash: &str,
    time_zone: Tz,
    session: &NewSession,
) -> Result<User, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let row = UserRow {
            id: DbUuid(Uuid::new_v4()),
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            change_seq: 0,
            workout_count: 0,
            sync_count: 0,
            last_sync_at: None,
            failed_logins: 0,
            locked_until: None,
            created_at: DbTime(session.created_at),
            time_zone: time_zone.name().to_owned(),
        };
        match diesel::insert_into(users::table).values(&row).execute(conn) {
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(StoreError::EmailTaken)
            }
            other => other?,
        };
        insert_session(conn, row.id.0, session)?;
        Ok(row.user())
    })
}

pub(crate) fn credentials(conn: &mut Conn, email: &str) -> Result<Option<Credentials>, StoreError> {
    let row: Option<UserRow> = users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(UserRow::into_credentials))
}

pub(crate) fn user(conn: &mut Conn, user_id: Uuid) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = users::table
        .find(DbUuid(user_id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| r.user()))
}

/// Opens a session after a successful login and clears the failed-login count.
pub(crate) fn open_session(
    conn: &mut Conn,
    user_id: Uuid,
    session: &NewSession,
) -> Result<(), StoreError> {
    hooks::write_transaction(conn, |conn| {
        diesel::update(users::table.find(DbUuid(user_id)))
            .set((
                users::failed_logins.eq(0),
                users::locked_until.eq(None::<DbTime>),
            ))
            .execute(conn)?;
        insert_session(conn, user_id, session)
    })
}

fn insert_session(conn: &mut Conn, user_id: Uuid, session: &NewSession) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table)
        .values(&SessionRow {
            id: DbUuid(session.id),
            user_id: DbUuid(user_id),
            user_agent: session.user_agent.clone(),
            created_at: DbTime(session.created_at),
            last_used_at: DbTime(session.created_at),
            expires_at: DbTime(session.expires_at),
            revoked_at: None,
        })
        .execute(conn)?;
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(&session.refresh_token_hash),
            refresh_tokens::session_id.eq(DbUuid(session.id)),
            refresh_tokens::created_at.eq(DbTime(session.created_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes one attempt from the account's budget of `threshold` failed logins, before the
/// password is checked: one conditional update, so that across any number of concurrent
/// requests and instances at most `threshold` passwords are ever checked per lock window. An
/// attempt counts as a failure until a success clears the count ([`open_session`]).
pub(crate) fn reserve_login_attempt(
    conn: &mut Conn,
    user_id: Uuid,
    now: DateTime<Utc>,
    threshold: i32,
) -> Result<LoginAttempt, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let unlocked = users::locked_until
            .is_null()
            .or(users::locked_until.le(DbTime(now)).assume_not_null());
        let granted: Option<i32> = diesel::update(
            users::table
                .find(DbUuid(user_id))
                .filter(users::failed_logins.lt(threshold))
                .filter(unlocked),
        )
        .set((
            users::failed_logins.eq(users::failed_logins + 1),
            users::locked_until.eq(None::<DbTime>),
        ))
        .returning(users::failed_logins)
        .get_result(conn)
        .optional()?;
        if let Some(attempt) = granted {
            return Ok(LoginAttempt::Granted { attempt });
        }
        let locked_until: Option<Option<DbTime>> = users::table
            .find(DbUuid(user_id))
            .select(users::locked_until)
            .first(conn)
            .optional()?;
        Ok(LoginAttempt::Refused {
            locked_until: locked_until.flatten().map(|t| t.0).filter(|t| *t > now),
        })
    })
}

/// After attempt number `attempt` of [`reserve_login_attempt`] failed: the one that used up the
/// budget locks the account for `lock_for` (and starts a fresh budget for after the lock).
/// Returns the lock's end when it locked.
pub(crate) fn lock_after_failed_login(
    conn: &mut Conn,
    user_id: Uuid,
    attempt: i32,
    now: DateTime<Utc>,
    threshold: i32,
    lock_for: Duration,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if attempt < threshold {
        return Ok(None);
    }
    let until = now + lock_for;
    diesel::update(users::table.find(DbUuid(user_id)))
        .set((
            users::locked_until.eq(Some(DbTime(until))),
            users::failed_logins.eq(0),
        ))
        .execute(conn)?;
    Ok(Some(until))
}

pub(crate) fn session(conn: &mut Conn, session_id: Uuid) -> Result<Option<Session>, StoreError> {
    let row: Option<SessionRow> = sessions::table
        .find(DbUuid(session_id))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(Session::from))
}

/// Records use of a session, at most once per `TOUCH_GRANULARITY_SECS`.
pub(crate) fn touch_session(
    conn: &mut Conn,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !crate::records::touch_due(session, now) {
        return Ok(());
    }
    diesel::update(sessions::table.find(DbUuid(session.id)))
        .set(sessions::last_used_at.eq(DbTime(now)))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn active_sessions(
    conn: &mut Conn,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let rows: Vec<SessionRow> = sessions::table
        .filter(sessions::user_id.eq(DbUuid(user_id)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(DbTime(now)))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .limit(MAX_SESSIONS_LISTED)
        .select(SessionRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Session::from).collect())
}

/// Revokes one of the user's sessions; `false` when the user has no such active session.
pub(crate) fn revoke_session(
    conn: &mut Conn,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        sessions::table
            .filter(sessions::id.eq(DbUuid(session_id)))
            .filter(sessions::user_id.eq(DbUuid(user_id)))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(DbTime(now))))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Exchanges a refresh token for a new one of the same family. A token that was already
/// exchanged revokes its whole session: someone replayed it.
pub(crate) fn rotate_refresh(
    conn: &mut Conn,
    presented_hash: &str,
    next_hash: &str,
    now: DateTime<Utc>,
) -> Result<RefreshOutcome, StoreError> {
    hooks::write_transaction(conn, |conn| {
        let token: Option<(DbUuid, Option<DbTime>)> = refresh_tokens::table
            .find(presented_hash)
            .select((refresh_tokens::session_id, refresh_tokens::used_at))
            .first(conn)
            .optional()?;
        let Some((session_id, used_at)) = token else {
            return Ok(RefreshOutcome::Invalid);
        };
        let Some(session) = session(conn, session_id.0)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if !session.is_active(now) {
            return Ok(RefreshOutcome::Invalid);
        }
        let reused = |conn: &mut Conn| -> Result<RefreshOutcome, StoreError> {
            diesel::update(sessions::table.find(session_id))
                .set(sessions::revoked_at.eq(Some(DbTime(now))))
                .execute(conn)?;
            Ok(RefreshOutcome::Reused {
                session_id: session.id,
                user_id: session.user_id,
            })
        };
        if used_at.is_some() {
            return reused(conn);
        }
        // Claim the token only if it is still unused: on PostgreSQL (read committed) concurrent
        // exchanges of one token all read it unused above; this update waits for the first to
        // commit and then matches no row, so the others count as reuse, not as rotations.
        let claimed = diesel::update(
            refresh_tokens::table
                .find(presented_hash)
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(Some(DbTime(now))))
        .execute(conn)?;
        if claimed == 0 {
            return reused(conn);
        }
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(next_hash),
                refresh_tokens::session_id.eq(session_id),
                refresh_tokens::created_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
        diesel::update(sessions::table.find(session_id))
            .set(sessions::last_used_at.eq(DbTime(now)))
            .execute(conn)?;
        Ok(RefreshOutcome::Rotated(session))
    })
}

/// Erases the account: one `DELETE` of the user row in a write transaction, which the
/// database cascades to every table that references it (each `user_id` column is declared
/// `REFERENCES users(id) ON DELETE CASCADE`, and refresh tokens cascade from their sessions).
/// The user's lock is taken first, so a sync of theirs that is running commits before, and
/// one that starts after finds no user. `false` when there was no such account.
pub(crate) fn delete_account(conn: &mut Conn, user_id: Uuid) -> Result<bool, StoreError> {
    hooks::write_transaction(conn, |conn| {
        match hooks::lock_user(conn, user_id) {
            Err(StoreError::NotFound) => return Ok(false),
            other => other?,
        };
        let deleted = diesel::delete(users::table.find(DbUuid(user_id))).execute(conn)?;
        Ok(deleted == 1)
    })
}
