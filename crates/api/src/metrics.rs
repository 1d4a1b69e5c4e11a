//! Prometheus metrics: HTTP requests by route and status with latency histograms, sync
//! outcomes, idempotent replays, and the database pool. Rendered as text at `GET /metrics`.
//!
//! Values live in `metrics` handles (atomics) of this instance's own
//! `metrics-exporter-prometheus` recorder, never the process-wide one, so several servers in
//! one process (the tests) keep their own counts. Series with fixed labels are resolved once,
//! here; a request's series is looked up by its labels in the recorder's sharded registry (a
//! shared read of one shard, no lock common to every request). That exporter keeps label
//! order as given (`route`, `method`, `status`), which scrapers and dashboards match on.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{get, web, Error, HttpResponse};
use metrics::{Counter, Gauge, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use sync_core::SyncCounts;

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often histogram samples are folded into their buckets between scrapes, so that an
/// instance nobody scrapes does not keep every sample.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const HTTP_REQUESTS: &str = "http_requests_total";
const HTTP_DURATION: &str = "http_request_duration_seconds";
const SYNC_WORKOUTS: &str = "sync_workouts_total";
const REPLAYS: &str = "sync_idempotent_replays_total";
const KEYS_REUSED: &str = "sync_idempotency_key_reused_total";
const PURGED: &str = "idempotency_records_purged_total";
const WEBHOOK_ATTEMPTS: &str = "webhook_attempts_total";
const NUMBERS_CACHE: &str = "stats_cache_reads_total";
const POOL_CONNECTIONS: &str = "db_pool_connections";
const POOL_IN_USE: &str = "db_pool_in_use";
const POOL_IDLE: &str = "db_pool_idle";
const POOL_MAX_SIZE: &str = "db_pool_max_size";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family, its type and its HELP line.
const FAMILIES: [(&str, Kind, &str); 12] = [
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests by route, method and status.",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Request latency by route and method.",
    ),
    (SYNC_WORKOUTS, Kind::Counter, "Workouts by sync outcome."),
    (
        REPLAYS,
        Kind::Counter,
        "Sync responses replayed for a repeated key.",
    ),
    (
        KEYS_REUSED,
        Kind::Counter,
        "Keys refused because they were used for another request.",
    ),
    (
        PURGED,
        Kind::Counter,
        "Expired idempotency records deleted by this instance's periodic purge.",
    ),
    (
        WEBHOOK_ATTEMPTS,
        Kind::Counter,
        "Webhook delivery attempts made by this instance, by outcome (delivered, retrying, failed).",
    ),
    (
        NUMBERS_CACHE,
        Kind::Counter,
        "Stats reads not answered 304, by whether this instance kept their body (hit) or read the year (miss).",
    ),
    (POOL_CONNECTIONS, Kind::Gauge, "Open database connections."),
    (
        POOL_IN_USE,
        Kind::Gauge,
        "Database connections checked out.",
    ),
    (POOL_IDLE, Kind::Gauge, "Idle database connections."),
    (POOL_MAX_SIZE, Kind::Gauge, "Most database connections."),
];

/// The `outcome` label of `sync_workouts_total`, one series each from the start.
static OUTCOME_CREATED: [Label; 1] = [Label::from_static_parts("outcome", "created")];
static OUTCOME_UPDATED: [Label; 1] = [Label::from_static_parts("outcome", "updated")];
static OUTCOME_UNCHANGED: [Label; 1] = [Label::from_static_parts("outcome", "unchanged")];
static OUTCOME_CONFLICT: [Label; 1] = [Label::from_static_parts("outcome", "conflict")];
static OUTCOME_REJECTED: [Label; 1] = [Label::from_static_parts("outcome", "rejected")];
static OUTCOME_DELETED: [Label; 1] = [Label::from_static_parts("outcome", "deleted")];

/// The `outcome` label of `webhook_attempts_total`.
static WEBHOOK_DELIVERED: [Label; 1] = [Label::from_static_parts("outcome", "delivered")];
static WEBHOOK_RETRYING: [Label; 1] = [Label::from_static_parts("outcome", "retrying")];
static WEBHOOK_FAILED: [Label; 1] = [Label::from_static_parts("outcome", "failed")];

