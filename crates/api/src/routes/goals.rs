//! Goals: one `target_days` per user and year (`GET /goals`, `GET`/`PUT`/`DELETE
//! /goals/{year}`, `GET /goals/{year}/progress`). A year without a goal has the configured
//! default target.

use std::collections::BTreeMap;

use actix_web::{delete, get, put, web, HttpResponse};
use chrono::Utc;
use serde_json::Value;
use sync_core::running::{
    goal_progress, goal_with_progress, validate_goal, validate_year, Goal, GoalProgressBody,
    GoalWithProgressBody, SetGoalBody, ValidGoal,
};
use sync_core::time::truncate_to_seconds;
use sync_store::YearRead;

use super::params;
use super::running::{read_year, YearPath};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{BadRequest, CommonErrors, Unauthorized, Unprocessable};
use crate::state::AppState;

/// `GET /goals`: the years with a goal set, newest first, as a top-level array.
#[utoipa::path(operation_id = "list_goals", tag = "goals",
    responses((status = 200, description = "The goals set, newest year first", body = [Goal]), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/goals")]
pub async fn list(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let goals = state.query(move |store| store.goals(auth.user_id)).await?;
    Ok(HttpResponse::Ok().json(goals))
}

/// `GET /goals/{year}`: `{goal, progress}`, with the default goal when none is set.
#[utoipa::path(operation_id = "get_goal", tag = "goals", params(YearPath),
    responses((status = 200, description = "The year's goal and progress", body = GoalWithProgressBody), BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/goals/{year}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<YearPath>,
) -> Result<HttpResponse, ApiError> {
    let year = path.year()?;
    // Progress needs only the workouts dated in the year.
    let read = YearRead::YEAR_ONLY;
    let numbers = read_year(&state, auth.into(), Some(year), Utc::now(), read).await?;
    Ok(HttpResponse::Ok().json(goal_with_progress(&numbers.year.data, &numbers.goal)))
}

/// `PUT /goals/{year} {target_days}`: creates or replaces the year's goal; 200 with the bare
/// goal. A replaced goal keeps its `created_at`. The body is read from JSON, not decoded into
/// [`SetGoalBody`], so that every field at fault is named in one 422.
#[utoipa::path(operation_id = "put_goal", tag = "goals", params(YearPath),
    request_body(content = SetGoalBody, description = "The year's target"),
    responses((status = 200, description = "The goal as stored", body = Goal), BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[put("/goals/{year}")]
pub async fn put(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<YearPath>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let valid = checked_goal(params::integer_year(&path.year)?, &body)?;
    let now = truncate_to_seconds(Utc::now());
    let goal = state
        .query(move |store| store.put_goal(auth.user_id, valid, now))
        .await?;
    log::info!(
        "user {} set the goal of {} to {} days",
        auth.user_id,
        goal.year,
        goal.target_days
    );
    Ok(HttpResponse::Ok().json(goal))
}

/// The year and the body's `target_days`, both checked, so that a request with two problems
/// hears of both.
fn checked_goal(year: i64, body: &Value) -> Result<ValidGoal, ApiError> {
    let target = match body.get("target_days") {
        None | Some(Value::Null) => Err("is required"),
        Some(value) => value.as_i64().ok_or("must be an integer"),
    };
    let mut errors = BTreeMap::new();
    match target {
        Ok(target) => match validate_goal(year, target) {
            Ok(valid) => return Ok(valid),
            Err(problems) => errors = problems.field_errors(),
        },
        Err(message) => {
            errors.insert("target_days".to_owned(), vec![message.to_owned()]);
            if let Err(problem) = validate_year(year) {
                errors.insert("year".to_owned(), vec![problem.to_string()]);
            }
        }
    }
    Err(ApiError::Unprocessable {
        code: "validation_failed",
        message: "The goal is not valid.".into(),
        errors: Some(errors),
    })
}

/// `DELETE /goals/{year}` → 204: the year falls back to the default target (also when it had
/// no goal).
#[utoipa::path(operation_id = "delete_goal", tag = "goals", params(YearPath),
    responses((status = 204, description = "Removed; the year has the default target"), BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/goals/{year}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<YearPath>,
) -> Result<HttpResponse, ApiError> {
    let year = path.year()?;
    if state
        .query(move |store| store.delete_goal(auth.user_id, year))
        .await?
    {
        log::info!("user {} removed the goal of {year}", auth.user_id);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /goals/{year}/progress`: `{goal, progress, pace_metrics, streaks, achievements, stats}`.
#[utoipa::path(operation_id = "get_goal_progress", tag = "goals", params(YearPath),
    responses((status = 200, description = "The year's goal and every number about it", body = GoalProgressBody), BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/goals/{year}/progress")]
pub async fn progress(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<YearPath>,
) -> Result<HttpResponse, ApiError> {
    let year = path.year()?;
    let read = YearRead::WITH_STREAKS;
    let numbers = read_year(&state, auth.into(), Some(year), Utc::now(), read).await?;
    Ok(HttpResponse::Ok().json(goal_progress(&numbers.year.data, &numbers.goal)))
}
