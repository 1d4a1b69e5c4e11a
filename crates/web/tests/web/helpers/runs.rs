//! Runs to sync, dated from now so that the dashboard (which shows the current year) has them.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sync_core::testing::incoming;

/// A run of `km` kilometres and `minutes` minutes starting at `start`.
pub fn run_at(client_id: &str, start: DateTime<Utc>, km: f64, minutes: i64) -> Value {
    let end = start + Duration::minutes(minutes);
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    incoming(client_id)
        .start(&text(start))
        .end(&text(end))
        .set("duration_seconds", minutes * 60)
        .set("distance_meters", km * 1000.0)
        .into()
}

/// A run `hours_ago` hours ago.
pub fn run_hours_ago(client_id: &str, hours_ago: i64, km: f64, minutes: i64) -> Value {
    let start = (Utc::now() - Duration::hours(hours_ago)).with_timezone(&Utc);
    run_at(client_id, start, km, minutes)
}

/// A sync request of `workouts`.
pub fn batch(workouts: Vec<Value>) -> Value {
    json!({ "workouts": workouts })
}
