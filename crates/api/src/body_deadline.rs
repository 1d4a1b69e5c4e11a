//! A deadline on reading a request body: a client that sends its headers and then trickles the
//! body (or stops) cannot hold a connection and a worker's buffer for ever. Once
//! `BODY_READ_TIMEOUT_SECS` have passed since the request arrived, the body's stream fails with
//! a timed-out error, which the body readers answer with 408 `request_timeout`. And at most
//! `MAX_PENDING_BODIES` bodies are awaited at once: past that, a request with a body is
//! answered 503 at once, before any of its body is read, so that thousands of stalled uploads
//! cannot hold thousands of connections and buffers for the length of the deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_core::Stream;

use crate::error::ApiError;
use crate::state::AppState;

/// The bodies this instance is waiting on, against `MAX_PENDING_BODIES`.
#[derive(Debug)]
pub struct PendingBodies {
    waiting: AtomicUsize,
    max: usize,
    /// When the last refusal was logged (Unix seconds): at most one line a second, so that a
    /// flood of refusals cannot flood the log too.
    last_logged: AtomicU64,
}

impl PendingBodies {
    /// At most `max` bodies awaited at once.
    pub fn new(max: usize) -> Arc<PendingBodies> {
        Arc::new(PendingBodies {
            waiting: AtomicUsize::new(0),
            max,
            last_logged: AtomicU64::new(0),
        })
    }

    /// A place among the awaited bodies, or `None` when all are taken.
    fn enter(self: &Arc<Self>) -> Option<PendingSlot> {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| PendingSlot(self.clone()))
    }

    fn log_refusal(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_logged.swap(now, Ordering::Relaxed) != now {
            log::warn!(
                "refusing request bodies: {} already awaited (MAX_PENDING_BODIES); answering 503",
                self.max
            );
        }
    }
}

/// A body being awaited; its place is free again when the body has ended or been dropped.
struct PendingSlot(Arc<PendingBodies>);

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The middleware (`actix_web::middleware::from_fn`): wraps the request's body in the deadline,
/// or refuses the request when `MAX_PENDING_BODIES` bodies are already awaited.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.body_read_timeout);
    let pending = req
        .app_data::<web::Data<PendingBodies>>()
        .map(|pending| pending.clone().into_inner());
    let inner = req.take_payload();
    if let (Some(timeout), false) = (timeout, matches!(inner, Payload::None)) {
        let slot = match pending.as_ref().map(PendingBodies::enter) {
            Some(None) => {
                pending.as_deref().map(PendingBodies::log_refusal);
                // The unread body makes actix close the connection after this answer.
                let refusal = ApiError::Overloaded { retry_after: 1 }.error_response();
                return Ok(req.into_response(refusal));
            }
            Some(slot) => slot,
            None => None,
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(DeadlinePayload {
                inner,
                deadline: Box::pin(tokio::time::sleep(timeout)),
                expired: false,
                slot,
            }),
        });
    } else {
        // No body (or no configuration): nothing to wait for.
        req.set_payload(inner);
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Whether a body read failed because the deadline passed.
pub fn is_deadline(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

/// The request's body, failing once the deadline has passed.
struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
    /// Held until the body ends, fails or is dropped.
    slot: Option<PendingSlot>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // The body first: one that is complete is never refused for arriving at the deadline.
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if !matches!(item, Some(Ok(_))) {
                self.slot = None;
            }
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            self.slot = None;
            let late = io::Error::new(io::ErrorKind::TimedOut, "the body did not arrive in time");
            return Poll::Ready(Some(Err(PayloadError::Io(late))));
        }
        Poll::Pending
    }
}
