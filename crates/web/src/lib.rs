//! # web
//!
//! The Running Days web dashboard: a runner's year in the browser, served by the same server as
//! the API. Pages are rendered on the server from compile-time-checked templates (`askama`);
//! every number comes from the `sync-core` functions the JSON API serves (the dashboard page
//! shows [`sync_core::running::DashboardBody`], the insights page
//! [`sync_core::running::InsightsBody`]); charts are SVG drawn here; the stylesheet is embedded
//! in the binary. Nothing is fetched from another host.
//!
//! The server that mounts it ([`configure`]) hands in a [`WebContext`]: the store, and a
//! [`Host`], through which sign-in and registration go by the API's own rules (password
//! hashing, lockout), so that a browser and the app are held to the same ones. A browser
//! session is a row of the same `sessions` table as the app's: it shows up in
//! `/auth/sessions`, and revoking it there signs the browser out.

#![warn(missing_docs)]

mod assets;
mod charts;
mod context;
mod csrf;
mod error;
mod format;
mod host;
mod pages;
mod respond;
mod session;

pub use context::{WebContext, WebSettings};
pub use host::{
    AccountError, Host, HostFuture, IssuedToken, Job, NewAccount, SignInRequest, SignedIn,
};

use actix_web::middleware::DefaultHeaders;
use actix_web::web;

/// The pages that take a password: the server draws them on its credential rate limit.
pub const CREDENTIAL_FORMS: [&str; 2] = [respond::SIGN_IN_PATH, respond::REGISTER_PATH];

/// The `Content-Security-Policy` of every page: nothing but this server's own stylesheet and
/// images, no script at all, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Registers every page and asset. Mount it after the API's routes (its scope matches the rest
/// of the paths; a path it does not serve falls through to the application's default service).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .wrap(security_headers())
            .app_data(pages::form_config())
            .app_data(pages::query_config())
            .app_data(pages::path_config())
            .service(assets::stylesheet)
            .service(assets::icon)
            .service(pages::dashboard::page)
            .service(pages::insights::page)
            .service(pages::auth::sign_in_page)
            .service(pages::auth::sign_in)
            .service(pages::auth::register_page)
            .service(pages::auth::register)
            .service(pages::auth::sign_out)
            .service(pages::workouts::list)
            .service(pages::workouts::edit_page)
            .service(pages::workouts::edit)
            .service(pages::workouts::delete_page)
            .service(pages::workouts::delete)
            .service(pages::syncs::page)
            .service(pages::settings::page)
            .service(pages::settings::set_goal)
            .service(pages::settings::set_time_zone)
            .service(pages::settings::revoke_session)
            .service(pages::data::export)
            .service(pages::data::issue_token)
            .service(pages::data::revoke_token)
            .service(pages::data::delete_account),
    );
}

/// The headers every dashboard response carries, error pages included.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}
