//! The sync request: its envelope as parsed from JSON, and the checks that either refuse it as
//! a whole or turn it into a [`PreparedSync`] ready for planning.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::idempotency::{Fingerprint, IdempotencyKey};
use crate::time::parse_client_timestamp;
use crate::validate::{check_client_id, validate_workout};
use crate::wire::{RejectedWorkout, SyncRequestBody};
use crate::workout::ValidWorkout;

/// The workout fields the server reads; everything else a client sends is ignored, and is left
/// out of the fingerprint (the iOS client adds a random `id` to every workout of every request).
pub const WORKOUT_FIELDS: [&str; 11] = [
    "client_id",
    "start_time",
    "end_time",
    "duration_seconds",
    "distance_meters",
    "energy_burned_kcal",
    "avg_heart_rate",
    "max_heart_rate",
    "avg_pace_seconds_per_km",
    "source",
    "client_version",
];

/// Whether the client sends what changed since its last sync or everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Only what changed since the last successful sync (the default).
    Incremental,
    /// Everything the client has. Never deletes what it leaves out.
    Full,
}

impl SyncMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Incremental => "incremental",
            SyncMode::Full => "full",
        }
    }

    /// Reads a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "incremental" => Some(SyncMode::Incremental),
            "full" => Some(SyncMode::Full),
            _ => None,
        }
    }
}

/// Limits a client cannot exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLimits {
    /// Most workouts (and most deletions) in one request.
    pub max_batch: usize,
}

impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits { max_batch: 1000 }
    }
}

/// Why a request is refused as a whole (nothing of it is applied).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The body's key and the `Idempotency-Key` header differ.
    #[error("the idempotency key in the body and the Idempotency-Key header differ")]
    KeyMismatch,
    /// The key is not 1–255 printable characters.
    #[error("the idempotency key {0}")]
    InvalidKey(String),
    /// `mode` is neither `incremental` nor `full`.
    #[error("mode must be \"incremental\" or \"full\"")]
    InvalidMode,
    /// More workouts or deletions than the batch limit.
    #[error("a sync may carry at most {max} workouts and {max} deletions; this one has {len}")]
    BatchTooLarge {
        /// The size sent.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `client_sync_timestamp` is not RFC 3339.
    #[error("client_sync_timestamp must be an RFC 3339 timestamp")]
    InvalidClientSyncTimestamp,
    /// A `deleted_client_ids` entry is not a valid client id.
    #[error("deleted_client_ids[{index}] {message}")]
    InvalidDeletedId {
        /// Position in `deleted_client_ids`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The same `client_id` twice among the workouts.
    #[error("client_id {client_id:?} appears more than once in the batch")]
    DuplicateClientId {
        /// The repeated id.
        client_id: String,
        /// Index of its first appearance.
        first: usize,
        /// Index of the repeat.
        second: usize,
    },
    /// A `client_id` both sent as a workout and listed as deleted.
    #[error("client_id {client_id:?} is both in workouts and in deleted_client_ids")]
    UpsertAndDelete {
        /// The id.
        client_id: String,
        /// Index among the workouts.
        index: usize,
    },
}

impl RequestError {
    /// The request fields at fault, for the `errors` object of the error body.
    pub fn field_errors(&self) -> BTreeMap<String, Vec<String>> {
        let (field, message) = match self {
            RequestError::KeyMismatch => ("idempotency_key", self.to_string()),
            RequestError::InvalidKey(m) => ("idempotency_key", m.clone()),
            RequestError::InvalidMode => ("mode", self.to_string()),
            RequestError::BatchTooLarge { .. } => ("workouts", self.to_string()),
            RequestError::InvalidClientSyncTimestamp => ("client_sync_timestamp", self.to_string()),
            RequestError::InvalidDeletedId { index, message } => {
                return single(format!("deleted_client_ids[{index}]"), message.clone());
            }
            RequestError::DuplicateClientId { first, second, .. } => {
                return single(
                    format!("workouts[{second}].client_id"),
                    format!("duplicates workouts[{first}].client_id"),
                );
            }
            RequestError::UpsertAndDelete { index, .. } => {
                return single(
                    format!("workouts[{index}].client_id"),
                    "is also listed in deleted_client_ids".into(),
                );
            }
        };
        single(field.to_owned(), message)
    }
}

fn single(field: String, message: String) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(field, vec![message])])
}

