//! `X-Request-Id`: echoed when the client sent a sane one, generated otherwise, set on every
//! response and available to error bodies and logs through a task-local: on the async worker
//! serving the request, and (through [`propagate`]) on the blocking thread doing its work.

use std::cell::RefCell;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use uuid::Uuid;

/// The header's name.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-sent id echoed back.
const MAX_CLIENT_ID_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

thread_local! {
    /// The id of the request whose work a blocking-pool thread is running, set by [`propagate`].
    static HANDED_OFF: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The id of the request being handled, for error bodies and log lines; `None` outside any
/// request (start-up, the purge task, the access log written after the response).
pub fn current() -> Option<String> {
    CURRENT
        .try_with(Clone::clone)
        .ok()
        .or_else(|| HANDED_OFF.with(|id| id.borrow().clone()))
}

/// Wraps `work` bound for another thread (the blocking pool) so that it runs under the id of
/// the request handing it off. Every hand-off goes through here: task-locals stay behind on
/// the async worker.
pub fn propagate<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let id = current();
    move || {
        let _restore = HandOff::enter(id);
        work()
    }
}

/// Sets the thread's handed-off id; puts the previous one back when dropped (also when the
/// work panics), so a pooled thread never keeps a finished request's id.
struct HandOff(Option<String>);

impl HandOff {
    fn enter(id: Option<String>) -> HandOff {
        HandOff(HANDED_OFF.with(|current| current.replace(id)))
    }
}

impl Drop for HandOff {
    fn drop(&mut self) {
        let previous = self.0.take();
        HANDED_OFF.with(|current| *current.borrow_mut() = previous);
    }
}

fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= MAX_CLIENT_ID_LEN
        && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_owned())
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
    // Handlers and extractors turn their errors into responses inside this scope, so error
    // bodies can name the request id.
    let mut response = CURRENT
        .scope(id.clone(), next.call(req))
        .await?
        .map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn the_id_follows_work_to_the_blocking_pool_and_no_further() {
        assert_eq!(current(), None);
        let (inside, after) = CURRENT
            .scope("req-1".to_owned(), async {
                let inside = tokio::task::spawn_blocking(propagate(current))
                    .await
                    .unwrap();
                // Work handed off outside the wrapper does not see it.
                let bare = tokio::task::spawn_blocking(current).await.unwrap();
                (inside, bare)
            })
            .await;
        assert_eq!(inside.as_deref(), Some("req-1"));
        assert_eq!(after, None);
        // Outside any request there is nothing to carry.
        assert_eq!(
            tokio::task::spawn_blocking(propagate(current))
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_thread_gets_its_previous_id_back_after_the_work() {
        let first = HandOff::enter(Some("first".into()));
        let work = propagate(current);
        let panicking = propagate(|| panic!("the work failed"));
        let second = HandOff::enter(Some("second".into()));
        assert_eq!(work().as_deref(), Some("first"));
        assert_eq!(current().as_deref(), Some("second"));
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(panicking)).is_err());
        assert_eq!(current().as_deref(), Some("second"));
        drop(second);
        assert_eq!(current().as_deref(), Some("first"));
        drop(first);
        assert_eq!(current(), None);
    }
}
