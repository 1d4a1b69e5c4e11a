//! The authenticated caller. A handler that takes [`AuthUser`] cannot run without a valid
//! access token of a live session: the token is checked, then its session (one indexed
//! lookup), so logout and revocation take effect at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::Utc;
use uuid::Uuid;

use super::tokens::request_subject;
use crate::error::ApiError;
use crate::state::AppState;

/// The caller of an authenticated endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// The account.
    pub user_id: Uuid,
    /// The session the access token belongs to.
    pub session_id: Uuid,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AuthUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = AppState::of(&req)?;
            let subject = request_subject(&req, &state.tokens)?;
            let session = state
                .query(move |store| store.live_session(subject.session_id, Utc::now()))
                .await?;
            let live = session.is_some_and(|s| s.user_id == subject.user_id);
            if !live {
                return Err(ApiError::Unauthorized(
                    "the session has ended; log in again",
                ));
            }
            Ok(AuthUser {
                user_id: subject.user_id,
                session_id: subject.session_id,
            })
        })
    }
}
