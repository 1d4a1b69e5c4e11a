//! The conflict rules as a pure function: given a checked batch and the server's rows for the
//! same client ids, decide each workout's outcome and the rows to write.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::running::workout_date;

use crate::wire::WorkoutView;
use crate::wire::{Conflict, ConflictReason, RejectedWorkout, Resolution, SyncCounts};
use crate::workout::{StoredWorkout, ValidWorkout};

/// What happened to one workout of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Stored as new.
    Created,
    /// Replaced the server's copy (the client had a newer version).
    Updated,
    /// Identical to the server's copy; nothing written.
    Unchanged,
    /// The server's copy won, for this reason.
    Conflict(ConflictReason),
    /// Failed validation.
    Rejected,
}

/// A change the store must write.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedWrite {
    /// Insert a new workout.
    Create(ValidWorkout),
    /// Replace the stored content with the incoming one.
    Update {
        /// The row as it is now.
        stored: StoredWorkout,
        /// The newer copy from the client.
        incoming: ValidWorkout,
    },
    /// Turn the stored row into a tombstone.
    Delete(StoredWorkout),
}

/// Everything one sync decides, before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPlan {
    /// Each workout's outcome, by its index in the request.
    pub outcomes: Vec<(usize, Outcome)>,
    /// The writes, in the order their change-feed positions are assigned.
    pub writes: Vec<PlannedWrite>,
    /// Conflicts, in request order.
    pub conflicts: Vec<Conflict>,
    /// Rejected workouts, in request order.
    pub rejected: Vec<RejectedWorkout>,
    /// The tallies of the response.
    pub counts: SyncCounts,
}

/// Decides the outcome of every workout of a batch and the deletions.
///
/// `stored` holds the server's rows (live or tombstones) for the batch's client ids; rows for
/// other ids are ignored. `valid` must not repeat a client id (the request layer refuses such
/// batches). The result does not depend on the order of `valid` or `stored`.
///
/// ```
/// use chrono::Utc;
/// use sync_core::{plan_sync, validate_workout, Outcome};
/// let raw = serde_json::json!({
///     "client_id": "a", "start_time": "2024-01-15T08:00:00Z",
///     "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100, "distance_meters": 5000
/// });
/// let workout = validate_workout(0, &raw, Utc::now()).unwrap();
/// let plan = plan_sync(&[workout], Vec::new(), &[], &[]);
/// assert_eq!(plan.outcomes, vec![(0, Outcome::Created)]);
/// assert_eq!(plan.counts.created, 1);
/// ```
pub fn plan_sync(
    valid: &[ValidWorkout],
    rejected: Vec<RejectedWorkout>,
    deletions: &[String],
    stored: &[StoredWorkout],
) -> SyncPlan {
    let by_client_id: HashMap<&str, &StoredWorkout> =
        stored.iter().map(|w| (w.client_id.as_str(), w)).collect();

    let mut ordered: Vec<&ValidWorkout> = valid.iter().collect();
    ordered.sort_by_key(|w| w.index);

    let mut plan = SyncPlan {
        outcomes: Vec::with_capacity(valid.len() + rejected.len()),
        writes: Vec::new(),
        conflicts: Vec::new(),
        rejected: Vec::new(),
        counts: SyncCounts::default(),
    };

    for incoming in ordered {
        let outcome = match by_client_id.get(incoming.client_id.as_str()) {
            None => {
                plan.writes.push(PlannedWrite::Create(incoming.clone()));
                plan.counts.created += 1;
                Outcome::Created
            }
            Some(current) => {
                let (outcome, write) = decide(incoming, current);
                match outcome {
                    Outcome::Unchanged => plan.counts.unchanged += 1,
                    Outcome::Updated => plan.counts.updated += 1,
                    Outcome::Conflict(reason) => {
                        plan.counts.conflicts += 1;
                        plan.conflicts.push(Conflict {
                            client_id: incoming.client_id.clone(),
                            server_id: current.id,
                            reason,
                            resolution: Resolution::ServerWins,
                            fields: current.content.differing_fields(&incoming.content),
                            server_workout: WorkoutView::from(*current),
                        });
                    }
                    Outcome::Created | Outcome::Rejected => {
                        unreachable!("decide never yields these")
                    }
                }
                plan.writes.extend(write);
                outcome
            }
        };
        plan.outcomes.push((incoming.index, outcome));
    }

    let mut seen = HashSet::new();
    for client_id in deletions {
        if !seen.insert(client_id.as_str()) {
            continue;
        }
        if let Some(current) = by_client_id.get(client_id.as_str()) {
            if !current.is_deleted() {
                plan.writes.push(PlannedWrite::Delete((*current).clone()));
                plan.counts.deleted += 1;
            }
        }
    }

    let mut rejected = rejected;
    rejected.sort_by_key(|r| r.index);
    plan.counts.rejected = rejected.len();
    plan.outcomes
        .extend(rejected.iter().map(|r| (r.index, Outcome::Rejected)));
    plan.outcomes.sort_by_key(|(index, _)| *index);
    plan.rejected = rejected;
    plan
}

