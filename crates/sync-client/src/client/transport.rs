//! Sending a request under the recovery rules of the module docs: the bearer token and its
//! one refresh, the answers worth retrying and how long to wait before each retry (the
//! policy's backoff, or the server's `Retry-After`), and the error a request ends with.
//!
//! One attempt is [`SyncClient::attempt`], which sorts what happened into a [`Failure`];
//! `backon` runs the attempts, waiting through the client's [`Sleeper`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::SyncClient;
use crate::bodies::error_reply;
use crate::error::ClientError;
use crate::retry::Sleeper;

/// The code of a 401 that is about a password in the request (`DELETE /auth/me`), not about
/// the token: refreshing would not help.
const WRONG_PASSWORD: &str = "invalid_password";

/// A response the recovery rules let through (2xx).
pub(super) struct Reply {
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Reply {
    /// The body as the contract's type `T`; a body that does not decode is a
    /// [`ClientError::Protocol`] naming `what` was read.
    pub(super) fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ClientError::Protocol(format!("{what}: {e}")))
    }
}

/// How a request authenticates, which decides what a 401 means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Auth {
    /// The stored access token; a 401 refreshes it once.
    Bearer,
    /// None (login, register): a 401 means wrong credentials.
    Credentials,
    /// None (the refresh itself): a 401 means the session is over.
    Refresh,
}

/// An attempt that did not succeed: the error the request ends with if it is not tried
/// again, and whether (and after what wait) trying again may help.
struct Failure {
    error: ClientError,
    retry: Retry,
    /// What happened, for the log line of a retry.
    cause: String,
}

#[derive(Clone, Copy)]
enum Retry {
    /// Sending the same request again cannot help.
    Never,
    /// Retry after the policy's next backoff.
    Backoff,
    /// Retry after the wait the server asked for.
    After(Duration),
}

impl Failure {
    fn fatal(error: ClientError) -> Failure {
        Failure {
            error,
            retry: Retry::Never,
            cause: String::new(),
        }
    }

    fn may_retry(&self) -> bool {
        !matches!(self.retry, Retry::Never)
    }

    /// The wait before the retry, given the policy's next backoff (`None`: no retries left).
    fn wait(&self, backoff: Option<Duration>) -> Option<Duration> {
        match self.retry {
            // A wait the server asked for replaces the backoff, and uses up a retry too.
            Retry::After(wait) => backoff.map(|_| wait),
            Retry::Backoff | Retry::Never => backoff,
        }
    }

    fn log_retry(&self, wait: Duration) {
        log::info!("{}; retrying in {wait:?}", self.cause);
    }
}

/// The client's [`Sleeper`] as `backon` takes it. (A named type: with a closure in its place
/// the compiler cannot prove the request's future `Send`.)
struct BackonSleeper(Arc<dyn Sleeper>);

impl backon::Sleeper for BackonSleeper {
    type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.0.sleep(duration)
    }
}

/// The server's message in an error answer, else the status's reason phrase.
fn message_of(status: StatusCode, body: &[u8]) -> String {
    non_empty(error_reply(body).message, || {
        status.canonical_reason().unwrap_or("error").to_owned()
    })
}

/// `text`, or the fallback when the server sent none.
fn non_empty(text: String, fallback: impl FnOnce() -> String) -> String {
    if text.is_empty() {
        fallback()
    } else {
        text
    }
}

