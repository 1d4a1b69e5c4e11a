//! How a page leaves: rendered HTML that no cache keeps, or a redirect, and the addresses the
//! browser is sent to. Below the pages and the error type, which both answer through here.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// The sign-in page, where a request without a live session is sent.
pub const SIGN_IN_PATH: &str = "/login";
/// The registration page.
pub const REGISTER_PATH: &str = "/register";

/// A page as a response: HTML, never stored by a cache (it is one runner's data).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(html),
        Err(e) => {
            log::error!("rendering a page failed: {e}");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("The server could not show this page.")
        }
    }
}

/// `200 OK` with the page.
pub(crate) fn ok(page: &impl Template) -> HttpResponse {
    render(StatusCode::OK, page)
}

/// `303 See Other` to `location`: where a successful form post sends the browser.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
