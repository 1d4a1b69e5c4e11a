//! The wire contract (`../shared/CONTRACT.md`) as types: every request and response body of the
//! API, written once. The server returns these types, the client (`sync-client`) reads and sends
//! the same ones, and the OpenAPI document derives its schemas from them (behind the `openapi`
//! feature). Adding a field to the contract is adding it here.
//!
//! The running-days bodies (goals, progress, the dashboard and insights) are defined beside
//! the rules that compute them, in [`crate::running`], and listed here with the rest.
//!
//! Serialising follows the contract to the letter: `snake_case` keys, integers as integers, and
//! server-generated timestamps with whole seconds (`2024-01-15T09:00:01Z`).
//!
//! ```
//! use sync_core::wire::ErrorBody;
//!
//! let body: ErrorBody = serde_json::from_str(
//!     r#"{"success": false, "error": "unauthorized", "message": "invalid token"}"#,
//! ).unwrap();
//! assert_eq!(body.error, "unauthorized");
//! assert_eq!(body.errors, None);
//! ```

mod auth;
mod errors;
mod export;
mod history;
mod ingest;
mod operations;
mod sync;
mod webhooks;
mod workouts;

pub use crate::running::{
    Achievement, ChartPoint, DashboardBody, DashboardStats, Goal, GoalProgressBody,
    GoalWithProgressBody, InsightsBody, MonthlyEntry, PaceMetrics, PacePoint, PersonalBests,
    Progress, SetGoalBody, Streaks, WeeklyEntry,
};
pub use auth::{
    Credentials, DeleteAccount, MeBody, PatchMe, RefreshRequest, Registration, SessionView,
    SessionsBody, TokenBody, UserView,
};
pub use errors::{ErrorBody, FieldErrors};
pub use export::{csv_row, ExportBody, EXPORT_CSV_HEADER};
pub use history::{SyncHistoryBody, SyncRecordBody, SyncStatusBody, SyncView};
pub use ingest::{IngestResponse, IngestTokenCreated, IngestTokenView, NewIngestTokenBody};
pub use operations::HealthBody;
pub use sync::{
    Conflict, ConflictReason, RejectedWorkout, Resolution, SyncCounts, SyncRequest,
    SyncRequestBody, SyncResponse, WorkoutInput,
};
pub use webhooks::{
    AchievementUnlockedData, CreateWebhook, CreatedWebhook, DeliveriesBody, DeliveryAttemptView,
    EventBody, GoalReachedData, SyncCompletedData, TestEventData, WebhookEventName, WebhookView,
    WorkoutEventData,
};
pub use workouts::{ChangeEntry, ChangesPage, WorkoutBody, WorkoutPage, WorkoutView};
