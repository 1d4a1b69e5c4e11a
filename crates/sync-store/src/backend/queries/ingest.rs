//! Ingest tokens: made by a runner for the Health Auto Export app, stored by hash, found by
//! hash on every ingest request. Every query names the token's hash or its owner, through the
//! table's two indexes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::rows::IngestTokenRow;
use super::schema::ingest_tokens;
use super::{hooks, Conn};
use crate::records::{IngestToken, NewIngestToken, TokenCreation};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Creates a token unless the user already has `max_per_user`: counted and inserted in one
/// write transaction, so concurrent requests cannot pass the cap together.
pub(crate) fn create(
    conn: &mut Conn,
    user_id: Uuid,
    token: &NewIngestToken,
    max_per_user: i64,
) -> Result<TokenCreation, StoreError> {
    hooks::write_transaction(conn, |conn| {
        // Serialises this user's token creations on PostgreSQL (SQLite's immediate
        // transaction already does), so the count below cannot go stale before the insert.
        hooks::lock_user(conn, user_id)?;
        let held: i64 = ingest_tokens::table
            .filter(ingest_tokens::user_id.eq(DbUuid(user_id)))
            .count()
            .get_result(conn)?;
        if held >= max_per_user {
            return Ok(TokenCreation::LimitReached);
        }
        let row = IngestTokenRow {
            id: DbUuid(token.id),
            user_id: DbUuid(user_id),
            name: token.name.clone(),
            token_hash: token.token_hash.clone(),
            created_at: DbTime(token.created_at),
            last_used_at: None,
        };
        diesel::insert_into(ingest_tokens::table)
            .values(&row)
            .execute(conn)?;
        Ok(TokenCreation::Created(row.into()))
    })
}

/// The user's tokens, newest first (at most `limit`).
pub(crate) fn list(
    conn: &mut Conn,
    user_id: Uuid,
    limit: i64,
) -> Result<Vec<IngestToken>, StoreError> {
    let rows: Vec<IngestTokenRow> = ingest_tokens::table
        .filter(ingest_tokens::user_id.eq(DbUuid(user_id)))
        .order((ingest_tokens::created_at.desc(), ingest_tokens::id.desc()))
        .limit(limit)
        .select(IngestTokenRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(IngestToken::from).collect())
}

/// Deletes one of the user's tokens; `false` when it is not theirs.
pub(crate) fn revoke(conn: &mut Conn, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let deleted = diesel::delete(
        ingest_tokens::table
            .filter(ingest_tokens::id.eq(DbUuid(id)))
            .filter(ingest_tokens::user_id.eq(DbUuid(user_id))),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// The token with this hash, recording its use (to the minute, so most requests only read).
pub(crate) fn authenticate(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<IngestToken>, StoreError> {
    let row: Option<IngestTokenRow> = ingest_tokens::table
        .filter(ingest_tokens::token_hash.eq(token_hash))
        .select(IngestTokenRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut token = IngestToken::from(row);
    if crate::records::use_due(token.last_used_at, now) {
        diesel::update(ingest_tokens::table.find(DbUuid(token.id)))
            .set(ingest_tokens::last_used_at.eq(Some(DbTime(now))))
            .execute(conn)?;
        token.last_used_at = Some(now);
    }
    Ok(Some(token))
}
