//! Webhook subscriptions (`POST`/`GET /webhooks`, `GET`/`DELETE /webhooks/{id}`), a test event
//! (`POST /webhooks/{id}/test`) and the delivery attempts (`GET /webhooks/{id}/deliveries`).
//! Every object is the caller's own: another account's id is a 404. The events themselves are
//! queued by the changes that cause them and delivered by `webhooks::worker`.

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use sync_core::time::truncate_to_seconds;
use sync_core::webhooks::EventSet;
use sync_core::wire::{
    CreateWebhook, CreatedWebhook, DeliveriesBody, DeliveryAttemptView, ErrorBody, EventBody,
    WebhookView,
};
use sync_store::{CreateWebhookOutcome, NewWebhook, Webhook, MAX_ATTEMPTS_PAGE};

use super::params;
use crate::auth::AuthUser;
use crate::error::{blocking, ApiError};
use crate::openapi::{BadRequest, CommonErrors, NotFound, Unauthorized, Unprocessable};
use crate::state::AppState;
use crate::webhooks::signature::new_secret;
use crate::webhooks::target::{TargetError, TargetPolicy};

/// Attempts `GET /webhooks/{id}/deliveries` lists without `limit`; the most is the store's.
const DELIVERIES_DEFAULT: i64 = 50;

fn view(w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id,
        url: w.url.clone(),
        events: w.events.names(),
        created_at: w.created_at,
    }
}

/// `POST /webhooks {url, events}` → 201 with the signing secret, shown this once. The URL is
/// checked as the worker checks it before every delivery: a target on a loopback, private,
/// link-local or metadata address (or a name resolving to one) is a 422, unless the operator
/// allows private targets.
#[utoipa::path(operation_id = "create_webhook", tag = "webhooks",
    request_body(content = CreateWebhook, description = "The URL and the events it receives"),
    responses(
        (status = 201, description = "Subscribed; `secret` is shown only here", body = CreatedWebhook),
        (status = 409, description = "`webhook_limit_reached`: the account has the most subscriptions allowed (10)", body = ErrorBody),
        BadRequest, Unauthorized, Unprocessable, CommonErrors),
    security(("bearer_auth" = [])))]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let policy = TargetPolicy {
        allow_private: state.config.webhooks.allow_private_targets,
    };
    let (url, events) = checked_subscription(&policy, &body).await?;
    let webhook = NewWebhook {
        url,
        events,
        secret: new_secret(),
    };
    let now = truncate_to_seconds(Utc::now());
    let store = state.store.clone();
    let outcome = blocking(move || {
        let outcome = store.create_webhook(auth.user_id, &webhook, now)?;
        Ok((outcome, webhook.secret))
    })
    .await?;
    match outcome {
        (CreateWebhookOutcome::Created(w), secret) => {
            log::info!(
                "user {} subscribed webhook {} to {}",
                auth.user_id,
                w.id,
                w.events.to_stored()
            );
            Ok(HttpResponse::Created().json(CreatedWebhook {
                id: w.id,
                url: w.url,
                events: w.events.names(),
                secret: secret.expose().to_owned(),
                created_at: w.created_at,
            }))
        }
        (CreateWebhookOutcome::LimitReached, _) => Err(ApiError::Conflict {
            code: "webhook_limit_reached",
            message: format!(
                "An account may have at most {} webhook subscriptions.",
                sync_store::MAX_WEBHOOKS_PER_USER
            ),
        }),
    }
}

/// The body's `url` and `events`, each checked, so that a request with two problems hears of
/// both; the URL's host is resolved only once the rest is valid.
async fn checked_subscription(
    policy: &TargetPolicy,
    body: &Value,
) -> Result<(String, EventSet), ApiError> {
    let mut errors = BTreeMap::new();
    let url = match body.get("url") {
        None | Some(Value::Null) => Err("is required".to_owned()),
        Some(Value::String(text)) => policy.parse(text).map_err(|e| e.to_string()),
        Some(_) => Err("must be a string".to_owned()),
    };
    let events = EventSet::from_names(body.get("events").unwrap_or(&Value::Null));
    if let Err(message) = &url {
        errors.insert("url".to_owned(), vec![message.clone()]);
    }
    if let Err(e) = &events {
        errors.extend(e.errors.clone());
    }
    let (Ok(url), Ok(events)) = (url, events) else {
        return Err(invalid_subscription(errors));
    };
    let checked = policy.check(url.as_str()).await.map_err(|e: TargetError| {
        invalid_subscription(BTreeMap::from([("url".to_owned(), vec![e.to_string()])]))
    })?;
    Ok((checked.to_string(), events))
}

