//! The workout as served, and the bodies of the read endpoints (`GET /workouts`, one workout,
//! the change feed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::serde_format;
use crate::workout::StoredWorkout;

/// The workout as served to clients (the iOS client's `Workout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkoutView {
    /// The server's id.
    pub id: Uuid,
    /// The client's id.
    pub client_id: String,
    /// The workout's calendar day, `YYYY-MM-DD`: of `start_time` in the offset it was sent
    /// with when that is not zero, else in the user's time zone (the runner's calendar).
    #[cfg_attr(feature = "openapi", schema(format = Date))]
    pub date: String,
    /// Start, UTC; fraction only when present.
    #[serde(serialize_with = "serde_format::workout")]
    pub start_time: DateTime<Utc>,
    /// End, UTC; fraction only when present.
    #[serde(serialize_with = "serde_format::workout")]
    pub end_time: DateTime<Utc>,
    /// Whole seconds.
    pub duration_seconds: i64,
    /// Metres.
    pub distance_meters: f64,
    /// Seconds per kilometre.
    pub avg_pace_seconds_per_km: Option<f64>,
    /// Beats per minute.
    pub avg_heart_rate: Option<i32>,
    /// Beats per minute.
    pub max_heart_rate: Option<i32>,
    /// Kilocalories.
    pub energy_burned_kcal: Option<f64>,
    /// Origin of the workout.
    pub source: String,
    /// Server-side version, from 1.
    pub revision: i64,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub updated_at: DateTime<Utc>,
}

impl From<&StoredWorkout> for WorkoutView {
    fn from(w: &StoredWorkout) -> Self {
        WorkoutView {
            id: w.id,
            client_id: w.client_id.clone(),
            date: w.start_date.format("%Y-%m-%d").to_string(),
            start_time: w.content.start_time,
            end_time: w.content.end_time,
            duration_seconds: w.content.duration_seconds,
            distance_meters: w.content.distance_meters,
            avg_pace_seconds_per_km: w.content.avg_pace_seconds_per_km,
            avg_heart_rate: w.content.avg_heart_rate,
            max_heart_rate: w.content.max_heart_rate,
            energy_burned_kcal: w.content.energy_burned_kcal,
            source: w.content.source.clone(),
            revision: w.revision,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// `GET /workouts`: a page of workouts, newest `start_time` first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutPage {
    /// This page.
    pub workouts: Vec<WorkoutView>,
    /// The cursor of the next page; `null` on the last one.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

/// `{workout}`: one workout (`GET`/`PATCH /workouts/{id}`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutBody {
    /// The workout.
    pub workout: WorkoutView,
}

/// One change of the feed: the workout at its latest state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// The position of this change in the user's feed.
    pub change_seq: i64,
    /// Whether the workout is a tombstone.
    pub deleted: bool,
    /// The workout as it is now.
    pub workout: WorkoutView,
}

/// `GET /workouts/changes`: a page of the change feed, in commit order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    /// The changes after the cursor.
    pub changes: Vec<ChangeEntry>,
    /// Always present: poll with it to get what comes next.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]+$"))]
    pub next_cursor: String,
    /// Whether more changes are waiting right now.
    pub has_more: bool,
}

impl ChangeEntry {
    /// The feed entry of a stored workout (tombstones included).
    pub fn of(w: &StoredWorkout) -> Self {
        ChangeEntry {
            change_seq: w.change_seq,
            deleted: w.is_deleted(),
            workout: WorkoutView::from(w),
        }
    }
}
