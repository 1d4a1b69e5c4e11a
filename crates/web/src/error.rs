//! The one error type of the pages. Each becomes a page of its own (or, for a runner who is not
//! signed in, the way to the sign-in page); a 5xx never shows internal detail: that goes to the
//! log.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use sync_store::StoreError;

use crate::host::AccountError;
use crate::respond::{render, SIGN_IN_PATH};

/// Every way a page request can fail.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live browser session: to the sign-in page.
    #[error("sign-in required")]
    SignInRequired,
    /// Absent, deleted, or another runner's.
    #[error("not found")]
    NotFound,
    /// A form without its CSRF token, or from another origin.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A URL the runner edited into something the page cannot read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The database is unavailable for now.
    #[error("unavailable")]
    Unavailable,
    /// A fault of the server's own.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) | StoreError::Busy(detail) => {
                log::warn!("database unavailable: {detail}");
                PageError::Unavailable
            }
            StoreError::NotFound => PageError::NotFound,
            StoreError::YearOutOfRange(e) => PageError::BadRequest(format!("year {e}")),
            other => PageError::Internal(other.to_string()),
        }
    }
}

/// A refusal the host explains, as the page that shows it (the forms that can correct it match
/// their own cases first).
impl From<AccountError> for PageError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Refused(message) => PageError::BadRequest(message),
            AccountError::Unavailable { .. } => PageError::Unavailable,
            other => PageError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignInRequired => StatusCode::SEE_OTHER,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            PageError::SignInRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, SIGN_IN_PATH))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish();
            }
            PageError::NotFound => ("Not found", "There is nothing here.".to_owned()),
            PageError::Forbidden(why) => ("Not allowed", (*why).to_owned()),
            PageError::BadRequest(why) => ("That address is not right", why.clone()),
            PageError::Unavailable => (
                "Back in a moment",
                "The database is not answering; try again in a few seconds.".to_owned(),
            ),
            PageError::Internal(detail) => {
                log::error!("page failed: {detail}");
                (
                    "Something went wrong",
                    "The server could not show this page; the fault is logged.".to_owned(),
                )
            }
        };
        let view = ErrorPage { title, message };
        let mut response = render(self.status_code(), &view);
        if matches!(self, PageError::Unavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}
