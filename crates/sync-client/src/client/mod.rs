//! The sync client: accounts (register, login, refresh, logout), sync (pushing batches,
//! incremental or full, idempotent), pull (the change feed) and the runner's numbers (goals,
//! progress, dashboard, insights), with the seed's recovery rules applied to every request (in
//! `transport`):
//!
//! | answer | what the client does |
//! |---|---|
//! | 401 | refresh the token once (`POST /auth/refresh`, the rotated pair is stored), retry; a second 401 is [`ClientError::SessionExpired`] ("log in again") |
//! | 429 (and 503, and 409 with `Retry-After`) | wait `Retry-After` seconds, else exponential backoff with jitter; retry up to the policy's limit |
//! | other 5xx, or a connection that broke after the request went out | backoff with jitter and retry (same body, same idempotency key) up to the limit |
//! | connection refused / unreachable | stop: [`ClientError::Offline`]; the workouts stay queued |
//!
//! ```no_run
//! use sync_client::{Cache, ClientConfig, SyncClient};
//! use sync_core::SyncMode;
//! # async fn run() -> Result<(), sync_client::ClientError> {
//! let cache = Cache::open("rdsync.db")?;
//! let client = SyncClient::new(cache, ClientConfig::new("http://127.0.0.1:8080"))?;
//! client.login("runner@example.com", "correct horse battery").await?;
//! let report = client.sync(SyncMode::Incremental).await?;
//! println!("{} created, {} unchanged", report.created, report.unchanged);
//! client.pull().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cache::Cache;
use crate::error::ClientError;
use crate::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::status::{StatusHub, SyncPhase};

mod accounts;
mod data;
mod pull;
mod running;
mod sync;
mod transport;

pub use accounts::Account;
pub use data::ExportFormat;
pub use pull::PullReport;
pub use sync::SyncReport;

/// The server's default batch limit (`MAX_BATCH_SIZE`).
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// How the client talks to the server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (the API lives under `/api/v1`).
    pub server_url: String,
    /// Workouts (and deletions) per sync request; at most the server's batch limit.
    pub batch_size: usize,
    /// Change-feed entries per page when pulling (1–1000).
    pub changes_page: usize,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long one request may take in all.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// Defaults for the server at `server_url`.
    pub fn new(server_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            server_url: server_url.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            changes_page: 1000,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The reference sync client: one local cache, one server.
pub struct SyncClient {
    cache: Arc<Cache>,
    base: String,
    config: ClientConfig,
    http: reqwest::Client,
    sleeper: Arc<dyn Sleeper>,
    status: StatusHub,
    run_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("server", &self.base)
            .finish_non_exhaustive()
    }
}

impl SyncClient {
    /// A client of the server in `config`, over `cache`.
    pub fn new(cache: Cache, config: ClientConfig) -> Result<SyncClient, ClientError> {
        SyncClient::with_shared_cache(Arc::new(cache), config)
    }

    /// [`SyncClient::new`] with a cache the caller keeps a handle on.
    pub fn with_shared_cache(
        cache: Arc<Cache>,
        config: ClientConfig,
    ) -> Result<SyncClient, ClientError> {
        let base = config.server_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(ClientError::InvalidServerUrl(config.server_url.clone())),
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("rdsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(SyncClient {
            cache,
            base,
            config,
            http,
            sleeper: Arc::new(TokioSleeper),
            status: StatusHub::new(),
            run_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Replaces the sleeper (tests pass a [`RecordingSleeper`](crate::retry::RecordingSleeper)).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> SyncClient {
        self.sleeper = sleeper;
        self
    }

    /// The local cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The server's base URL.
    pub fn server_url(&self) -> &str {
        &self.base
    }

    /// The latest status, the [`SyncPhase`] of the latest run, updated as runs progress.
    pub fn status(&self) -> watch::Receiver<SyncPhase> {
        self.status.subscribe()
    }

    /// The current status.
    pub fn current_status(&self) -> SyncPhase {
        self.status.current()
    }

    /// Calls `listener` on every status change (every progress step included), on the task
    /// running the sync; keep it short.
    pub fn on_status(&self, listener: impl Fn(&SyncPhase) + Send + Sync + 'static) {
        self.status.add_listener(Box::new(listener));
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    /// Runs one sync or pull at a time, publishing its status from start to finish:
    /// `Syncing` (with the progress `work` reports), then `Success` with `count` of its
    /// report, or `Error`.
    async fn run<T>(
        &self,
        work: impl Future<Output = Result<T, ClientError>>,
        count: impl Fn(&T) -> usize,
    ) -> Result<T, ClientError> {
        let _run = self.run_lock.lock().await;
        self.status.start();
        let result = work.await;
        self.status.finish(match &result {
            Ok(report) => SyncPhase::Success {
                count: count(report),
            },
            Err(e) => SyncPhase::Error {
                message: e.to_string(),
            },
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_must_be_http() {
        for bad in ["", "127.0.0.1:8080", "ftp://x", "http://"] {
            let cache = Cache::open(":memory:").unwrap();
            let error = SyncClient::new(cache, ClientConfig::new(bad)).unwrap_err();
            assert!(matches!(error, ClientError::InvalidServerUrl(_)), "{bad}");
        }
        let cache = Cache::open(":memory:").unwrap();
        let client = SyncClient::new(cache, ClientConfig::new("http://127.0.0.1:8080/")).unwrap();
        assert_eq!(
            client.url("/workouts/sync"),
            "http://127.0.0.1:8080/api/v1/workouts/sync"
        );
    }
}
