//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers and is migrated).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::error::{blocking, ApiError};
use crate::openapi::CommonErrors;
use crate::state::AppState;

/// A health or readiness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    /// `ok` (process up) or `ready` (database reachable, migrations applied).
    status: &'static str,
    /// The database backend, on readiness: `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// Liveness: answers as long as the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthBody)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody {
        status: "ok",
        database: None,
    })
}

/// Readiness: 200 when the database is reachable with every migration applied, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready to serve", body = HealthBody), CommonErrors))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    // Not ready, whatever the reason (unreachable, pending migrations): 503, so a load
    // balancer takes the instance out of rotation and retries elsewhere.
    blocking(move || {
        store.ready().map_err(|e| {
            log::warn!("not ready: {e}");
            ApiError::Unavailable { retry_after: 2 }
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(HealthBody {
        status: "ready",
        database: Some(state.store.kind().name()),
    }))
}
