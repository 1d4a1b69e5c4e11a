//! The runner's numbers for a year: `GET /stats/dashboard` and `GET /stats/insights`, the most
//! frequent reads (the app opens on the dashboard and its widget refreshes it every 30
//! minutes). Both carry an `ETag`; `If-None-Match` with the current one is a 304 decided from
//! one small read, before any workout is read, and a body this instance made under the
//! current `ETag` is served from that same read ([`crate::numbers_cache`]).

use actix_web::http::header::{
    self, CacheControl, CacheDirective, ContentType, EntityTag, IfNoneMatch,
};
use actix_web::web::Bytes;
use actix_web::{get, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::running::{dashboard as dashboard_body, insights as insights_body};
use sync_core::running::{DashboardBody, InsightsBody, RECENT_RUNS};
use sync_core::WorkoutView;
use sync_store::YearRead;

use super::params;
use super::running::{client_has, numbers_etag, read_year, YearNumbers};
use crate::auth::{Caller, Claim};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::numbers_cache::NumbersRead;
use crate::openapi::{BadRequest, CommonErrors, NotModified, Unauthorized, Unprocessable};
use crate::state::AppState;

/// `?year=` of the stats reads.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct YearParams {
    /// The year, 2000 to 2100 (default: this year in the runner's time zone).
    #[param(value_type = Option<i32>, minimum = 2000, maximum = 2100)]
    year: Option<String>,
}

impl YearParams {
    fn year(&self) -> Result<Option<i32>, ApiError> {
        self.year.as_deref().map(params::running_year).transpose()
    }
}

/// `GET /stats/dashboard?year=`: `{goal, progress, stats, recent_runs, chart_data,
/// pace_metrics, streaks}`.
#[utoipa::path(operation_id = "get_dashboard", tag = "stats", params(YearParams, ("If-None-Match" = Option<String>, Header, description = "The ETag of the copy the client holds")),
    responses((status = 200, description = "The dashboard of the year", body = DashboardBody,
            headers(("ETag" = String, description = "Names these numbers; send it back in If-None-Match"))),
        NotModified, BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/stats/dashboard")]
pub async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    auth: Claim,
    query: web::Query<YearParams>,
) -> Result<HttpResponse, ApiError> {
    numbers(
        &req,
        &state,
        &metrics,
        auth.into(),
        query.year()?,
        NumbersRead::Dashboard,
        |numbers| {
            let recent = numbers.year.recent_runs.iter().map(WorkoutView::from);
            dashboard_body(&numbers.year.data, &numbers.goal, recent.collect())
        },
    )
    .await
}

/// `GET /stats/insights?year=`: `{year, streaks, monthly_data, weekly_data, pace_data,
/// personal_bests, achievements}`.
#[utoipa::path(operation_id = "get_insights", tag = "stats", params(YearParams, ("If-None-Match" = Option<String>, Header, description = "The ETag of the copy the client holds")),
    responses((status = 200, description = "The insights of the year", body = InsightsBody,
            headers(("ETag" = String, description = "Names these numbers; send it back in If-None-Match"))),
        NotModified, BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/stats/insights")]
pub async fn insights(
    req: HttpRequest,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    auth: Claim,
    query: web::Query<YearParams>,
) -> Result<HttpResponse, ApiError> {
    numbers(
        &req,
        &state,
        &metrics,
        auth.into(),
        query.year()?,
        NumbersRead::Insights,
        |numbers| insights_body(&numbers.year.data, &numbers.goal),
    )
    .await
}

/// A numbers read. When the client's `If-None-Match` names the current numbers, or this
/// instance keeps their body ([`crate::numbers_cache`]), the answer is decided from the
/// runner's state alone: a 304, or the kept body. Otherwise the year is read and `render`
/// makes the body, which is kept under its `ETag`. The caller's session is checked in the
/// same hand-off as the first read.
async fn numbers<B: Serialize>(
    req: &HttpRequest,
    state: &AppState,
    metrics: &Metrics,
    mut caller: Caller,
    year: Option<i32>,
    which: NumbersRead,
    render: impl FnOnce(&YearNumbers) -> B,
) -> Result<HttpResponse, ApiError> {
    let now: DateTime<Utc> = Utc::now();
    let if_none_match = req.get_header::<IfNoneMatch>();
    let cache = &state.numbers_cache;
    if if_none_match.is_some() || cache.is_enabled() {
        let current = state
            .query_as(caller, move |store, user_id| {
                store.running_state(user_id, year, now)
            })
            .await?
            .ok_or(ApiError::NotFound("user not found"))?;
        let etag = numbers_etag(which.name(), state, &current);
        if client_has(if_none_match.as_ref(), &etag) {
            return Ok(with_validators(HttpResponse::NotModified(), etag).finish());
        }
        if cache.is_enabled() {
            let kept = cache.get(caller.user_id(), which, current.year, &etag);
            metrics.observe_numbers_cache(kept.is_some());
            if let Some(body) = kept {
                return Ok(json(etag, body));
            }
        }
        caller = caller.checked();
    }
    let numbers = read_year(state, caller, year, now, year_read(which)).await?;
    let running = &numbers.year.state;
    let etag = numbers_etag(which.name(), state, running);
    let body = serde_json::to_vec(&render(&numbers))
        .map_err(|e| ApiError::Internal(format!("{} body: {e}", which.name())))?;
    let body = Bytes::from(body);
    cache.put(
        caller.user_id(),
        which,
        running.year,
        etag.clone(),
        body.clone(),
    );
    Ok(json(etag, body))
}

/// What each body is made from: both follow the streaks; the dashboard also lists the year's
/// newest runs.
fn year_read(which: NumbersRead) -> YearRead {
    match which {
        NumbersRead::Dashboard => YearRead {
            recent_runs: RECENT_RUNS,
            ..YearRead::WITH_STREAKS
        },
        NumbersRead::Insights => YearRead::WITH_STREAKS,
    }
}

/// A 200 of a numbers body with its validators.
fn json(etag: EntityTag, body: Bytes) -> HttpResponse {
    with_validators(HttpResponse::Ok(), etag)
        .content_type(ContentType::json())
        .body(body)
}

/// `ETag` and `Cache-Control: private, no-cache`: a shared cache must not keep one runner's
/// numbers, and a client revalidates before each use (the numbers change at midnight).
fn with_validators(
    mut response: actix_web::HttpResponseBuilder,
    etag: EntityTag,
) -> actix_web::HttpResponseBuilder {
    response
        .insert_header(header::ETag(etag))
        .insert_header(CacheControl(vec![
            CacheDirective::Private,
            CacheDirective::NoCache,
        ]));
    response
}
