//! Health Auto Export: ingest tokens (`/ingest-tokens`) and the answer of
//! `POST /ingest/health-auto-export`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Conflict, RejectedWorkout};
use crate::time::serde_format;

/// `POST /ingest-tokens`: what the runner calls the token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIngestTokenBody {
    /// 1–100 characters, e.g. `"iPhone Health Auto Export"`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
}

/// The created token: `token` is shown this once and never again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestTokenCreated {
    /// The token's id (for `DELETE /ingest-tokens/{id}`).
    pub id: Uuid,
    /// The runner's name for it.
    pub name: String,
    /// The secret (`rdi_` and 43 URL-safe characters: 256 random bits), for the
    /// `Authorization: Bearer …` header of the ingest endpoint.
    pub token: String,
    /// When it was made.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for IngestTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestTokenCreated")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A token as `GET /ingest-tokens` lists it (never its secret).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestTokenView {
    /// The token's id.
    pub id: Uuid,
    /// The runner's name for it.
    pub name: String,
    /// When it was made.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
    /// Its latest use (to the minute), or null.
    #[serde(serialize_with = "serde_format::server_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /ingest/health-auto-export` → 200: the export's runs applied as one sync.
///
/// `created + updated + unchanged + len(conflicts) + len(rejected)` is the number of runs in
/// the export; `skipped` counts its other workouts. Indexes in `rejected` are positions in the
/// export's `data.workouts`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Always `true`.
    pub success: bool,
    /// The sync it was recorded as (`GET /syncs/{sync_id}`).
    pub sync_id: Uuid,
    /// Runs stored for the first time.
    pub created: usize,
    /// Runs whose content changed (never: the app sends no `client_version`, so a changed
    /// run is a conflict the server wins; kept for the sync's shape).
    pub updated: usize,
    /// Runs already stored as sent (a re-sent export is all `unchanged`).
    pub unchanged: usize,
    /// Runs that differ from the server's copy; the server's copy stays.
    pub conflicts: Vec<Conflict>,
    /// Runs that could not be read or failed validation, each with its errors.
    pub rejected: Vec<RejectedWorkout>,
    /// Workouts that are not runs, left out.
    pub skipped: usize,
}
