//! # sync-core
//!
//! The rules of the Running Days workout sync, with no I/O: validation of incoming workouts,
//! the conflict table as a pure planning function, idempotency decisions, opaque cursors, and
//! the wire types ([`wire`]: every request and response body of the API, written once). The
//! store executes what this crate decides; other services embed it to apply the same rules,
//! and tests exercise the rules without a database.
//!
//! A whole sync, from request body to the rows to write:
//!
//! ```
//! use chrono::Utc;
//! use sync_core::{plan_sync, prepare_sync, Outcome, SyncLimits, SyncRequestBody};
//!
//! let body: SyncRequestBody = serde_json::from_str(r#"{"workouts": [
//!   {"client_id": "a", "start_time": "2024-01-15T08:00:00Z", "end_time": "2024-01-15T08:35:00Z",
//!    "duration_seconds": 2100, "distance_meters": 5000}]}"#).unwrap();
//! let now = Utc::now();
//! let request = prepare_sync(body, None, &SyncLimits::default(), now).unwrap();
//! // The store loads the rows for `request.client_ids()`; here the server has none.
//! let plan = plan_sync(&request.valid, request.rejected.clone(), &request.deletions, &[]);
//! assert_eq!(plan.outcomes, vec![(0, Outcome::Created)]);
//! let rows = plan.rows_to_write(0, now, sync_core::running::Tz::UTC, uuid::Uuid::new_v4);
//! assert_eq!((rows[0].revision, rows[0].change_seq), (1, 1));
//! ```

#![warn(missing_docs)]

pub mod cursor;
pub mod email;
pub mod health_auto_export;
pub mod idempotency;
pub mod patch;
pub mod plan;
pub mod request;
pub mod running;
pub mod time;
pub mod validate;
pub mod webhooks;
pub mod wire;
pub mod workout;

#[cfg(feature = "testing")]
pub mod testing;

pub use cursor::{ChangeCursor, CursorError, ListCursor};
pub use idempotency::{
    decide_idempotency, Fingerprint, IdempotencyDecision, IdempotencyKey, IdempotencyRecord,
    InvalidKey,
};
pub use patch::{apply_patch, edited_row, tombstone};
pub use plan::{plan_sync, Outcome, PlannedWrite, SyncPlan};
pub use request::{prepare_sync, PreparedSync, RequestError, SyncLimits, SyncMode};
pub use validate::validate_workout;
pub use wire::{
    Conflict, ConflictReason, RejectedWorkout, Resolution, SyncCounts, SyncRequestBody,
    SyncResponse, WorkoutView,
};
pub use workout::{StoredWorkout, ValidWorkout, WorkoutContent, CONTENT_FIELDS};
