//! Webhooks: the subscription bodies (`POST /webhooks`, `GET /webhooks`, `GET
//! /webhooks/{id}`), the delivery attempts (`GET /webhooks/{id}/deliveries`), and the body of
//! every event sent (`{id, type, created_at, data}`) with each event's `data`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::history::SyncView;
use super::workouts::WorkoutView;
use crate::running::{Achievement, Goal};
use crate::time::serde_format;

/// `POST /webhooks`: the URL to send to and the events it receives.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWebhook {
    /// An `http` or `https` URL on a public address, at most 2048 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
    /// Distinct event names: `workout.created`, `workout.updated`, `workout.deleted`,
    /// `sync.completed`, `goal.reached`, `achievement.unlocked`; each at most once.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 6,
        value_type = Vec<WebhookEventName>))]
    pub events: Vec<String>,
}

/// The name of a subscribable event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookEventName {
    /// A workout was stored for the first time.
    #[serde(rename = "workout.created")]
    WorkoutCreated,
    /// A workout's content changed.
    #[serde(rename = "workout.updated")]
    WorkoutUpdated,
    /// A workout was deleted.
    #[serde(rename = "workout.deleted")]
    WorkoutDeleted,
    /// A sync was applied.
    #[serde(rename = "sync.completed")]
    SyncCompleted,
    /// A year's running days reached its target.
    #[serde(rename = "goal.reached")]
    GoalReached,
    /// An achievement was unlocked.
    #[serde(rename = "achievement.unlocked")]
    AchievementUnlocked,
}

/// A subscription as listed: everything but its secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The subscription's id.
    pub id: Uuid,
    /// Where events are sent.
    pub url: String,
    /// The events it receives, in catalogue order.
    pub events: Vec<String>,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
}

/// `POST /webhooks` → 201: the subscription with its signing secret, shown this once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWebhook {
    /// The subscription's id.
    pub id: Uuid,
    /// Where events are sent.
    pub url: String,
    /// The events it receives, in catalogue order.
    pub events: Vec<String>,
    /// The Standard Webhooks signing secret, `whsec_` + base64 of 32 random bytes. Shown only
    /// in this response.
    #[cfg_attr(feature = "openapi", schema(pattern = "^whsec_[A-Za-z0-9+/]+={0,2}$"))]
    pub secret: String,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
}

/// One delivery attempt: one HTTP request to the subscription's URL (or the refusal to make
/// it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttemptView {
    /// The attempt's id.
    pub id: Uuid,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// 1 for the first attempt of this event to this subscription.
    pub attempt: u32,
    /// When the request was made (whole seconds, UTC).
    #[serde(serialize_with = "serde_format::server")]
    pub attempted_at: DateTime<Utc>,
    /// How long it took until the answer, or the failure, in milliseconds.
    pub duration_ms: u64,
    /// The receiver's HTTP status; null when none came (timeout, connection error, refused
    /// target).
    pub status_code: Option<u16>,
    /// Why it failed when no status came, or the status was not 2xx.
    pub error: Option<String>,
    /// Whether the receiver answered 2xx (the delivery is done).
    pub success: bool,
    /// When the next attempt is due; null when this one ended the delivery (success, or the
    /// last of the schedule).
    #[serde(serialize_with = "serde_format::server_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// `GET /webhooks/{id}/deliveries`: the subscription's delivery attempts, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveriesBody {
    /// Newest first.
    pub deliveries: Vec<DeliveryAttemptView>,
}

/// The body of every webhook request: `{id, type, created_at, data}`. `id` is also the
/// `webhook-id` header; `data` depends on `type` (the `*EventData` schemas).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    /// The event's id: the same on every attempt and for every subscription it goes to.
    pub id: Uuid,
    /// The event's type, e.g. `workout.created` or `webhook.test`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change happened (whole seconds, UTC).
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
    /// What happened; its shape depends on `type`.
    pub data: Value,
}

/// `data` of `workout.created`, `workout.updated` and `workout.deleted`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutEventData {
    /// The workout as served after the change (a deleted one with its last content).
    pub workout: WorkoutView,
    /// Its position on the change feed.
    pub change_seq: i64,
    /// The sync that made the change; null for an edit or delete through `/workouts/{id}`.
    pub sync_id: Option<Uuid>,
}

/// `data` of `sync.completed`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCompletedData {
    /// The sync, as `GET /syncs/{sync_id}` serves it.
    pub sync: SyncView,
}

/// `data` of `goal.reached`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalReachedData {
    /// The year's goal (the default one when none is set).
    pub goal: Goal,
    /// Running days in the year.
    pub days_completed: u32,
    /// The `start_time` (whole seconds, UTC) of the first workout of the target-th running day.
    #[serde(serialize_with = "serde_format::server_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reached_at: Option<DateTime<Utc>>,
}

/// `data` of `achievement.unlocked`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchievementUnlockedData {
    /// The year it belongs to.
    pub year: i32,
    /// The achievement, as `GET /goals/{year}/progress` serves it.
    pub achievement: Achievement,
}

/// `data` of `webhook.test`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestEventData {
    /// The subscription it was sent to.
    pub webhook_id: Uuid,
    /// A sentence saying what this is.
    pub message: String,
}
