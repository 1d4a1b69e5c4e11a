//! Liveness of the database and periodic clean-up.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::idempotency_records;
use super::Conn;
use crate::types::DbTime;
use crate::StoreError;

pub(crate) fn ping(conn: &mut Conn) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
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
