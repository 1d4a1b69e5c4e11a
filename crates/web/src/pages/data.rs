//! The runner's data in settings: the export download, ingest tokens for the Health Auto
//! Export app, and erasing the account. The rules are the API's (the host's): the same export,
//! the same token limit and secret shown once, the same password check under the lockout.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::CsrfForm;
use super::settings::{settings_page, Refused};
use super::{ok, see_other, Chrome};
use crate::context::WebContext;
use crate::csrf;
use crate::error::PageError;
use crate::host::AccountError;
use crate::session::{self, Viewer};

/// `?format=` of the download.
#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    format: Option<String>,
}

/// `GET /settings/export?format=json|csv`: the API's export, as a download.
#[get("/settings/export")]
pub(crate) async fn export(
    context: web::Data<WebContext>,
    viewer: Viewer,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, PageError> {
    context
        .host()
        .export(viewer.user_id, query.into_inner().format)
        .await
        .map_err(PageError::from)
}

/// The new token form.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /settings/ingest-tokens`: the settings page again, with the new token's secret shown
/// this once (never in a URL), or what is wrong with the name.
#[post("/settings/ingest-tokens")]
pub(crate) async fn issue_token(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let TokenForm { name, .. } = form.into_inner();
    let outcome = context
        .host()
        .issue_ingest_token(viewer.user_id, name.clone())
        .await;
    let (status, refused) = match outcome {
        Ok(issued) => {
            log::info!(
                "user {} issued ingest token {} on the dashboard",
                viewer.user_id,
                issued.id
            );
            let refused = Refused {
                issued: Some(issued),
                ..Refused::default()
            };
            (StatusCode::CREATED, refused)
        }
        Err(AccountError::Invalid(fields)) => {
            let message = fields
                .get("name")
                .and_then(|m| m.first().cloned())
                .unwrap_or_else(|| "is not a valid name".to_owned());
            let refused = Refused {
                token: Some((name, format!("The name {message}."))),
                ..Refused::default()
            };
            (StatusCode::UNPROCESSABLE_ENTITY, refused)
        }
        Err(AccountError::Refused(message)) => {
            let refused = Refused {
                token: Some((name, message)),
                ..Refused::default()
            };
            (StatusCode::CONFLICT, refused)
        }
        Err(other) => return Err(other.into()),
    };
    settings_page(&context, &viewer, status, None, refused).await
}

/// `POST /settings/ingest-tokens/{id}/revoke`: the token stops working at once.
#[post("/settings/ingest-tokens/{id}/revoke")]
pub(crate) async fn revoke_token(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let id = Uuid::try_parse(&path).map_err(|_| PageError::NotFound)?;
    let user_id = viewer.user_id;
    let revoked = context
        .store(move |store| store.revoke_ingest_token(user_id, id))
        .await?;
    if !revoked {
        return Err(PageError::NotFound);
    }
    log::info!("user {user_id} revoked ingest token {id} on the dashboard");
    Ok(see_other("/settings?saved=token"))
}

/// The account deletion form.
#[derive(Deserialize)]
pub(crate) struct DeletionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Template)]
#[template(path = "deleted.html")]
struct DeletedPage {
    chrome: Chrome,
}

/// `POST /settings/delete-account`: everything the account owns is erased and every session
/// of it ends; or the settings page again saying why not.
#[post("/settings/delete-account")]
pub(crate) async fn delete_account(
    req: HttpRequest,
    context: web::Data<WebContext>,
    viewer: Viewer,
    form: web::Form<DeletionForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&req, context.settings(), &viewer, &form.csrf)?;
    let DeletionForm {
        password, confirm, ..
    } = form.into_inner();
    let refusal = if confirm != "yes" {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Tick the box to confirm that everything is to be erased.".to_owned(),
        )
    } else {
        match context
            .host()
            .delete_account(
                viewer.user_id,
                password,
                context.host().client_address(&req),
            )
            .await
        {
            Ok(()) => {
                let mut response = ok(&DeletedPage {
                    chrome: Chrome::anonymous("Account deleted"),
                });
                let _ = response.add_cookie(&session::cleared_cookie(context.settings()));
                return Ok(response);
            }
            Err(AccountError::InvalidCredentials) => (
                StatusCode::UNAUTHORIZED,
                "That is not your password; nothing was deleted.".to_owned(),
            ),
            Err(AccountError::Locked { retry_after }) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many wrong passwords: try again in {} minute(s).",
                    retry_after.div_ceil(60)
                ),
            ),
            Err(other) => return Err(other.into()),
        }
    };
    let refused = Refused {
        deletion: Some(refusal.1),
        ..Refused::default()
    };
    settings_page(&context, &viewer, refusal.0, None, refused).await
}
