//! The authenticated caller. A handler that takes [`AuthUser`] cannot run without a valid
//! access token of a live session: the token is checked, then its session (one indexed
//! lookup), so logout and revocation take effect at once. The busiest routes take a [`Claim`]
//! instead, whose session their own store call checks ([`Caller`]).

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::Utc;
use sync_store::SessionClaim;
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
            let claim = Claim::of(&req, &state)?.0;
            state
                .query(move |store| store.check_session(claim, Utc::now()))
                .await?;
            Ok(AuthUser {
                user_id: claim.user_id,
                session_id: claim.session_id,
            })
        })
    }
}

/// The caller as a valid access token names it, its session not checked yet: a route that
/// takes it runs its store work as a [`Caller`], which checks the session in the same hand-off
/// to the blocking pool ([`AppState::query_as`]), or the sync in its own user lock. That saves
/// the busiest routes the hand-off and the round trip of [`AuthUser`]'s separate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim(SessionClaim);

impl Claim {
    fn of(req: &HttpRequest, state: &AppState) -> Result<Claim, ApiError> {
        let subject = request_subject(req, &state.tokens)?;
        Ok(Claim(SessionClaim {
            user_id: subject.user_id,
            session_id: subject.session_id,
        }))
    }

    /// The claim, for a store call that checks it in its own statements
    /// ([`sync_store::SyncCommand::session`]).
    pub fn unchecked(self) -> SessionClaim {
        self.0
    }
}

impl FromRequest for Claim {
    type Error = ApiError;
    type Future = Ready<Result<Claim, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(AppState::of(req).and_then(|state| Claim::of(req, &state)))
    }
}

/// Who a store call runs for: a caller whose session this request has checked already, or a
/// claim that the call checks before it runs, in the same hand-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Checked by [`AuthUser`].
    Checked(AuthUser),
    /// Not yet checked.
    Claimed(Claim),
}

impl Caller {
    /// The account the call is for.
    pub fn user_id(&self) -> Uuid {
        match self {
            Caller::Checked(user) => user.user_id,
            Caller::Claimed(claim) => claim.0.user_id,
        }
    }

    /// The same caller once a store call for it has succeeded: its session is checked, and
    /// the request's further calls need not check it again.
    pub(crate) fn checked(self) -> Caller {
        match self {
            Caller::Claimed(Claim(claim)) => Caller::Checked(AuthUser {
                user_id: claim.user_id,
                session_id: claim.session_id,
            }),
            checked => checked,
        }
    }

    /// The claim still to check, if any.
    pub(crate) fn unchecked(&self) -> Option<SessionClaim> {
        match self {
            Caller::Checked(_) => None,
            Caller::Claimed(claim) => Some(claim.0),
        }
    }
}

impl From<AuthUser> for Caller {
    fn from(user: AuthUser) -> Caller {
        Caller::Checked(user)
    }
}

impl From<Claim> for Caller {
    fn from(claim: Claim) -> Caller {
        Caller::Claimed(claim)
    }
}
