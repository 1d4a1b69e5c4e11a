//! `/auth/*`: registration, login, refresh-token rotation, logout, the caller, sessions.

use actix_web::http::header::USER_AGENT;
use std::net::IpAddr;

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sync_core::email;
use sync_core::running::{parse_time_zone, Tz};
use sync_core::wire::{
    Credentials, DeleteAccount, ErrorBody, MeBody, PatchMe, RefreshRequest, Registration,
    SessionView, SessionsBody, TokenBody, UserView,
};
use sync_store::{NewSession, RefreshOutcome, Session, User};
use uuid::Uuid;

use crate::auth::lockout::{self, Verdict};
use crate::auth::password;
use crate::auth::tokens::{hash_refresh_token, new_refresh_token, TokenSubject};
use crate::auth::AuthUser;
use crate::error::{blocking, ApiError};
use crate::openapi::{
    BadRequest, CommonErrors, LoginRequest, NotFound, TooLarge, Unauthorized, Unprocessable,
};
use crate::ratelimit::client_address;
use crate::state::AppState;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest `User-Agent` kept for the session list.
const MAX_USER_AGENT_CHARS: usize = 256;

/// An account as served.
pub(crate) fn user_view(u: User) -> UserView {
    UserView {
        id: u.id,
        email: u.email,
        created_at: u.created_at,
        time_zone: u.time_zone,
    }
}

/// An IANA time zone name as sent; anything else is a 422 naming `time_zone`.
fn time_zone(name: &str) -> Result<Tz, ApiError> {
    parse_time_zone(name).map_err(|e| ApiError::invalid_field("time_zone", e.to_string()))
}

/// The identity form of an email (`sync_core::email`); a 422 naming `email` when it cannot be
/// an account's.
pub fn normalise_email(raw: &str) -> Result<String, ApiError> {
    email::normalise_email(raw).map_err(|e| ApiError::invalid_field("email", e.to_string()))
}

fn check_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The request's `User-Agent`, for the session list.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    Some(req.headers().get(USER_AGENT)?.to_str().ok()?.to_owned())
}

/// A new session and the refresh token that opens its family.
fn new_session(
    state: &AppState,
    user_agent: Option<String>,
    now: DateTime<Utc>,
) -> (NewSession, String) {
    let refresh_token = new_refresh_token();
    let session = NewSession {
        id: Uuid::new_v4(),
        user_agent: user_agent.map(|text| text.chars().take(MAX_USER_AGENT_CHARS).collect()),
        refresh_token_hash: hash_refresh_token(&refresh_token),
        created_at: now,
        expires_at: now + state.config.refresh_token_ttl,
    };
    (session, refresh_token)
}

/// A session opened by registration or login: its account, id and first refresh token.
pub struct Opened {
    /// The account.
    pub user: User,
    /// The new session.
    pub session_id: Uuid,
    /// The refresh token that opens the session's family (shown to the client once).
    pub refresh_token: String,
    /// When it was opened.
    pub now: DateTime<Utc>,
}

impl Opened {
    /// The token pair (and the account) the client receives for this new session.
    fn tokens(self, state: &AppState) -> Result<TokenBody, ApiError> {
        let subject = TokenSubject {
            user_id: self.user.id,
            session_id: self.session_id,
        };
        token_pair(
            state,
            Some(self.user),
            subject,
            self.refresh_token,
            self.now,
        )
    }
}

fn token_pair(
    state: &AppState,
    user: Option<User>,
    subject: TokenSubject,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<TokenBody, ApiError> {
    let access_token = state
        .tokens
        .issue(subject, now)
        .map_err(ApiError::Internal)?;
    Ok(TokenBody {
        success: true,
        user: user.map(user_view),
        access_token,
        refresh_token,
        expires_in: state.tokens.ttl_secs(),
        token_type: "Bearer".to_owned(),
    })
}

/// `POST /auth/register` → 201 with the user and a token pair; `time_zone` (optional, UTC
/// when absent) must be an IANA name.
#[utoipa::path(operation_id = "register", tag = "auth", request_body = Registration,
    responses((status = 201, description = "Account created and logged in", body = TokenBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
        BadRequest, TooLarge, Unprocessable, CommonErrors))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    let opened = open_account(&state, body.into_inner(), user_agent(&req)).await?;
    let pair = opened.tokens(&state)?;
    Ok(HttpResponse::Created().json(pair))
}

