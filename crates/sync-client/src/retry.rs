//! Waiting between retries: the retry policy (exponential backoff with jitter, honouring
//! `Retry-After`) and an injectable [`Sleeper`] so that tests can record the waits instead of
//! sleeping through them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

/// Something that waits. The client never calls `tokio::time::sleep` directly.
pub trait Sleeper: Send + Sync {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// Really waits, with the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Records every requested wait and returns at once: for tests.
///
/// ```
/// use std::time::Duration;
/// use sync_client::retry::{RecordingSleeper, Sleeper};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sleeper = RecordingSleeper::default();
/// sleeper.sleep(Duration::from_secs(30)).await; // returns immediately
/// assert_eq!(sleeper.delays(), vec![Duration::from_secs(30)]);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingSleeper {
    delays: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// Every wait requested so far, in order.
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Forgets the recorded waits.
    pub fn clear(&self) {
        if let Ok(mut delays) = self.delays.lock() {
            delays.clear();
        }
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        if let Ok(mut delays) = self.delays.lock() {
            delays.push(duration);
        }
        Box::pin(async {})
    }
}

/// How often and how long the client retries a request the server could not serve right now
/// (429, 503, other 5xx, a connection that broke after the request was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` requests at most).
    pub max_retries: u32,
    /// The first backoff; each retry doubles it.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits for; a server asking for more gets a
    /// [`RateLimited`](crate::ClientError::RateLimited) error instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry): exponential backoff with
    /// "equal jitter", a random duration between half and all of
    /// `min(max_delay, base_delay × 2^retry)`, so that many clients do not retry in step.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = sync_client::retry::RetryPolicy::default();
    /// let wait = policy.backoff(2);
    /// assert!(wait >= Duration::from_millis(1000) && wait <= Duration::from_millis(2000));
    /// assert!(policy.backoff(60) <= policy.max_delay);
    /// ```
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let ceiling = self
            .base_delay
            .saturating_mul(factor)
            .min(self.max_delay)
            .as_millis() as u64;
        let half = ceiling / 2;
        let jitter = if ceiling > half {
            rand::thread_rng().gen_range(0..=ceiling - half)
        } else {
            0
        };
        Duration::from_millis(half + jitter)
    }

    /// The waits before each retry in turn: [`RetryPolicy::backoff`] of 0, 1, … for
    /// `max_retries` retries, then none (the request has used up its retries).
    pub(crate) fn delays(self) -> impl Iterator<Item = Duration> + Send + Sync + Unpin {
        (0..self.max_retries).map(move |retry| self.backoff(retry))
    }
}
