//! Server-side edits (`PATCH /workouts/{id}`, e.g. the dashboard corrects a distance): the
//! given content fields replace the stored ones, and the result is validated exactly like a
//! synced workout.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::validate::validate_workout;
use crate::wire::RejectedWorkout;
use crate::workout::{StoredWorkout, ValidWorkout, CONTENT_FIELDS};

/// Fields a patch may not touch: identity and the client's own version counter.
const READ_ONLY_FIELDS: [&str; 6] = [
    "id",
    "client_id",
    "client_version",
    "revision",
    "created_at",
    "updated_at",
];

/// Applies a JSON object of content fields to a stored workout and validates the result.
/// Unknown fields are ignored, as everywhere in the contract (a client may send the workout as
/// it holds it); identity fields are refused, and so is a patch that names no content field
/// at all, since it cannot change anything.
///
/// ```
/// use chrono::Utc;
/// use sync_core::{plan_sync, validate_workout};
/// let raw = serde_json::json!({"client_id": "a", "start_time": "2024-01-15T08:00:00Z",
///     "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100, "distance_meters": 5000});
/// let w = validate_workout(0, &raw, Utc::now()).unwrap();
/// let stored = plan_sync(&[w], vec![], &[], &[]).rows_to_write(0, Utc::now(), sync_core::running::Tz::UTC, uuid::Uuid::new_v4).remove(0);
/// let patched = sync_core::patch::apply_patch(&stored, &serde_json::json!({"distance_meters": 5100}), Utc::now()).unwrap();
/// assert_eq!(patched.content.distance_meters, 5100.0);
/// assert!(sync_core::patch::apply_patch(&stored, &serde_json::json!({"distance_meters": -1}), Utc::now()).is_err());
/// ```
pub fn apply_patch(
    stored: &StoredWorkout,
    patch: &Value,
    now: DateTime<Utc>,
) -> Result<ValidWorkout, RejectedWorkout> {
    let refuse = |field: &str, message: &str| RejectedWorkout {
        index: 0,
        client_id: Some(stored.client_id.clone()),
        errors: [(field.to_owned(), vec![message.to_owned()])].into(),
    };
    let Some(changes) = patch.as_object() else {
        return Err(refuse("workout", "must be a JSON object"));
    };
    if let Some(key) = changes
        .keys()
        .find(|key| READ_ONLY_FIELDS.contains(&key.as_str()))
    {
        return Err(refuse(key, "cannot be changed"));
    }
    let changes: Map<String, Value> = changes
        .iter()
        .filter(|(key, _)| CONTENT_FIELDS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if changes.is_empty() {
        return Err(refuse("workout", "names no workout field to change"));
    }
    let mut merged = stored_as_json(stored);
    for (key, value) in &changes {
        merged.insert(key.clone(), value.clone());
    }
    // A pace the client gave only counts without a distance; drop the stored derived one so a
    // changed distance or duration recomputes it.
    if !changes.contains_key("avg_pace_seconds_per_km") && stored.content.distance_meters > 0.0 {
        merged.remove("avg_pace_seconds_per_km");
    }
    validate_workout(0, &Value::Object(merged), now).map(|mut w| {
        w.client_version = None;
        w
    })
}

/// The row a server-side edit writes: `stored` with `patch` applied ([`apply_patch`]), or
/// `None` when the patch changes nothing. Everything but the content (id, revision, dates
/// the store sets) is the store's to move on.
pub fn edited_row(
    stored: &StoredWorkout,
    patch: &Value,
    now: DateTime<Utc>,
) -> Result<Option<StoredWorkout>, RejectedWorkout> {
    let edited = apply_patch(stored, patch, now)?;
    if edited.content == stored.content {
        return Ok(None);
    }
    Ok(Some(StoredWorkout {
        content: edited.content,
        start_offset_minutes: edited.start_offset_minutes,
        ..stored.clone()
    }))
}

/// `stored` deleted at `now`: the tombstone the change feed carries.
pub fn tombstone(stored: &StoredWorkout, now: DateTime<Utc>) -> StoredWorkout {
    StoredWorkout {
        deleted_at: Some(now),
        ..stored.clone()
    }
}

/// The stored workout in its wire form, `start_time` in the offset it was sent with.
fn stored_as_json(stored: &StoredWorkout) -> Map<String, Value> {
    let offset = FixedOffset::east_opt(stored.start_offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    let c = &stored.content;
    let mut map = Map::new();
    map.insert("client_id".into(), Value::from(stored.client_id.clone()));
    map.insert(
        "start_time".into(),
        Value::from(
            c.start_time
                .with_timezone(&offset)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    );
    map.insert(
        "end_time".into(),
        Value::from(c.end_time.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    map.insert("duration_seconds".into(), Value::from(c.duration_seconds));
    map.insert("distance_meters".into(), Value::from(c.distance_meters));
    // `Value::from` of an `Option` is `null` for `None`.
    map.insert(
        "energy_burned_kcal".into(),
        Value::from(c.energy_burned_kcal),
    );
    map.insert("avg_heart_rate".into(), Value::from(c.avg_heart_rate));
    map.insert("max_heart_rate".into(), Value::from(c.max_heart_rate));
    map.insert(
        "avg_pace_seconds_per_km".into(),
        Value::from(c.avg_pace_seconds_per_km),
    );
    map.insert("source".into(), Value::from(c.source.clone()));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan_sync;
    use serde_json::json;

    fn stored(raw: Value) -> StoredWorkout {
        let w = validate_workout(0, &raw, Utc::now()).unwrap();
        plan_sync(&[w], vec![], &[], &[])
            .rows_to_write(0, Utc::now(), chrono_tz::Tz::UTC, uuid::Uuid::new_v4)
            .remove(0)
    }

    fn base() -> Value {
        json!({"client_id": "a", "start_time": "2024-01-15T09:00:00.250+01:00",
               "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100,
               "distance_meters": 5000, "avg_heart_rate": 150})
    }

    #[test]
    fn a_patch_of_the_stored_values_keeps_the_content_and_the_offset() {
        let s = stored(base());
        let p = apply_patch(&s, &json!({"avg_heart_rate": 150}), Utc::now()).unwrap();
        assert_eq!(p.content, s.content);
        assert_eq!(p.start_offset_minutes, 60);
    }

    #[test]
    fn unknown_fields_are_ignored_and_a_patch_of_nothing_known_is_refused() {
        let s = stored(base());
        let p = apply_patch(
            &s,
            &json!({"distance_meters": 6000, "distance": 1, "shoe": "x"}),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(p.content.distance_meters, 6000.0);
        for nothing in [json!({}), json!({"distance": 1, "shoe": "x"})] {
            let err = apply_patch(&s, &nothing, Utc::now()).unwrap_err();
            assert_eq!(
                err.errors.keys().collect::<Vec<_>>(),
                ["workout"],
                "{nothing}"
            );
        }
    }

    #[test]
    fn changing_distance_recomputes_pace() {
        let s = stored(base());
        let p = apply_patch(&s, &json!({"distance_meters": 6000}), Utc::now()).unwrap();
        assert_eq!(p.content.avg_pace_seconds_per_km, Some(350.0));
    }

    #[test]
    fn optional_fields_can_be_cleared_and_identity_cannot_change() {
        let s = stored(base());
        let p = apply_patch(&s, &json!({"avg_heart_rate": null}), Utc::now()).unwrap();
        assert_eq!(p.content.avg_heart_rate, None);
        for field in ["client_id", "client_version", "id"] {
            let err = apply_patch(&s, &json!({field: "x"}), Utc::now()).unwrap_err();
            assert!(err.errors.contains_key(field), "{field}");
        }
        assert!(apply_patch(&s, &json!({"distance": 1}), Utc::now()).is_err());
    }

    #[test]
    fn a_patch_is_validated_like_a_sync() {
        let s = stored(base());
        let err =
            apply_patch(&s, &json!({"end_time": "2024-01-15T07:00:00Z"}), Utc::now()).unwrap_err();
        assert!(err.errors.contains_key("end_time"));
    }
}
