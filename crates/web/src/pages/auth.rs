//! Signing in, creating an account and signing out. Credentials go to the host, so the API's
//! rules hold here too (the same accounts, password rules, lockout and rate limit); a browser
//! that signs in gets a session of the `sessions` table, named by a signed cookie.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::fields::{zone_options, FieldMessages, ZoneOption};
use super::{render, see_other, user_agent, Chrome};
use crate::context::WebContext;
use crate::csrf;
use crate::error::PageError;
use crate::host::{AccountError, NewAccount, SignInRequest, SignedIn};
use crate::session::{self, Viewer};

pub(crate) use crate::respond::SIGN_IN_PATH;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    form_csrf: String,
    email: String,
    problem: Option<String>,
    errors: FieldMessages,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    chrome: Chrome,
    form_csrf: String,
    email: String,
    zones: Vec<ZoneOption>,
    problem: Option<String>,
    errors: FieldMessages,
}

/// The sign-in form as posted (missing fields read as empty, and are refused as such).
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// The registration form as posted.
#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    time_zone: String,
}

/// A page of the signed-out part, with the browser's CSRF nonce cookie set when it had none.
fn anonymous_page(
    req: &HttpRequest,
    context: &WebContext,
    page: impl FnOnce(String) -> HttpResponse,
) -> HttpResponse {
    let (token, nonce_cookie) = csrf::anonymous_token(req, context.settings());
    let mut response = page(token);
    if let Some(cookie) = nonce_cookie {
        // Adding a cookie to a response that was just built cannot fail.
        let _ = response.add_cookie(&cookie);
    }
    response
}

fn sign_in_form(
    status: StatusCode,
    token: String,
    email: String,
    problem: Option<String>,
    errors: FieldMessages,
) -> HttpResponse {
    let view = SignInPage {
        chrome: Chrome::anonymous("Sign in"),
        form_csrf: token,
        email,
        problem,
        errors,
    };
    render(status, &view)
}

fn register_form(
    status: StatusCode,
    token: String,
    email: String,
    zone: &str,
    problem: Option<String>,
    errors: FieldMessages,
) -> HttpResponse {
    let view = RegisterPage {
        chrome: Chrome::anonymous("Create an account"),
        form_csrf: token,
        email,
        zones: zone_options(zone),
        problem,
        errors,
    };
    render(status, &view)
}

/// `GET /login`.
#[get("/login")]
pub(crate) async fn sign_in_page(req: HttpRequest, context: web::Data<WebContext>) -> HttpResponse {
    anonymous_page(&req, &context, |token| {
        sign_in_form(
            StatusCode::OK,
            token,
            String::new(),
            None,
            FieldMessages::default(),
        )
    })
}

/// `POST /login`: to the dashboard with a new session, or the form again saying why not.
#[post("/login")]
pub(crate) async fn sign_in(
    req: HttpRequest,
    context: web::Data<WebContext>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let SignInForm {
        csrf: token,
        email,
        password,
    } = form.into_inner();
    csrf::check_anonymous(&req, context.settings(), &token)?;
    let mut errors = FieldMessages::default();
    if email.trim().is_empty() {
        errors.add("email", "Enter your email address.");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password.");
    }
    if !errors.is_empty() {
        return Ok(anonymous_page(&req, &context, |t| {
            sign_in_form(StatusCode::UNPROCESSABLE_ENTITY, t, email, None, errors)
        }));
    }
    let request = SignInRequest {
        email: email.clone(),
        password,
        user_agent: user_agent(&req),
        address: context.host().client_address(&req),
    };
    let (status, problem, errors) = match context.host().sign_in(request).await {
        Ok(signed_in) => return Ok(signed_in_response(&context, signed_in)),
        Err(error) => refusal(error)?,
    };
    Ok(anonymous_page(&req, &context, |t| {
        sign_in_form(status, t, email, Some(problem), errors)
    }))
}

/// The answer to a sign-in or registration that the form can say (a lock, a taken email), or
/// the error page for the rest.
fn refusal(error: AccountError) -> Result<(StatusCode, String, FieldMessages), PageError> {
    match error {
        AccountError::Locked { retry_after } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins: this account is locked for {} more minute(s).",
                retry_after.div_ceil(60)
            ),
            FieldMessages::default(),
        )),
        AccountError::EmailTaken => {
            let mut errors = FieldMessages::default();
            errors.add(
                "email",
                "An account with this email already exists; sign in instead.",
            );
            Ok((
                StatusCode::CONFLICT,
                "Check the fields marked below.".to_owned(),
                errors,
            ))
        }
        AccountError::Refused(message) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
            FieldMessages::default(),
        )),
        AccountError::Unavailable { .. } => Err(PageError::Unavailable),
        AccountError::Internal(detail) => Err(PageError::Internal(detail)),
        AccountError::InvalidCredentials => Ok((
            StatusCode::UNAUTHORIZED,
            "Wrong email or password.".to_owned(),
            FieldMessages::default(),
        )),
        AccountError::Invalid(fields) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            "Check the fields marked below.".to_owned(),
            FieldMessages::from_errors(fields, |f| f),
        )),
    }
}

/// To the dashboard, with the new session's cookie.
fn signed_in_response(context: &WebContext, signed_in: SignedIn) -> HttpResponse {
    log::info!(
        "user {} signed in to the dashboard (session {})",
        signed_in.user_id,
        signed_in.session_id
    );
    let mut response = see_other("/");
    let cookie = session::cookie(context.settings(), signed_in.session_id);
    let _ = response.add_cookie(&cookie);
    response
}

/// `GET /register`.
#[get("/register")]
pub(crate) async fn register_page(
    req: HttpRequest,
    context: web::Data<WebContext>,
) -> HttpResponse {
    anonymous_page(&req, &context, |token| {
        register_form(
            StatusCode::OK,
            token,
            String::new(),
            "UTC",
            None,
            FieldMessages::default(),
        )
    })
}

/// `POST /register`: a new account, signed in, or the form again with what to fix.
#[post("/register")]
pub(crate) async fn register(
    req: HttpRequest,
    context: web::Data<WebContext>,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    let RegisterForm {
        csrf: token,
        email,
        password,
        time_zone,
    } = form.into_inner();
    csrf::check_anonymous(&req, context.settings(), &token)?;
    let zone = if time_zone.trim().is_empty() {
        "UTC".to_owned()
    } else {
        time_zone.trim().to_owned()
    };
    let account = NewAccount {
        email: email.clone(),
        password,
        time_zone: Some(zone.clone()),
        user_agent: user_agent(&req),
    };
    let (status, problem, errors) = match context.host().register(account).await {
        Ok(signed_in) => return Ok(signed_in_response(&context, signed_in)),
        Err(error) => refusal(error)?,
    };
    Ok(anonymous_page(&req, &context, |t| {
        register_form(status, t, email, &zone, Some(problem), errors)
    }))
}

/// The sign-out form.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /logout`: the browser's session ends (for the app's session list too).
#[post("/logout")]
pub(crate) async fn sign_out(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    context
        .store(move |store| store.revoke_session(viewer.user_id, viewer.session_id, Utc::now()))
        .await?;
    log::info!(
        "user {} signed out of the dashboard (session {})",
        viewer.user_id,
        viewer.session_id
    );
    let mut response = see_other(SIGN_IN_PATH);
    let _ = response.add_cookie(&session::cleared_cookie(context.settings()));
    Ok(response)
}
