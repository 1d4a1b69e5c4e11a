//! The read side for other devices and the dashboard: the newest-first list, one workout,
//! server-side edits and deletes, and the change feed.

use actix_web::{delete, get, patch, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use sync_core::time::truncate_to_seconds;
use sync_core::wire::{ChangeEntry, ChangesPage, WorkoutBody, WorkoutPage};
use sync_core::{edited_row, tombstone, ChangeCursor, RejectedWorkout, StoredWorkout, WorkoutView};
use sync_store::{EditOutcome, WorkoutQuery, MAX_CHANGES_PAGE, MAX_WORKOUTS_PAGE};

use super::params;
use crate::auth::AuthUser;
use crate::error::{blocking, ApiError};
use crate::openapi::{BadRequest, CommonErrors, NotFound, Unauthorized, Unprocessable};
use crate::state::AppState;

/// Page of `GET /workouts` without `limit`; the largest is the store's.
const LIST_DEFAULT: i64 = 50;
/// Page of `GET /workouts/changes` without `limit`; the largest is the store's.
const CHANGES_DEFAULT: i64 = 200;

/// `GET /workouts` parameters, all optional and parsed strictly.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// Only workouts starting at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Only workouts starting before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
    /// Only workouts whose `date` is in this year.
    #[param(value_type = Option<i32>, minimum = 1, maximum = 9999)]
    year: Option<String>,
}

/// `GET /workouts`: newest `start_time` first, keyset-paginated.
#[utoipa::path(operation_id = "list_workouts", tag = "workouts", params(ListParams),
    responses((status = 200, description = "Newest first", body = WorkoutPage), BadRequest, Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/workouts")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let q = WorkoutQuery {
        limit: params::limit(query.limit.as_deref(), LIST_DEFAULT, MAX_WORKOUTS_PAGE)?,
        cursor: params::list_cursor(query.cursor.as_deref())?,
        since: params::timestamp("since", query.since.as_deref())?,
        until: params::timestamp("until", query.until.as_deref())?,
        year: params::year(query.year.as_deref())?,
    };
    let page = state
        .query(move |store| store.list_workouts(auth.user_id, &q))
        .await?;
    Ok(HttpResponse::Ok().json(WorkoutPage {
        workouts: page.workouts.iter().map(WorkoutView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
        has_more: page.has_more,
    }))
}

/// `GET /workouts/{id}`: 404 when absent, deleted or another user's.
#[utoipa::path(operation_id = "get_workout", tag = "workouts", params(("id" = uuid::Uuid, Path, description = "The server's id of the workout")),
    responses((status = 200, description = "The workout", body = WorkoutBody), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/workouts/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let workout = state
        .query(move |store| store.workout(auth.user_id, id))
        .await?
        .ok_or(ApiError::NotFound("workout not found"))?;
    Ok(HttpResponse::Ok().json(WorkoutBody {
        workout: WorkoutView::from(&workout),
    }))
}

/// `PATCH /workouts/{id}`: a server-side edit of content fields; bumps `revision` and puts the
/// workout on the change feed, so a device holding the old copy gets a conflict next sync.
#[utoipa::path(operation_id = "patch_workout", tag = "workouts", params(("id" = uuid::Uuid, Path, description = "The server's id of the workout")),
    request_body(content = Object, description = "Content fields to change, as in a synced workout"),
    responses((status = 200, description = "The edited workout", body = WorkoutBody), BadRequest, Unauthorized, NotFound, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[patch("/workouts/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let patch = body.into_inner();
    let now = truncate_to_seconds(Utc::now());
    let store = state.store.clone();
    let outcome = blocking(move || {
        Ok(
            store.edit_workout(auth.user_id, id, now, |current: &StoredWorkout| {
                edited_row(current, &patch, now)
            })?,
        )
    })
    .await?;
    let workout = match outcome {
        EditOutcome::Written(w) => {
            log::info!(
                "user {} edited workout {id} (revision {})",
                auth.user_id,
                w.revision
            );
            w
        }
        EditOutcome::Unchanged(w) => w,
        EditOutcome::Refused(RejectedWorkout { errors, .. }) => {
            return Err(ApiError::Unprocessable {
                code: "validation_failed",
                message: "The edit is not a valid workout.".into(),
                errors: Some(errors),
            })
        }
        EditOutcome::NotFound => return Err(ApiError::NotFound("workout not found")),
    };
    Ok(HttpResponse::Ok().json(WorkoutBody {
        workout: WorkoutView::from(&workout),
    }))
}

/// `DELETE /workouts/{id}` → 204: the workout becomes a tombstone on the change feed.
#[utoipa::path(operation_id = "delete_workout", tag = "workouts", params(("id" = uuid::Uuid, Path, description = "The server's id of the workout")),
    responses((status = 204, description = "Deleted (a tombstone on the change feed)"), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/workouts/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let now = truncate_to_seconds(Utc::now());
    let store = state.store.clone();
    let outcome = blocking(move || {
        Ok(
            store.edit_workout(auth.user_id, id, now, |current: &StoredWorkout| {
                Ok::<_, ()>(Some(tombstone(current, now)))
            })?,
        )
    })
    .await?;
    match outcome {
        EditOutcome::Written(_) | EditOutcome::Unchanged(_) | EditOutcome::Refused(()) => {
            log::info!("user {} deleted workout {id}", auth.user_id);
            Ok(HttpResponse::NoContent().finish())
        }
        EditOutcome::NotFound => Err(ApiError::NotFound("workout not found")),
    }
}

/// `GET /workouts/changes` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// The `next_cursor` of the previous page or of a sync response; absent: from the start.
    #[param(pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// Page size, 1–1000 (default 200).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// `GET /workouts/changes`: every change after `cursor`, in commit order, tombstones included.
/// `next_cursor` is always given: a reader polls with it and never misses a change.
#[utoipa::path(operation_id = "list_changes", tag = "workouts", params(ChangeParams),
    responses((status = 200, description = "Changes in commit order", body = ChangesPage), BadRequest, Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/workouts/changes")]
pub async fn changes(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<ChangeParams>,
) -> Result<HttpResponse, ApiError> {
    let cursor = params::change_cursor(query.cursor.as_deref())?;
    let limit = params::limit(query.limit.as_deref(), CHANGES_DEFAULT, MAX_CHANGES_PAGE)?;
    let page = state
        .query(move |store| store.changes(auth.user_id, cursor.after_seq, limit))
        .await?;
    Ok(HttpResponse::Ok().json(ChangesPage {
        changes: page.changes.iter().map(ChangeEntry::of).collect(),
        next_cursor: ChangeCursor {
            after_seq: page.last_seq,
        }
        .encode(),
        has_more: page.has_more,
    }))
}
