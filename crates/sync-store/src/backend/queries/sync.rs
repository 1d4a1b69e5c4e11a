//! One sync: read the user row, the session, the key's record and the batch's stored rows and
//! plan in `sync-core`, all without a lock (`prepare`); then write the plan in bulk with the
//! sync's record and response, guarded by the user row as the plan read it (`finish`). A plan
//! that a concurrent change made stale writes nothing and the sync runs again under the
//! user's lock, in one transaction, as does every sync whose webhook events must be queued
//! with it. The reads, the lock, the lookup and the guarded write are the backend's `hooks`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sync_core::webhooks::EventType;
use sync_core::wire::{SyncCompletedData, SyncView};
use sync_core::{
    decide_idempotency, plan_sync, ChangeCursor, IdempotencyDecision, IdempotencyRecord,
    PlannedWrite, StoredWorkout, SyncCounts, SyncResponse,
};
use uuid::Uuid;

use super::rows::{
    count_column, IdempotencyRow, SyncBookkeeping, SyncGuard, SyncRow, UserLock, WorkoutRow,
};
use super::schema::syncs;
use super::webhooks::{queue_workout_events, MilestoneContext, Outbox, WorkoutChange};
use super::Conn;
use super::{auth, hooks};
use crate::history::{days_changed, live_day};
use crate::records::{SessionUse, SyncCommand, SyncOutcome};
use crate::types::{DbTime, DbUuid};
use crate::StoreError;

/// Client ids per lookup statement: one statement for a batch of up to 1,000 ids, and
/// far under SQLite's bind-parameter limit (PostgreSQL receives them as one array). Both
/// backends' statements (`hooks::lookup_workouts`: `client_id IN (…)` on SQLite, `unnest` of the
/// ids with a `LATERAL … LIMIT 1` probe on PostgreSQL) probe the unique `(user_id, client_id)`
/// index once per id whatever the batch size (docs/benchmarks.md, item 2).
const LOOKUP_CHUNK: usize = 1000;

/// What the stored idempotency record (if any) says about this request: `None` to process it.
fn stored_decision(
    cmd: &SyncCommand<'_>,
    stored: Option<&IdempotencyRecord>,
) -> Option<SyncOutcome> {
    match decide_idempotency(
        stored,
        &cmd.request.fingerprint,
        cmd.now,
        cmd.idempotency_ttl,
    ) {
        IdempotencyDecision::Replay(body) => Some(SyncOutcome::Replayed { body }),
        IdempotencyDecision::KeyReused => Some(SyncOutcome::KeyReused),
        IdempotencyDecision::Process => None,
    }
}

/// What `prepare` made of a sync before any lock, for `finish` to complete (on SQLite in the
/// writer's turn).
pub(crate) enum Prepared {
    /// Answered by the stored record of its key: a replay, or a reused key refused. `finish`
    /// records the session's use, as the sync it repeats did.
    Answered {
        outcome: SyncOutcome,
        session_used: Option<SessionUse>,
    },
    /// Planned from what it read; `finish` writes it if nothing it read has changed.
    Planned(Box<Planned>),
    /// For the locked path: the user has webhook subscriptions, whose events read the year as
    /// the write leaves it in the same transaction, or the user is gone (the locked path says
    /// how the sync fails).
    Locked,
}

impl Prepared {
    /// The outcome of a sync answered by its key's record with nothing to write (its session's
    /// use recorded within the minute, or no session): it needs no write path, which on SQLite
    /// would queue it for the writer's turn. Anything else comes back for `finish`.
    pub(crate) fn settled(self, now: DateTime<Utc>) -> Result<SyncOutcome, Prepared> {
        match self {
            Prepared::Answered {
                outcome,
                session_used,
            } if !session_used
                .as_ref()
                .is_some_and(|used| used.touch_due(now)) =>
            {
                Ok(outcome)
            }
            other => Err(other),
        }
    }
}

/// A sync planned without the user's lock: what it writes, and the guard its write checks.
pub(crate) struct Planned {
    guard: SyncGuard,
    session_used: Option<SessionUse>,
    writes: SyncWrites,
}

/// What a sync writes, planned from the user row and the batch's stored rows.
struct SyncWrites {
    /// The plan's writes and, index for index, the rows as written: for the webhook events.
    planned: Vec<PlannedWrite>,
    written: Vec<StoredWorkout>,
    rows: Vec<WorkoutRow>,
    bookkeeping: SyncBookkeeping,
    body: String,
    counts: SyncCounts,
    sync_id: Uuid,
    new_seq: i64,
}

