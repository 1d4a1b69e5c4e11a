//! `GET /sync/status` and the sync history (`GET /syncs`, `GET /syncs/{sync_id}`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::serde_format;

/// `GET /sync/status`: where the caller's data stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatusBody {
    /// When the last sync was applied; `null` before the first.
    #[serde(serialize_with = "serde_format::server_opt")]
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The current change-feed position.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub server_cursor: String,
    /// Live workouts stored.
    pub total_workouts: i64,
    /// Always 0 on the server.
    pub pending_sync: i64,
    /// Start time of the oldest live workout.
    #[serde(serialize_with = "serde_format::server_opt")]
    pub oldest_workout: Option<DateTime<Utc>>,
    /// Start time of the newest live workout.
    #[serde(serialize_with = "serde_format::server_opt")]
    pub newest_workout: Option<DateTime<Utc>>,
}

/// One sync of the history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// The sync's id (the `sync_id` of its response).
    pub sync_id: Uuid,
    /// `incremental` or `full`.
    pub mode: String,
    /// The idempotency key it was sent with.
    pub idempotency_key: Option<String>,
    /// New workouts stored.
    pub created: usize,
    /// Workouts replaced by a newer client version.
    pub updated: usize,
    /// Workouts identical to the server's copy.
    pub unchanged: usize,
    /// Deletions applied.
    pub deleted: usize,
    /// Workouts where the server's copy won.
    pub conflicts: usize,
    /// Workouts that failed validation.
    pub rejected: usize,
    /// The change-feed position right after this sync.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub server_cursor: String,
    /// The client's own timestamp of the sync, when it sent one.
    #[serde(serialize_with = "serde_format::server_opt")]
    pub client_sync_timestamp: Option<DateTime<Utc>>,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
}

/// `GET /syncs`: the most recent syncs, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHistoryBody {
    /// Newest first.
    pub syncs: Vec<SyncView>,
}

/// `GET /syncs/{sync_id}`: one sync.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecordBody {
    /// The sync.
    pub sync: SyncView,
}