/// Creates an account and opens its first session, by the contract's rules (email shape,
/// password length, an IANA zone or UTC); the API and the dashboard both register here.
pub async fn open_account(
    state: &AppState,
    registration: Registration,
    user_agent: Option<String>,
) -> Result<Opened, ApiError> {
    let Registration {
        credentials: Credentials { email, password },
        time_zone: zone_name,
    } = registration;
    let legacy = email::legacy_email_form(&email);
    let email = normalise_email(&email)?;
    check_password(&password)?;
    let zone = zone_name.as_deref().map(time_zone).transpose()?;
    let now = Utc::now();
    let (session, refresh_token) = new_session(state, user_agent, now);
    let session_id = session.id;
    let hash = password::hash(password).await?;
    let store = state.store.clone();
    let user = blocking(move || {
        // An account made before emails were normalised may be stored under the address as
        // typed, lowercased: that spelling is taken too (only non-ASCII input can differ).
        if let Some(legacy) = legacy.filter(|legacy| *legacy != email) {
            if store.credentials_any(&[legacy])?.is_some() {
                return Err(sync_store::StoreError::EmailTaken.into());
            }
        }
        Ok(store.register_in_zone(&email, &hash, zone.unwrap_or(Tz::UTC), &session)?)
    })
    .await?;
    log::info!("registered user {} (session {session_id})", user.id);
    Ok(Opened {
        user,
        session_id,
        refresh_token,
        now,
    })
}

/// `POST /auth/login` → 200 with the user and a token pair. Unknown email and wrong password
/// give the same 401 after the same work.
#[utoipa::path(operation_id = "login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Logged in: a new session", body = TokenBody),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = ErrorBody),
        (status = 423, description = "Locked after repeated failures", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends"))),
        BadRequest, TooLarge, CommonErrors))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { email, password } = body.into_inner();
    let address = client_address(&req, state.config.trusted_proxy_hops);
    let opened = sign_in(&state, email, password, user_agent(&req), address).await?;
    let pair = opened.tokens(&state)?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Checks credentials under the login lockout and opens a session; the API and the dashboard
/// both sign in here. Unknown email and wrong password are the same
/// [`ApiError::InvalidCredentials`] after the same work, and count against the same budgets.
pub async fn sign_in(
    state: &AppState,
    email: String,
    password: String,
    user_agent: Option<String>,
    address: IpAddr,
) -> Result<Opened, ApiError> {
    // The account is looked up under the email's identity form, then under the spelling
    // accounts made before normalisation were stored under (docs/security.md, "Emails"). An
    // email that can be neither (a NUL or another control character, say) belongs to no
    // account: it is counted and answered like an unknown one, and never sent to a database
    // that would choke on it (PostgreSQL refuses NUL in text; the budgets' keys are HMACs).
    let spellings = email::stored_spellings(&email);
    let budget_email = spellings
        .first()
        .cloned()
        .unwrap_or_else(|| email.trim().to_lowercase());
    let budgets = lockout::budgets(&state.config, &budget_email, address);
    let now = Utc::now();
    let (session, refresh_token) = new_session(state, user_agent, now);
    let session_id = session.id;
    // Lookup, password check and write are separate hand-offs, so that a hashing slot is held
    // only while Argon2 runs, never while a database connection is awaited.
    let store = state.store.clone();
    let lookup = spellings.clone();
    let credentials = if lookup.is_empty() {
        None
    } else {
        blocking(move || Ok(store.credentials_any(&lookup)?)).await?
    };
    let (account, user): (Option<_>, Option<_>) = credentials
        .map(|c| ((c.user.id, c.password_hash), c.user))
        .unzip();
    let verdict =
        lockout::guarded_check(&state.store, &state.config, budgets, password, account, now)
            .await?;
    let Some(mut user) = user.filter(|_| verdict == Verdict::Right) else {
        return Err(ApiError::InvalidCredentials);
    };
    let (store, user_id) = (state.store.clone(), user.id);
    // Found under a later spelling than the first (the identity form): it moves there.
    let adopt = spellings
        .into_iter()
        .next()
        .filter(|first| *first != user.email);
    let adopted = blocking(move || {
        // Found under an older spelling: the account moves to the identity form, unless
        // another account already has that.
        let adopted = match adopt {
            Some(identity) if store.change_email(user_id, &identity)? => Some(identity),
            _ => None,
        };
        store.open_session(user_id, &session)?;
        Ok(adopted)
    })
    .await?;
    if let Some(identity) = adopted {
        log::info!("user {user_id}'s email moved to its normalised form");
        user.email = identity;
    }
    log::info!("user {user_id} logged in (session {session_id})");
    Ok(Opened {
        user,
        session_id,
        refresh_token,
        now,
    })
}

