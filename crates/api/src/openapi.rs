//! The OpenAPI 3.1 document's root and the error responses handlers refer to. Its paths are not
//! listed here: registering a route (`routes::configure`) documents it, and `app.rs` assembles
//! the document from that registration; the wire types' `ToSchema` derives give the schemas.

use sync_core::wire::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Responses any endpoint may give: rate limited, database unavailable, internal error.
#[derive(utoipa::IntoResponses)]
pub enum CommonErrors {
    /// Over the rate limit; retry after `Retry-After` seconds.
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
    /// Internal error; the detail is in the server's log under the request id.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The database is unreachable or saturated; retry after `Retry-After` seconds.
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(ErrorBody),
}

/// Missing, malformed, expired, forged or revoked access token: refresh, then retry.
#[derive(utoipa::IntoResponses)]
pub enum Unauthorized {
    /// `error: "unauthorized"`.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// A malformed request or parameter.
#[derive(utoipa::IntoResponses)]
pub enum BadRequest {
    /// Malformed JSON, wrong types, or a malformed parameter, cursor or id.
    #[response(status = 400)]
    BadRequest(ErrorBody),
}

/// Absent, deleted, or another user's.
#[derive(utoipa::IntoResponses)]
pub enum NotFound {
    /// `error: "not_found"`.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// A body over the size limit.
#[derive(utoipa::IntoResponses)]
pub enum TooLarge {
    /// `error: "payload_too_large"` or `"batch_too_large"`.
    #[response(status = 413)]
    TooLarge(ErrorBody),
}

/// Well-formed but unacceptable input.
#[derive(utoipa::IntoResponses)]
pub enum Unprocessable {
    /// Field errors are listed in `errors`.
    #[response(status = 422)]
    Unprocessable(ErrorBody),
}

/// The client's copy is current (`If-None-Match` named the current `ETag`).
#[derive(utoipa::IntoResponses)]
pub enum NotModified {
    /// The copy named by If-None-Match is current: no body, the same `ETag`.
    #[response(status = 304)]
    NotModified,
}

/// A body the server cannot read as JSON.
#[derive(utoipa::IntoResponses)]
pub enum UnsupportedMedia {
    /// `error: "unsupported_media_type"`: a `Content-Type` that is not JSON, or a
    /// `Content-Encoding` other than identity, gzip or deflate.
    #[response(status = 415)]
    UnsupportedMedia(ErrorBody),
}

/// Documents the 415 of every operation with a request body: `edge` gives it, before any
/// handler runs, so no handler's annotation names it.
pub fn document_unsupported_media(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::IntoResponses;
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_some() {
                operation
                    .responses
                    .responses
                    .extend(UnsupportedMedia::responses());
            }
        }
    }
}

/// `POST /auth/login`'s body as the server reads it. Unlike registration it sets no bounds on
/// the password: one that registration would refuse is answered like any wrong password (401,
/// or 423 while the account is locked), not refused as malformed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LoginRequest {
    /// The account's email, compared in its normalised form.
    email: String,
    /// The account's password.
    #[schema(format = Password)]
    password: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ingest_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rdi_…")
                    .description(Some(
                        "An ingest token (POST /api/v1/ingest-tokens makes one): opens only the ingest endpoint",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's root: everything but the paths and their schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Running Days sync API",
        description = "Syncs HealthKit workouts between the Running Days apps, devices and the web dashboard."
    ),
    // A generic's argument is not collected with the generic itself (`SyncRequest<W>`).
    // The `data` of each webhook event is not a response of any path: listed so the document
    // describes what receivers get.
    components(schemas(
        sync_core::wire::WorkoutInput,
        sync_core::wire::WorkoutEventData,
        sync_core::wire::SyncCompletedData,
        sync_core::wire::GoalReachedData,
        sync_core::wire::AchievementUnlockedData,
        sync_core::wire::TestEventData,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, tokens and sessions"),
        (name = "sync", description = "Syncing workouts from a device"),
        (name = "workouts", description = "Reading and editing workouts, and the export"),
        (name = "ingest", description = "Health Auto Export: ingest tokens and the ingest endpoint"),
        (name = "webhooks", description = "Subscriptions to events, signed as Standard Webhooks, and their delivery attempts"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The assembled document, serialised once at start-up for `GET /api/v1/openapi.json`, and
/// its page for `GET /api/v1/docs`.
pub struct ApiDocument {
    /// The document as JSON.
    pub json: String,
    /// The HTML page listing its operations.
    pub page: String,
}
