//! `POST /workouts/sync`: read the body within its limit, apply the whole-request rules, and
//! hand the checked request to the store's single transaction.

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use sync_core::time::truncate_to_seconds;
use sync_core::wire::{ErrorBody, SyncRequest};
use sync_core::{prepare_sync, SyncLimits, SyncRequestBody};
use sync_store::{StoreError, SyncCommand, SyncOutcome};

use crate::auth::Claim;
use crate::error::{blocking, ApiError};
use crate::metrics::Metrics;
use crate::openapi::{BadRequest, CommonErrors, TooLarge, Unauthorized, Unprocessable};
use crate::state::AppState;

/// Set to `true` on a replayed response.
pub const X_IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("x-idempotent-replayed");
/// The header alternative to the body's `idempotency_key`.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Seconds a client should wait when another sync of the same account holds the lock.
const SYNC_BUSY_RETRY_AFTER: u64 = 1;

/// Whether the request declares a body over `limit` bytes (refused before reading any).
pub(crate) fn declared_over_limit(req: &HttpRequest, limit: usize) -> bool {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > limit)
}

async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    if declared_over_limit(req, limit) {
        return Err(ApiError::body_too_large(limit));
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e))
            if e.as_error::<actix_web::error::PayloadError>()
                .is_some_and(crate::body_deadline::is_deadline) =>
        {
            Err(ApiError::BodyTimeout)
        }
        Ok(Err(e)) => Err(ApiError::bad_request(
            "invalid_body",
            format!("The request body could not be read: {e}"),
        )),
        Err(_) => Err(ApiError::body_too_large(limit)),
    }
}

/// `POST /workouts/sync`.
#[utoipa::path(operation_id = "sync_workouts", tag = "sync",
    request_body = SyncRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Idempotency key (1–255 printable characters), instead of the body's")),
    responses(
        (status = 200, description = "Applied, or replayed for a repeated key", body = sync_core::SyncResponse,
            headers(("X-Idempotent-Replayed" = String, description = "`true` on a replayed response"))),
        (status = 409, description = "Another sync of this account is still running", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        BadRequest, Unauthorized, TooLarge, Unprocessable, CommonErrors,
    ),
    security(("bearer_auth" = [])))]
#[post("/workouts/sync")]
pub async fn sync(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    auth: Claim,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = read_body(&req, payload, state.config.max_body_bytes).await?;
    // Held until the response is made: what the body becomes is most of a sync's memory.
    let _turn = state.sync_budget.take_turn(bytes.len()).await?;
    let body = SyncRequestBody::from_json(&bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("The request body is not a valid sync request: {e}"),
        )
    })?;
    // The parsed body is all that is read from here on.
    drop(bytes);
    let header_key = match req.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "The Idempotency-Key header must be printable ASCII.",
            )
        })?),
    };
    let now = truncate_to_seconds(Utc::now());
    let limits = SyncLimits {
        max_batch: state.config.max_batch,
    };
    let prepared = prepare_sync(body, header_key, &limits, now)?;
    let ttl = state.config.idempotency_ttl;

    let store = state.store.clone();
    // The session is checked by the sync's own user lock, not in a hand-off of its own.
    let claim = auth.unchecked();
    let user_id = claim.user_id;
    let (prepared, outcome) = blocking(move || {
        let command = SyncCommand {
            user_id,
            session: Some(claim.session_id),
            request: &prepared,
            now,
            idempotency_ttl: ttl,
        };
        let outcome = match store.sync(&command) {
            Err(StoreError::Busy(detail)) => {
                log::info!("sync for user {user_id} waited too long for its lock: {detail}");
                return Err(ApiError::SyncInProgress {
                    retry_after: SYNC_BUSY_RETRY_AFTER,
                });
            }
            other => other?,
        };
        Ok((prepared, outcome))
    })
    .await?;

    let key = prepared
        .idempotency_key
        .as_ref()
        .map(|k| k.as_str().to_owned());
    match outcome {
        SyncOutcome::Applied { body, counts } => {
            log::info!(
                "sync user={user_id} mode={} workouts={} created={} updated={} unchanged={} deleted={} conflicts={} rejected={}",
                prepared.mode.as_str(), prepared.workout_count(), counts.created, counts.updated,
                counts.unchanged, counts.deleted, counts.conflicts, counts.rejected
            );
            metrics.observe_sync(&counts);
            Ok(json_response(body, false))
        }
        SyncOutcome::Replayed { body } => {
            log::info!("sync user={user_id} replayed a stored response");
            metrics.observe_replay();
            Ok(json_response(body, true))
        }
        SyncOutcome::KeyReused => {
            log::info!("sync user={user_id} refused: idempotency key reused with another request");
            metrics.observe_key_reused();
            Err(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: format!(
                    "The idempotency key {:?} was already used for a different request.",
                    key.unwrap_or_default()
                ),
                errors: None,
            })
        }
    }
}

fn json_response(body: String, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    if replayed {
        response.insert_header((X_IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
    }
    response.body(body)
}
