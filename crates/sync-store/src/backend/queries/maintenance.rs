//! Liveness of the database and periodic clean-up.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::idempotency_records;
use super::{Conn, MIGRATIONS};
use crate::backend::migrations_pending;
use crate::types::DbTime;
use crate::StoreError;

/// Ok when the database answers and every migration is applied.
pub(crate) fn ready(conn: &mut Conn) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    if migrations_pending(conn, MIGRATIONS)? {
        return Err(StoreError::Migration("migrations pending".into()));
    }
    Ok(())
}

/// Deletes stored responses created before `cutoff` (served by the `created_at` index).
/// Safe to run on several instances at once: a row is deleted once, whoever gets there first.
pub(crate) fn purge_idempotency(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        idempotency_records::table.filter(idempotency_records::created_at.lt(DbTime(cutoff))),
    )
    .execute(conn)?)
}
