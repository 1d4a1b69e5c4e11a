//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! wire types' `ToSchema` derives, served at `GET /api/v1/openapi.json`, with a browsable page
//! at `GET /api/v1/docs`. A test checks it lists exactly the endpoints `routes::endpoints` serves.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::routes::{auth, health, history, sync, workouts};

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
    }
}

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Running Days sync API",
        description = "Syncs HealthKit workouts between the Running Days apps, devices and the web dashboard."
    ),
    paths(
        health::healthz, health::readyz, crate::metrics::endpoint, document, viewer,
        auth::register, auth::login, auth::refresh, auth::logout, auth::me, auth::sessions,
        auth::revoke_session,
        sync::sync,
        workouts::changes, workouts::list, workouts::get, workouts::patch, workouts::delete,
        history::status, history::list, history::get,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, tokens and sessions"),
        (name = "sync", description = "Syncing workouts from a device"),
        (name = "workouts", description = "Reading and editing workouts"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// `GET /api/v1/docs`: a page that renders the document. Its viewer script is loaded by the
/// reader's browser; nothing is downloaded at build time.
#[utoipa::path(get, path = "/api/v1/docs", tag = "operations",
    responses((status = 200, description = "A browsable page of this document", content_type = "text/html")))]
pub async fn viewer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(VIEWER_PAGE)
}

const VIEWER_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Running Days sync API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <noscript>The interactive page needs JavaScript; the document itself is at
    <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
  <script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#docs" });
  </script>
</body>
</html>
"##;
