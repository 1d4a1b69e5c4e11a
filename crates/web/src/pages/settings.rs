//! `/settings`: this year's and next year's goal, the time zone, and the sessions (devices and
//! browsers), each with a revoke button.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Datelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use sync_core::running::{parse_time_zone, today_in, validate_goal, Goal};
use sync_core::time::truncate_to_seconds;
use uuid::Uuid;

use super::auth::{CsrfForm, SIGN_IN_PATH};
use super::fields::{zone_options, ZoneOption};
use super::{render, see_other, Chrome, Section};
use crate::context::WebContext;
use crate::csrf;
use crate::error::PageError;
use crate::format;
use crate::host::IssuedToken;
use crate::session::{self, Viewer};

/// A year's goal form.
struct GoalRow {
    year: i32,
    /// The target as stored, or the server's default.
    target_days: u16,
    is_default: bool,
    /// What the input shows: the target, or what was typed when it was refused.
    value: String,
    error: Option<String>,
}

/// A session as the list shows it.
struct SessionRow {
    id: String,
    device: String,
    opened: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    email: String,
    notice: Option<&'static str>,
    goals: Vec<GoalRow>,
    zones: Vec<ZoneOption>,
    zone_error: Option<String>,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    token_name: String,
    token_error: Option<String>,
    issued: Option<IssuedToken>,
    deletion_error: Option<String>,
}

/// What the page is shown with after a post that was refused (or, for a new ingest token,
/// that made something to show once).
#[derive(Default)]
pub(crate) struct Refused {
    pub goal: Option<(i32, String, String)>,
    pub zone: Option<(String, String)>,
    /// The token name typed, and what is wrong with it.
    pub token: Option<(String, String)>,
    /// A token just issued: its secret is on this page and nowhere else.
    pub issued: Option<IssuedToken>,
    /// Why the account was not deleted.
    pub deletion: Option<String>,
}

/// An ingest token as the list shows it.
struct TokenRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

/// `?saved=` after a post.
#[derive(Deserialize)]
pub(crate) struct SavedQuery {
    saved: Option<String>,
}

fn notice(saved: Option<&str>) -> Option<&'static str> {
    match saved? {
        "goal" => Some("Goal saved."),
        "zone" => Some("Time zone saved: your runs are counted on their local days."),
        "session" => Some("Session revoked: that device is signed out."),
        "token" => Some("Ingest token revoked: deliveries with it are refused from now on."),
        _ => None,
    }
}

pub(crate) async fn settings_page(
    context: &WebContext,
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<&'static str>,
    refused: Refused,
) -> Result<HttpResponse, PageError> {
    let user_id = viewer.user_id;
    let now = Utc::now();
    let (user, goals, sessions, tokens) = context
        .store(move |store| {
            Ok((
                store.user(user_id)?,
                store.goals(user_id)?,
                store.active_sessions(user_id, now)?,
                store.ingest_tokens(user_id)?,
            ))
        })
        .await?;
    let user = user.ok_or(PageError::SignInRequired)?;
    let zone = parse_time_zone(&user.time_zone).unwrap_or(Tz::UTC);
    let this_year = today_in(zone, now).year();
    let default_target = context.settings().goal_default_target;
    let goal_rows = [this_year, this_year + 1]
        .into_iter()
        .map(|year| {
            let stored = goals.iter().find(|g| g.year == year);
            let goal = stored
                .cloned()
                .unwrap_or_else(|| Goal::default_for(year, default_target));
            let (value, error) = match &refused.goal {
                Some((y, typed, message)) if *y == year => (typed.clone(), Some(message.clone())),
                _ => (goal.target_days.to_string(), None),
            };
            GoalRow {
                year,
                target_days: goal.target_days,
                is_default: stored.is_none(),
                value,
                error,
            }
        })
        .collect();
    let (selected_zone, zone_error) = match refused.zone {
        Some((typed, message)) => (typed, Some(message)),
        None => (user.time_zone.clone(), None),
    };
    let sessions = sessions
        .iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: s
                .user_agent
                .clone()
                .filter(|ua| !ua.trim().is_empty())
                .unwrap_or_else(|| "Unknown device".to_owned()),
            opened: format::local_time(s.created_at, zone),
            last_used: format::local_time(s.last_used_at, zone),
            current: s.id == viewer.session_id,
        })
        .collect();
    let tokens = tokens
        .iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name.clone(),
            created: format::local_time(t.created_at, zone),
            last_used: t
                .last_used_at
                .map(|at| format::local_time(at, zone))
                .unwrap_or_else(|| "never".to_owned()),
        })
        .collect();
    let (token_name, token_error) = match refused.token {
        Some((typed, message)) => (typed, Some(message)),
        None => (String::new(), None),
    };
    let view = SettingsPage {
        chrome: Chrome::signed_in(context, viewer, Section::Settings, "Settings"),
        email: user.email,
        notice,
        goals: goal_rows,
        zones: zone_options(&selected_zone),
        zone_error,
        sessions,
        tokens,
        token_name,
        token_error,
        issued: refused.issued,
        deletion_error: refused.deletion,
    };
    Ok(render(status, &view))
}

