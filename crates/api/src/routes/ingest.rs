//! Health Auto Export, a second way in: the runner's ingest tokens (`/ingest-tokens`) and
//! `POST /ingest/health-auto-export`, which turns an export's runs into an ordinary sync.
//!
//! The export is parsed while it arrives: the body's chunks go through a small bounded channel
//! to a blocking task that reads them as one JSON stream (`sync_core::health_auto_export`),
//! keeping only the runs' summary fields. Memory per request is a few chunks and the runs,
//! whatever the metrics in the export weigh; the body limit is `INGEST_MAX_BODY_BYTES`.

use std::io;
use std::pin::Pin;

use actix_web::web::Bytes;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_core::Stream;
use sync_core::health_auto_export::{prepare_ingest, read_payload, HealthExport, PayloadError};
use sync_core::time::truncate_to_seconds;
use sync_core::wire::{
    ErrorBody, IngestResponse, IngestTokenCreated, IngestTokenView, NewIngestTokenBody,
};
use sync_core::{SyncLimits, SyncResponse};
use sync_store::{
    IngestToken, NewIngestToken, StoreError, SyncCommand, SyncOutcome, TokenCreation,
    MAX_INGEST_TOKENS,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::sync::declared_over_limit;
use crate::auth::tokens::{hash_ingest_token, new_ingest_token};
use crate::auth::{AuthUser, IngestUser};
use crate::error::{blocking, ApiError};
use crate::metrics::Metrics;
use crate::openapi::{BadRequest, CommonErrors, NotFound, TooLarge, Unauthorized, Unprocessable};
use crate::state::AppState;

/// Longest token name, in characters.
pub const MAX_TOKEN_NAME_CHARS: usize = 100;
/// Body chunks in flight between the connection and the parser: a bound on what one ingest
/// request holds of its body (actix reads chunks of up to a few tens of KiB).
const CHUNKS_IN_FLIGHT: usize = 8;
/// Seconds to wait when another sync of the same account holds the lock.
const BUSY_RETRY_AFTER: u64 = 1;

fn token_view(t: IngestToken) -> IngestTokenView {
    IngestTokenView {
        id: t.id,
        name: t.name,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
    }
}

fn token_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_TOKEN_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            format!("must be 1 to {MAX_TOKEN_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// `POST /ingest-tokens {name}` → 201 with the token, shown this once.
#[utoipa::path(operation_id = "create_ingest_token", tag = "ingest", request_body = NewIngestTokenBody,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = IngestTokenCreated),
        (status = 409, description = "The account already holds the most ingest tokens allowed (20); revoke one first", body = ErrorBody),
        BadRequest, Unauthorized, TooLarge, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[post("/ingest-tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<NewIngestTokenBody>,
) -> Result<HttpResponse, ApiError> {
    let created = issue_token(&state, auth.user_id, &body.name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A new ingest token named `name` for the user, its secret shown this once: the API's
/// `POST /ingest-tokens` and the dashboard's form both issue here.
pub async fn issue_token(
    state: &AppState,
    user_id: Uuid,
    name: &str,
) -> Result<IngestTokenCreated, ApiError> {
    let name = token_name(name)?;
    let secret = new_ingest_token();
    let token = NewIngestToken {
        id: Uuid::new_v4(),
        name,
        token_hash: hash_ingest_token(&secret),
        created_at: Utc::now(),
    };
    let created = state
        .query(move |store| store.create_ingest_token(user_id, &token))
        .await?;
    let TokenCreation::Created(token) = created else {
        return Err(ApiError::Conflict {
            code: "ingest_token_limit",
            message: format!(
                "An account may hold at most {MAX_INGEST_TOKENS} ingest tokens; revoke one first."
            ),
        });
    };
    log::info!("user {user_id} created ingest token {}", token.id);
    Ok(IngestTokenCreated {
        id: token.id,
        name: token.name,
        token: secret,
        created_at: token.created_at,
    })
}

/// `GET /ingest-tokens` → the caller's tokens, newest first (never their secrets).
#[utoipa::path(operation_id = "list_ingest_tokens", tag = "ingest",
    responses((status = 200, description = "Newest first", body = Vec<IngestTokenView>), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/ingest-tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    auth: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let tokens = state
        .query(move |store| store.ingest_tokens(auth.user_id))
        .await?;
    let views: Vec<IngestTokenView> = tokens.into_iter().map(token_view).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// `DELETE /ingest-tokens/{id}` → 204; the token stops working at once. 404 when it is not
/// the caller's.
#[utoipa::path(operation_id = "revoke_ingest_token", tag = "ingest",
    params(("id" = uuid::Uuid, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/ingest-tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::params::id(&path)?;
    if !state
        .query(move |store| store.revoke_ingest_token(auth.user_id, id))
        .await?
    {
        return Err(ApiError::NotFound("ingest token not found"));
    }
    log::info!("user {} revoked ingest token {id}", auth.user_id);
    Ok(HttpResponse::NoContent().finish())
}

/// The Health Auto Export payload as the document describes it (the server reads only
/// `data.workouts`; see docs/integrations.md).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HealthAutoExportPayload {
    /// `{"workouts": [...], "metrics": [...], ...}`; only `workouts` is read.
    data: Option<HealthAutoExportData>,
}

/// The sections of an export.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HealthAutoExportData {
    /// The app's workouts (export format version 1 or 2); runs are kept, others skipped, and
    /// one that cannot be read is rejected alone.
    workouts: Option<Vec<serde_json::Value>>,
    /// Health metrics (any JSON): skipped unread, as is every other section.
    metrics: Option<serde_json::Value>,
}

/// `POST /ingest/health-auto-export`, with `Authorization: Bearer <ingest token>`: the
/// export's runs become one sync of the token's owner.
#[utoipa::path(operation_id = "ingest_health_auto_export", tag = "ingest",
    request_body = HealthAutoExportPayload,
    responses(
        (status = 200, description = "The runs applied as one sync", body = IngestResponse),
        (status = 401, description = "Missing, unknown or revoked ingest token (an access token is refused here)", body = ErrorBody),
        (status = 409, description = "Another sync of this account is still running", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        BadRequest, TooLarge, CommonErrors),
    security(("ingest_token" = [])))]
#[post("/ingest/health-auto-export")]
pub async fn health_auto_export(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    ingest: IngestUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.ingest_max_body_bytes;
    if declared_over_limit(&req, limit) {
        return Err(ApiError::body_too_large(limit));
    }
    let export = parse_streaming(payload, limit).await?;
    let now = truncate_to_seconds(Utc::now());
    let limits = SyncLimits {
        max_batch: state.config.max_batch,
    };
    let ttl = state.config.idempotency_ttl;
    let store = state.store.clone();
    let user_id = ingest.user_id;
    let workouts = export.workout_count();
    let (skipped, outcome) = blocking(move || {
        let prepared = prepare_ingest(export, &limits, now)?;
        let command = SyncCommand {
            user_id,
            session: None,
            request: &prepared.sync,
            now,
            idempotency_ttl: ttl,
        };
        match store.sync(&command) {
            Err(StoreError::Busy(detail)) => {
                log::info!("ingest for user {user_id} waited too long for its lock: {detail}");
                Err(ApiError::SyncInProgress {
                    retry_after: BUSY_RETRY_AFTER,
                })
            }
            other => Ok((prepared.skipped, other?)),
        }
    })
    .await?;
    // Without an idempotency key a sync is always applied, never replayed.
    let SyncOutcome::Applied { body, counts } = outcome else {
        return Err(ApiError::Internal(
            "an ingest without a key was not applied".into(),
        ));
    };
    let sync: SyncResponse = serde_json::from_str(&body)
        .map_err(|e| ApiError::Internal(format!("stored sync response unreadable: {e}")))?;
    log::info!(
        "ingest user={user_id} token={} workouts={workouts} skipped={skipped} created={} unchanged={} conflicts={} rejected={}",
        ingest.token_id, counts.created, counts.unchanged, counts.conflicts, counts.rejected
    );
    metrics.observe_sync(&counts);
    Ok(HttpResponse::Ok().json(IngestResponse {
        success: true,
        sync_id: sync.sync_id,
        created: sync.created,
        updated: sync.updated,
        unchanged: sync.unchanged,
        conflicts: sync.conflicts,
        rejected: sync.rejected,
        skipped,
    }))
}

/// Why feeding the body to the parser stopped early.
enum BodyFault {
    TooLarge,
    Refused(ApiError),
}

/// Feeds the body to the parser on a blocking thread as it arrives, counting it against
/// `limit`; the parser never sees more than `limit` bytes.
async fn parse_streaming(
    mut payload: web::Payload,
    limit: usize,
) -> Result<HealthExport, ApiError> {
    let (chunks, receiver) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    // Started now, not when awaited: it must read while this task feeds it.
    let parser = web::block(crate::request_id::propagate(move || {
        read_payload(ChannelReader {
            receiver,
            current: Bytes::new(),
        })
    }));
    let mut received = 0usize;
    let mut fault = None;
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) if crate::body_deadline::is_deadline(&e) => {
                fault = Some(BodyFault::Refused(ApiError::BodyTimeout));
                break;
            }
            Err(e) => {
                fault = Some(BodyFault::Refused(ApiError::bad_request(
                    "invalid_body",
                    format!("The request body could not be read: {e}"),
                )));
                break;
            }
        };
        received = received.saturating_add(chunk.len());
        if received > limit {
            fault = Some(BodyFault::TooLarge);
            break;
        }
        if chunks.send(Ok(chunk)).await.is_err() {
            // The parser stopped (the JSON is already wrong): its error is the answer.
            break;
        }
    }
    if fault.is_some() {
        // The parser must not take a cut-off body for a whole one.
        let _ = chunks
            .send(Err(io::Error::other("the body was not read whole")))
            .await;
    }
    drop(chunks);
    let parsed = parser.await?;
    match fault {
        Some(BodyFault::TooLarge) => Err(ApiError::body_too_large(limit)),
        Some(BodyFault::Refused(e)) => Err(e),
        None => parsed.map_err(payload_refusal),
    }
}

fn payload_refusal(e: PayloadError) -> ApiError {
    ApiError::bad_request(
        "invalid_json",
        format!("The body is not a Health Auto Export JSON export: {e}"),
    )
}

/// The body's chunks as one `io::Read`, for the parser's blocking thread.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
