//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers and is migrated).

use actix_web::{get, web, HttpResponse};
use sync_core::wire::HealthBody;

use crate::error::{blocking, ApiError};
use crate::openapi::CommonErrors;
use crate::state::AppState;

/// How long the readiness check waits for the database (load balancers' probes commonly give up
/// after 2–5 s).
const READY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Liveness: answers as long as the process serves HTTP.
#[utoipa::path(operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthBody)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody {
        status: "ok".to_owned(),
        database: None,
    })
}

/// Readiness: 200 when the database is reachable with every migration applied, else 503.
#[utoipa::path(operation_id = "readyz", tag = "operations",
    responses((status = 200, description = "Ready to serve", body = HealthBody), CommonErrors))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    // Not ready, whatever the reason (unreachable, pending migrations, a database that does
    // not answer): 503, so a load balancer takes the instance out of rotation and retries
    // elsewhere. The deadline keeps a silent network from hanging the probe itself.
    let check = blocking(move || {
        store.ready().map_err(|e| {
            log::warn!("not ready: {e}");
            ApiError::Unavailable { retry_after: 2 }
        })
    });
    match tokio::time::timeout(READY_DEADLINE, check).await {
        Ok(answer) => answer?,
        Err(_) => {
            log::warn!("not ready: the database did not answer within {READY_DEADLINE:?}");
            return Err(ApiError::Unavailable { retry_after: 2 });
        }
    }
    Ok(HttpResponse::Ok().json(HealthBody {
        status: "ready".to_owned(),
        database: Some(state.store.kind().name().to_owned()),
    }))
}