/// `GET /settings`.
#[get("/settings")]
pub(crate) async fn page(
    context: web::Data<WebContext>,
    viewer: Viewer,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = notice(query.saved.as_deref());
    settings_page(
        &context,
        &viewer,
        StatusCode::OK,
        notice,
        Refused::default(),
    )
    .await
}

/// The goal form as posted.
#[derive(Deserialize)]
pub(crate) struct GoalForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    target_days: String,
}

/// `POST /settings/goal`: the year's target, or the page again saying what is wrong with it.
#[post("/settings/goal")]
pub(crate) async fn set_goal(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    form: web::Form<GoalForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let year: i64 = form
        .year
        .trim()
        .parse()
        .map_err(|_| PageError::BadRequest("The goal's year is missing.".into()))?;
    let typed = form.target_days.trim().to_owned();
    let checked = match typed.parse::<i64>() {
        Ok(target) => validate_goal(year, target).map_err(|e| {
            let fields = e.field_errors();
            fields
                .get("target_days")
                .or_else(|| fields.get("year"))
                .and_then(|m| m.first().cloned())
                .unwrap_or_else(|| "is not a valid goal".to_owned())
        }),
        Err(_) => Err("must be a whole number of days".to_owned()),
    };
    let valid = match checked {
        Ok(valid) => valid,
        Err(message) => {
            let refused = Refused {
                goal: Some((
                    i32::try_from(year).unwrap_or_default(),
                    typed,
                    format!("The target {message}."),
                )),
                ..Refused::default()
            };
            return settings_page(
                &context,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                refused,
            )
            .await;
        }
    };
    let now = truncate_to_seconds(Utc::now());
    let user_id = viewer.user_id;
    let goal = context
        .store(move |store| store.put_goal(user_id, valid, now))
        .await?;
    log::info!(
        "user {user_id} set the goal of {} to {} days on the dashboard",
        goal.year,
        goal.target_days
    );
    Ok(see_other("/settings?saved=goal"))
}

/// The time zone form as posted.
#[derive(Deserialize)]
pub(crate) struct ZoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    time_zone: String,
}

/// `POST /settings/time-zone`: the zone (the workouts sent in UTC are re-dated in it, as with
/// `PATCH /auth/me`), or the page again saying it is unknown.
#[post("/settings/time-zone")]
pub(crate) async fn set_time_zone(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    form: web::Form<ZoneForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let typed = form.time_zone.trim().to_owned();
    let Ok(zone) = parse_time_zone(&typed) else {
        let refused = Refused {
            zone: Some((typed, "Pick a time zone from the list.".to_owned())),
            ..Refused::default()
        };
        return settings_page(
            &context,
            &viewer,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            refused,
        )
        .await;
    };
    let now = truncate_to_seconds(Utc::now());
    let user_id = viewer.user_id;
    let change = context
        .store(move |store| store.set_time_zone(user_id, zone, now))
        .await?
        .ok_or(PageError::SignInRequired)?;
    log::info!(
        "user {user_id} set time zone {} on the dashboard ({} workouts re-dated)",
        zone.name(),
        change.redated
    );
    Ok(see_other("/settings?saved=zone"))
}

/// `POST /settings/sessions/{id}/revoke`: that session's tokens stop working at once; revoking
/// this browser's own signs it out.
#[post("/settings/sessions/{id}/revoke")]
pub(crate) async fn revoke_session(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let session_id = Uuid::try_parse(&path).map_err(|_| PageError::NotFound)?;
    let user_id = viewer.user_id;
    let revoked = context
        .store(move |store| store.revoke_session(user_id, session_id, Utc::now()))
        .await?;
    if !revoked {
        return Err(PageError::NotFound);
    }
    log::info!("user {user_id} revoked session {session_id} on the dashboard");
    if session_id == viewer.session_id {
        let mut response = see_other(SIGN_IN_PATH);
        let _ = response.add_cookie(&session::cleared_cookie(context.settings()));
        return Ok(response);
    }
    Ok(see_other("/settings?saved=session"))
}