/// A request that passed the whole-request checks, ready for the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedSync {
    /// The sync mode, recorded in the history.
    pub mode: SyncMode,
    /// The idempotency key, when one was given.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The client's timestamp of this sync, when given.
    pub client_sync_timestamp: Option<DateTime<Utc>>,
    /// Workouts that passed validation, in request order.
    pub valid: Vec<ValidWorkout>,
    /// Workouts that did not, in request order.
    pub rejected: Vec<RejectedWorkout>,
    /// Client ids to delete.
    pub deletions: Vec<String>,
    /// The fingerprint of the request's canonical form.
    pub fingerprint: Fingerprint,
}

impl PreparedSync {
    /// Every client id the planner needs the stored rows of.
    pub fn client_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .valid
            .iter()
            .map(|w| w.client_id.clone())
            .chain(self.deletions.iter().cloned())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// How many workouts the request carried.
    pub fn workout_count(&self) -> usize {
        self.valid.len() + self.rejected.len()
    }
}

/// Applies the whole-request rules, validates each workout, and fingerprints the request.
///
/// `header_key` is the `Idempotency-Key` header, if any; `now` bounds future workouts.
///
/// ```
/// use sync_core::{prepare_sync, SyncLimits, SyncMode, SyncRequestBody};
/// let body: SyncRequestBody = serde_json::from_str(r#"{
///   "workouts": [{"client_id": "healthkit_abc123", "start_time": "2024-01-15T08:00:00Z",
///     "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100, "distance_meters": 5000,
///     "energy_burned_kcal": 350, "avg_heart_rate": 145, "source": "apple_watch"}],
///   "mode": "incremental", "idempotency_key": "sync_20240115_abc",
///   "client_sync_timestamp": "2024-01-15T09:00:00Z"
/// }"#).unwrap();
/// let prepared = prepare_sync(body, None, &SyncLimits::default(), chrono::Utc::now()).unwrap();
/// assert_eq!(prepared.mode, SyncMode::Incremental);
/// assert_eq!(prepared.valid.len(), 1);
/// assert_eq!(prepared.idempotency_key.unwrap().as_str(), "sync_20240115_abc");
/// ```
pub fn prepare_sync(
    body: SyncRequestBody,
    header_key: Option<&str>,
    limits: &SyncLimits,
    now: DateTime<Utc>,
) -> Result<PreparedSync, RequestError> {
    let key_text = match (body.idempotency_key.as_deref(), header_key) {
        (Some(a), Some(b)) if a != b => return Err(RequestError::KeyMismatch),
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    let mode = match body.mode.as_deref() {
        None => SyncMode::Incremental,
        Some(text) => SyncMode::parse(text).ok_or(RequestError::InvalidMode)?,
    };
    let workouts = body.workouts.unwrap_or_default();
    let deletions = body.deleted_client_ids.unwrap_or_default();
    let largest = workouts.len().max(deletions.len());
    if largest > limits.max_batch {
        return Err(RequestError::BatchTooLarge {
            len: largest,
            max: limits.max_batch,
        });
    }
    let idempotency_key = key_text
        .map(IdempotencyKey::parse)
        .transpose()
        .map_err(|e| RequestError::InvalidKey(e.0))?;
    let client_sync_timestamp = body
        .client_sync_timestamp
        .as_deref()
        .map(|t| parse_client_timestamp(t).map(|ts| ts.utc))
        .map(|t| t.ok_or(RequestError::InvalidClientSyncTimestamp))
        .transpose()?;
    for (index, id) in deletions.iter().enumerate() {
        check_client_id(id).map_err(|message| RequestError::InvalidDeletedId { index, message })?;
    }
    check_unique_client_ids(&workouts, &deletions)?;

    let fingerprint = fingerprint_request(mode, &workouts, &deletions);
    let mut valid = Vec::with_capacity(workouts.len());
    let mut rejected = Vec::new();
    for (index, raw) in workouts.iter().enumerate() {
        match validate_workout(index, raw, now) {
            Ok(w) => valid.push(w),
            Err(r) => rejected.push(r),
        }
    }
    Ok(PreparedSync {
        mode,
        idempotency_key,
        client_sync_timestamp,
        valid,
        rejected,
        deletions,
        fingerprint,
    })
}

/// Refuses a batch naming one `client_id` twice, or both syncing and deleting it: such a
/// request has no single meaning. Ids are compared as sent, invalid workouts included.
fn check_unique_client_ids(workouts: &[Value], deletions: &[String]) -> Result<(), RequestError> {
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(workouts.len());
    for (index, raw) in workouts.iter().enumerate() {
        if let Some(id) = raw.get("client_id").and_then(Value::as_str) {
            if let Some(&first) = first_seen.get(id) {
                return Err(RequestError::DuplicateClientId {
                    client_id: id.to_owned(),
                    first,
                    second: index,
                });
            }
            first_seen.insert(id, index);
        }
    }
    for id in deletions {
        if let Some(&index) = first_seen.get(id.as_str()) {
            return Err(RequestError::UpsertAndDelete {
                client_id: id.clone(),
                index,
            });
        }
    }
    Ok(())
}

/// Fingerprints what the request asks the server to do: the mode, each workout's known fields
/// and the deletions, in a canonical JSON form (object keys sorted). The key itself,
/// `client_sync_timestamp` and unknown fields are left out, so a client's retry of the same
/// change replays even if it regenerated those. The canonical form is hashed as it is written,
/// without copying the request.
pub fn fingerprint_request(
    mode: SyncMode,
    workouts: &[Value],
    deletions: &[String],
) -> Fingerprint {
    let mut out = HashWriter(Sha256::new());
    out.put(b"{\"mode\":");
    write_canonical(&Value::String(mode.as_str().to_owned()), &mut out);
    out.put(b",\"workouts\":[");
    for (i, raw) in workouts.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        match raw.as_object() {
            Some(object) => write_object(
                object
                    .iter()
                    .filter(|(k, _)| WORKOUT_FIELDS.contains(&k.as_str())),
                &mut out,
            ),
            None => write_canonical(raw, &mut out),
        }
    }
    out.put(b"],\"deleted_client_ids\":[");
    for (i, id) in deletions.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_json(id, &mut out);
    }
    out.put(b"]}");
    Fingerprint::from_digest(&out.0.finalize())
}

