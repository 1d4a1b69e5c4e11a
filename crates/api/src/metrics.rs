//! Prometheus metrics: HTTP requests by route and status with latency histograms, sync
//! outcomes, idempotent replays, and the database pool. Rendered as text at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web, Error, HttpResponse};
use sync_core::SyncCounts;

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    sync_outcomes: BTreeMap<&'static str, u64>,
    replays: u64,
    keys_reused: u64,
    idempotency_purged: u64,
}

/// The service's metrics. Cheap to update: one short lock, never held across an await.
#[derive(Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let mut guard = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Records one finished request. `route` is the matched pattern (never the raw path, so
    /// ids do not explode the label set).
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.with(|r| {
            *r.requests
                .entry((route.to_owned(), method.to_owned(), status))
                .or_default() += 1;
            r.latency
                .entry((route.to_owned(), method.to_owned()))
                .or_default()
                .observe(elapsed.as_secs_f64());
        });
    }

    /// Records the outcomes of an applied sync.
    pub fn observe_sync(&self, counts: &SyncCounts) {
        self.with(|r| {
            for (outcome, n) in [
                ("created", counts.created),
                ("updated", counts.updated),
                ("unchanged", counts.unchanged),
                ("conflict", counts.conflicts),
                ("rejected", counts.rejected),
                ("deleted", counts.deleted),
            ] {
                *r.sync_outcomes.entry(outcome).or_default() += n as u64;
            }
        });
    }

    /// Records a replayed sync response.
    pub fn observe_replay(&self) {
        self.with(|r| r.replays += 1);
    }

    /// Records a key reused with a different request.
    pub fn observe_key_reused(&self) {
        self.with(|r| r.keys_reused += 1);
    }

    /// Records expired idempotency records deleted by this instance's periodic purge.
    pub fn observe_purged(&self, records: usize) {
        self.with(|r| r.idempotency_purged += records as u64);
    }

    /// The Prometheus text exposition, with the pool's current state.
    pub fn render(&self, pool: sync_store::PoolState) -> String {
        let mut out = String::with_capacity(4096);
        self.with(|r| {
            out.push_str("# HELP http_requests_total HTTP requests by route, method and status.\n");
            out.push_str("# TYPE http_requests_total counter\n");
            for ((route, method, status), n) in &r.requests {
                let _ = writeln!(
                    out,
                    "http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
            out.push_str("# HELP http_request_duration_seconds Request latency by route and method.\n");
            out.push_str("# TYPE http_request_duration_seconds histogram\n");
            for ((route, method), h) in &r.latency {
                let labels = format!("route=\"{route}\",method=\"{method}\"");
                for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                    let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
            out.push_str("# HELP sync_workouts_total Workouts by sync outcome.\n");
            out.push_str("# TYPE sync_workouts_total counter\n");
            for outcome in ["created", "updated", "unchanged", "conflict", "rejected", "deleted"] {
                let n = r.sync_outcomes.get(outcome).copied().unwrap_or(0);
                let _ = writeln!(out, "sync_workouts_total{{outcome=\"{outcome}\"}} {n}");
            }
            out.push_str("# HELP sync_idempotent_replays_total Sync responses replayed for a repeated key.\n");
            out.push_str("# TYPE sync_idempotent_replays_total counter\n");
            let _ = writeln!(out, "sync_idempotent_replays_total {}", r.replays);
            out.push_str("# HELP sync_idempotency_key_reused_total Keys refused because they were used for another request.\n");
            out.push_str("# TYPE sync_idempotency_key_reused_total counter\n");
            let _ = writeln!(out, "sync_idempotency_key_reused_total {}", r.keys_reused);
            out.push_str("# HELP idempotency_records_purged_total Expired idempotency records deleted by this instance's periodic purge.\n");
            out.push_str("# TYPE idempotency_records_purged_total counter\n");
            let _ = writeln!(out, "idempotency_records_purged_total {}", r.idempotency_purged);
        });
        out.push_str("# HELP db_pool_connections Open database connections.\n");
        out.push_str("# TYPE db_pool_connections gauge\n");
        let _ = writeln!(out, "db_pool_connections {}", pool.connections);
        out.push_str("# HELP db_pool_in_use Database connections checked out.\n");
        out.push_str("# TYPE db_pool_in_use gauge\n");
        let _ = writeln!(
            out,
            "db_pool_in_use {}",
            pool.connections.saturating_sub(pool.idle)
        );
        out.push_str("# HELP db_pool_idle Idle database connections.\n");
        out.push_str("# TYPE db_pool_idle gauge\n");
        let _ = writeln!(out, "db_pool_idle {}", pool.idle);
        out.push_str("# HELP db_pool_max_size Most database connections.\n");
        out.push_str("# TYPE db_pool_max_size gauge\n");
        let _ = writeln!(out, "db_pool_max_size {}", pool.max_size);
        out
    }
}

/// Times every request and counts it under its matched route pattern.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().as_str().to_owned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.observe_request(
            &route,
            &method,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// `GET /metrics`.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn endpoint(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(state.store.pool_state()))
}
