//! The one error type of the HTTP edge. Every refusal becomes the contract's body
//! `{"success": false, "error", "message", "errors"?, "request_id"}`; a 5xx never carries
//! internal detail: that goes to the log under the same request id.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sync_core::wire::{ErrorBody, FieldErrors};
use sync_core::RequestError;
use sync_store::{StoreError, Watch};

use crate::request_id;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed as a whole.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// One human sentence.
        message: String,
        /// Fields at fault.
        errors: Option<FieldErrors>,
    },
    /// 401 `unauthorized`: missing, malformed, expired, forged or revoked token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401 `invalid_credentials`: wrong email or password (the same for both).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 401 `invalid_password`: the password confirming an account's deletion is wrong.
    #[error("the password is wrong; nothing was deleted")]
    WrongPassword,
    /// 404: absent, deleted, or another user's.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the body did not arrive within `BODY_READ_TIMEOUT_SECS`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// 409 with a stable code (e.g. `email_taken`).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// One human sentence.
        message: String,
    },
    /// 409 with `Retry-After`: another sync of this account holds the lock.
    #[error("another sync for this account is still running; retry shortly")]
    SyncInProgress {
        /// Seconds.
        retry_after: u64,
    },
    /// 413.
    #[error("{message}")]
    PayloadTooLarge {
        /// Stable code.
        code: &'static str,
        /// One human sentence.
        message: String,
    },
    /// 415 `unsupported_media_type`: a body that is not JSON, or in a coding not decoded.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// 422: well-formed but unacceptable.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// One human sentence.
        message: String,
        /// Fields at fault.
        errors: Option<FieldErrors>,
    },
    /// 423 with `Retry-After`: too many failed logins.
    #[error("too many failed logins; the account is locked for a while")]
    Locked {
        /// Seconds.
        retry_after: u64,
    },
    /// 429 with `Retry-After`.
    #[error("too many requests; retry after {retry_after} seconds")]
    RateLimited {
        /// Seconds.
        retry_after: u64,
    },
    /// 503 with `Retry-After`: the database is unreachable or saturated.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable {
        /// Seconds.
        retry_after: u64,
    },
    /// 503 with `Retry-After`: this instance is already waiting on `MAX_PENDING_BODIES`
    /// request bodies; a new one would only add to them.
    #[error("the server is receiving too many requests at once; retry shortly")]
    Overloaded {
        /// Seconds.
        retry_after: u64,
    },
    /// Any other refusal, made by actix-web itself (see `edge`): the status's reason, in
    /// snake case, is the code.
    #[error("the request was refused: {}", .0.canonical_reason().unwrap_or("error"))]
    Refused(StatusCode),
    /// 500: a bug or a broken dependency. The detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            errors: None,
        }
    }

    /// A 413 for a body over `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        ApiError::PayloadTooLarge {
            code: "payload_too_large",
            message: format!("The request body exceeds {limit} bytes."),
        }
    }

    /// A 422 naming one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Unprocessable {
            code: "validation_failed",
            message: format!("{field} {message}"),
            errors: Some(BTreeMap::from([(field.to_owned(), vec![message])])),
        }
    }

    fn code(&self) -> Cow<'static, str> {
        let code = match self {
            ApiError::Refused(status) => {
                let reason = status.canonical_reason().unwrap_or("error");
                return reason.to_ascii_lowercase().replace([' ', '-'], "_").into();
            }
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::PayloadTooLarge { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::WrongPassword => "invalid_password",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::BodyTimeout => "request_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::SyncInProgress { .. } => "sync_in_progress",
            ApiError::Locked { .. } => "account_locked",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } | ApiError::Overloaded { .. } => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        };
        Cow::Borrowed(code)
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::SyncInProgress { retry_after }
            | ApiError::Locked { retry_after }
            | ApiError::RateLimited { retry_after }
            | ApiError::Unavailable { retry_after }
            | ApiError::Overloaded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials | ApiError::WrongPassword => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict { .. } | ApiError::SyncInProgress { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Locked { .. } => StatusCode::LOCKED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Refused(status) => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = request_id::current();
        let message = match self {
            ApiError::Internal(detail) => {
                log::error!(
                    "request {} failed: {detail}",
                    request_id.as_deref().unwrap_or("-")
                );
                "The server failed to handle the request; it has been logged.".to_owned()
            }
            ApiError::Unavailable { .. } => {
                log::warn!(
                    "request {} refused: database unavailable",
                    request_id.as_deref().unwrap_or("-")
                );
                self.to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } => {
                errors.as_ref()
            }
            _ => None,
        };
        let body = ErrorBody {
            success: false,
            error: self.code().into_owned(),
            message,
            errors: errors.cloned(),
            request_id,
        };
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.json(body)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) | StoreError::Busy(detail) => {
                log::warn!("database unavailable: {detail}");
                ApiError::Unavailable { retry_after: 2 }
            }
            StoreError::NotFound => ApiError::NotFound("not found"),
            StoreError::SessionEnded => {
                ApiError::Unauthorized("the session has ended; log in again")
            }
            StoreError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                message: "An account with this email already exists.".into(),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let errors = Some(e.field_errors());
        let message = e.to_string();
        match e {
            RequestError::KeyMismatch => ApiError::BadRequest {
                code: "idempotency_key_mismatch",
                message,
                errors,
            },
            RequestError::BatchTooLarge { .. } => ApiError::PayloadTooLarge {
                code: "batch_too_large",
                message,
            },
            RequestError::InvalidMode => ApiError::Unprocessable {
                code: "invalid_mode",
                message,
                errors,
            },
            RequestError::DuplicateClientId { .. } | RequestError::UpsertAndDelete { .. } => {
                ApiError::Unprocessable {
                    code: "duplicate_client_id",
                    message,
                    errors,
                }
            }
            RequestError::InvalidKey(_)
            | RequestError::InvalidClientSyncTimestamp
            | RequestError::InvalidDeletedId { .. } => ApiError::Unprocessable {
                code: "validation_failed",
                message,
                errors,
            },
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("blocking task failed: {e}"))
    }
}

/// How often a request waiting on blocking work looks at the database's heartbeat.
const SILENCE_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs blocking work (Diesel, Argon2) off the async workers, under the request's id.
///
/// While the work waits on a database that has stopped answering its heartbeat
/// (`DB_HEARTBEAT_TIMEOUT_MS`), the request is answered 503 with `Retry-After` at once instead
/// of hanging with the network. The work itself cannot be interrupted mid-call; it is given up,
/// so a transaction it has not yet committed rolls back when the database answers again.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let watch = Watch::new();
    let working = watch.clone();
    let work = actix_web::web::block(request_id::propagate(move || working.run(f)));
    let mut work = std::pin::pin!(work);
    let mut check = tokio::time::interval(SILENCE_CHECK);
    loop {
        tokio::select! {
            done = &mut work => return done?,
            _ = check.tick() => {
                if let Some(silence) = watch.database_silence() {
                    watch.give_up();
                    return Err(StoreError::Unavailable(format!(
                        "gave up waiting after {} ms without a heartbeat",
                        silence.as_millis()
                    ))
                    .into());
                }
            }
        }
    }
}