/// The conflict table for a workout the server already has.
fn decide(incoming: &ValidWorkout, current: &StoredWorkout) -> (Outcome, Option<PlannedWrite>) {
    if current.is_deleted() {
        return (Outcome::Conflict(ConflictReason::DeletedOnServer), None);
    }
    if current.content == incoming.content {
        return (Outcome::Unchanged, None);
    }
    match incoming.client_version {
        Some(version) if version > current.client_version => (
            Outcome::Updated,
            Some(PlannedWrite::Update {
                stored: current.clone(),
                incoming: incoming.clone(),
            }),
        ),
        Some(_) => (Outcome::Conflict(ConflictReason::StaleVersion), None),
        None => (Outcome::Conflict(ConflictReason::DataMismatch), None),
    }
}

impl SyncPlan {
    /// The rows as they must be after the sync, with change-feed positions `after_seq + 1`,
    /// `after_seq + 2`, … in write order. `new_id` names each created workout; `zone` is the
    /// user's time zone, which dates a created or updated workout sent in UTC
    /// ([`workout_date`]). A tombstone keeps its date.
    ///
    /// The store writes these rows as they are: all row-state rules live here.
    pub fn rows_to_write(
        &self,
        after_seq: i64,
        now: DateTime<Utc>,
        zone: Tz,
        mut new_id: impl FnMut() -> Uuid,
    ) -> Vec<StoredWorkout> {
        self.writes
            .iter()
            .zip(after_seq + 1..)
            .map(|(write, change_seq)| match write {
                PlannedWrite::Create(w) => StoredWorkout {
                    id: new_id(),
                    client_id: w.client_id.clone(),
                    content: w.content.clone(),
                    start_offset_minutes: w.start_offset_minutes,
                    start_date: workout_date(w.content.start_time, w.start_offset_minutes, zone),
                    client_version: w.client_version.unwrap_or(0),
                    revision: 1,
                    change_seq,
                    deleted_at: None,
                    created_at: now,
                    updated_at: now,
                },
                PlannedWrite::Update { stored, incoming } => StoredWorkout {
                    content: incoming.content.clone(),
                    start_offset_minutes: incoming.start_offset_minutes,
                    start_date: workout_date(
                        incoming.content.start_time,
                        incoming.start_offset_minutes,
                        zone,
                    ),
                    client_version: incoming.client_version.unwrap_or(stored.client_version),
                    revision: stored.revision + 1,
                    change_seq,
                    updated_at: now,
                    ..stored.clone()
                },
                PlannedWrite::Delete(stored) => StoredWorkout {
                    revision: stored.revision + 1,
                    change_seq,
                    deleted_at: Some(now),
                    updated_at: now,
                    ..stored.clone()
                },
            })
            .collect()
    }

    /// The user's change-feed position once this plan is written after `after_seq`.
    pub fn seq_after(&self, after_seq: i64) -> i64 {
        after_seq + self.writes.len() as i64
    }
}