/// `POST /auth/refresh` → a new token pair; the presented refresh token is used up. Presenting
/// a used one revokes its session.
#[utoipa::path(operation_id = "refresh_tokens", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "A new pair; the presented refresh token is used up", body = TokenBody),
        Unauthorized, BadRequest, TooLarge, CommonErrors))]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = hash_refresh_token(body.refresh_token.trim());
    let next_token = new_refresh_token();
    let next_hash = hash_refresh_token(&next_token);
    let now = Utc::now();
    let outcome = state
        .query(move |store| store.rotate_refresh(&presented, &next_hash, now))
        .await?;
    match outcome {
        RefreshOutcome::Rotated(session) => {
            let subject = TokenSubject {
                user_id: session.user_id,
                session_id: session.id,
            };
            Ok(HttpResponse::Ok().json(token_pair(&state, None, subject, next_token, now)?))
        }
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            log::warn!("refresh token reuse for user {user_id}: session {session_id} revoked");
            Err(ApiError::Unauthorized(
                "refresh token already used; the session is revoked",
            ))
        }
        RefreshOutcome::Invalid => Err(ApiError::Unauthorized("invalid or expired refresh token")),
    }
}

/// `POST /auth/logout` → 204; the session's tokens stop working at once.
#[utoipa::path(operation_id = "logout", tag = "auth",
    responses((status = 204, description = "The session and its tokens stop working"), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    state
        .query(move |store| store.revoke_session(auth.user_id, auth.session_id, Utc::now()))
        .await?;
    log::info!(
        "user {} logged out (session {})",
        auth.user_id,
        auth.session_id
    );
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /auth/me` → `{user}`.
#[utoipa::path(operation_id = "get_me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeBody), Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/auth/me")]
pub async fn me(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let user = blocking(move || {
        store
            .user(auth.user_id)?
            .ok_or(ApiError::NotFound("user not found"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(MeBody {
        user: user_view(user),
    }))
}

/// `PATCH /auth/me {time_zone}` → `{user}`. The workouts sent in UTC are re-dated in the new
/// zone in the same transaction and appear on the change feed; an unknown zone is a 422 and
/// changes nothing.
#[utoipa::path(operation_id = "update_me", tag = "auth", request_body = PatchMe,
    responses((status = 200, description = "The caller, with the new time zone", body = MeBody),
        BadRequest, Unauthorized, NotFound, TooLarge, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[patch("/auth/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<PatchMe>,
) -> Result<HttpResponse, ApiError> {
    let zone = time_zone(&body.time_zone)?;
    let now = sync_core::time::truncate_to_seconds(Utc::now());
    let store = state.store.clone();
    let change = blocking(move || {
        store
            .set_time_zone(auth.user_id, zone, now)?
            .ok_or(ApiError::NotFound("user not found"))
    })
    .await?;
    log::info!(
        "user {} set time zone {} ({} workouts re-dated)",
        auth.user_id,
        zone.name(),
        change.redated
    );
    Ok(HttpResponse::Ok().json(MeBody {
        user: user_view(change.user),
    }))
}

/// `DELETE /auth/me {password}` → 204: the account and everything it owns are erased in one
/// transaction, and every token of it stops working at once. A wrong password is a 401
/// `invalid_password` that changes nothing; it counts against the account's failed-login
/// budget like a wrong login, so a stolen access token cannot be used to guess the password.
#[utoipa::path(operation_id = "delete_me", tag = "auth", request_body = DeleteAccount,
    responses((status = 204, description = "Erased: the account, its workouts, goals, sessions, tokens, sync history and everything else it owned"),
        (status = 401, description = "Wrong password (`invalid_password`; nothing changed), or a missing or revoked access token (`unauthorized`)", body = ErrorBody),
        (status = 423, description = "Locked after repeated failures", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends"))),
        BadRequest, NotFound, TooLarge, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/auth/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    body: web::Json<DeleteAccount>,
) -> Result<HttpResponse, ApiError> {
    let address = client_address(&req, state.config.trusted_proxy_hops);
    erase_account(&state, auth.user_id, body.into_inner().password, address).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases the account and everything it owns once `password` is its own (checked against
/// the login lockout, so that a stolen session cannot guess it): the API's `DELETE /auth/me`
/// and the dashboard's account deletion both erase here.
pub async fn erase_account(
    state: &AppState,
    user_id: Uuid,
    password: String,
    address: IpAddr,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let store = state.store.clone();
    let credentials = blocking(move || {
        let user = store
            .user(user_id)?
            .ok_or(ApiError::NotFound("user not found"))?;
        store
            .credentials(&user.email)?
            .ok_or(ApiError::NotFound("user not found"))
    })
    .await?;
    let budgets = lockout::budgets(&state.config, &credentials.user.email, address);
    let account = Some((user_id, credentials.password_hash));
    let verdict =
        lockout::guarded_check(&state.store, &state.config, budgets, password, account, now)
            .await?;
    if verdict == Verdict::Wrong {
        log::info!("user {user_id} asked to delete the account with a wrong password");
        return Err(ApiError::WrongPassword);
    }
    if !state
        .query(move |store| store.delete_account(user_id))
        .await?
    {
        return Err(ApiError::NotFound("user not found"));
    }
    log::info!("user {user_id} deleted their account and everything it owned");
    Ok(())
}

/// `GET /auth/sessions` → the caller's active sessions.
#[utoipa::path(operation_id = "list_sessions", tag = "auth",
    responses((status = 200, description = "Active sessions", body = SessionsBody), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/auth/sessions")]
pub async fn sessions(
    state: web::Data<AppState>,
    auth: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let sessions: Vec<Session> = state
        .query(move |store| store.active_sessions(auth.user_id, Utc::now()))
        .await?;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionView {
            current: s.id == auth.session_id,
            id: s.id,
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionsBody { sessions }))
}

/// `DELETE /auth/sessions/{id}` → 204; 404 when it is not the caller's active session.
#[utoipa::path(operation_id = "revoke_session", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The session's id")),
    responses((status = 204, description = "Revoked: its access and refresh tokens stop working"),
        BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/auth/sessions/{id}")]
pub async fn revoke_session(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session_id = super::params::id(&path)?;
    let revoked = state
        .query(move |store| store.revoke_session(auth.user_id, session_id, Utc::now()))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound("session not found"));
    }
    log::info!("user {} revoked session {session_id}", auth.user_id);
    Ok(HttpResponse::NoContent().finish())
}