/// Reads what the sync depends on (the user row, the session, the key's record, the
/// subscriptions and the batch's stored rows) without taking the user's lock, and answers or
/// plans it. A sync that is written at once is then one read and one write statement on
/// PostgreSQL, instead of a transaction of six round trips behind the lock, and on SQLite its
/// reads and its plan are made outside the writer's turn (docs/benchmarks.md, 24 and 25). With
/// `expect_replay` (its key was answered lately) the first read leaves the stored rows out: a
/// record most likely answers it, and if not, they are read on their own.
pub(crate) fn prepare(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    expect_replay: bool,
) -> Result<Prepared, StoreError> {
    let key = cmd.idempotency_key();
    // A batch of more ids than one lookup takes is looked up on its own, chunk by chunk.
    let one_lookup = (!expect_replay)
        .then(|| cmd.request.client_ids())
        .filter(|ids| ids.len() <= LOOKUP_CHUNK);
    let Some(sight) =
        hooks::sync_sight(conn, cmd.user_id, cmd.session, key, one_lookup.as_deref())?
    else {
        return Ok(Prepared::Locked);
    };
    // A sync, or the replay of one, answers a live session only.
    if cmd.session.is_some() && !sight.session.as_ref().is_some_and(|s| s.is_active(cmd.now)) {
        return Err(StoreError::SessionEnded);
    }
    // A completed sync's record is written with its effect and never changed while it is live,
    // so when one is found it decides the request without the user's lock or a write: a retry
    // storm of one device does not queue behind, or block, that user's real syncs. Finding
    // none (or an expired one) proves nothing by itself: a request with the same key may be in
    // flight. Its commit moves the user row, so the guard of this plan's write refuses it, and
    // the locked path looks again; a sync is applied at most once per key.
    if let Some(outcome) = stored_decision(cmd, sight.stored_key.as_ref()) {
        return Ok(Prepared::Answered {
            outcome,
            session_used: sight.session,
        });
    }
    if !sight.subscriptions.is_some_and(|s| s.is_empty()) {
        return Ok(Prepared::Locked);
    }
    let writes = plan_writes(conn, cmd, &sight.user, sight.stored)?;
    Ok(Prepared::Planned(Box::new(Planned {
        guard: SyncGuard::of(cmd.user_id, &sight.user, cmd.session, DbTime(cmd.now)),
        session_used: sight.session,
        writes,
    })))
}

/// Completes what `prepare` made: records a replay's session use, writes a plan whose guard
/// holds, and otherwise (a change since the plan's reads, or a sync that needs the lock) runs
/// the sync under the user's lock. `default_target` is the target of a year without a goal
/// (for `goal.reached`).
pub(crate) fn finish(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    prepared: Prepared,
    default_target: u16,
) -> Result<SyncOutcome, StoreError> {
    match prepared {
        Prepared::Answered {
            outcome,
            session_used,
        } => {
            record_use_of(conn, cmd, session_used.as_ref());
            Ok(outcome)
        }
        Prepared::Planned(planned) => {
            let Planned {
                guard,
                session_used,
                writes,
            } = *planned;
            let wrote = hooks::write_alone(conn, |conn| {
                hooks::write_sync(conn, &guard, &writes.rows, &writes.bookkeeping)
            })?;
            if !wrote {
                log::debug!(
                    "sync by user {}: planned against a row that changed; planned again under the lock",
                    cmd.user_id
                );
                return apply_locked(conn, cmd, default_target);
            }
            record_use_of(conn, cmd, session_used.as_ref());
            Ok(SyncOutcome::Applied {
                body: writes.body,
                counts: writes.counts,
            })
        }
        Prepared::Locked => apply_locked(conn, cmd, default_target),
    }
}

