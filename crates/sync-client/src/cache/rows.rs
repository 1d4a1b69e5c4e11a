//! The `workouts` table's Diesel rows, and how they map to and from the cache's values
//! (timestamps are stored as RFC 3339 text).

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use sync_core::time::format_workout_time;
use sync_core::{WorkoutContent, WorkoutView};
use uuid::Uuid;

use super::CachedWorkout;
use crate::error::CacheError;
use crate::schema::workouts;

/// One row of `workouts`, as stored.
#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = workouts, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct CachedWorkoutRow {
    pub(super) id: String,
    #[diesel(embed)]
    pub(super) columns: ContentColumns,
    pub(super) origin_hash: Option<String>,
    pub(super) server_id: Option<String>,
    pub(super) revision: Option<i64>,
    pub(super) deleted: bool,
    pub(super) needs_sync: bool,
    pub(super) synced_at: Option<String>,
    pub(super) local_version: i64,
    pub(super) batch_key: Option<String>,
    pub(super) batch_version: Option<i64>,
    pub(super) rejected: Option<String>,
    pub(super) updated_at: String,
}

/// The content columns: part of every row, and the changeset of an update.
#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug, Clone)]
#[diesel(table_name = workouts, treat_none_as_null = true)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct ContentColumns {
    pub(super) start_time: String,
    pub(super) start_offset_minutes: i32,
    pub(super) end_time: String,
    pub(super) duration_seconds: i64,
    pub(super) distance_meters: f64,
    pub(super) energy_burned_kcal: Option<f64>,
    pub(super) avg_heart_rate: Option<i32>,
    pub(super) max_heart_rate: Option<i32>,
    pub(super) avg_pace_seconds_per_km: Option<f64>,
    pub(super) source: String,
}

impl ContentColumns {
    pub(super) fn of(content: &WorkoutContent, offset_minutes: i32) -> ContentColumns {
        ContentColumns {
            start_time: format_workout_time(content.start_time),
            start_offset_minutes: offset_minutes,
            end_time: format_workout_time(content.end_time),
            duration_seconds: content.duration_seconds,
            distance_meters: content.distance_meters,
            energy_burned_kcal: content.energy_burned_kcal,
            avg_heart_rate: content.avg_heart_rate,
            max_heart_rate: content.max_heart_rate,
            avg_pace_seconds_per_km: content.avg_pace_seconds_per_km,
            source: content.source.clone(),
        }
    }

    pub(super) fn of_view(view: &WorkoutView, offset_minutes: i32) -> ContentColumns {
        ContentColumns::of(&content_of_view(view), offset_minutes)
    }

    fn content(&self) -> Result<WorkoutContent, CacheError> {
        Ok(WorkoutContent {
            start_time: parse_time("workouts.start_time", &self.start_time)?,
            end_time: parse_time("workouts.end_time", &self.end_time)?,
            duration_seconds: self.duration_seconds,
            distance_meters: self.distance_meters,
            energy_burned_kcal: self.energy_burned_kcal,
            avg_heart_rate: self.avg_heart_rate,
            max_heart_rate: self.max_heart_rate,
            avg_pace_seconds_per_km: self.avg_pace_seconds_per_km,
            source: self.source.clone(),
        })
    }
}

pub(super) fn content_of_view(view: &WorkoutView) -> WorkoutContent {
    WorkoutContent {
        start_time: view.start_time,
        end_time: view.end_time,
        duration_seconds: view.duration_seconds,
        distance_meters: view.distance_meters,
        energy_burned_kcal: view.energy_burned_kcal,
        avg_heart_rate: view.avg_heart_rate,
        max_heart_rate: view.max_heart_rate,
        avg_pace_seconds_per_km: view.avg_pace_seconds_per_km,
        source: view.source.clone(),
    }
}

/// The offset a server copy's start time was sent with, as far as its `date` tells: the local
/// offset when it gives the same calendar day, else whole hours that do (else UTC).
pub(super) fn offset_for_view(view: &WorkoutView, local_offset: Option<i32>) -> i32 {
    let date_at = |minutes: i32| sync_core::time::calendar_date(view.start_time, minutes);
    if let Some(local) = local_offset {
        if date_at(local) == view.date {
            return local;
        }
    }
    if date_at(0) == view.date {
        return 0;
    }
    (-12..=14)
        .map(|h| h * 60)
        .find(|m| date_at(*m) == view.date)
        .unwrap_or(0)
}

/// A time as the cache stores it.
pub(super) fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored time read back.
pub(super) fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>, CacheError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CacheError::Corrupt {
            what: what.to_owned(),
            message: format!("{text:?}: {e}"),
        })
}

impl CachedWorkoutRow {
    /// A workout new to the cache: version 1, queued, in no batch, not known to the server.
    pub(super) fn new(id: String, columns: ContentColumns, now: &str) -> CachedWorkoutRow {
        CachedWorkoutRow {
            id,
            columns,
            origin_hash: None,
            server_id: None,
            revision: None,
            deleted: false,
            needs_sync: true,
            synced_at: None,
            local_version: 1,
            batch_key: None,
            batch_version: None,
            rejected: None,
            updated_at: now.to_owned(),
        }
    }

    /// The workout data, its times parsed.
    pub(super) fn content(&self) -> Result<WorkoutContent, CacheError> {
        self.columns.content()
    }

    pub(super) fn start_offset_minutes(&self) -> i32 {
        self.columns.start_offset_minutes
    }

    pub(super) fn into_cached(self) -> Result<CachedWorkout, CacheError> {
        let content = self.content()?;
        let server_id = match &self.server_id {
            Some(text) => Some(Uuid::parse_str(text).map_err(|e| CacheError::Corrupt {
                what: "workouts.server_id".into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let synced_at = match &self.synced_at {
            Some(text) => Some(parse_time("workouts.synced_at", text)?),
            None => None,
        };
        let rejected = match &self.rejected {
            Some(text) => serde_json::from_str(text).ok(),
            None => None,
        };
        Ok(CachedWorkout {
            client_id: self.id,
            content,
            start_offset_minutes: self.columns.start_offset_minutes,
            server_id,
            revision: self.revision,
            deleted: self.deleted,
            needs_sync: self.needs_sync,
            synced_at,
            local_version: self.local_version,
            rejected,
        })
    }
}
