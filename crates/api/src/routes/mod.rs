//! The route table. Every endpoint is one row of [`endpoints`]: the same list registers the
//! routes with actix and is the inventory the OpenAPI document is checked against.

pub mod auth;
pub mod health;
pub mod history;
pub mod params;
pub mod sync;
pub mod workouts;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, Route};

use crate::error::ApiError;

/// One served endpoint.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The full path pattern, e.g. `/api/v1/workouts/{id}`.
    pub path: &'static str,
    route: Route,
}

macro_rules! endpoint {
    ($method:ident $path:literal => $handler:path) => {
        Endpoint {
            method: Method::$method,
            path: $path,
            route: web::route().method(Method::$method).to($handler),
        }
    };
}

/// Every endpoint, in matching order (fixed paths before `{id}` patterns).
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(GET "/healthz" => health::healthz),
        endpoint!(GET "/readyz" => health::readyz),
        endpoint!(GET "/metrics" => crate::metrics::endpoint),
        endpoint!(GET "/api/v1/openapi.json" => crate::openapi::document),
        endpoint!(GET "/api/v1/docs" => crate::openapi::viewer),
        endpoint!(POST "/api/v1/auth/register" => auth::register),
        endpoint!(POST "/api/v1/auth/login" => auth::login),
        endpoint!(POST "/api/v1/auth/refresh" => auth::refresh),
        endpoint!(POST "/api/v1/auth/logout" => auth::logout),
        endpoint!(GET "/api/v1/auth/me" => auth::me),
        endpoint!(GET "/api/v1/auth/sessions" => auth::sessions),
        endpoint!(DELETE "/api/v1/auth/sessions/{id}" => auth::revoke_session),
        endpoint!(POST "/api/v1/workouts/sync" => sync::sync),
        endpoint!(GET "/api/v1/workouts/changes" => workouts::changes),
        endpoint!(GET "/api/v1/workouts" => workouts::list),
        endpoint!(GET "/api/v1/workouts/{id}" => workouts::get),
        endpoint!(PATCH "/api/v1/workouts/{id}" => workouts::patch),
        endpoint!(DELETE "/api/v1/workouts/{id}" => workouts::delete),
        endpoint!(GET "/api/v1/sync/status" => history::status),
        endpoint!(GET "/api/v1/syncs" => history::list),
        endpoint!(GET "/api/v1/syncs/{sync_id}" => history::get),
    ]
}

/// `(method, path)` of every served endpoint.
pub fn inventory() -> Vec<(Method, &'static str)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method, e.path))
        .collect()
}

/// Registers every endpoint, one resource per path; a method a path does not serve answers
/// 405 with the contract's error body.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for endpoint in endpoints() {
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, routes)) => routes.push(endpoint.route),
            None => by_path.push((endpoint.path, vec![endpoint.route])),
        }
    }
    for (path, routes) in by_path {
        let resource = web::resource(path).default_service(web::to(|| async {
            Err::<String, _>(ApiError::MethodNotAllowed)
        }));
        cfg.service(routes.into_iter().fold(resource, |r, route| r.route(route)));
    }
}

/// The fallback for unknown paths: 404 with the contract's error body.
pub async fn not_found(_: HttpRequest) -> Result<String, ApiError> {
    Err(ApiError::NotFound("no such endpoint"))
}
