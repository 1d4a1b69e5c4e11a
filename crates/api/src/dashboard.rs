//! The web dashboard (`crates/web`) mounted in this server: its context, and the [`Host`] it
//! signs runners in through, so that a browser is held to the API's own rules (the same
//! accounts, password checks, lockout and rate limits) and its sessions are the API's.

use std::sync::Arc;

use ::web::{
    AccountError, Host, HostFuture, Job, NewAccount, SignInRequest, SignedIn, WebContext,
    WebSettings,
};
use actix_web::web::Data;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sync_core::wire::{Credentials, Registration};

use crate::config::Config;
use crate::error::ApiError;
use crate::request_id;
use crate::routes::auth::{open_account, sign_in, Opened};
use crate::state::AppState;

/// The dashboard's context for this server.
pub fn context(state: Data<AppState>) -> WebContext {
    let settings = settings(&state.config);
    WebContext::new(state.store.clone(), Arc::new(ApiHost { state }), settings)
}

fn settings(config: &Config) -> WebSettings {
    WebSettings {
        cookie_key: cookie_key(config),
        secure_cookies: config.secure_cookies,
        public_origin: config.public_origin.clone(),
        goal_default_target: config.goal_default_target,
    }
}

/// The dashboard's signing key, derived from the server's secret: every instance sharing the
/// secret accepts the others' cookies, and the key is never the token-signing key itself.
fn cookie_key(config: &Config) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(config.jwt_secret.expose())
        .expect("HMAC takes a key of any length");
    mac.update(b"running-days web dashboard cookie key v1");
    mac.finalize().into_bytes().into()
}

struct ApiHost {
    state: Data<AppState>,
}

impl Host for ApiHost {
    fn sign_in(&self, request: SignInRequest) -> HostFuture<Result<SignedIn, AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            let SignInRequest {
                email,
                password,
                user_agent,
            } = request;
            signed_in(sign_in(&state, email, password, user_agent).await)
        })
    }

    fn register(&self, account: NewAccount) -> HostFuture<Result<SignedIn, AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            let NewAccount {
                email,
                password,
                time_zone,
                user_agent,
            } = account;
            let registration = Registration {
                credentials: Credentials { email, password },
                time_zone,
            };
            signed_in(open_account(&state, registration, user_agent).await)
        })
    }

    fn hand_off(&self, job: Job) -> Job {
        Box::new(request_id::propagate(job))
    }
}

/// The API's answer as the dashboard reads it.
fn signed_in(opened: Result<Opened, ApiError>) -> Result<SignedIn, AccountError> {
    match opened {
        Ok(opened) => Ok(SignedIn {
            user_id: opened.user.id,
            session_id: opened.session_id,
        }),
        Err(ApiError::InvalidCredentials) => Err(AccountError::InvalidCredentials),
        Err(ApiError::Locked { retry_after }) => Err(AccountError::Locked { retry_after }),
        Err(ApiError::Conflict { .. }) => Err(AccountError::EmailTaken),
        Err(ApiError::Unprocessable {
            errors: Some(errors),
            ..
        }) => Err(AccountError::Invalid(errors)),
        Err(ApiError::Unavailable { retry_after }) => {
            Err(AccountError::Unavailable { retry_after })
        }
        Err(other) => {
            log::error!("dashboard sign-in failed: {other}");
            Err(AccountError::Internal(other.to_string()))
        }
    }
}