/// Feeds the canonical bytes straight into the hash.
struct HashWriter(Sha256);

impl HashWriter {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes a string or scalar as JSON (serde_json's own escaping and number format).
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut HashWriter) {
    // Writing to a hasher cannot fail, and these values always serialise.
    let _ = serde_json::to_writer(out, value);
}

/// Writes JSON with object keys sorted, whatever map type serde_json was built with.
fn write_canonical(value: &Value, out: &mut HashWriter) {
    match value {
        Value::Object(map) => write_object(map.iter(), out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_canonical(v, out);
            }
            out.put(b"]");
        }
        scalar => write_json(scalar, out),
    }
}

fn write_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut HashWriter) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.put(b"{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_json(k.as_str(), out);
        out.put(b":");
        write_canonical(v, out);
    }
    out.put(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> SyncRequestBody {
        serde_json::from_value(value).unwrap()
    }

    fn prepare(value: Value) -> Result<PreparedSync, RequestError> {
        prepare_sync(body(value), None, &SyncLimits { max_batch: 3 }, Utc::now())
    }

    fn workout(id: &str) -> Value {
        json!({"client_id": id, "start_time": "2024-01-15T08:00:00Z",
               "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100,
               "distance_meters": 5000})
    }

    #[test]
    fn key_may_come_from_body_or_header_but_not_differ() {
        let b = json!({"workouts": [], "idempotency_key": "a"});
        let limits = SyncLimits::default();
        assert!(prepare_sync(body(b.clone()), Some("a"), &limits, Utc::now()).is_ok());
        assert_eq!(
            prepare_sync(body(b), Some("b"), &limits, Utc::now()).unwrap_err(),
            RequestError::KeyMismatch
        );
        let from_header = prepare_sync(body(json!({})), Some("h"), &limits, Utc::now()).unwrap();
        assert_eq!(from_header.idempotency_key.unwrap().as_str(), "h");
    }

    #[test]
    fn unknown_mode_is_refused() {
        assert_eq!(
            prepare(json!({"mode": "everything"})).unwrap_err(),
            RequestError::InvalidMode
        );
        assert_eq!(
            prepare(json!({"mode": "full"})).unwrap().mode,
            SyncMode::Full
        );
    }

    #[test]
    fn batch_over_the_limit_is_refused() {
        let ws: Vec<Value> = (0..4).map(|i| workout(&format!("w{i}"))).collect();
        assert!(matches!(
            prepare(json!({"workouts": ws})).unwrap_err(),
            RequestError::BatchTooLarge { len: 4, max: 3 }
        ));
    }

    #[test]
    fn duplicate_client_ids_are_refused() {
        let err =
            prepare(json!({"workouts": [workout("a"), workout("b"), workout("a")]})).unwrap_err();
        assert!(err.field_errors().contains_key("workouts[2].client_id"));
        let err =
            prepare(json!({"workouts": [workout("a")], "deleted_client_ids": ["a"]})).unwrap_err();
        assert!(matches!(err, RequestError::UpsertAndDelete { .. }));
    }

    #[test]
    fn one_bad_workout_does_not_fail_the_request() {
        let p = prepare(json!({"workouts": [workout("a"), {"client_id": "b"}, 7]})).unwrap();
        assert_eq!(p.valid.len(), 1);
        assert_eq!(
            p.rejected.iter().map(|r| r.index).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(p.workout_count(), 3);
    }

    #[test]
    fn fingerprint_ignores_unknown_fields_key_and_client_timestamp() {
        let mut with_id = workout("a");
        with_id["id"] = json!("random-1");
        let a = prepare(json!({"workouts": [with_id], "idempotency_key": "k1",
                               "client_sync_timestamp": "2024-01-15T09:00:00Z"}))
        .unwrap();
        let mut other_id = workout("a");
        other_id["id"] = json!("random-2");
        let b = prepare(json!({"workouts": [other_id], "idempotency_key": "k2"})).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn fingerprint_sees_content_mode_and_deletions() {
        let base = prepare(json!({"workouts": [workout("a")]}))
            .unwrap()
            .fingerprint;
        let mut changed = workout("a");
        changed["distance_meters"] = json!(5001);
        assert_ne!(
            base,
            prepare(json!({"workouts": [changed]})).unwrap().fingerprint
        );
        assert_ne!(
            base,
            prepare(json!({"workouts": [workout("a")], "mode": "full"}))
                .unwrap()
                .fingerprint
        );
        assert_ne!(
            base,
            prepare(json!({"workouts": [workout("a")], "deleted_client_ids": ["z"]}))
                .unwrap()
                .fingerprint
        );
    }

    #[test]
    fn invalid_envelope_fields_name_the_field() {
        let err = prepare(json!({"client_sync_timestamp": "soon"})).unwrap_err();
        assert!(err.field_errors().contains_key("client_sync_timestamp"));
        let err = prepare(json!({"deleted_client_ids": ["ok", ""]})).unwrap_err();
        assert!(err.field_errors().contains_key("deleted_client_ids[1]"));
    }
}
