//! Outbound webhooks in the store: subscriptions, the outbox of deliveries (written by the
//! sync, the workout edits and the goal changes in their own transactions, see
//! `backend/queries/webhooks.rs`), and what the delivery worker claims and records.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sync_core::webhooks::EventSet;
use sync_core::wire::EventBody;
use uuid::Uuid;

use crate::backend::{with_conn, with_write_conn};
use crate::{Store, StoreError};

/// Most subscriptions one account may have.
pub const MAX_WEBHOOKS_PER_USER: i64 = 10;
/// Most attempts [`Store::webhook_attempts`] returns; a larger `limit` is clamped to it.
pub const MAX_ATTEMPTS_PAGE: i64 = 200;
/// Most deliveries one [`Store::claim_deliveries`] takes.
pub const MAX_CLAIM: i64 = 100;

/// A subscription's signing secret. Its `Debug` never shows it, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps the secret's text (`whsec_` + base64).
    pub fn new(text: String) -> WebhookSecret {
        WebhookSecret(text)
    }

    /// The secret's text, for signing and for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// The checked target URL.
    pub url: String,
    /// The events it receives (not empty).
    pub events: EventSet,
    /// Its signing secret.
    pub secret: WebhookSecret,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: Uuid,
    /// Its account.
    pub user_id: Uuid,
    /// Where events go.
    pub url: String,
    /// The events it receives.
    pub events: EventSet,
    /// Its signing secret.
    pub secret: WebhookSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// What [`Store::create_webhook`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateWebhookOutcome {
    /// Stored.
    Created(Webhook),
    /// The account already has [`MAX_WEBHOOKS_PER_USER`] subscriptions; nothing stored.
    LimitReached,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The attempt's id.
    pub id: Uuid,
    /// The event (the `webhook-id`).
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// 1 for the first attempt of the delivery.
    pub attempt: u32,
    /// When it was made.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
    /// The receiver's status, when one came.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// When the retry is due; `None` when this attempt ended the delivery.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A delivery a worker holds until its claim lapses: the message and where it goes.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The delivery's id.
    pub id: Uuid,
    /// The claim: the result counts only under it.
    pub claim_token: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// Its account.
    pub user_id: Uuid,
    /// The event's id: the `webhook-id` header.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The exact body to send.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts_made: u32,
    /// The subscription's URL.
    pub url: String,
    /// The subscription's signing secret.
    pub secret: WebhookSecret,
}

/// The result of one attempt, to record under its claim.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// When the request was made.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// The receiver's status, when one came.
    pub status_code: Option<u16>,
    /// Why it failed (a status that is not 2xx, a timeout, a refused target).
    pub error: Option<String>,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// When to try again; `None` ends the delivery (delivered, or the schedule ran out).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a subscription, unless the account has [`MAX_WEBHOOKS_PER_USER`] already
    /// (counted under the user's lock, so concurrent requests cannot pass the limit together).
    pub fn create_webhook(
        &self,
        user_id: Uuid,
        webhook: &NewWebhook,
        now: DateTime<Utc>,
    ) -> Result<CreateWebhookOutcome, StoreError> {
        with_write_conn!(self, |conn, queries| queries::webhooks::create(
            conn, user_id, webhook, now
        ))
    }

    /// The account's subscriptions, oldest first (at most [`MAX_WEBHOOKS_PER_USER`]).
    pub fn webhooks(&self, user_id: Uuid) -> Result<Vec<Webhook>, StoreError> {
        with_conn!(self, |conn, queries| queries::webhooks::list(conn, user_id))
    }

    /// One of the account's subscriptions; `None` when absent or another account's.
    pub fn webhook(&self, user_id: Uuid, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        with_conn!(self, |conn, queries| queries::webhooks::get(
            conn, user_id, id
        ))
    }

    /// Deletes one of the account's subscriptions with its deliveries and attempts; `false`
    /// when absent or another account's.
    pub fn delete_webhook(&self, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::webhooks::delete(
            conn, user_id, id
        ))
    }

    /// Queues a `webhook.test` event for one of the account's subscriptions, due at once;
    /// `None` when the subscription is absent or another account's.
    pub fn queue_test_event(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<EventBody>, StoreError> {
        with_write_conn!(self, |conn, queries| queries::webhooks::queue_test(
            conn, user_id, id, now
        ))
    }

    /// The attempts of one of the account's subscriptions, newest first (`limit` clamped to
    /// 1–[`MAX_ATTEMPTS_PAGE`]); `None` when the subscription is absent or another account's.
    pub fn webhook_attempts(
        &self,
        user_id: Uuid,
        id: Uuid,
        limit: i64,
    ) -> Result<Option<Vec<DeliveryAttempt>>, StoreError> {
        let limit = limit.clamp(1, MAX_ATTEMPTS_PAGE);
        with_conn!(self, |conn, queries| queries::webhooks::attempts(
            conn, user_id, id, limit
        ))
    }

    /// Claims up to `limit` (at most [`MAX_CLAIM`]) deliveries due at `now` for `lease`: no
    /// other claim takes them until it lapses. On PostgreSQL the due rows are locked with
    /// `FOR UPDATE SKIP LOCKED`, so instances claiming at once take different rows; on SQLite
    /// the claim is one write transaction.
    pub fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let limit = limit.clamp(1, MAX_CLAIM);
        with_write_conn!(self, |conn, queries| queries::webhooks::claim(
            conn, now, lease, limit
        ))
    }

    /// Records an attempt of a claimed delivery and what follows (done, or due again);
    /// `false`, recording nothing, when the claim lapsed and another worker took it, or the
    /// subscription was deleted meanwhile.
    pub fn record_attempt(
        &self,
        delivery: &ClaimedDelivery,
        result: &AttemptResult,
    ) -> Result<bool, StoreError> {
        with_write_conn!(self, |conn, queries| queries::webhooks::record_attempt(
            conn, delivery, result
        ))
    }

    /// Gives back the deliveries of a claim not yet recorded, due at `now` (a worker that
    /// stops before trying them); returns how many.
    pub fn release_claim(
        &self,
        claim_token: Uuid,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        with_write_conn!(self, |conn, queries| queries::webhooks::release(
            conn,
            claim_token,
            now
        ))
    }
}
