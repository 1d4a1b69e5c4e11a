//! Building and running the server: `Application::build` binds (port 0 works, for tests),
//! opens the store and migrates; `run_until_stopped` serves until SIGTERM/SIGINT, letting
//! in-flight requests finish.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{error, web, App, HttpServer};
use sync_store::{Store, StoreError};
use thiserror::Error;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::auth::{self, tokens::TokenKeys};
use crate::body_deadline::{self, PendingBodies};
use crate::config::Config;
use crate::dashboard;
use crate::edge;
use crate::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::numbers_cache::NumbersCache;
use crate::openapi::{ApiDoc, ApiDocument};
use crate::ratelimit::{self, RateLimiter};
use crate::request_id;
use crate::routes::{self, RouteTable};
use crate::state::AppState;
use crate::sync_budget::SyncBudget;
use crate::webhooks;

/// Largest JSON body accepted by the small endpoints (auth).
const SMALL_JSON_LIMIT: usize = 16 * 1024;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("bind: {0}")]
    Bind(#[from] std::io::Error),
    /// The webhook delivery client could not be built.
    #[error("webhook client: {0}")]
    WebhookClient(#[from] reqwest::Error),
}

/// A built, not yet running, server.
pub struct Application {
    server: Server,
    port: u16,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    purge_interval: std::time::Duration,
    idempotency_ttl: chrono::Duration,
    webhook_worker: webhooks::worker::Worker,
}

impl Application {
    /// Opens the database (running migrations) and binds the listener.
    pub fn build(config: Config) -> Result<Application, StartupError> {
        let store = Arc::new(
            Store::open(&config.database_url, &config.store)?
                .with_goal_default_target(config.goal_default_target),
        );
        let listener = TcpListener::bind(&config.bind_addr)?;
        let port = listener.local_addr()?.port();
        let workers = config.workers;
        let shutdown_timeout = config.shutdown_timeout.as_secs();
        let purge_interval = config.purge_interval;
        let idempotency_ttl = config.idempotency_ttl;
        let rate_limiter = web::Data::new(RateLimiter::from_config(&config));
        let pending_bodies = web::Data::from(PendingBodies::new(config.max_pending_bodies));
        let metrics = web::Data::new(Metrics::new());
        let webhook_worker =
            webhooks::worker::Worker::new(store.clone(), &config.webhooks, metrics.clone())?;
        let state = web::Data::new(AppState {
            store,
            tokens: TokenKeys::new(&config),
            sync_budget: SyncBudget::new(config.sync_budget_bytes, config.sync_budget_wait),
            numbers_cache: NumbersCache::new(config.stats_cache_bytes),
            config,
        });
        let dashboard = web::Data::new(dashboard::context(state.clone()));
        let document = openapi_document();
        let route_table = web::Data::new(RouteTable::of(&document));
        let document = web::Data::new(ApiDocument {
            json: document.to_json().map_err(std::io::Error::other)?,
            page: routes::docs::render_page(&document),
        });
        let purge_state = state.clone();
        let purge_metrics = metrics.clone();
        let server = HttpServer::new(move || {
            routes::shadow_guards(&route_table)
                .into_iter()
                .fold(App::new(), App::service)
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .configure(::web::configure)
                .default_service(web::to(routes::fallback))
                .wrap(from_fn(body_deadline::middleware))
                .wrap(from_fn(edge::middleware))
                .wrap(from_fn(ratelimit::middleware))
                .wrap(from_fn(metrics::middleware))
                .wrap(from_fn(request_id::middleware))
                .wrap(
                    Logger::new(r#"%a "%{request_line}xi" %s %b %Dms request_id=%{x-request-id}o"#)
                        .custom_request_replace("request_line", auth::loggable_request_line),
                )
                .app_data(state.clone())
                .app_data(dashboard.clone())
                .app_data(rate_limiter.clone())
                .app_data(pending_bodies.clone())
                .app_data(route_table.clone())
                .app_data(document.clone())
                .app_data(metrics.clone())
                .app_data(json_config())
                .app_data(path_config())
                .app_data(query_config())
        })
        .workers(workers)
        .shutdown_timeout(shutdown_timeout)
        .listen(listener)?
        .run();
        Ok(Application {
            server,
            port,
            state: purge_state,
            metrics: purge_metrics,
            purge_interval,
            idempotency_ttl,
            webhook_worker,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped; expired idempotency records are purged, latency
    /// samples folded into their histograms and webhooks delivered meanwhile. Once the HTTP
    /// server has stopped (SIGTERM, SIGINT), the webhook worker finishes its attempts in flight
    /// and gives back the rest of its claim before this returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_expired_records(
            self.state.clone(),
            self.metrics.clone(),
            self.purge_interval,
            self.idempotency_ttl,
        ));
        let upkeep = tokio::spawn(metrics::upkeep(self.metrics.clone()));
        let (stop_webhooks, webhooks) = webhooks::worker::spawn(self.webhook_worker);
        let result = self.server.await;
        purge.abort();
        upkeep.abort();
        stop_webhooks.stop();
        if let Err(e) = webhooks.await {
            log::error!("the webhook worker failed: {e}");
        }
        result
    }
}

/// Most idle login budgets deleted in one purge (the rest wait for the next tick), so that a
/// purge never holds SQLite's write lock for long.
const LOGIN_BUDGETS_PER_PURGE: i64 = 10_000;

/// Every `interval`: deletes idempotency records older than the TTL (counted in
/// `idempotency_records_purged_total`) and failed-login budgets idle for longer than the lock
/// window (they would start afresh anyway). Several instances may run this at once: each row
/// is deleted by whichever gets there first.
async fn purge_expired_records(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    interval: std::time::Duration,
    ttl: chrono::Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    let idle_window = state.config.lockout_duration;
    loop {
        ticker.tick().await;
        let store = state.store.clone();
        let now = chrono::Utc::now();
        let purge = request_id::propagate(move || {
            let records = store.purge_idempotency(now - ttl)?;
            let budgets =
                store.purge_login_budgets(now - idle_window, now, LOGIN_BUDGETS_PER_PURGE)?;
            Ok::<_, sync_store::StoreError>((records, budgets))
        });
        match tokio::task::spawn_blocking(purge).await {
            Ok(Ok((records, budgets))) => {
                if records > 0 {
                    metrics.observe_purged(records);
                    log::info!("purged {records} expired idempotency records");
                }
                if budgets > 0 {
                    log::info!("purged {budgets} idle login budgets");
                }
            }
            Ok(Err(e)) => log::warn!("purging expired records failed: {e}"),
            Err(e) => log::warn!("purge task failed: {e}"),
        }
    }
}

/// The OpenAPI document: the root in `openapi.rs` plus every registered route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    crate::openapi::document_unsupported_media(&mut document);
    document
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(SMALL_JSON_LIMIT)
        .content_type_required(false)
        .error_handler(|err, _req| {
            let api_error = match &err {
                error::JsonPayloadError::Overflow { .. }
                | error::JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::body_too_large(SMALL_JSON_LIMIT)
                }
                error::JsonPayloadError::Payload(e) if body_deadline::is_deadline(e) => {
                    ApiError::BodyTimeout
                }
                other => ApiError::bad_request(
                    "invalid_json",
                    format!("The request body is not valid: {other}"),
                ),
            };
            api_error.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("The query string is malformed: {err}"),
        )
        .into()
    })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| {
        ApiError::bad_request("invalid_path", "A path parameter is malformed.").into()
    })
}
