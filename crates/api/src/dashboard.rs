//! The web dashboard (`crates/web`) mounted in this server: its context, and the [`Host`] it
//! signs runners in through, so that a browser is held to the API's own rules (the same
//! accounts, password checks, lockout and rate limits) and its sessions are the API's.

use std::net::IpAddr;
use std::sync::Arc;

use ::web::{
    AccountError, Host, HostFuture, IssuedToken, Job, NewAccount, SignInRequest, SignedIn,
    WebContext, WebSettings,
};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sync_core::wire::{Credentials, Registration};
use uuid::Uuid;

use crate::config::Config;
use crate::error::{blocking, ApiError};
use crate::ratelimit::client_address;
use crate::routes::auth::{erase_account, open_account, sign_in, Opened};
use crate::routes::export::download;
use crate::routes::ingest::issue_token;
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
    fn client_address(&self, request: &HttpRequest) -> IpAddr {
        client_address(request, self.state.config.trusted_proxy_hops)
    }

    fn sign_in(&self, request: SignInRequest) -> HostFuture<Result<SignedIn, AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            let SignInRequest {
                email,
                password,
                user_agent,
                address,
            } = request;
            signed_in(sign_in(&state, email, password, user_agent, address).await)
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

    fn export(
        &self,
        user_id: Uuid,
        format: Option<String>,
    ) -> HostFuture<Result<HttpResponse, AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            download(&state, user_id, format.as_deref())
                .await
                .map_err(account_error)
        })
    }

    fn delete_account(
        &self,
        user_id: Uuid,
        password: String,
        address: IpAddr,
    ) -> HostFuture<Result<(), AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            erase_account(&state, user_id, password, address)
                .await
                .map_err(account_error)
        })
    }

    fn issue_ingest_token(
        &self,
        user_id: Uuid,
        name: String,
    ) -> HostFuture<Result<IssuedToken, AccountError>> {
        let state = self.state.clone();
        Box::pin(async move {
            let created = issue_token(&state, user_id, &name)
                .await
                .map_err(account_error)?;
            Ok(IssuedToken {
                id: created.id,
                name: created.name,
                token: created.token,
            })
        })
    }

    fn run_blocking(&self, job: Job) -> HostFuture<Result<(), AccountError>> {
        Box::pin(async move {
            blocking(move || {
                job();
                Ok(())
            })
            .await
            .map_err(account_error)
        })
    }
}

/// A session the API opened, as the dashboard reads it.
fn signed_in(opened: Result<Opened, ApiError>) -> Result<SignedIn, AccountError> {
    opened
        .map(|opened| SignedIn {
            user_id: opened.user.id,
            session_id: opened.session_id,
        })
        .map_err(account_error)
}

/// The API's refusal as the dashboard reads it (the API's field names and messages kept).
fn account_error(error: ApiError) -> AccountError {
    match error {
        ApiError::InvalidCredentials | ApiError::WrongPassword => AccountError::InvalidCredentials,
        ApiError::Locked { retry_after } => AccountError::Locked { retry_after },
        ApiError::Conflict {
            code: "email_taken",
            ..
        } => AccountError::EmailTaken,
        ApiError::Conflict { message, .. } => AccountError::Refused(message),
        ApiError::BadRequest { message, .. } => AccountError::Refused(message),
        ApiError::Unprocessable {
            errors: Some(errors),
            ..
        } => AccountError::Invalid(errors),
        ApiError::Unavailable { retry_after } => AccountError::Unavailable { retry_after },
        other => {
            log::error!("a dashboard request failed in the API: {other}");
            AccountError::Internal(other.to_string())
        }
    }
}