/// `Retry-After` in seconds, the form the contract uses (an HTTP date is ignored).
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
    /// Sends a request under the recovery rules. `build` makes a fresh request each attempt
    /// (the bearer token is added here, so a refreshed one is used on the retry).
    pub(super) async fn execute<F>(&self, auth: Auth, build: F) -> Result<Reply, ClientError>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        let refreshed = AtomicBool::new(false);
        let (build, refreshed) = (&build, &refreshed);
        let mut attempts = 0;
        let attempt = move || {
            attempts += 1;
            self.attempt(auth, build, attempts, refreshed)
        };
        attempt
            .retry(self.config.retry.delays())
            .sleep(BackonSleeper(Arc::clone(&self.sleeper)))
            .when(Failure::may_retry)
            .adjust(Failure::wait)
            .notify(Failure::log_retry)
            .await
            .map_err(|failure| failure.error)
    }

    /// Sends a `GET`-like request with the bearer token and returns the response unread, for
    /// a body too large to hold (the export). A 401 refreshes the token once and asks again;
    /// any other refusal is the error [`execute`](Self::execute) would give. Not retried: a
    /// caller streaming the body decides what a broken download means.
    pub(super) async fn open<F>(&self, build: F) -> Result<reqwest::Response, ClientError>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        let mut refreshed = false;
        loop {
            let login = self.cache.saved_login()?.ok_or(ClientError::NotLoggedIn)?;
            let response = build()
                .bearer_auth(login.access_token)
                .send()
                .await
                .map_err(|e| self.offline(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                log::info!("access token refused; refreshing it once");
                self.refresh_boxed().await?;
                continue;
            }
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            return Err(self.failure(Auth::Bearer, 1, status, &headers, &body).error);
        }
    }

    /// Attempt number `attempt` (from 1): the request, and once per [`execute`](Self::execute)
    /// a refresh of a refused access token and the request again.
    async fn attempt<F>(
        &self,
        auth: Auth,
        build: &F,
        attempt: u32,
        refreshed: &AtomicBool,
    ) -> Result<Reply, Failure>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        loop {
            let (status, headers, body) = self.send(auth, build).await?;
            if status.is_success() {
                return Ok(Reply { headers, body });
            }
            if status == StatusCode::UNAUTHORIZED && error_reply(&body).error == WRONG_PASSWORD {
                // The token was fine; the password the request carried was not.
                return Err(Failure::fatal(ClientError::BadCredentials(message_of(
                    status, &body,
                ))));
            }
            if status == StatusCode::UNAUTHORIZED
                && auth == Auth::Bearer
                && !refreshed.swap(true, Ordering::Relaxed)
            {
                log::info!("access token refused; refreshing it once");
                self.refresh_boxed().await.map_err(Failure::fatal)?;
                continue;
            }
            return Err(self.failure(auth, attempt, status, &headers, &body));
        }
    }

    /// Sends the request once and reads the whole answer.
    async fn send<F>(
        &self,
        auth: Auth,
        build: &F,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), Failure>
    where
        F: Fn() -> RequestBuilder + Send + Sync,
    {
        let mut request = build();
        if auth == Auth::Bearer {
            let login = self
                .cache
                .saved_login()
                .map_err(|e| Failure::fatal(e.into()))?
                .ok_or_else(|| Failure::fatal(ClientError::NotLoggedIn))?;
            request = request.bearer_auth(login.access_token);
        }
        let answer = match request.send().await {
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
        answer.map_err(|e| Failure {
            error: self.offline(&e),
            retry: if e.is_connect() {
                // Nothing reached the server: report offline at once, nothing is lost.
                Retry::Never
            } else {
                // The request may have reached the server (a timeout, a connection cut before
                // the answer): retrying is safe because the body and its key do not change.
                Retry::Backoff
            },
            cause: format!("request failed in transit ({e})"),
        })
    }

    /// What an answer other than 2xx (and other than a 401 worth a refresh) means.
    fn failure(
        &self,
        auth: Auth,
        attempt: u32,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Failure {
        let server_failed = || ClientError::Server {
            status: status.as_u16(),
            attempts: attempt,
            message: message_of(status, body),
        };
        let cause = format!("server answered {status}");
        let wait_for = retry_after(headers);
        match status {
            StatusCode::UNAUTHORIZED => Failure::fatal(match auth {
                Auth::Bearer | Auth::Refresh => ClientError::SessionExpired,
                Auth::Credentials => ClientError::BadCredentials(message_of(status, body)),
            }),
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::CONFLICT
                if status != StatusCode::CONFLICT || wait_for.is_some() =>
            {
                let error = if status == StatusCode::SERVICE_UNAVAILABLE {
                    server_failed()
                } else {
                    ClientError::RateLimited {
                        retry_after: wait_for,
                    }
                };
                let retry = match wait_for.map(Duration::from_secs) {
                    Some(wait) if wait > self.config.retry.max_retry_after => Retry::Never,
                    Some(wait) => Retry::After(wait),
                    None => Retry::Backoff,
                };
                Failure {
                    error,
                    retry,
                    cause,
                }
            }
            status if status.is_server_error() => Failure {
                error: server_failed(),
                retry: Retry::Backoff,
                cause,
            },
            status => {
                let reply = error_reply(body);
                Failure::fatal(ClientError::Refused {
                    status: status.as_u16(),
                    code: non_empty(reply.error, || "error".into()),
                    message: non_empty(reply.message, || status.to_string()),
                    errors: reply.errors.unwrap_or_default(),
                })
            }
        }
    }

    /// The server could not be reached (or the connection kept failing).
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
