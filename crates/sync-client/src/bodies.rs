//! The client's side of the wire (`CONTRACT.md`): building the requests from cached workouts
//! and reading persisted sync bodies back. The bodies themselves are the server's own types,
//! from `sync_core::wire`.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, Utc};
use sync_core::wire::{
    Credentials, ErrorBody, RefreshRequest, SyncRequest, SyncRequestBody, WorkoutInput,
};
use sync_core::{SyncMode, WorkoutContent};

// ---- requests -----------------------------------------------------------------------------

/// `POST /auth/register` and `POST /auth/login`.
pub(crate) fn credentials_request(email: &str, password: &str) -> Credentials {
    Credentials {
        email: email.to_owned(),
        password: password.to_owned(),
    }
}

/// `POST /auth/refresh`.
pub(crate) fn refresh_request(refresh_token: &str) -> RefreshRequest {
    RefreshRequest {
        refresh_token: refresh_token.to_owned(),
    }
}

/// The workout as a sync request carries it, times in the offset it was recorded in
/// (`client_version` never sent: the server's copy wins every disagreement, as the seed's
/// conflict table says).
pub(crate) fn wire_workout(
    client_id: &str,
    content: &WorkoutContent,
    offset_minutes: i32,
) -> WorkoutInput {
    let offset = FixedOffset::east_opt(offset_minutes.saturating_mul(60))
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    WorkoutInput {
        client_id: client_id.to_owned(),
        start_time: content.start_time.with_timezone(&offset),
        end_time: content.end_time.with_timezone(&offset),
        duration_seconds: content.duration_seconds,
        distance_meters: content.distance_meters,
        energy_burned_kcal: content.energy_burned_kcal,
        avg_heart_rate: content.avg_heart_rate,
        max_heart_rate: content.max_heart_rate,
        avg_pace_seconds_per_km: content.avg_pace_seconds_per_km,
        source: Some(content.source.clone()),
        client_version: None,
    }
}

/// The body of `POST /workouts/sync`, as the exact text that is persisted and sent:
/// `workouts` (from [`wire_workout`]), the deletions when there are any, and the batch's
/// mode, idempotency key and time.
pub(crate) fn sync_request(
    workouts: Vec<WorkoutInput>,
    deleted_client_ids: Vec<String>,
    mode: SyncMode,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> String {
    let body = SyncRequest {
        workouts: Some(workouts),
        mode: Some(mode.as_str().to_owned()),
        idempotency_key: Some(idempotency_key.to_owned()),
        client_sync_timestamp: Some(sync_core::time::format_server_time(now)),
        deleted_client_ids: (!deleted_client_ids.is_empty()).then_some(deleted_client_ids),
    };
    serde_json::to_string(&body).expect("a sync request always serialises")
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
        let body: SyncRequestBody = serde_json::from_str(body)?;
        let workout_ids = body
            .workouts
            .unwrap_or_default()
            .iter()
            .map(|w| w["client_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        Ok(SentBatch {
            workout_ids,
            deleted_ids: body
                .deleted_client_ids
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
    }
}

/// Reads an error answer; anything unreadable is an empty one (no code, no message).
pub(crate) fn error_reply(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_support::workout;
    use crate::cache::workout_from_json;

    #[test]
    fn wire_times_keep_the_offset_and_fraction() {
        let w = workout("a", 5000.0);
        let wire =
            serde_json::to_value(wire_workout("a", &w.content, w.start_offset_minutes)).unwrap();
        assert_eq!(wire["start_time"], "2024-01-15T08:00:00.250+01:00");
        assert_eq!(wire["end_time"], "2024-01-15T08:35:00+01:00");
        let again = workout_from_json(&wire).unwrap();
        assert_eq!(again.content, w.content);
        assert_eq!(again.start_offset_minutes, 60);
    }
}
