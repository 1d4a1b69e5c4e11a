//! One sync, one transaction: lock the user, check the key, load the batch's rows in one query,
//! plan in `sync-core`, write the plan in bulk, record the sync and the response, commit.

use diesel::prelude::*;
use diesel::upsert::excluded;
use sync_core::{
    decide_idempotency, plan_sync, ChangeCursor, Fingerprint, IdempotencyDecision,
    IdempotencyRecord, SyncResponse,
};
use uuid::Uuid;

use super::rows::{count_column, IdempotencyRow, SyncRow, WorkoutRow};
use super::schema::{idempotency_records, syncs, users, workouts};
use super::{lock_user, write_transaction, Conn};
use crate::records::{SyncCommand, SyncOutcome};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Client ids per lookup statement: far under both databases' bind-parameter limits.
const LOOKUP_CHUNK: usize = 4000;
/// Rows per upsert statement: 19 binds each stays under SQLite's 32,766 and PostgreSQL's 65,535.
const UPSERT_CHUNK: usize = 1000;

pub(crate) fn apply(conn: &mut Conn, cmd: &SyncCommand<'_>) -> Result<SyncOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let user = DbUuid(cmd.user_id);
        let after_seq = lock_user(conn, cmd.user_id)?;
        let request = cmd.request;

        if let Some(key) = &request.idempotency_key {
            let stored: Option<IdempotencyRow> = idempotency_records::table
                .find((user, key.as_str()))
                .select(IdempotencyRow::as_select())
                .first(conn)
                .optional()?;
            let record = stored.map(|r| IdempotencyRecord {
                fingerprint: Fingerprint::from_stored(r.fingerprint),
                response_body: r.response_body,
                created_at: r.created_at.0,
            });
            match decide_idempotency(
                record.as_ref(),
                &request.fingerprint,
                cmd.now,
                cmd.idempotency_ttl,
            ) {
                IdempotencyDecision::Replay(body) => return Ok(SyncOutcome::Replayed { body }),
                IdempotencyDecision::KeyReused => return Ok(SyncOutcome::KeyReused),
                IdempotencyDecision::Process => {}
            }
        }

        let stored = load_by_client_ids(conn, cmd.user_id, &request.client_ids())?;
        let plan = plan_sync(
            &request.valid,
            request.rejected.clone(),
            &request.deletions,
            &stored,
        );
        let rows: Vec<WorkoutRow> = plan
            .rows_to_write(after_seq, cmd.now, Uuid::new_v4)
            .iter()
            .map(|w| WorkoutRow::from_stored(cmd.user_id, w))
            .collect();
        upsert_workouts(conn, &rows)?;

        let new_seq = plan.seq_after(after_seq);
        let sync_seq: i64 = diesel::update(users::table.find(user))
            .set((
                users::sync_count.eq(users::sync_count + 1),
                users::change_seq.eq(new_seq),
                users::last_sync_at.eq(Some(DbTime(cmd.now))),
                users::workout_count.eq(users::workout_count
                    + (plan.counts.created as i64 - plan.counts.deleted as i64)),
            ))
            .returning(users::sync_count)
            .get_result(conn)?;

        let sync_id = Uuid::new_v4();
        let counts = plan.counts;
        let response = SyncResponse {
            success: true,
            sync_id,
            server_timestamp: cmd.now,
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            deleted: counts.deleted,
            conflicts: plan.conflicts,
            rejected: plan.rejected,
            next_cursor: ChangeCursor { after_seq: new_seq }.encode(),
        };
        let body = serde_json::to_string(&response)
            .map_err(|e| StoreError::Corrupt(format!("response not serialisable: {e}")))?;

        diesel::insert_into(syncs::table)
            .values(&SyncRow {
                id: DbUuid(sync_id),
                user_id: user,
                seq: sync_seq,
                mode: request.mode.as_str().to_owned(),
                idempotency_key: request
                    .idempotency_key
                    .as_ref()
                    .map(|k| k.as_str().to_owned()),
                created: count_column(counts.created),
                updated: count_column(counts.updated),
                unchanged: count_column(counts.unchanged),
                deleted: count_column(counts.deleted),
                conflicts: count_column(counts.conflicts),
                rejected: count_column(counts.rejected),
                change_seq: new_seq,
                client_sync_timestamp: request.client_sync_timestamp.map(DbTime),
                created_at: DbTime(cmd.now),
            })
            .execute(conn)?;

        if let Some(key) = &request.idempotency_key {
            // An expired record not yet purged is replaced: the key starts a new life.
            diesel::insert_into(idempotency_records::table)
                .values(&IdempotencyRow {
                    user_id: user,
                    key: key.as_str().to_owned(),
                    fingerprint: request.fingerprint.as_str().to_owned(),
                    response_body: body.clone(),
                    sync_id: DbUuid(sync_id),
                    created_at: DbTime(cmd.now),
                })
                .on_conflict((idempotency_records::user_id, idempotency_records::key))
                .do_update()
                .set((
                    idempotency_records::fingerprint.eq(excluded(idempotency_records::fingerprint)),
                    idempotency_records::response_body
                        .eq(excluded(idempotency_records::response_body)),
                    idempotency_records::sync_id.eq(excluded(idempotency_records::sync_id)),
                    idempotency_records::created_at.eq(excluded(idempotency_records::created_at)),
                ))
                .execute(conn)?;
        }
        Ok(SyncOutcome::Applied { body, counts })
    })
}