/// The `result` label of `stats_cache_reads_total`.
static NUMBERS_CACHE_HIT: [Label; 1] = [Label::from_static_parts("result", "hit")];
static NUMBERS_CACHE_MISS: [Label; 1] = [Label::from_static_parts("result", "miss")];

/// Methods whose label needs no allocation; any other is labelled by its own name.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
];

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The counters of `sync_workouts_total`, one per outcome.
struct SyncOutcomeCounters {
    created: Counter,
    updated: Counter,
    unchanged: Counter,
    conflict: Counter,
    rejected: Counter,
    deleted: Counter,
}

/// The pool gauges, set from the pool's state at each scrape.
struct PoolGauges {
    connections: Gauge,
    in_use: Gauge,
    idle: Gauge,
    max_size: Gauge,
}

/// The service's metrics, shared by every worker (`web::Data<Metrics>`).
pub struct Metrics {
    recorder: PrometheusRecorder,
    exposition: PrometheusHandle,
    sync_outcomes: SyncOutcomeCounters,
    replays: Counter,
    keys_reused: Counter,
    purged: Counter,
    /// `webhook_attempts_total` by outcome: delivered, retrying, failed.
    webhook_attempts: [Counter; 3],
    /// `stats_cache_reads_total` by result: hit, miss.
    numbers_cache: [Counter; 2],
    pool: PoolGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series with fixed labels registered (so each is rendered, at 0, from the start).
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .build_recorder();
        for (name, kind, help) in FAMILIES {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let counter = |name: &'static str, labels: &'static [Label]| {
            recorder.register_counter(&Key::from_static_parts(name, labels), &METADATA)
        };
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let sync_outcomes = SyncOutcomeCounters {
            created: counter(SYNC_WORKOUTS, &OUTCOME_CREATED),
            updated: counter(SYNC_WORKOUTS, &OUTCOME_UPDATED),
            unchanged: counter(SYNC_WORKOUTS, &OUTCOME_UNCHANGED),
            conflict: counter(SYNC_WORKOUTS, &OUTCOME_CONFLICT),
            rejected: counter(SYNC_WORKOUTS, &OUTCOME_REJECTED),
            deleted: counter(SYNC_WORKOUTS, &OUTCOME_DELETED),
        };
        let replays = counter(REPLAYS, &[]);
        let keys_reused = counter(KEYS_REUSED, &[]);
        let purged = counter(PURGED, &[]);
        let webhook_attempts = [
            counter(WEBHOOK_ATTEMPTS, &WEBHOOK_DELIVERED),
            counter(WEBHOOK_ATTEMPTS, &WEBHOOK_RETRYING),
            counter(WEBHOOK_ATTEMPTS, &WEBHOOK_FAILED),
        ];
        let numbers_cache = [
            counter(NUMBERS_CACHE, &NUMBERS_CACHE_HIT),
            counter(NUMBERS_CACHE, &NUMBERS_CACHE_MISS),
        ];
        let pool = PoolGauges {
            connections: gauge(POOL_CONNECTIONS),
            in_use: gauge(POOL_IN_USE),
            idle: gauge(POOL_IDLE),
            max_size: gauge(POOL_MAX_SIZE),
        };
        Metrics {
            exposition: recorder.handle(),
            recorder,
            sync_outcomes,
            replays,
            keys_reused,
            purged,
            webhook_attempts,
            numbers_cache,
            pool,
        }
    }

    /// Records one finished request. `route` is the matched pattern (never the raw path, so
    /// ids do not explode the label set).
    pub fn observe_request(
        &self,
        route: &str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = Label::new("route", SharedString::from(Arc::<str>::from(route)));
        let method = Label::new("method", method_label(method));
        let status = Label::new("status", status_label(status));
        let duration = Key::from_parts(HTTP_DURATION, vec![route.clone(), method.clone()]);
        self.recorder
            .register_histogram(&duration, &METADATA)
            .record(elapsed.as_secs_f64());
        let requests = Key::from_parts(HTTP_REQUESTS, vec![route, method, status]);
        self.recorder
            .register_counter(&requests, &METADATA)
            .increment(1);
    }

