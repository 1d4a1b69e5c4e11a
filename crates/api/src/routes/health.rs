//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers and is migrated).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{blocking, ApiError};
use crate::state::AppState;

/// Liveness: answers as long as the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 when the database is reachable with every migration applied, else 503.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.ready()?)).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": state.store.kind().name()})))
}
