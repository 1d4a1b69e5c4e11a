//! The delivery worker: runs in every server process, claims due deliveries from the outbox,
//! sends each signed to its subscription, and records the attempt (and the retry it
//! schedules) under its claim.
//!
//! - **At least once.** A delivery stays pending until a 2xx is recorded for it, or its
//!   schedule runs out. A worker that dies holding a claim leaves it to fall due again when
//!   the lease ([`LEASE`]) lapses, with the same `webhook-id`.
//! - **Once across instances.** Claims are exclusive (see [`Store::claim_deliveries`]): an
//!   attempt is made by the one worker that holds the claim, and recorded only under it.
//! - **Clean stop.** On shutdown the worker stops claiming, finishes the attempts in flight
//!   (each bounded by [`ATTEMPT_TIMEOUT`]) and gives back what it had not started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use sync_core::webhooks::RetrySchedule;
use sync_store::{AttemptResult, ClaimedDelivery, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::signature::sign;
use super::target::{PublicResolver, TargetPolicy};
use crate::config::WebhookSettings;
use crate::metrics::Metrics;

/// Each attempt's limit, connection and answer included (the contract's 10 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim holds its deliveries: well past an attempt's timeout, so a live worker
/// never loses a claim it is using, and a dead one's deliveries are due again within a minute.
pub const LEASE: Duration = Duration::from_secs(60);
/// Deliveries one worker claims, and sends in parallel, at a time.
pub const BATCH: i64 = 16;
/// Longest error text recorded for an attempt.
const MAX_ERROR_CHARS: usize = 300;

/// Tells the worker to stop; dropping it stops the worker too.
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Asks the worker to stop after the attempts in flight.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// The worker's parts.
pub struct Worker {
    store: Arc<Store>,
    client: reqwest::Client,
    policy: TargetPolicy,
    schedule: RetrySchedule,
    poll_interval: Duration,
    metrics: actix_web::web::Data<Metrics>,
}

impl Worker {
    /// A worker on `store` with the operator's settings.
    pub fn new(
        store: Arc<Store>,
        settings: &WebhookSettings,
        metrics: actix_web::web::Data<Metrics>,
    ) -> Result<Worker, reqwest::Error> {
        let policy = TargetPolicy {
            allow_private: settings.allow_private_targets,
        };
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            // A redirect could lead anywhere, private addresses included: never followed.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would connect on our behalf, past the resolver.
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver { policy }))
            .build()?;
        Ok(Worker {
            store,
            client,
            policy,
            schedule: settings.retry_schedule.clone(),
            poll_interval: settings.poll_interval,
            metrics,
        })
    }

    /// Runs until `stop` is called: claims due deliveries, sends them, records each attempt.
    /// An idle worker looks again after the poll interval; a full batch is followed at once.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        log::info!(
            "webhook worker started (poll every {} ms, {} attempts per delivery)",
            self.poll_interval.as_millis(),
            self.schedule.max_attempts()
        );
        loop {
            if *stop.borrow() {
                break;
            }
            let claimed = self.claim().await;
            if *stop.borrow() {
                self.release(&claimed).await;
                break;
            }
            let full = claimed.len() as i64 >= BATCH;
            let mut attempts = JoinSet::new();
            for delivery in claimed {
                let worker = self.clone();
                attempts.spawn(async move { worker.attempt(delivery).await });
            }
            while attempts.join_next().await.is_some() {}
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        log::info!("webhook worker stopped");
    }

    async fn claim(&self) -> Vec<ClaimedDelivery> {
        let store = self.store.clone();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(60));
        let claimed =
            tokio::task::spawn_blocking(move || store.claim_deliveries(Utc::now(), lease, BATCH))
                .await;
        match claimed {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(e)) => {
                log_store_error("claiming webhook deliveries", &e);
                Vec::new()
            }
            Err(e) => {
                log::error!("claiming webhook deliveries: the task failed: {e}");
                Vec::new()
            }
        }
    }

    /// Gives back a claim the worker will not use (it is stopping).
    async fn release(&self, claimed: &[ClaimedDelivery]) {
        let Some(first) = claimed.first() else {
            return;
        };
        let (store, token) = (self.store.clone(), first.claim_token);
        match tokio::task::spawn_blocking(move || store.release_claim(token, Utc::now())).await {
            Ok(Ok(n)) => log::info!("webhook worker stopping: gave back {n} claimed deliveries"),
            Ok(Err(e)) => log_store_error("giving back webhook deliveries", &e),
            Err(e) => log::error!("giving back webhook deliveries: the task failed: {e}"),
        }
    }

    /// One attempt of one delivery, recorded.
    async fn attempt(&self, delivery: ClaimedDelivery) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let sent = self.send(&delivery).await;
        let duration = clock.elapsed();
        let attempt = delivery.attempts_made.saturating_add(1);
        let (status_code, error) = match sent {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (
                Some(status),
                Some(format!("the receiver answered {status}")),
            ),
            Err(reason) => (None, Some(reason)),
        };
        let delivered = error.is_none();
        let next_attempt_at = if delivered {
            None
        } else {
            self.schedule
                .delay_after(attempt)
                .map(|delay| Utc::now() + delay)
        };
        let result = AttemptResult {
            started_at,
            duration,
            status_code,
            error,
            delivered,
            next_attempt_at,
        };
        let host = host_of(&delivery.url);
        let what = format!(
            "webhook delivery {} event={} type={} subscription={} host={host} attempt={attempt}",
            delivery.id, delivery.event_id, delivery.event_type, delivery.subscription_id
        );
        match (&result.error, result.next_attempt_at) {
            (None, _) => log::info!(
                "{what}: delivered ({}) in {} ms",
                status_code.unwrap_or_default(),
                duration.as_millis()
            ),
            (Some(error), Some(next)) => {
                log::warn!("{what}: failed ({error}); retry at {}", next.to_rfc3339())
            }
            (Some(error), None) => {
                log::warn!("{what}: failed ({error}); no retries left, giving up")
            }
        }
        self.metrics
            .observe_webhook_attempt(delivered, result.next_attempt_at.is_some());

        let store = self.store.clone();
        let recorded =
            tokio::task::spawn_blocking(move || store.record_attempt(&delivery, &result)).await;
        match recorded {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                log::warn!("{what}: not recorded: the claim lapsed or the subscription was deleted")
            }
            // Unrecorded, the claim lapses and the delivery is tried again: at least once.
            Ok(Err(e)) => log_store_error(&format!("{what}: recording the attempt"), &e),
            Err(e) => log::error!("{what}: recording the attempt: the task failed: {e}"),
        }
    }

    /// Sends the delivery once: the receiver's status, or why no status came.
    async fn send(&self, delivery: &ClaimedDelivery) -> Result<u16, String> {
        let url = self
            .policy
            .parse(&delivery.url)
            .map_err(|e| format!("target refused: the URL {e}"))?;
        let message_id = delivery.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let signature = sign(&delivery.secret, &message_id, timestamp, &delivery.payload)
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static("RunningDays-Webhooks/1"),
            )
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        Ok(response.status().as_u16())
    }
}

/// Starts the worker on this runtime; the handle stops it, the join handle waits for it.
pub fn spawn(worker: Worker) -> (StopHandle, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(Arc::new(worker).run(stopped));
    (StopHandle(stop), task)
}

/// A request's failure in words: the error and its causes, without the URL (whose path may
/// be a secret of the receiver's, as Slack's are).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = if error.is_timeout() {
        format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// The host of a stored URL, for logs (never the path or query).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn log_store_error(what: &str, error: &StoreError) {
    if error.is_transient() {
        log::warn!("{what}: {error}");
    } else {
        log::error!("{what}: {error}");
    }
}