/// The user's rows (live and tombstones) for these client ids, in one statement per
/// `LOOKUP_CHUNK` ids (one for any batch within the default limits).
pub(crate) fn load_by_client_ids(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<sync_core::StoredWorkout>, StoreError> {
    let mut stored = Vec::with_capacity(client_ids.len());
    for chunk in client_ids.chunks(LOOKUP_CHUNK) {
        let rows: Vec<WorkoutRow> = workouts::table
            .filter(workouts::user_id.eq(DbUuid(user_id)))
            .filter(workouts::client_id.eq_any(chunk))
            .select(WorkoutRow::as_select())
            .load(conn)?;
        stored.extend(rows.into_iter().map(WorkoutRow::into_stored));
    }
    Ok(stored)
}

/// Writes rows as they must be after the sync: new ones inserted, existing ones (same user and
/// client id) overwritten, in multi-row statements.
pub(crate) fn upsert_workouts(conn: &mut Conn, rows: &[WorkoutRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(UPSERT_CHUNK) {
        diesel::insert_into(workouts::table)
            .values(chunk)
            .on_conflict((workouts::user_id, workouts::client_id))
            .do_update()
            .set((
                workouts::start_time.eq(excluded(workouts::start_time)),
                workouts::start_offset_minutes.eq(excluded(workouts::start_offset_minutes)),
                workouts::start_date.eq(excluded(workouts::start_date)),
                workouts::end_time.eq(excluded(workouts::end_time)),
                workouts::duration_seconds.eq(excluded(workouts::duration_seconds)),
                workouts::distance_meters.eq(excluded(workouts::distance_meters)),
                workouts::energy_burned_kcal.eq(excluded(workouts::energy_burned_kcal)),
                workouts::avg_heart_rate.eq(excluded(workouts::avg_heart_rate)),
                workouts::max_heart_rate.eq(excluded(workouts::max_heart_rate)),
                workouts::avg_pace_seconds_per_km.eq(excluded(workouts::avg_pace_seconds_per_km)),
                workouts::source.eq(excluded(workouts::source)),
                workouts::client_version.eq(excluded(workouts::client_version)),
                workouts::revision.eq(excluded(workouts::revision)),
                workouts::change_seq.eq(excluded(workouts::change_seq)),
                workouts::deleted_at.eq(excluded(workouts::deleted_at)),
                workouts::updated_at.eq(excluded(workouts::updated_at)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The user's most recent syncs, newest first.
pub(crate) fn history(
    conn: &mut Conn,
    user_id: Uuid,
    limit: i64,
) -> Result<Vec<crate::SyncRecord>, StoreError> {
    let rows: Vec<SyncRow> = syncs::table
        .filter(syncs::user_id.eq(DbUuid(user_id)))
        .order(syncs::seq.desc())
        .limit(limit)
        .select(SyncRow::as_select())
        .load(conn)?;
    rows.into_iter().map(SyncRow::into_record).collect()
}

/// One of the user's syncs; `None` when absent or another user's.
pub(crate) fn record(
    conn: &mut Conn,
    user_id: Uuid,
    sync_id: Uuid,
) -> Result<Option<crate::SyncRecord>, StoreError> {
    let row: Option<SyncRow> = syncs::table
        .filter(syncs::id.eq(DbUuid(sync_id)))
        .filter(syncs::user_id.eq(DbUuid(user_id)))
        .select(SyncRow::as_select())
        .first(conn)
        .optional()?;
    row.map(SyncRow::into_record).transpose()
}
