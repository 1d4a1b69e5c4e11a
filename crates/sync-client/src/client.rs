//! The sync client: login, push (incremental or full, in batches, idempotent), pull (the change
//! feed), with the seed's recovery rules applied to every request:
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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sync_core::{ChangeCursor, Conflict, SyncMode, SyncResponse, WorkoutView};
use tokio::sync::watch;

use crate::cache::{Cache, FeedChange, PendingBatch, Session};
use crate::error::ClientError;
use crate::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::status::{StatusHub, SyncStatus};

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

/// The logged-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id on the server.
    pub user_id: String,
    /// Its email.
    pub email: String,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Requests (logical batches) confirmed by the server, including batches left over from
    /// an earlier, interrupted sync.
    pub batches: usize,
    /// Of those, how many the server answered from its idempotency store (a retry of a batch
    /// it had already applied).
    pub replayed_batches: usize,
    /// Workouts new on the server.
    pub created: usize,
    /// Workouts the server updated.
    pub updated: usize,
    /// Workouts the server already had as they are.
    pub unchanged: usize,
    /// Deletions applied on the server.
    pub deleted: usize,
    /// Workouts where the server's copy won; the local copy now is the server's.
    pub conflicts: Vec<Conflict>,
    /// Workouts the server rejected, with its reasons (they stay queued).
    pub rejected: Vec<(String, BTreeMap<String, Vec<String>>)>,
    /// Workouts changed locally while their batch was out (still queued).
    pub changed_meanwhile: usize,
}

impl SyncReport {
    /// Workouts and deletions now in agreement with the server.
    pub fn synced(&self) -> usize {
        self.created + self.updated + self.unchanged + self.deleted + self.conflicts.len()
    }
}

/// What a pull did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Pages of the change feed read.
    pub pages: usize,
    /// Workouts new to this cache (from other devices).
    pub added: usize,
    /// Local copies replaced by a newer server version.
    pub updated: usize,
    /// Local copies deleted because they were deleted on the server.
    pub deleted: usize,
    /// Changes that needed nothing here.
    pub unchanged: usize,
}

