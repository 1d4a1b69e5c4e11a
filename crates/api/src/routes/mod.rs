//! The route table. Every path of the contract is registered here and nowhere else.

pub mod auth;
pub mod health;
pub mod sync;

use actix_web::{web, HttpRequest, Resource};

use crate::error::ApiError;

/// A resource whose unsupported methods answer 405 with the contract's error body.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async { Err::<String, _>(ApiError::MethodNotAllowed) }))
}

/// Registers `/healthz`, `/readyz` and everything under `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(
            web::scope("/api/v1")
                .service(resource("/auth/register").route(web::post().to(auth::register)))
                .service(resource("/auth/login").route(web::post().to(auth::login)))
                .service(resource("/auth/refresh").route(web::post().to(auth::refresh)))
                .service(resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(resource("/auth/me").route(web::get().to(auth::me)))
                .service(resource("/auth/sessions").route(web::get().to(auth::sessions)))
                .service(
                    resource("/auth/sessions/{id}").route(web::delete().to(auth::revoke_session)),
                )
                .service(resource("/workouts/sync").route(web::post().to(sync::sync))),
        );
}

/// The fallback for unknown paths: 404 with the contract's error body.
pub async fn not_found(_: HttpRequest) -> Result<String, ApiError> {
    Err(ApiError::NotFound("no such endpoint"))
}
