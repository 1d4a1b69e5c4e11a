//! One sync, one transaction: lock the user, check the key, load the batch's stored rows, plan
//! in `sync-core`, write the plan in bulk, record the sync and the response, commit. The lock,
//! the lookup, the bulk write and the bookkeeping are the backend's `hooks`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sync_core::webhooks::EventType;
use sync_core::wire::{SyncCompletedData, SyncView};
use sync_core::{
    decide_idempotency, plan_sync, ChangeCursor, Fingerprint, IdempotencyDecision,
    IdempotencyRecord, PlannedWrite, SyncResponse,
};
use uuid::Uuid;

use super::rows::{count_column, IdempotencyRow, SyncBookkeeping, SyncRow, UserLock, WorkoutRow};
use super::schema::{idempotency_records, syncs};
use super::webhooks::{queue_workout_events, MilestoneContext, Outbox, WorkoutChange};
use super::Conn;
use super::{auth, hooks};
use crate::history::{days_changed, live_day};
use crate::records::{SessionClaim, SessionUse, SyncCommand, SyncOutcome};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Client ids per lookup statement: one statement for any batch within the default limits, and
/// far under SQLite's bind-parameter limit (PostgreSQL receives them as one array). Both
/// backends' statements (`hooks::lookup_workouts`: `client_id IN (…)` on SQLite, `unnest` of the
/// ids with a `LATERAL … LIMIT 1` probe on PostgreSQL) probe the unique `(user_id, client_id)`
/// index once per id whatever the batch size (docs/benchmarks.md, item 2).
const LOOKUP_CHUNK: usize = 1000;