    /// Records the outcomes of an applied sync.
    pub fn observe_sync(&self, counts: &SyncCounts) {
        let c = &self.sync_outcomes;
        for (counter, n) in [
            (&c.created, counts.created),
            (&c.updated, counts.updated),
            (&c.unchanged, counts.unchanged),
            (&c.conflict, counts.conflicts),
            (&c.rejected, counts.rejected),
            (&c.deleted, counts.deleted),
        ] {
            counter.increment(n as u64);
        }
    }

    /// Records a stats read that was not a 304: answered from a kept body, or not.
    pub fn observe_numbers_cache(&self, hit: bool) {
        self.numbers_cache[usize::from(!hit)].increment(1);
    }

    /// Records a replayed sync response.
    pub fn observe_replay(&self) {
        self.replays.increment(1);
    }

    /// Records a key reused with a different request.
    pub fn observe_key_reused(&self) {
        self.keys_reused.increment(1);
    }

    /// Records expired idempotency records deleted by this instance's periodic purge.
    pub fn observe_purged(&self, records: usize) {
        self.purged.increment(records as u64);
    }

    /// Records one webhook delivery attempt: delivered, failed with a retry due, or failed
    /// for good.
    pub fn observe_webhook_attempt(&self, delivered: bool, will_retry: bool) {
        let index = match (delivered, will_retry) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        self.webhook_attempts[index].increment(1);
    }

    /// The Prometheus text exposition, with the pool's current state.
    pub fn render(&self, pool: sync_store::PoolState) -> String {
        self.pool.connections.set(pool.connections);
        self.pool
            .in_use
            .set(pool.connections.saturating_sub(pool.idle));
        self.pool.idle.set(pool.idle);
        self.pool.max_size.set(pool.max_size);
        self.exposition.render()
    }

    /// Folds the latency samples recorded since the last scrape into their buckets.
    pub fn run_upkeep(&self) {
        self.exposition.run_upkeep();
    }
}

/// Keeps the histograms folded every [`UPKEEP_INTERVAL`] (runs until aborted).
pub async fn upkeep(metrics: web::Data<Metrics>) {
    let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        ticker.tick().await;
        metrics.run_upkeep();
    }
}

fn method_label(method: &Method) -> SharedString {
    let name = method.as_str();
    match STANDARD_METHODS.iter().find(|standard| **standard == name) {
        Some(standard) => SharedString::const_str(standard),
        None => SharedString::from(name.to_owned()),
    }
}

/// A status code's label, from a table made once (codes are 100–999).
fn status_label(status: StatusCode) -> SharedString {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..1000u16).map(|code| code.to_string()).collect());
    match labels.get(usize::from(status.as_u16())) {
        Some(label) => SharedString::const_str(label),
        None => SharedString::from(status.as_u16().to_string()),
    }
}

