//! The authenticated caller. A handler that takes [`AuthUser`] cannot run without a valid
//! access token of a live session: the token is checked, then its session (one indexed
//! lookup), so logout and revocation take effect at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use uuid::Uuid;

use crate::error::{blocking, ApiError};
use crate::state::AppState;

/// The caller of an authenticated endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    /// The account.
    pub user_id: Uuid,
    /// The session the access token belongs to.
    pub session_id: Uuid,
}

/// The bearer token of the `Authorization` header (the only place a token is accepted: never
/// a URL, which would put it in access logs).
pub(crate) fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed bearer token"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or(ApiError::Unauthorized("malformed bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("malformed bearer token"));
    }
    Ok(token.trim())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AuthUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal("application state missing".into()))?
                .clone();
            let subject = state
                .tokens
                .verify(bearer(&req)?)
                .ok_or(ApiError::Unauthorized("invalid or expired access token"))?;
            let store = state.store.clone();
            let live = blocking(move || {
                let now = Utc::now();
                let session = store.session(subject.session_id)?;
                match session {
                    Some(s) if s.user_id == subject.user_id && s.is_active(now) => {
                        store.touch_session(&s, now)?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
            .await?;
            if !live {
                return Err(ApiError::Unauthorized(
                    "the session has ended; log in again",
                ));
            }
            let user = AuthUser {
                user_id: subject.user_id,
                session_id: subject.session_id,
            };
            req.extensions_mut().insert(user);
            Ok(user)
        })
    }
}