/// What the stored idempotency record (if any) says about this request: `None` to process it.
fn stored_decision(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    key: &str,
) -> Result<Option<SyncOutcome>, StoreError> {
    let stored: Option<IdempotencyRow> = idempotency_records::table
        .find((DbUuid(cmd.user_id), key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()?;
    let record = stored.map(|r| IdempotencyRecord {
        fingerprint: Fingerprint::from_stored(r.fingerprint),
        response_body: r.response_body,
        created_at: r.created_at.0,
    });
    Ok(
        match decide_idempotency(
            record.as_ref(),
            &cmd.request.fingerprint,
            cmd.now,
            cmd.idempotency_ttl,
        ) {
            IdempotencyDecision::Replay(body) => Some(SyncOutcome::Replayed { body }),
            IdempotencyDecision::KeyReused => Some(SyncOutcome::KeyReused),
            IdempotencyDecision::Process => None,
        },
    )
}

/// `default_target` is the target of a year without a goal (for `goal.reached`).
pub(crate) fn apply(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    default_target: u16,
) -> Result<SyncOutcome, StoreError> {
    // A completed sync's record is written in the same transaction as its effect and is never
    // changed while it is live, so when one is found it decides the request (replay, or refuse
    // a reused key) without the user's lock or a write transaction: a retry storm of one device
    // does not queue behind, or block, that user's real syncs (docs/benchmarks.md). Finding none
    // (or an expired one) proves nothing: a request with the same key may be in flight. So the
    // locked path below looks again once it holds the lock, and a sync is still applied at most
    // once per key.
    if let Some(key) = &cmd.request.idempotency_key {
        if let Some(outcome) = stored_decision(conn, cmd, key.as_str())? {
            // A replay answers a live session only, as the sync it repeats did.
            if let Some(session_id) = cmd.session {
                let claim = SessionClaim {
                    user_id: cmd.user_id,
                    session_id,
                };
                let used = auth::claimed_session(conn, claim, cmd.now)?;
                record_session_use(conn, session_id, &used, cmd.now);
            }
            return Ok(outcome);
        }
    }
    let (outcome, session_used) = hooks::write_transaction(conn, |conn| {
        let (lock, session_used) = lock_user_and_session(conn, cmd)?;
        let (after_seq, zone) = (lock.change_seq, lock.zone()?);
        let request = cmd.request;

        if let Some(key) = &request.idempotency_key {
            if let Some(outcome) = stored_decision(conn, cmd, key.as_str())? {
                return Ok((outcome, session_used));
            }
        }
        let user = DbUuid(cmd.user_id);

        let stored = load_by_client_ids(conn, cmd.user_id, &request.client_ids())?;
        let plan = plan_sync(
            &request.valid,
            request.rejected.clone(),
            &request.deletions,
            &stored,
        );
        // Time-ordered ids (UUIDv7): a batch's new rows land side by side at one end of the
        // primary-key index, instead of one random leaf page each (docs/benchmarks.md, 18).
        let written = plan.rows_to_write(after_seq, cmd.now, zone, Uuid::now_v7);
        let rows: Vec<WorkoutRow> = written
            .iter()
            .map(|w| WorkoutRow::from_stored(cmd.user_id, w))
            .collect();
        upsert_workouts(conn, &rows)?;

        let new_seq = plan.seq_after(after_seq);
        let touched = plan.writes.iter().zip(&written).flat_map(|(write, after)| {
            let before = match write {
                PlannedWrite::Create(_) => None,
                PlannedWrite::Update { stored, .. } | PlannedWrite::Delete(stored) => Some(stored),
            };
            days_changed(before.map(live_day), live_day(after))
        });
        let history = lock.history.after_change(touched, cmd.now.date_naive());
        let sync_id = Uuid::now_v7();
        let counts = plan.counts;

        // The webhook events, in this transaction: a rollback takes them with it.
        let mut outbox = Outbox::load(conn, cmd.user_id, cmd.now)?;
        if !outbox.is_empty() {
            let changes: Vec<WorkoutChange<'_>> = plan
                .writes
                .iter()
                .zip(&written)
                .map(|(write, after)| match write {
                    PlannedWrite::Create(_) => WorkoutChange {
                        event: EventType::WorkoutCreated,
                        before: None,
                        after,
                    },
                    PlannedWrite::Update { stored, .. } => WorkoutChange {
                        event: EventType::WorkoutUpdated,
                        before: Some(stored),
                        after,
                    },
                    PlannedWrite::Delete(stored) => WorkoutChange {
                        event: EventType::WorkoutDeleted,
                        before: Some(stored),
                        after,
                    },
                })
                .collect();
            let context = MilestoneContext {
                zone,
                default_target,
            };
            queue_workout_events(conn, &mut outbox, &context, &changes, Some(sync_id))?;
            outbox.add(
                EventType::SyncCompleted,
                SyncCompletedData {
                    sync: SyncView {
                        sync_id,
                        mode: request.mode.as_str().to_owned(),
                        idempotency_key: request
                            .idempotency_key
                            .as_ref()
                            .map(|k| k.as_str().to_owned()),
                        created: counts.created,
                        updated: counts.updated,
                        unchanged: counts.unchanged,
                        deleted: counts.deleted,
                        conflicts: counts.conflicts,
                        rejected: counts.rejected,
                        server_cursor: ChangeCursor { after_seq: new_seq }.encode(),
                        client_sync_timestamp: request.client_sync_timestamp,
                        created_at: cmd.now,
                    },
                },
            )?;
            outbox.write(conn)?;
        }
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

        let bookkeeping = SyncBookkeeping {
            user,
            new_seq,
            now: DbTime(cmd.now),
            live_delta: counts.created as i64 - counts.deleted as i64,
            sync: SyncRow {
                id: DbUuid(sync_id),
                user_id: user,
                // The user's sync count after this one: set by `hooks::record_sync`.
                seq: 0,
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
            },
            idempotency: request.idempotency_key.as_ref().map(|key| IdempotencyRow {
                user_id: user,
                key: key.as_str().to_owned(),
                fingerprint: request.fingerprint.as_str().to_owned(),
                response_body: body.clone(),
                sync_id: DbUuid(sync_id),
                created_at: DbTime(cmd.now),
            }),
            history,
        };
        hooks::record_sync(conn, &bookkeeping)?;
        Ok((SyncOutcome::Applied { body, counts }, session_used))
    })?;
    if let (Some(session_id), Some(used)) = (cmd.session, session_used) {
        record_session_use(conn, session_id, &used, cmd.now);
    }
    Ok(outcome)
}

/// The user's lock, and when the command names its session, that session as the lock's own
/// statement read it: [`StoreError::SessionEnded`] (the transaction rolls back) unless it is
/// the user's and active. A user deleted since the token was issued ended the session too.
fn lock_user_and_session(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
) -> Result<(UserLock, Option<SessionUse>), StoreError> {
    let Some(session_id) = cmd.session else {
        return Ok((hooks::lock_user(conn, cmd.user_id)?, None));
    };
    match hooks::lock_user_in_session(conn, cmd.user_id, session_id) {
        Ok((lock, Some(used))) if used.is_active(cmd.now) => Ok((lock, Some(used))),
        Ok(_) | Err(StoreError::NotFound) => Err(StoreError::SessionEnded),
        Err(e) => Err(e),
    }
}

/// Records the session's use (to the minute) once the sync is decided, outside its
/// transaction: the sync's answer stands whether or not this small write succeeds, and the
/// sync never holds a session row's lock (see `hooks::lock_user_in_session`).
fn record_session_use(conn: &mut Conn, session_id: Uuid, used: &SessionUse, now: DateTime<Utc>) {
    if let Err(e) = auth::touch_session(conn, session_id, used, now) {
        log::warn!("session {session_id}: its use could not be recorded: {e}");
    }
}

/// The user's rows (live and tombstones) for these client ids, in one statement per
/// `LOOKUP_CHUNK` ids (one for any batch within the default limits). The statement is the
/// backend's (`hooks::lookup_workouts`); on PostgreSQL its plan is an index probe per id
/// whatever the statistics say.
pub(crate) fn load_by_client_ids(
    conn: &mut Conn,
    user_id: Uuid,
    client_ids: &[String],
) -> Result<Vec<sync_core::StoredWorkout>, StoreError> {
    let mut stored = Vec::with_capacity(client_ids.len());
    for chunk in client_ids.chunks(LOOKUP_CHUNK) {
        let rows = hooks::lookup_workouts(conn, user_id, chunk)?;
        stored.extend(rows.into_iter().map(WorkoutRow::into_stored));
    }
    Ok(stored)
}

/// Writes rows as they must be after the sync: new ones inserted, existing ones (same user and
/// client id) overwritten, in the backend's bulk statement (`hooks::write_workouts`).
pub(crate) fn upsert_workouts(conn: &mut Conn, rows: &[WorkoutRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    hooks::write_workouts(conn, rows)
}

/// The user's syncs, newest first, those numbered below `before_seq` when given (keyset
/// pagination on the unique `(user_id, seq DESC)` index).
pub(crate) fn history(
    conn: &mut Conn,
    user_id: Uuid,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<crate::SyncRecord>, StoreError> {
    let mut query = syncs::table
        .filter(syncs::user_id.eq(DbUuid(user_id)))
        .into_boxed();
    if let Some(before) = before_seq {
        query = query.filter(syncs::seq.lt(before));
    }
    let rows: Vec<SyncRow> = query
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