/// The sync under the user's lock, in one transaction: the session and the key checked again,
/// the batch's rows read and planned, written, and the webhook events queued.
fn apply_locked(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    default_target: u16,
) -> Result<SyncOutcome, StoreError> {
    let key = cmd.idempotency_key();
    let (outcome, session_used) = hooks::write_transaction(conn, |conn| {
        let (lock, session_used) = lock_user_and_session(conn, cmd)?;
        let zone = lock.zone()?;
        let request = cmd.request;

        // The key's record again, now that the lock is held, with the subscriptions that the
        // sync's events go to: one statement on PostgreSQL.
        let checked = hooks::key_and_subscriptions(conn, cmd.user_id, key)?;
        if let Some(outcome) = stored_decision(cmd, checked.stored_key.as_ref()) {
            return Ok((outcome, session_used));
        }
        let writes = plan_writes(conn, cmd, &lock, None)?;
        // The lock holds the row as read, so only a session revoked since can fail the guard.
        let guard = SyncGuard::of(cmd.user_id, &lock, cmd.session, DbTime(cmd.now));
        if !hooks::write_sync(conn, &guard, &writes.rows, &writes.bookkeeping)? {
            return Err(StoreError::SessionEnded);
        }

        // The webhook events, in this transaction: a rollback takes them with it. The
        // milestones among them read the year as the write left it.
        let mut outbox = Outbox::of(cmd.user_id, cmd.now, checked.subscriptions)?;
        if !outbox.is_empty() {
            let changes: Vec<WorkoutChange<'_>> = writes
                .planned
                .iter()
                .zip(&writes.written)
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
            let sync_id = writes.sync_id;
            queue_workout_events(conn, &mut outbox, &context, &changes, Some(sync_id))?;
            let counts = writes.counts;
            outbox.add(
                EventType::SyncCompleted,
                SyncCompletedData {
                    sync: SyncView {
                        sync_id,
                        mode: request.mode.as_str().to_owned(),
                        idempotency_key: key.map(str::to_owned),
                        created: counts.created,
                        updated: counts.updated,
                        unchanged: counts.unchanged,
                        deleted: counts.deleted,
                        conflicts: counts.conflicts,
                        rejected: counts.rejected,
                        server_cursor: ChangeCursor {
                            after_seq: writes.new_seq,
                        }
                        .encode(),
                        client_sync_timestamp: request.client_sync_timestamp,
                        created_at: cmd.now,
                    },
                },
            )?;
            outbox.write(conn)?;
        }
        Ok((
            SyncOutcome::Applied {
                body: writes.body,
                counts: writes.counts,
            },
            session_used,
        ))
    })?;
    record_use_of(conn, cmd, session_used.as_ref());
    Ok(outcome)
}

/// Plans the sync against the batch's stored rows (`stored` when they were read with the user
/// row, else read here) and `user` (its change position, zone and history mark): the rows to
/// write, the response and the bookkeeping.
fn plan_writes(
    conn: &mut Conn,
    cmd: &SyncCommand<'_>,
    user: &UserLock,
    stored: Option<Vec<WorkoutRow>>,
) -> Result<SyncWrites, StoreError> {
    let request = cmd.request;
    let (after_seq, zone) = (user.change_seq, user.zone()?);
    let stored = match stored {
        Some(rows) => rows.into_iter().map(WorkoutRow::into_stored).collect(),
        None => load_by_client_ids(conn, cmd.user_id, &request.client_ids())?,
    };
    let plan = plan_sync(
        &request.valid,
        request.rejected.clone(),
        &request.deletions,
        &stored,
    );
    // Time-ordered ids (UUIDv7): a batch's new rows land side by side at one end of the
    // primary-key index, instead of one random leaf page each (docs/benchmarks.md, 18).
    let written = plan.rows_to_write(after_seq, cmd.now, zone, Uuid::now_v7);
    let user_id = DbUuid(cmd.user_id);
    let rows: Vec<WorkoutRow> = written
        .iter()
        .map(|w| WorkoutRow::from_stored(cmd.user_id, w))
        .collect();
    let new_seq = plan.seq_after(after_seq);
    let touched = plan.writes.iter().zip(&written).flat_map(|(write, after)| {
        let before = match write {
            PlannedWrite::Create(_) => None,
            PlannedWrite::Update { stored, .. } | PlannedWrite::Delete(stored) => Some(stored),
        };
        days_changed(before.map(live_day), live_day(after))
    });
    let history = user.history.after_change(touched, cmd.now.date_naive());
    let sync_id = Uuid::now_v7();
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
    let key = cmd.idempotency_key().map(str::to_owned);
    let bookkeeping = SyncBookkeeping {
        new_seq,
        now: DbTime(cmd.now),
        live_delta: counts.created as i64 - counts.deleted as i64,
        sync: SyncRow {
            id: DbUuid(sync_id),
            user_id,
            // The user's sync count after this one: set by `hooks::write_sync`.
            seq: 0,
            mode: request.mode.as_str().to_owned(),
            idempotency_key: key.clone(),
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
        idempotency: key.map(|key| IdempotencyRow {
            user_id,
            key,
            fingerprint: request.fingerprint.as_str().to_owned(),
            response_body: body.clone(),
            sync_id: DbUuid(sync_id),
            created_at: DbTime(cmd.now),
        }),
        history,
    };
    Ok(SyncWrites {
        planned: plan.writes,
        written,
        rows,
        bookkeeping,
        body,
        counts,
        sync_id,
        new_seq,
    })
}

/// Records the use of the command's session once the sync is decided (see
/// `record_session_use`).
fn record_use_of(conn: &mut Conn, cmd: &SyncCommand<'_>, used: Option<&SessionUse>) {
    if let (Some(session_id), Some(used)) = (cmd.session, used) {
        record_session_use(conn, session_id, used, cmd.now);
    }
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
