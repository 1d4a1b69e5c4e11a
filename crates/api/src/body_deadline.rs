//! A deadline on reading a request body: a client that sends its headers and then trickles the
//! body (or stops) cannot hold a connection and a worker's buffer for ever. Once
//! `BODY_READ_TIMEOUT_SECS` have passed since the request arrived, the body's stream fails with
//! a timed-out error, which the body readers answer with 408 `request_timeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage};
use futures_core::Stream;

use crate::state::AppState;

/// The middleware (`actix_web::middleware::from_fn`): wraps the request's body in the deadline.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.body_read_timeout);
    let inner = req.take_payload();
    if let (Some(timeout), false) = (timeout, matches!(inner, Payload::None)) {
        req.set_payload(Payload::Stream {
            payload: Box::pin(DeadlinePayload {
                inner,
                deadline: Box::pin(tokio::time::sleep(timeout)),
                expired: false,
            }),
        });
    } else {
        // No body (or no configuration): nothing to wait for.
        req.set_payload(inner);
    }
    next.call(req).await
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
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // The body first: one that is complete is never refused for arriving at the deadline.
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let late = io::Error::new(io::ErrorKind::TimedOut, "the body did not arrive in time");
            return Poll::Ready(Some(Err(PayloadError::Io(late))));
        }
        Poll::Pending
    }
}
