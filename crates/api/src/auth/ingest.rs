//! The caller of the ingest endpoint: a runner's ingest token, never an access token.
//!
//! An ingest token is a long-lived secret pasted into the Health Auto Export app. It is looked
//! up by its SHA-256 (one unique-index probe); it opens `POST /ingest/health-auto-export` and
//! nothing else, because only that handler takes [`IngestUser`] (every other one takes
//! [`AuthUser`](super::AuthUser), which refuses it).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::Utc;
use uuid::Uuid;

use super::tokens::{bearer, hash_ingest_token, INGEST_TOKEN_PREFIX};
use crate::error::ApiError;
use crate::state::AppState;

/// The runner an ingest token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestUser {
    /// The account.
    pub user_id: Uuid,
    /// The token presented.
    pub token_id: Uuid,
}

impl FromRequest for IngestUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<IngestUser, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = AppState::of(&req)?;
            let token = bearer(&req)?;
            if !token.starts_with(INGEST_TOKEN_PREFIX) {
                return Err(ApiError::Unauthorized(
                    "this endpoint takes an ingest token (POST /api/v1/ingest-tokens makes one), not an access token",
                ));
            }
            let hash = hash_ingest_token(token);
            let found = state
                .query(move |store| store.authenticate_ingest_token(&hash, Utc::now()))
                .await?;
            let token = found.ok_or(ApiError::Unauthorized("invalid or revoked ingest token"))?;
            Ok(IngestUser {
                user_id: token.user_id,
                token_id: token.id,
            })
        })
    }
}
