//! `GET /sync/status` and the sync history (`GET /syncs`, `GET /syncs/{sync_id}`).

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use sync_core::wire::{SyncHistoryBody, SyncRecordBody, SyncStatusBody, SyncView};
use sync_core::ChangeCursor;
use sync_store::{SyncRecord, MAX_HISTORY_PAGE};

use super::params;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{BadRequest, CommonErrors, NotFound, Unauthorized};
use crate::state::AppState;

/// `GET /sync/status`. `oldest_workout`/`newest_workout` are the start times of the user's
/// oldest and newest live workouts; `pending_sync` is always 0 on the server.
#[utoipa::path(operation_id = "get_sync_status", tag = "sync",
    responses((status = 200, description = "The caller's sync status", body = SyncStatusBody), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/sync/status")]
pub async fn status(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let status = state
        .query(move |store| store.sync_status(auth.user_id))
        .await?
        .ok_or(ApiError::NotFound("user not found"))?;
    Ok(HttpResponse::Ok().json(SyncStatusBody {
        last_sync_at: status.last_sync_at,
        server_cursor: ChangeCursor {
            after_seq: status.change_seq,
        }
        .encode(),
        total_workouts: status.total_workouts,
        pending_sync: 0,
        oldest_workout: status.oldest_workout,
        newest_workout: status.newest_workout,
    }))
}

/// One sync of the history as served.
pub(crate) fn sync_view(r: SyncRecord) -> SyncView {
    SyncView {
        sync_id: r.id,
        mode: r.mode,
        idempotency_key: r.idempotency_key,
        created: r.counts.created,
        updated: r.counts.updated,
        unchanged: r.counts.unchanged,
        deleted: r.counts.deleted,
        conflicts: r.counts.conflicts,
        rejected: r.counts.rejected,
        server_cursor: ChangeCursor {
            after_seq: r.change_seq,
        }
        .encode(),
        client_sync_timestamp: r.client_sync_timestamp,
        created_at: r.created_at,
    }
}

/// Syncs `GET /syncs` lists without `limit`; the most is the store's.
const HISTORY_DEFAULT: i64 = 20;

/// `GET /syncs` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// How many, 1–200 (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// `GET /syncs`: the user's most recent syncs, newest first.
#[utoipa::path(operation_id = "list_syncs", tag = "sync", params(HistoryParams),
    responses((status = 200, description = "Newest first", body = SyncHistoryBody), BadRequest, Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/syncs")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params::limit(query.limit.as_deref(), HISTORY_DEFAULT, MAX_HISTORY_PAGE)?;
    let records = state
        .query(move |store| store.sync_history(auth.user_id, limit))
        .await?;
    Ok(HttpResponse::Ok().json(SyncHistoryBody {
        syncs: records.into_iter().map(sync_view).collect(),
    }))
}

/// `GET /syncs/{sync_id}`: 404 when absent or another user's.
#[utoipa::path(operation_id = "get_sync", tag = "sync",
    params(("sync_id" = uuid::Uuid, Path, description = "The sync's id")),
    responses((status = 200, description = "The sync", body = SyncRecordBody), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/syncs/{sync_id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let record = state
        .query(move |store| store.sync_record(auth.user_id, id))
        .await?
        .ok_or(ApiError::NotFound("sync not found"))?;
    Ok(HttpResponse::Ok().json(SyncRecordBody {
        sync: sync_view(record),
    }))
}
