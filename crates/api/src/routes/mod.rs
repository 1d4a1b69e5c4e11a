//! The route table: every endpoint is registered once, in [`configure`], and that registration
//! is also its OpenAPI entry (each handler carries `#[utoipa::path]` beside its actix route
//! macro; `utoipa-actix-web` collects them). To add an endpoint: write the handler in the module
//! of its resource with both attributes, then add one `.service(...)` line here.

pub mod auth;
pub mod docs;
pub mod export;
pub mod goals;
pub mod health;
pub mod history;
pub mod ingest;
pub mod params;
pub mod running;
pub mod stats;
pub mod sync;
pub mod webhooks;
pub mod workouts;

use actix_web::dev::ResourceDef;
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::Method;
use actix_web::{guard, web, HttpRequest, HttpResponse, ResponseError};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

/// The prefix of every API endpoint (operations endpoints live outside it).
pub const API_PREFIX: &str = "/api/v1";

/// Registers every endpoint. Fixed paths come before `{id}` patterns of the same prefix, as
/// actix matches in registration order.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(crate::metrics::endpoint)
        .service(
            scope::scope(API_PREFIX)
                .service(docs::document)
                .service(docs::viewer)
                .service(auth::register)
                .service(auth::login)
                .service(auth::refresh)
                .service(auth::logout)
                .service(auth::me)
                .service(auth::update_me)
                .service(auth::delete_me)
                .service(auth::sessions)
                .service(auth::revoke_session)
                .service(sync::sync)
                .service(workouts::changes)
                .service(workouts::list)
                .service(workouts::get)
                .service(workouts::patch)
                .service(workouts::delete)
                .service(history::status)
                .service(history::list)
                .service(history::get)
                .service(goals::list)
                .service(goals::get)
                .service(goals::put)
                .service(goals::delete)
                .service(goals::progress)
                .service(stats::dashboard)
                .service(stats::insights)
                .service(webhooks::create)
                .service(webhooks::list)
                .service(webhooks::test)
                .service(webhooks::deliveries)
                .service(webhooks::get)
                .service(webhooks::delete)
                .service(ingest::create_token)
                .service(ingest::list_tokens)
                .service(ingest::revoke_token)
                .service(ingest::health_auto_export)
                .service(export::export),
        );
}

/// The served paths and their methods, read from the generated document, so that a request
/// for a known path with another method is a 405 naming the methods that are served, and a
/// request to an operation with a JSON body can be refused before it is read (`edge`).
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Method>)>,
    /// Per route (same order), the methods whose operation takes a request body.
    bodies: Vec<Vec<Method>>,
}

impl RouteTable {
    /// The table of a generated document.
    pub fn of(document: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<(Method, bool)>)> = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| (ResourceDef::new(path.as_str()), operations(item)))
            .collect();
        // A fixed path wins over a pattern that also matches it (`/workouts/changes` over
        // `/workouts/{id}`), as in routing.
        routes.sort_by_key(|(def, _)| def.pattern().map_or(0, |p| p.matches('{').count()));
        let bodies = routes
            .iter()
            .map(|(_, ops)| {
                ops.iter()
                    .filter(|(_, b)| *b)
                    .map(|(m, _)| m.clone())
                    .collect()
            })
            .collect();
        let routes = routes
            .into_iter()
            .map(|(def, ops)| (def, ops.into_iter().map(|(m, _)| m).collect()))
            .collect();
        RouteTable { routes, bodies }
    }

    /// Fixed paths that a pattern of another route also matches (`/api/v1/workouts/sync` and
    /// `/api/v1/workouts/{id}`), with the methods served at each. Routing tries the pattern's
    /// routes for the other methods, so [`shadow_guards`] registers these first.
    pub fn shadowed(&self) -> Vec<(String, Vec<Method>)> {
        self.routes
            .iter()
            .filter_map(|(def, methods)| {
                let path = def.pattern()?;
                let fixed = !path.contains('{');
                let shadowed = self
                    .routes
                    .iter()
                    .any(|(other, _)| other != def && other.is_match(path));
                (fixed && shadowed).then(|| (path.to_owned(), methods.clone()))
            })
            .collect()
    }

    /// The methods documented at `path`, when it is a served path.
    pub fn methods_at(&self, path: &str) -> Option<&[Method]> {
        self.route_at(path).map(|i| self.routes[i].1.as_slice())
    }

    /// Whether `method` at `path` is an operation with a (JSON) request body.
    pub fn takes_json(&self, path: &str, method: &Method) -> bool {
        self.route_at(path)
            .is_some_and(|i| self.bodies[i].contains(method))
    }

    fn route_at(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|(def, _)| def.is_match(path))
    }
}

/// The documented methods of a path, each with whether its operation has a request body.
fn operations(item: &utoipa::openapi::PathItem) -> Vec<(Method, bool)> {
    [
        (&item.get, Method::GET),
        (&item.put, Method::PUT),
        (&item.post, Method::POST),
        (&item.delete, Method::DELETE),
        (&item.patch, Method::PATCH),
    ]
    .into_iter()
    .filter_map(|(operation, method)| {
        let operation = operation.as_ref()?;
        Some((method, operation.request_body.is_some()))
    })
    .collect()
}

/// For each shadowed fixed path, a resource that answers the methods it does not serve with the
/// fallback's 405, registered before the routes so that a pattern cannot take them.
pub fn shadow_guards(table: &RouteTable) -> Vec<actix_web::Resource> {
    table
        .shadowed()
        .into_iter()
        .filter_map(|(path, methods)| {
            let (first, rest) = methods.split_first()?;
            let served = rest
                .iter()
                .fold(guard::Any(guard::Method(first.clone())), |any, m| {
                    any.or(guard::Method(m.clone()))
                });
            Some(web::resource(path).guard(guard::Not(served)).to(fallback))
        })
        .collect()
}

/// The fallback: 405 with `Allow` for a served path and another method, else 404; both with
/// the contract's error body. `Allow` names `HEAD` too where `GET` is served (`edge`).
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    match table.methods_at(req.path()) {
        Some(methods) => {
            let mut response = ApiError::MethodNotAllowed.error_response();
            let head = methods.contains(&Method::GET).then_some(&Method::HEAD);
            let allow = methods
                .iter()
                .chain(head)
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(ALLOW, value);
            }
            response
        }
        None => ApiError::NotFound("no such endpoint").error_response(),
    }
}
