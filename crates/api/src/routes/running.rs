//! What the goal and stats handlers share: the year in a path, reading a runner's year from the
//! store with the goal its numbers are computed against, and the `ETag` of those numbers.

use actix_web::http::header::{EntityTag, IfNoneMatch};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sync_core::running::Goal;
use sync_store::{RunningState, RunningYear, YearRead};

use super::params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// `{year}` of the goal paths, parsed by [`params::running_year`] (so that a year that is not
/// an integer is a 400 naming `year`, one out of range a 422).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct YearPath {
    /// The calendar year, 2000 to 2100.
    #[param(value_type = i32, minimum = 2000, maximum = 2100)]
    pub year: String,
}

impl YearPath {
    /// The year, checked.
    pub fn year(&self) -> Result<i32, ApiError> {
        params::running_year(&self.year)
    }
}

/// A runner's year as read, and the goal its numbers are computed against.
pub struct YearNumbers {
    /// The workouts, running days and state read.
    pub year: RunningYear,
    /// The year's goal: the one set, or the server's default.
    pub goal: Goal,
}

/// Bumped whenever a formula changes, so that no client keeps numbers an older server made.
const NUMBERS_VERSION: &str = "running-days-1";

/// The runner's `year` (their current year when `None`) at `now`, as much as `read` asks.
pub async fn read_year(
    state: &AppState,
    caller: Caller,
    year: Option<i32>,
    now: DateTime<Utc>,
    read: YearRead,
) -> Result<YearNumbers, ApiError> {
    let year = state
        .query_as(caller, move |store, user_id| {
            store.running_year(user_id, year, now, read)
        })
        .await?
        .ok_or(ApiError::NotFound("user not found"))?;
    Ok(YearNumbers {
        goal: goal_of(state, &year.state),
        year,
    })
}

/// The year's goal: the one set, or the server's default.
fn goal_of(state: &AppState, running: &RunningState) -> Goal {
    running.goal_or_default(state.config.goal_default_target)
}

/// The strong `ETag` of a numbers response: a digest of everything the body is a function of
/// (the endpoint, the year, today, the runner's zone, their change-feed position, which every
/// workout change moves, the goal and the default target), so it can be checked from
/// [`RunningState`] alone, before any workout is read.
pub fn numbers_etag(endpoint: &str, state: &AppState, running: &RunningState) -> EntityTag {
    let goal = goal_of(state, running);
    let fingerprint = format!(
        "{NUMBERS_VERSION}\n{endpoint}\n{}\n{}\n{}\n{}\n{}\n{:?}\n{:?}",
        running.year,
        running.today,
        running.time_zone.name(),
        running.change_seq,
        goal.target_days,
        goal.created_at.map(|t| t.timestamp()),
        goal.updated_at.map(|t| t.timestamp()),
    );
    let digest = Sha256::digest(fingerprint.as_bytes());
    EntityTag::new_strong(hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` names `etag` (or is `*`): the client's copy is current.
pub fn client_has(if_none_match: Option<&IfNoneMatch>, etag: &EntityTag) -> bool {
    match if_none_match {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        None => false,
    }
}
