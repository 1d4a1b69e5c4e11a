//! The contract's promises about HTTP itself, kept in one middleware in front of routing:
//!
//! - `HEAD` is served wherever `GET` is: the request is routed as a `GET`, and actix's HTTP/1
//!   encoder, which remembers the request was a `HEAD`, sends the same headers and no body.
//! - A JSON endpoint (an operation the document gives a request body) refuses a `Content-Type`
//!   that is not JSON and a `Content-Encoding` the server cannot decode with 415, before any
//!   extractor reads the body. A request without `Content-Type` is read as JSON, as before.
//! - Any error response that did not come from [`ApiError`] (actix's own refusals inside the
//!   application) is given the contract's JSON error body with the same status.
//!
//! What actix-http refuses before the application sees a request (an unparseable request line
//! or header, a head over the buffer, a head that times out) it answers itself, with an empty
//! body and no `X-Request-Id`: it offers no hook for those answers (see `docs/security.md`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ContentEncoding, CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{mime, web, Error, HttpMessage, ResponseError};

use crate::error::ApiError;
use crate::routes::RouteTable;

/// The content codings the server decodes (actix-web's `compress-gzip` feature).
const DECODED_ENCODINGS: [ContentEncoding; 3] = [
    ContentEncoding::Identity,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
];

/// The middleware (`actix_web::middleware::from_fn`); the innermost one, inside the request id.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let table = req.app_data::<web::Data<RouteTable>>().cloned();
    if let Some(table) = table {
        if table.takes_json(req.path(), req.method()) {
            if let Some(refusal) = unsupported_media(&req) {
                return Ok(req.into_response(refusal.error_response()));
            }
        }
    }
    let response = next.call(req).await?.map_into_boxed_body();
    Ok(with_json_error_body(response))
}

/// The 415 for a body the server cannot read as JSON, if this is one.
fn unsupported_media(req: &ServiceRequest) -> Option<ApiError> {
    if let Some(value) = req.headers().get(CONTENT_ENCODING) {
        let decoded = value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<ContentEncoding>().ok())
            .is_some_and(|e| DECODED_ENCODINGS.contains(&e));
        if !decoded {
            return Some(ApiError::UnsupportedMediaType(
                "The Content-Encoding is not supported; send identity, gzip or deflate.",
            ));
        }
    }
    let json = match req.mime_type() {
        Ok(None) => req.headers().get(CONTENT_TYPE).is_none(),
        Ok(Some(mime)) => mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON),
        Err(_) => false,
    };
    (!json).then_some(ApiError::UnsupportedMediaType(
        "The request body must be JSON (Content-Type: application/json).",
    ))
}

/// An error response that is not the contract's JSON body gets one, with its status kept;
/// the dashboard's error pages (HTML) are left as they are.
fn with_json_error_body(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ours = content_type.starts_with(mime::APPLICATION_JSON.essence_str())
        || content_type.starts_with(mime::TEXT_HTML.essence_str());
    if !(status.is_client_error() || status.is_server_error()) || ours {
        return response;
    }
    let (req, original) = response.into_parts();
    let mut refusal = ApiError::Refused(status).error_response();
    for (name, value) in original.headers() {
        if name != CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
            refusal.headers_mut().insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, refusal)
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::{test, App, HttpResponse};

    use super::*;

    /// An error actix-web makes itself (here a plain-text one from a handler) leaves with the
    /// contract's body and its status; a JSON error body is left as it is.
    #[actix_web::test]
    async fn an_error_that_is_not_the_contracts_gets_its_json_body() {
        let app = test::init_service(
            App::new()
                .route(
                    "/plain",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(actix_web::error::ErrorUriTooLong("too long"))
                    }),
                )
                .route(
                    "/ours",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(ApiError::NotFound("workout not found"))
                    }),
                )
                .wrap(actix_web::middleware::from_fn(middleware)),
        )
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/plain").to_request()).await;
        assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["success"], serde_json::json!(false), "{body}");
        assert_eq!(body["error"], serde_json::json!("uri_too_long"), "{body}");
        assert!(body["message"].is_string(), "{body}");

        let response =
            test::call_service(&app, test::TestRequest::get().uri("/ours").to_request()).await;
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(
            body["message"],
            serde_json::json!("workout not found"),
            "{body}"
        );
    }
}
