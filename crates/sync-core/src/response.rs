//! The body of a sync response and its parts, serialised exactly as the contract writes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::time::serde_format;
use crate::workout::{WorkoutView, CONTENT_FIELDS};

/// Why the server kept its own copy of a workout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// Different content and no `client_version` to say which copy is newer.
    DataMismatch,
    /// Different content and a `client_version` not greater than the server's.
    StaleVersion,
    /// The server's copy was deleted.
    DeletedOnServer,
}

/// How a conflict was settled. The contract has one policy: the server's copy wins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Nothing was written; the client should replace its copy with `server_workout`.
    ServerWins,
}

/// One conflict entry of a sync response.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The client's id of the workout.
    pub client_id: String,
    /// The server's id of the workout.
    pub server_id: Uuid,
    /// Why the client's copy was not applied.
    pub reason: ConflictReason,
    /// Always [`Resolution::ServerWins`].
    pub resolution: Resolution,
    /// The content fields that differ between the two copies. When read back, names that are
    /// not in [`CONTENT_FIELDS`] (a newer server's fields) are left out.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    #[serde(deserialize_with = "content_field_names")]
    pub fields: Vec<&'static str>,
    /// The server's copy, for the client to store locally.
    pub server_workout: WorkoutView,
}

/// Reads `fields` back as the crate's own `'static` names (see [`Conflict::fields`]).
fn content_field_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names
        .iter()
        .filter_map(|name| CONTENT_FIELDS.iter().copied().find(|known| known == name))
        .collect())
}

/// A workout that failed validation; it was left out and nothing of it stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedWorkout {
    /// Position in the request's `workouts` array.
    pub index: usize,
    /// The workout's `client_id` when it had a readable one.
    pub client_id: Option<String>,
    /// Messages per field name.
    pub errors: BTreeMap<String, Vec<String>>,
}

/// How many workouts ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
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
}

impl SyncCounts {
    /// The number of workouts these counts account for (deletions excluded).
    pub fn workouts(&self) -> usize {
        self.created + self.updated + self.unchanged + self.conflicts + self.rejected
    }
}

/// The 200 body of `POST /workouts/sync`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Always `true` on a 200.
    pub success: bool,
    /// The id of this sync in the history.
    pub sync_id: Uuid,
    /// When the server applied the sync (whole seconds).
    #[serde(serialize_with = "serde_format::server")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub server_timestamp: DateTime<Utc>,
    /// New workouts stored.
    pub created: usize,
    /// Workouts replaced by a newer client version.
    pub updated: usize,
    /// Workouts identical to the server's copy.
    pub unchanged: usize,
    /// Deletions applied.
    pub deleted: usize,
    /// Workouts where the server's copy won, in request order.
    pub conflicts: Vec<Conflict>,
    /// Workouts that failed validation, in request order.
    pub rejected: Vec<RejectedWorkout>,
    /// A change-feed cursor positioned after this sync's own changes.
    pub next_cursor: String,
}
