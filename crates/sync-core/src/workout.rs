//! The workout model: what a client sends once checked, what the server stores, what it serves.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;

use crate::running::workout_date;

/// The content of a workout: every field the conflict rules compare.
///
/// `client_version` is not content, and neither is anything the server derives, except that
/// `avg_pace_seconds_per_km` holds the *effective* pace: derived from duration and distance when
/// the distance is positive (so it never differs on its own), the client's value otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkoutContent {
    /// When the workout started (UTC, millisecond precision).
    pub start_time: DateTime<Utc>,
    /// When it ended; always after `start_time`.
    pub end_time: DateTime<Utc>,
    /// Active time in whole seconds, at most `end_time - start_time` plus one second.
    pub duration_seconds: i64,
    /// Distance in metres; may be 0 (e.g. a treadmill run without a distance).
    pub distance_meters: f64,
    /// Active energy in kilocalories.
    pub energy_burned_kcal: Option<f64>,
    /// Average heart rate, beats per minute (20–250).
    pub avg_heart_rate: Option<i32>,
    /// Maximum heart rate, beats per minute (20–250).
    pub max_heart_rate: Option<i32>,
    /// Effective average pace, seconds per kilometre (see the type's documentation).
    pub avg_pace_seconds_per_km: Option<f64>,
    /// Where the workout came from (`"apple_watch"`, …), `"unknown"` when the client sent none.
    pub source: String,
}

/// Names of the content fields, in the order conflicts list them.
pub const CONTENT_FIELDS: [&str; 9] = [
    "start_time",
    "end_time",
    "duration_seconds",
    "distance_meters",
    "energy_burned_kcal",
    "avg_heart_rate",
    "max_heart_rate",
    "avg_pace_seconds_per_km",
    "source",
];

impl WorkoutContent {
    /// The names of the content fields whose values differ, in [`CONTENT_FIELDS`] order.
    /// Empty exactly when the two contents are equal.
    ///
    /// When both copies have a distance, their pace is derived by the server from duration and
    /// distance: it is not content of its own and is not listed (it can only differ when
    /// `duration_seconds` or `distance_meters` does, and those are listed).
    pub fn differing_fields(&self, other: &WorkoutContent) -> Vec<&'static str> {
        let pace_is_derived = self.distance_meters > 0.0 && other.distance_meters > 0.0;
        let same = [
            self.start_time == other.start_time,
            self.end_time == other.end_time,
            self.duration_seconds == other.duration_seconds,
            self.distance_meters == other.distance_meters,
            self.energy_burned_kcal == other.energy_burned_kcal,
            self.avg_heart_rate == other.avg_heart_rate,
            self.max_heart_rate == other.max_heart_rate,
            pace_is_derived || self.avg_pace_seconds_per_km == other.avg_pace_seconds_per_km,
            self.source == other.source,
        ];
        CONTENT_FIELDS
            .iter()
            .zip(same)
            .filter(|(_, same)| !same)
            .map(|(name, _)| *name)
            .collect()
    }

    /// The pace the server stores: computed from duration and distance when the distance is
    /// positive, otherwise whatever the client gave. Rounded to hundredths of a second so that
    /// the value is stable across platforms and storage.
    pub fn effective_pace(
        duration_seconds: i64,
        distance_meters: f64,
        client_pace: Option<f64>,
    ) -> Option<f64> {
        if distance_meters > 0.0 {
            let pace = duration_seconds as f64 / (distance_meters / 1000.0);
            pace.is_finite().then(|| round_hundredths(pace))
        } else {
            client_pace.map(round_hundredths)
        }
    }
}

fn round_hundredths(value: f64) -> f64 {
    let rounded = (value * 100.0).round() / 100.0;
    // Past about 1.8e306, `value * 100` overflows to infinity; such a value has no fraction
    // to round anyway, and a finite number must stay finite.
    if rounded.is_finite() {
        rounded
    } else {
        value
    }
}

/// A workout from a client that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidWorkout {
    /// Position of the workout in the request's `workouts` array.
    pub index: usize,
    /// The client's stable identifier (e.g. the HealthKit UUID).
    pub client_id: String,
    /// The normalised content.
    pub content: WorkoutContent,
    /// The UTC offset, in minutes, that `start_time` was sent with (for the served `date`).
    pub start_offset_minutes: i32,
    /// The client's own version counter, when it keeps one.
    pub client_version: Option<i64>,
}

/// A workout as the server holds it, live or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkout {
    /// The server's id.
    pub id: Uuid,
    /// The client's id, unique per user.
    pub client_id: String,
    /// The stored content (for a tombstone, the content it had when deleted).
    pub content: WorkoutContent,
    /// The offset `start_time` was sent with, in minutes.
    pub start_offset_minutes: i32,
    /// The workout's calendar day as stored and served (`date`): fixed when the row is written,
    /// by [`workout_date`] with the user's zone of that moment.
    pub start_date: NaiveDate,
    /// The highest `client_version` applied; 0 when the client never sent one.
    pub client_version: i64,
    /// Server-side version, from 1.
    pub revision: i64,
    /// Position of the latest change to this workout in the user's change feed.
    pub change_seq: i64,
    /// Set when the workout was deleted (a tombstone).
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the server first stored the workout.
    pub created_at: DateTime<Utc>,
    /// When the server last changed the workout.
    pub updated_at: DateTime<Utc>,
}

impl StoredWorkout {
    /// Whether this row is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// This workout's calendar day in `zone` (its sent offset when that is not zero), which
    /// is what `start_date` must hold once the row is written for a user of that zone.
    pub fn date_in(&self, zone: Tz) -> NaiveDate {
        workout_date(self.content.start_time, self.start_offset_minutes, zone)
    }
}
