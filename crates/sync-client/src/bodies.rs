//! The JSON bodies the client writes and reads on the wire (`CONTRACT.md`), all in this one
//! private module: the requests it builds and the answers it parses. When `sync_core::wire`
//! holds the shared request and response types, this file is the one that changes.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sync_core::{SyncMode, WorkoutContent, WorkoutView};

// ---- requests -----------------------------------------------------------------------------

/// `POST /auth/register` and `POST /auth/login`.
pub(crate) fn credentials_request(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// `POST /auth/refresh`.
pub(crate) fn refresh_request(refresh_token: &str) -> Value {
    json!({"refresh_token": refresh_token})
}

/// A timestamp as sent on the wire: in the offset the workout was recorded in, with a
/// fraction only when it has one.
fn wire_time(instant: DateTime<Utc>, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes.saturating_mul(60))
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    let format = if instant.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    instant.with_timezone(&offset).to_rfc3339_opts(format, true)
}

/// The workout as a sync request carries it (`client_version` never sent: the server's copy
/// wins every disagreement, as the seed's conflict table says).
pub(crate) fn wire_workout(
    client_id: &str,
    content: &WorkoutContent,
    offset_minutes: i32,
) -> Value {
    let mut object = Map::new();
    object.insert("client_id".into(), client_id.into());
    object.insert(
        "start_time".into(),
        wire_time(content.start_time, offset_minutes).into(),
    );
    object.insert(
        "end_time".into(),
        wire_time(content.end_time, offset_minutes).into(),
    );
    object.insert("duration_seconds".into(), content.duration_seconds.into());
    object.insert("distance_meters".into(), content.distance_meters.into());
    let optional = [
        (
            "energy_burned_kcal",
            content.energy_burned_kcal.map(Value::from),
        ),
        ("avg_heart_rate", content.avg_heart_rate.map(Value::from)),
        ("max_heart_rate", content.max_heart_rate.map(Value::from)),
        (
            "avg_pace_seconds_per_km",
            content.avg_pace_seconds_per_km.map(Value::from),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            object.insert(name.into(), value);
        }
    }
    object.insert("source".into(), content.source.clone().into());
    Value::Object(object)
}

/// The body of `POST /workouts/sync`, as the exact text that is persisted and sent:
/// `workouts` (from [`wire_workout`]), the deletions when there are any, and the batch's
/// mode, idempotency key and time.
pub(crate) fn sync_request(
    workouts: Vec<Value>,
    deleted_client_ids: Vec<String>,
    mode: SyncMode,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> String {
    let mut body = Map::new();
    body.insert("workouts".into(), Value::Array(workouts));
    if !deleted_client_ids.is_empty() {
        let deleted = deleted_client_ids.into_iter().map(Value::from).collect();
        body.insert("deleted_client_ids".into(), Value::Array(deleted));
    }
    body.insert("mode".into(), mode.as_str().into());
    body.insert("idempotency_key".into(), idempotency_key.into());
    body.insert(
        "client_sync_timestamp".into(),
        sync_core::time::format_server_time(now).into(),
    );
    Value::Object(body).to_string()
}

/// What a persisted [`sync_request`] body sent, as confirming its answer needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SentBatch {
    /// The client ids of `workouts`, in order (a rejection may name its workout by index).
    pub(crate) workout_ids: Vec<String>,
    /// `deleted_client_ids`.
    pub(crate) deleted_ids: HashSet<String>,
}

impl SentBatch {
    /// Reads a body written by [`sync_request`].
    pub(crate) fn parse(body: &str) -> Result<SentBatch, serde_json::Error> {
        let body: Value = serde_json::from_str(body)?;
        let workout_ids = body["workouts"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|w| w["client_id"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let deleted_ids = body["deleted_client_ids"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(SentBatch {
            workout_ids,
            deleted_ids,
        })
    }
}

// ---- answers ------------------------------------------------------------------------------

/// The answer to login, register and refresh.
#[derive(Deserialize)]
pub(crate) struct TokenBody {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    #[serde(default)]
    pub(crate) user: Option<UserBody>,
}

/// The account in a [`TokenBody`].
#[derive(Deserialize)]
pub(crate) struct UserBody {
    pub(crate) id: String,
    pub(crate) email: String,
}

/// The body of an error answer; either part may be missing (a proxy's page, say).
#[derive(Deserialize, Default)]
pub(crate) struct ErrorReply {
    /// The contract's stable error code.
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// A sentence for people.
    #[serde(default)]
    pub(crate) message: Option<String>,
}

impl ErrorReply {
    /// Reads an error answer; anything unreadable is an empty one.
    pub(crate) fn parse(body: &[u8]) -> ErrorReply {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

/// A page of `GET /workouts/changes`.
#[derive(Deserialize)]
pub(crate) struct ChangesPage {
    pub(crate) changes: Vec<ChangeEntry>,
    pub(crate) next_cursor: String,
    pub(crate) has_more: bool,
}

/// One entry of a [`ChangesPage`].
#[derive(Deserialize)]
pub(crate) struct ChangeEntry {
    pub(crate) deleted: bool,
    pub(crate) workout: WorkoutView,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_support::workout;
    use crate::cache::workout_from_json;

    #[test]
    fn wire_times_keep_the_offset_and_fraction() {
        let w = workout("a", 5000.0);
        let wire = wire_workout("a", &w.content, w.start_offset_minutes);
        assert_eq!(wire["start_time"], "2024-01-15T08:00:00.250+01:00");
        assert_eq!(wire["end_time"], "2024-01-15T08:35:00+01:00");
        let again = workout_from_json(&wire).unwrap();
        assert_eq!(again.content, w.content);
        assert_eq!(again.start_offset_minutes, 60);
    }
}