fn invalid_subscription(errors: BTreeMap<String, Vec<String>>) -> ApiError {
    ApiError::Unprocessable {
        code: "validation_failed",
        message: "The webhook subscription is not valid.".into(),
        errors: Some(errors),
    }
}

/// `GET /webhooks`: the caller's subscriptions, oldest first, without their secrets.
#[utoipa::path(operation_id = "list_webhooks", tag = "webhooks",
    responses((status = 200, description = "The subscriptions, oldest first", body = [WebhookView]), Unauthorized, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/webhooks")]
pub async fn list(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let webhooks = state
        .query(move |store| store.webhooks(auth.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(webhooks.iter().map(view).collect::<Vec<_>>()))
}

/// `GET /webhooks/{id}`: one subscription, without its secret.
#[utoipa::path(operation_id = "get_webhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id")),
    responses((status = 200, description = "The subscription", body = WebhookView), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/webhooks/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let webhook = state
        .query(move |store| store.webhook(auth.user_id, id))
        .await?
        .ok_or(ApiError::NotFound("webhook not found"))?;
    Ok(HttpResponse::Ok().json(view(&webhook)))
}

/// `DELETE /webhooks/{id}` → 204: the subscription, its pending deliveries and its attempts
/// are gone.
#[utoipa::path(operation_id = "delete_webhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id")),
    responses((status = 204, description = "Unsubscribed"), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[delete("/webhooks/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    if !state
        .query(move |store| store.delete_webhook(auth.user_id, id))
        .await?
    {
        return Err(ApiError::NotFound("webhook not found"));
    }
    log::info!("user {} deleted webhook {id}", auth.user_id);
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /webhooks/{id}/test` → 202: a `webhook.test` event is queued for this subscription
/// and sent by the worker at once (delivered, retried and recorded like any other event).
#[utoipa::path(operation_id = "test_webhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id")),
    responses((status = 202, description = "The test event as it will be sent", body = EventBody), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[post("/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let now = truncate_to_seconds(Utc::now());
    let event = state
        .query(move |store| store.queue_test_event(auth.user_id, id, now))
        .await?
        .ok_or(ApiError::NotFound("webhook not found"))?;
    log::info!(
        "user {} queued test event {} for webhook {id}",
        auth.user_id,
        event.id
    );
    Ok(HttpResponse::Accepted().json(event))
}

/// `GET /webhooks/{id}/deliveries` parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// How many attempts, 1–200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// `GET /webhooks/{id}/deliveries`: every attempt to deliver to this subscription, newest
/// first: the event, the attempt number, the status (or why none came) and when it is retried.
#[utoipa::path(operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id"), DeliveriesParams),
    responses((status = 200, description = "Attempts, newest first", body = DeliveriesBody), BadRequest, Unauthorized, NotFound, CommonErrors),
    security(("bearer_auth" = [])))]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    query: web::Query<DeliveriesParams>,
) -> Result<HttpResponse, ApiError> {
    let id = params::id(&path)?;
    let limit = params::limit(
        query.limit.as_deref(),
        DELIVERIES_DEFAULT,
        MAX_ATTEMPTS_PAGE,
    )?;
    let attempts = state
        .query(move |store| store.webhook_attempts(auth.user_id, id, limit))
        .await?
        .ok_or(ApiError::NotFound("webhook not found"))?;
    Ok(HttpResponse::Ok().json(DeliveriesBody {
        deliveries: attempts
            .into_iter()
            .map(|a| DeliveryAttemptView {
                id: a.id,
                event_id: a.event_id,
                event_type: a.event_type,
                attempt: a.attempt,
                attempted_at: a.started_at,
                duration_ms: a.duration_ms,
                success: a.status_code.is_some_and(|s| (200..300).contains(&s)),
                status_code: a.status_code,
                error: a.error,
                next_attempt_at: a.next_attempt_at,
            })
            .collect(),
    }))
}