/// Times every request and counts it under its matched route pattern.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response.request().match_pattern();
        metrics.observe_request(
            route.as_deref().unwrap_or("unmatched"),
            &method,
            response.status(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// `GET /metrics`.
#[utoipa::path(operation_id = "get_metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn endpoint(metrics: web::Data<Metrics>, state: web::Data<AppState>) -> HttpResponse {
    let mut text = metrics.render(state.store.pool_state());
    // Kept by the token keys themselves (an atomic), so every verification counts, whoever
    // makes it: the rate limiter and `AuthUser` share one per request.
    text.push_str(&format!(
        "# HELP auth_token_verifications_total Access-token signature checks made.\n\
         # TYPE auth_token_verifications_total counter\n\
         auth_token_verifications_total {}\n",
        state.tokens.verifications()
    ));
    let history = state.store.history_reads();
    text.push_str(&format!(
        "# HELP history_cache_reads_total Spans of settled running days the streaks needed, by \
         whether this instance kept them (kept) or read them from the database (read).\n\
         # TYPE history_cache_reads_total counter\n\
         history_cache_reads_total{{result=\"kept\"}} {}\n\
         history_cache_reads_total{{result=\"read\"}} {}\n",
        history.kept, history.read
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> sync_store::PoolState {
        sync_store::PoolState {
            connections: 3,
            idle: 1,
            max_size: 10,
        }
    }

    /// The value of the sample line `series` (name and labels exactly as rendered).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    #[test]
    fn every_fixed_series_is_rendered_with_its_help_from_the_start() {
        let text = Metrics::new().render(pool());
        for outcome in [
            "created",
            "updated",
            "unchanged",
            "conflict",
            "rejected",
            "deleted",
        ] {
            let series = format!("sync_workouts_total{{outcome=\"{outcome}\"}}");
            assert_eq!(sample(&text, &series), Some(0.0), "{series}\n{text}");
        }
        for counter in [REPLAYS, KEYS_REUSED, PURGED] {
            assert_eq!(sample(&text, counter), Some(0.0), "{counter}\n{text}");
            assert!(
                text.contains(&format!("# TYPE {counter} counter\n")),
                "{text}"
            );
        }
        assert_eq!(sample(&text, "db_pool_connections"), Some(3.0));
        assert_eq!(sample(&text, "db_pool_in_use"), Some(2.0));
        assert_eq!(sample(&text, "db_pool_idle"), Some(1.0));
        assert_eq!(sample(&text, "db_pool_max_size"), Some(10.0));
        assert!(text.contains("# TYPE db_pool_in_use gauge\n"), "{text}");
        for (name, _, help) in FAMILIES {
            if name.starts_with("http_") {
                continue; // rendered once a request has been seen
            }
            assert!(
                text.contains(&format!("# HELP {name} {help}\n")),
                "{name}\n{text}"
            );
        }
    }

    #[test]
    fn requests_are_counted_and_timed_under_route_method_and_status() {
        let metrics = Metrics::new();
        let route = "/api/v1/workouts/{id}";
        let millis = Duration::from_millis;
        metrics.observe_request(route, &Method::GET, StatusCode::OK, millis(3));
        metrics.observe_request(route, &Method::GET, StatusCode::OK, millis(700));
        metrics.observe_request(route, &Method::GET, StatusCode::NOT_FOUND, millis(7000));
        let text = metrics.render(pool());

        let labels = r#"route="/api/v1/workouts/{id}",method="GET""#;
        let requests = |status: &str| {
            sample(
                &text,
                &format!("http_requests_total{{{labels},status=\"{status}\"}}"),
            )
        };
        assert_eq!(requests("200"), Some(2.0), "{text}");
        assert_eq!(requests("404"), Some(1.0), "{text}");
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}"),
            )
        };
        // Cumulative, with the bounds written as they always were (`1`, not `1.0`).
        let expected = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0];
        for (bound, count) in ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05"]
            .into_iter()
            .chain(["0.1", "0.25", "0.5", "1", "2.5", "5"])
            .zip(expected)
        {
            assert_eq!(bucket(bound), Some(count), "le={bound}\n{text}");
        }
        assert_eq!(bucket("+Inf"), Some(3.0), "{text}");
        let count = format!("http_request_duration_seconds_count{{{labels}}}");
        assert_eq!(sample(&text, &count), Some(3.0), "{text}");
        let sum = format!("http_request_duration_seconds_sum{{{labels}}}");
        assert!(
            (sample(&text, &sum).unwrap() - 7.703).abs() < 1e-9,
            "{text}"
        );
        assert!(text.contains("# TYPE http_request_duration_seconds histogram\n"));
        assert!(text
            .contains("# HELP http_requests_total HTTP requests by route, method and status.\n"));
    }

    #[test]
    fn sync_outcomes_and_idempotency_events_add_up() {
        let metrics = Metrics::new();
        let counts = SyncCounts {
            created: 2,
            updated: 1,
            unchanged: 4,
            deleted: 1,
            conflicts: 3,
            rejected: 5,
        };
        metrics.observe_sync(&counts);
        metrics.observe_sync(&counts);
        metrics.observe_replay();
        metrics.observe_key_reused();
        metrics.observe_purged(7);
        let text = metrics.render(pool());
        for (outcome, n) in [
            ("created", 4.0),
            ("updated", 2.0),
            ("unchanged", 8.0),
            ("conflict", 6.0),
            ("rejected", 10.0),
            ("deleted", 2.0),
        ] {
            let series = format!("sync_workouts_total{{outcome=\"{outcome}\"}}");
            assert_eq!(sample(&text, &series), Some(n), "{series}\n{text}");
        }
        assert_eq!(sample(&text, REPLAYS), Some(1.0));
        assert_eq!(sample(&text, KEYS_REUSED), Some(1.0));
        assert_eq!(sample(&text, PURGED), Some(7.0));
    }
}
