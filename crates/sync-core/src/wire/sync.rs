//! `POST /workouts/sync`: the request a client sends and the response it gets back,
//! serialised exactly as the contract writes them.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{FieldErrors, WorkoutView};
use crate::time::serde_format;
use crate::workout::CONTENT_FIELDS;

/// The body of `POST /workouts/sync`. A client sends it with typed workouts
/// ([`WorkoutInput`], the default); the server reads it with each workout left as raw JSON
/// ([`SyncRequestBody`]), so that one malformed workout is rejected on its own instead of
/// failing the whole request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest<W = WorkoutInput> {
    /// At most the batch limit (default 1000), each a `WorkoutInput`. `null` is the same as
    /// absent. Any JSON value is accepted as an item: one that is not a valid workout is
    /// listed in `rejected` and does not fail the batch, so the document does not refuse it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<serde_json::Value>>))]
    pub workouts: Option<Vec<W>>,
    /// `incremental` (default) or `full`; recorded in the history, the rules are the same.
    /// Read as a string, so that another name is the contract's 422 rather than a 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<SyncModeName>))]
    pub mode: Option<String>,
    /// The idempotency key, when sent in the body (alternatively the `Idempotency-Key`
    /// header; both and different: 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub idempotency_key: Option<String>,
    /// When the client started this sync, by its clock (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub client_sync_timestamp: Option<String>,
    /// Workouts the client saw deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_client_ids: Option<Vec<String>>,
}

/// The names of `mode`, for the document only (see [`crate::SyncMode`], which reads them).
#[cfg(feature = "openapi")]
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SyncMode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
enum SyncModeName {
    /// Only what changed since the last sync (the default).
    Incremental,
    /// Everything the client has; never deletes what it leaves out.
    Full,
}

/// The sync request as the server reads it: workouts stay raw JSON until each is validated on
/// its own.
pub type SyncRequestBody = SyncRequest<Value>;

impl SyncRequestBody {
    /// Parses a request body. The envelope must be a JSON object: serde would otherwise read a
    /// struct from a JSON array, field by field, and accept `[[…], "full"]`.
    ///
    /// ```
    /// use sync_core::SyncRequestBody;
    /// assert!(SyncRequestBody::from_json(br#"{"workouts": []}"#).is_ok());
    /// assert!(SyncRequestBody::from_json(b"[]").is_err());
    /// assert!(SyncRequestBody::from_json(br#"{"workouts": {}}"#).is_err());
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<SyncRequestBody, String> {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Some(_) => Err("the body must be a JSON object".to_owned()),
            None => Err("the body is empty".to_owned()),
        }
    }
}

/// One workout as a client sends it. Times keep the offset they were recorded with: a
/// workout's calendar `date` depends on it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutInput {
    /// The client's stable id (e.g. the HealthKit UUID), 1–255 printable characters.
    pub client_id: String,
    /// RFC 3339, any offset.
    #[serde(serialize_with = "serde_format::client")]
    pub start_time: DateTime<FixedOffset>,
    /// RFC 3339, after `start_time`.
    #[serde(serialize_with = "serde_format::client")]
    pub end_time: DateTime<FixedOffset>,
    /// At most `end_time - start_time` plus one second.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub duration_seconds: i64,
    /// Metres; may be 0.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub distance_meters: f64,
    /// Kilocalories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub energy_burned_kcal: Option<f64>,
    /// Beats per minute, 20–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 20, maximum = 250))]
    pub avg_heart_rate: Option<i32>,
    /// Beats per minute, 20–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 20, maximum = 250))]
    pub max_heart_rate: Option<i32>,
    /// Used only when `distance_meters` is 0; otherwise the server computes the pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub avg_pace_seconds_per_km: Option<f64>,
    /// At most 64 characters; `unknown` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The client's own version counter: a greater one than the server's updates the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub client_version: Option<i64>,
}

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
    pub errors: FieldErrors,
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
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub next_cursor: String,
}
