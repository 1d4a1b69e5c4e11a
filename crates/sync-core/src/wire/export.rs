//! `GET /export`: a runner's data as a download. The server streams these shapes; the client
//! and the OpenAPI document read them from here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SyncView, UserView, WorkoutView};
use crate::running::Goal;
use crate::time::{format_server_time, format_workout_time, serde_format};

/// The JSON export, key by key in the order it is written: the account, every live workout
/// (newest first), the goals (newest year first) and the whole sync history (newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportBody {
    /// When the export was made.
    #[serde(serialize_with = "serde_format::server")]
    pub exported_at: DateTime<Utc>,
    /// The account.
    pub user: UserView,
    /// Every live workout, as `GET /workouts` serves it.
    pub workouts: Vec<WorkoutView>,
    /// Every goal set.
    pub goals: Vec<Goal>,
    /// Every sync, as `GET /syncs` serves it.
    pub syncs: Vec<SyncView>,
}

/// The header row of the CSV export: the served workout's fields, in its order.
pub const EXPORT_CSV_HEADER: &str = "id,client_id,date,start_time,end_time,duration_seconds,\
distance_meters,avg_pace_seconds_per_km,avg_heart_rate,max_heart_rate,energy_burned_kcal,source,\
revision,created_at,updated_at";

/// One workout as a CSV line (RFC 4180: fields with a comma, quote or line break are quoted,
/// quotes doubled; `\r\n` at the end; an absent value is an empty field).
///
/// ```
/// use sync_core::wire::{csv_row, EXPORT_CSV_HEADER};
/// assert_eq!(EXPORT_CSV_HEADER.split(',').count(), 15);
/// # let w: sync_core::wire::WorkoutView = serde_json::from_value(serde_json::json!({
/// #   "id": "00000000-0000-4000-8000-000000000001", "client_id": "a,\"b\"", "date": "2024-01-15",
/// #   "start_time": "2024-01-15T08:00:00Z", "end_time": "2024-01-15T08:35:00Z",
/// #   "duration_seconds": 2100, "distance_meters": 5000.0, "avg_pace_seconds_per_km": 420.0,
/// #   "avg_heart_rate": null, "max_heart_rate": null, "energy_burned_kcal": 350.5,
/// #   "source": "apple_watch", "revision": 1, "created_at": "2024-01-15T09:00:01Z",
/// #   "updated_at": "2024-01-15T09:00:01Z"})).unwrap();
/// assert!(csv_row(&w).starts_with("00000000-0000-4000-8000-000000000001,\"a,\"\"b\"\"\",2024-01-15,"));
/// assert!(csv_row(&w).contains(",2100,5000,420,,,350.5,apple_watch,1,"));
/// ```
pub fn csv_row(w: &WorkoutView) -> String {
    let number = |n: f64| serde_json::Number::from_f64(n).map_or(String::new(), |n| n.to_string());
    let optional_number = |n: Option<f64>| n.map_or(String::new(), number);
    let optional_int = |n: Option<i32>| n.map_or(String::new(), |n| n.to_string());
    let fields = [
        w.id.to_string(),
        csv_text(&w.client_id),
        w.date.clone(),
        format_workout_time(w.start_time),
        format_workout_time(w.end_time),
        w.duration_seconds.to_string(),
        trim_integral(number(w.distance_meters)),
        trim_integral(optional_number(w.avg_pace_seconds_per_km)),
        optional_int(w.avg_heart_rate),
        optional_int(w.max_heart_rate),
        trim_integral(optional_number(w.energy_burned_kcal)),
        csv_text(&w.source),
        w.revision.to_string(),
        format_server_time(w.created_at),
        format_server_time(w.updated_at),
    ];
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// `5000.0` as `5000`: spreadsheets read both, and the JSON export writes the number the
/// same way serde_json does (which keeps the `.0`); the CSV is for people.
fn trim_integral(text: String) -> String {
    match text.strip_suffix(".0") {
        Some(integral) => integral.to_owned(),
        None => text,
    }
}

fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