impl PullReport {
    /// Changes that altered the cache.
    pub fn applied(&self) -> usize {
        self.added + self.updated + self.deleted
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

/// A response the recovery rules let through (2xx).
struct Reply {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// How a request authenticates, which decides what a 401 means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The stored access token; a 401 refreshes it once.
    Bearer,
    /// None (login, register): a 401 means wrong credentials.
    Credentials,
    /// None (the refresh itself): a 401 means the session is over.
    Refresh,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    user: Option<UserBody>,
}

#[derive(Deserialize)]
struct UserBody {
    id: String,
    email: String,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ChangesPage {
    changes: Vec<ChangeEntry>,
    next_cursor: String,
    has_more: bool,
}

#[derive(Deserialize)]
struct ChangeEntry {
    deleted: bool,
    workout: WorkoutView,
}

fn error_body(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_default()
}

fn message_of(status: StatusCode, body: &[u8]) -> String {
    error_body(body)
        .message
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
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

    /// The latest status, updated as runs progress.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// The current status.
    pub fn current_status(&self) -> SyncStatus {
        self.status.current()
    }

    /// Calls `listener` on every status change (every progress step included), on the task
    /// running the sync; keep it short.
    pub fn on_status(&self, listener: impl Fn(&SyncStatus) + Send + Sync + 'static) {
        self.status.add_listener(Box::new(listener));
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    fn offline(&self, error: &reqwest::Error) -> ClientError {
        // The innermost cause says it best ("Connection refused (os error 111)").
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        ClientError::Offline {
            server: self.base.clone(),
            detail,
        }
    }

    /// Sends a request under the recovery rules. `build` makes a fresh request each attempt
    /// (the bearer token is added here, so a refreshed one is used on the retry).
    async fn execute<F>(&self, auth: Auth, build: F) -> Result<Reply, ClientError>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        let policy = self.config.retry;
        let mut retries: u32 = 0;
        let mut refreshed = false;
        loop {
            let mut request = build();
            if auth == Auth::Bearer {
                let session = self.cache.session()?.ok_or(ClientError::NotLoggedIn)?;
                request = request.bearer_auth(session.access_token);
            }
            let attempt = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    response
                        .bytes()
                        .await
                        .map(|body| (status, headers, body.to_vec()))
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match attempt {
                Ok(reply) => reply,
                // Nothing reached the server: report offline at once, nothing is lost.
                Err(e) if e.is_connect() => return Err(self.offline(&e)),
                // The request may have reached the server (a timeout, a connection cut before
                // the answer): retrying is safe because the body and its key do not change.
                Err(e) => {
                    if retries >= policy.max_retries {
                        return Err(self.offline(&e));
                    }
                    log::info!("request failed in transit ({e}); retrying");
                    self.sleeper.sleep(policy.backoff(retries)).await;
                    retries += 1;
                    continue;
                }
            };
            if status.is_success() {
                return Ok(Reply { headers, body });
            }
            let wait_for = retry_after(&headers);
            match status {
                StatusCode::UNAUTHORIZED => match auth {
                    Auth::Bearer if !refreshed => {
                        log::info!("access token refused; refreshing it once");
                        self.refresh_boxed().await?;
                        refreshed = true;
                    }
                    Auth::Bearer | Auth::Refresh => return Err(ClientError::SessionExpired),
                    Auth::Credentials => {
                        return Err(ClientError::BadCredentials(message_of(status, &body)))
                    }
                },
                StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::CONFLICT
                    if status != StatusCode::CONFLICT || wait_for.is_some() =>
                {
                    let exhausted = retries >= policy.max_retries;
                    let too_long =
                        wait_for.is_some_and(|s| Duration::from_secs(s) > policy.max_retry_after);
                    if exhausted || too_long {
                        return Err(if status == StatusCode::SERVICE_UNAVAILABLE {
                            ClientError::Server {
                                status: status.as_u16(),
                                attempts: retries + 1,
                                message: message_of(status, &body),
                            }
                        } else {
                            ClientError::RateLimited {
                                retry_after: wait_for,
                            }
                        });
                    }
                    let wait = match wait_for {
                        Some(seconds) => Duration::from_secs(seconds),
                        None => policy.backoff(retries),
                    };
                    log::info!("server answered {status}; waiting {wait:?} before retrying");
                    self.sleeper.sleep(wait).await;
                    retries += 1;
                }
                status if status.is_server_error() => {
                    if retries >= policy.max_retries {
                        return Err(ClientError::Server {
                            status: status.as_u16(),
                            attempts: retries + 1,
                            message: message_of(status, &body),
                        });
                    }
                    let wait = policy.backoff(retries);
                    log::info!("server answered {status}; backing off {wait:?}");
                    self.sleeper.sleep(wait).await;
                    retries += 1;
                }
                status => {
                    let error = error_body(&body);
                    return Err(ClientError::Refused {
                        status: status.as_u16(),
                        code: error.error.unwrap_or_else(|| "error".into()),
                        message: error.message.unwrap_or_else(|| status.to_string()),
                    });
                }
            }
        }
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Creates an account and logs in to it.
    pub async fn register(&self, email: &str, password: &str) -> Result<Account, ClientError> {
        self.credentials("/auth/register", email, password).await
    }

    /// Logs in and stores the session (tokens) in the cache.
    pub async fn login(&self, email: &str, password: &str) -> Result<Account, ClientError> {
        self.credentials("/auth/login", email, password).await
    }

    async fn credentials(
        &self,
        path: &str,
        email: &str,
        password: &str,
    ) -> Result<Account, ClientError> {
        let url = self.url(path);
        let body = json!({"email": email, "password": password});
        let reply = self
            .execute(Auth::Credentials, || self.http.post(&url).json(&body))
            .await
            .map_err(|e| match e {
                ClientError::Refused {
                    status: 409 | 422 | 423,
                    message,
                    ..
                } => ClientError::BadCredentials(message),
                other => other,
            })?;
        let tokens: TokenBody = serde_json::from_slice(&reply.body)
            .map_err(|e| ClientError::Protocol(format!("token response: {e}")))?;
        let user = tokens
            .user
            .ok_or_else(|| ClientError::Protocol("the token response has no user".into()))?;
        self.cache.store_session(&Session {
            server_url: self.base.clone(),
            email: user.email.clone(),
            user_id: user.id.clone(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
        })?;
        Ok(Account {
            user_id: user.id,
            email: user.email,
        })
    }

    /// Exchanges the stored refresh token for a new pair and stores it at once (the old one is
    /// spent). A refused refresh token is [`ClientError::SessionExpired`].
    pub async fn refresh(&self) -> Result<(), ClientError> {
        let session = self.cache.session()?.ok_or(ClientError::NotLoggedIn)?;
        let url = self.url("/auth/refresh");
        let body = json!({"refresh_token": session.refresh_token});
        let reply = self
            .execute(Auth::Refresh, || self.http.post(&url).json(&body))
            .await?;
        let tokens: TokenBody = serde_json::from_slice(&reply.body)
            .map_err(|e| ClientError::Protocol(format!("refresh response: {e}")))?;
        self.cache
            .store_tokens(&tokens.access_token, &tokens.refresh_token)?;
        Ok(())
    }

    /// [`SyncClient::refresh`] behind a trait object, which breaks the type cycle of
    /// `execute` → refresh → `execute`.
    fn refresh_boxed(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ClientError>> + Send + '_>>
    {
        Box::pin(self.refresh())
    }

    /// Ends the session on the server (best effort) and forgets the tokens locally.
    pub async fn logout(&self) -> Result<(), ClientError> {
        if self.cache.session()?.is_some() {
            let url = self.url("/auth/logout");
            if let Err(e) = self.execute(Auth::Bearer, || self.http.post(&url)).await {
                log::info!("logout on the server failed: {e}");
            }
        }
        self.cache.clear_session()?;
        Ok(())
    }

    // ---- sync -----------------------------------------------------------------------------

    /// Sends queued workouts (incremental: what changed since the last sync) or everything in
    /// the cache (full) to the server, in batches, and applies its answers to the cache.
    ///
    /// Batches left unconfirmed by an earlier run (a crash, a lost response, offline) are sent
    /// first, with their original key and body. The status goes `Syncing` (progress per batch,
    /// ending at 1.0) then `Success` or `Error`.
    pub async fn sync(&self, mode: SyncMode) -> Result<SyncReport, ClientError> {
        let _run = self.run_lock.lock().await;
        self.status.start();
        let result = self.sync_inner(mode).await;
        self.finish(&result, SyncReport::synced);
        result
    }

    fn finish<T>(&self, result: &Result<T, ClientError>, count: impl Fn(&T) -> usize) {
        match result {
            Ok(report) => self.status.finish(SyncStatus::Success {
                count: count(report),
            }),
            Err(e) => self.status.finish(SyncStatus::Error {
                message: e.to_string(),
            }),
        }
    }

    async fn sync_inner(&self, mode: SyncMode) -> Result<SyncReport, ClientError> {
        if self.cache.session()?.is_none() {
            return Err(ClientError::NotLoggedIn);
        }
        let batch_size = self.config.batch_size.max(1);
        let leftover = self.cache.pending_batches()?;
        let queued = self.cache.count_to_sync(mode)?;
        let mut total = leftover.len() + queued.div_ceil(batch_size);
        let mut done = 0usize;
        let mut report = SyncReport::default();
        let progress = |done: usize, total: usize| {
            if total > 0 {
                self.status.progress(done as f64 / total as f64);
            }
        };

        for batch in &leftover {
            log::info!("resending unconfirmed batch {}", batch.key);
            self.send_batch(batch, &mut report).await?;
            done += 1;
            progress(done, total);
        }

        let mut after: Option<String> = None;
        loop {
            let key = format!("rdsync_{}", uuid::Uuid::new_v4().simple());
            let claimed =
                self.cache
                    .claim_batch(mode, batch_size, after.as_deref(), &key, Utc::now())?;
            let Some((batch, last_id)) = claimed else {
                break;
            };
            after = Some(last_id);
            self.send_batch(&batch, &mut report).await?;
            done += 1;
            total = total.max(done);
            progress(done, total);
        }
        self.cache.set_last_sync_at(Utc::now())?;
        Ok(report)
    }

    async fn send_batch(
        &self,
        batch: &PendingBatch,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let url = self.url("/workouts/sync");
        let result = self
            .execute(Auth::Bearer, || {
                self.http
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(batch.body.clone())
            })
            .await;
        let reply = match result {
            Ok(reply) => reply,
            Err(e @ ClientError::Refused { .. }) => {
                // Refused as a whole: nothing was applied and the same body would be refused
                // again. Release its workouts (they stay queued) and forget the key.
                self.cache.drop_batch(&batch.key)?;
                return Err(e);
            }
            // Offline, server trouble, auth: the batch stays persisted with its key, and the
            // next sync sends it again unchanged.
            Err(e) => return Err(e),
        };
        let response: SyncResponse = serde_json::from_slice(&reply.body)
            .map_err(|e| ClientError::Protocol(format!("sync response: {e}")))?;
        let replayed = reply
            .headers
            .get("x-idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let outcome = self
            .cache
            .confirm_batch(&batch.key, &response, Utc::now())?;
        report.batches += 1;
        report.replayed_batches += usize::from(replayed);
        report.created += response.created;
        report.updated += response.updated;
        report.unchanged += response.unchanged;
        report.deleted += response.deleted;
        report.conflicts.extend(response.conflicts);
        report.rejected.extend(outcome.rejected);
        report.changed_meanwhile += outcome.changed_meanwhile;
        Ok(())
    }

    // ---- pull -----------------------------------------------------------------------------

    /// Reads the change feed from the stored cursor to its end (following `has_more`) and
    /// applies it: workouts from other devices come in, server-side edits replace local copies,
    /// deletions made elsewhere mark local copies deleted. The cursor is stored with each page.
    pub async fn pull(&self) -> Result<PullReport, ClientError> {
        let _run = self.run_lock.lock().await;
        self.status.start();
        let result = self.pull_inner().await;
        self.finish(&result, PullReport::applied);
        result
    }

    async fn pull_inner(&self) -> Result<PullReport, ClientError> {
        if self.cache.session()?.is_none() {
            return Err(ClientError::NotLoggedIn);
        }
        let mut cursor = self.cache.change_cursor()?;
        let limit = self.config.changes_page.clamp(1, 1000).to_string();
        let url = self.url("/workouts/changes");
        let mut report = PullReport::default();
        loop {
            let reply = self
                .execute(Auth::Bearer, || {
                    let mut request = self.http.get(&url).query(&[("limit", &limit)]);
                    if let Some(cursor) = &cursor {
                        request = request.query(&[("cursor", cursor)]);
                    }
                    request
                })
                .await?;
            let page: ChangesPage = serde_json::from_slice(&reply.body)
                .map_err(|e| ClientError::Protocol(format!("change feed: {e}")))?;
            let next = ChangeCursor::decode(&page.next_cursor).map_err(|_| {
                ClientError::Protocol(format!("malformed next_cursor {:?}", page.next_cursor))
            })?;
            let previous = cursor
                .as_deref()
                .and_then(|c| ChangeCursor::decode(c).ok())
                .map_or(0, |c| c.after_seq);
            let changes: Vec<FeedChange> = page
                .changes
                .into_iter()
                .map(|c| FeedChange {
                    deleted: c.deleted,
                    workout: c.workout,
                })
                .collect();
            let applied = self
                .cache
                .apply_changes(&changes, &page.next_cursor, Utc::now())?;
            report.pages += 1;
            report.added += applied.added;
            report.updated += applied.updated;
            report.deleted += applied.deleted;
            report.unchanged += applied.unchanged;
            if !page.has_more {
                break;
            }
            if next.after_seq <= previous {
                return Err(ClientError::Protocol(
                    "the change feed says has_more but its cursor did not advance".into(),
                ));
            }
            cursor = Some(page.next_cursor);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sync-core wire types read back what the server writes, and write it again byte
    /// for byte (their `Deserialize` derives change nothing about serialisation).
    #[test]
    fn a_sync_response_round_trips_byte_for_byte() {
        let text = r#"{"success":true,"sync_id":"6f1c0d38-7c59-4a26-9a7e-3f7d1c1e8a11","server_timestamp":"2024-01-15T09:00:01Z","created":1,"updated":0,"unchanged":0,"deleted":0,"conflicts":[{"client_id":"a","server_id":"9b2e6c1a-2f8e-4d0a-8f5e-0c3d2b1a0f9e","reason":"data_mismatch","resolution":"server_wins","fields":["distance_meters","source"],"server_workout":{"id":"9b2e6c1a-2f8e-4d0a-8f5e-0c3d2b1a0f9e","client_id":"a","date":"2024-01-15","start_time":"2024-01-15T08:00:00.250Z","end_time":"2024-01-15T08:35:00Z","duration_seconds":2100,"distance_meters":5012.7,"avg_pace_seconds_per_km":418.94,"avg_heart_rate":145,"max_heart_rate":null,"energy_burned_kcal":350.0,"source":"apple_watch","revision":2,"created_at":"2024-01-15T09:00:00Z","updated_at":"2024-01-15T09:00:01Z"}}],"rejected":[{"index":2,"client_id":null,"errors":{"start_time":["is required"]}}],"next_cursor":"YzE6Mw"}"#;
        let response: SyncResponse = serde_json::from_str(text).unwrap();
        assert_eq!(
            response.conflicts[0].fields,
            vec!["distance_meters", "source"]
        );
        assert_eq!(serde_json::to_string(&response).unwrap(), text);

        // Field names a newer server might add are left out, not an error.
        let newer = text.replace(
            r#""fields":["distance_meters","source"]"#,
            r#""fields":["distance_meters","cadence"]"#,
        );
        let response: SyncResponse = serde_json::from_str(&newer).unwrap();
        assert_eq!(response.conflicts[0].fields, vec!["distance_meters"]);
    }

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

    #[test]
    fn retry_after_is_read_as_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(7));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
