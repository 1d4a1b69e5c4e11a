//! Accounts, sessions and refresh-token families.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sync_core::running::Tz;
use uuid::Uuid;

use super::rows::{SessionRow, UserRow};
use super::schema::{refresh_tokens, sessions, users};
use super::{hooks, Conn};
use crate::records::{Credentials, NewSession, Session, SessionClaim, SessionUse, User};
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

/// The account stored under the first of `emails` that one is stored under: one lookup of
/// the unique email index for all of them.
pub(crate) fn credentials_any(
    conn: &mut Conn,
    emails: &[String],
) -> Result<Option<Credentials>, StoreError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::email.eq_any(emails))
        .select(UserRow::as_select())
        .load(conn)?;
    let first = emails
        .iter()
        .find_map(|email| rows.iter().position(|row| &row.email == email));
    Ok(first.map(|i| {
        rows.into_iter()
            .nth(i)
            .expect("a found row")
            .into_credentials()
    }))
}

/// Stores the account under `email` instead; `false` (and nothing changed) when another
/// account has it.
pub(crate) fn change_email(
    conn: &mut Conn,
    user_id: Uuid,
    email: &str,
) -> Result<bool, StoreError> {
    let changed = diesel::update(users::table.find(DbUuid(user_id)))
        .set(users::email.eq(email))
        .execute(conn);
    match changed {
        Ok(n) => Ok(n == 1),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn user(conn: &mut Conn, user_id: Uuid) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = users::table
        .find(DbUuid(user_id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| r.user()))
}

/// Opens a session after a successful login.
pub(crate) fn open_session(
    conn: &mut Conn,
    user_id: Uuid,
    session: &NewSession,
) -> Result<(), StoreError> {
    hooks::write_transaction(conn, |conn| insert_session(conn, user_id, session))
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

pub(crate) fn session(conn: &mut Conn, session_id: Uuid) -> Result<Option<Session>, StoreError> {
    let row: Option<SessionRow> = sessions::table
        .find(DbUuid(session_id))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(Session::from))
}

/// Records use of a session at `now`, at most once per `TOUCH_GRANULARITY_SECS`.
pub(crate) fn touch_session(
    conn: &mut Conn,
    session_id: Uuid,
    used: &SessionUse,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !used.touch_due(now) {
        return Ok(());
    }
    diesel::update(sessions::table.find(DbUuid(session_id)))
        .set(sessions::last_used_at.eq(DbTime(now)))
        .execute(conn)?;
    Ok(())
}

/// `claim`'s session as a request's check reads it: [`StoreError::SessionEnded`] unless it is
/// the claimed user's and active at `now`.
pub(crate) fn claimed_session(
    conn: &mut Conn,
    claim: SessionClaim,
    now: DateTime<Utc>,
) -> Result<SessionUse, StoreError> {
    match session(conn, claim.session_id)? {
        Some(s) if s.user_id == claim.user_id && s.is_active(now) => Ok(s.use_of()),
        _ => Err(StoreError::SessionEnded),
    }
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
