//! `POST /workouts/sync` through real HTTP: every row of the conflict table, the counting rule,
//! rejected workouts next to valid ones, the seed's example request and the wire formats. This
//! module holds what its test files share.

mod batches;
mod conflicts;
mod wire;

use serde_json::{json, Value};

use crate::helpers::is_server_timestamp;

/// The one conflict of a response about `client_id`, with every contract field present.
fn conflict<'a>(backend: &str, body: &'a Value, client_id: &str) -> &'a Value {
    let conflicts = body["conflicts"].as_array().expect("conflicts array");
    let found: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c["client_id"] == json!(client_id))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "[{backend}] one conflict for {client_id}: {body}"
    );
    let c = found[0];
    for key in [
        "client_id",
        "server_id",
        "reason",
        "resolution",
        "fields",
        "server_workout",
    ] {
        assert!(
            c.get(key).is_some(),
            "[{backend}] conflict without {key}: {c}"
        );
    }
    assert_eq!(c["resolution"], json!("server_wins"), "[{backend}] {c}");
    let server_id = c["server_id"].as_str().expect("server_id is a string");
    assert!(
        uuid::Uuid::parse_str(server_id).is_ok(),
        "[{backend}] server_id is a UUID: {c}"
    );
    assert_eq!(
        c["server_workout"]["id"], c["server_id"],
        "[{backend}] server_id is the workout's id: {c}"
    );
    c
}

/// The `fields` of a conflict, sorted (the contract does not fix their order).
fn fields_of(c: &Value) -> Vec<String> {
    let mut fields: Vec<String> = c["fields"]
        .as_array()
        .expect("fields array")
        .iter()
        .map(|f| f.as_str().expect("field name").to_owned())
        .collect();
    fields.sort();
    fields
}

/// Asserts that `view` (a served workout) holds the content of `sent` (a workout as sent with
/// UTC `Z` times) at `revision`.
fn assert_server_copy(backend: &str, view: &Value, sent: &Value, revision: i64) {
    let ctx = format!("[{backend}] server copy {view} vs sent {sent}");
    assert!(
        view["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{ctx}"
    );
    for key in ["client_id", "start_time", "end_time", "source"] {
        assert_eq!(view[key], sent[key], "{key}: {ctx}");
    }
    assert_eq!(
        view["date"],
        json!(&sent["start_time"].as_str().unwrap()[..10]),
        "{ctx}"
    );
    assert_eq!(
        view["duration_seconds"].as_i64(),
        sent["duration_seconds"].as_i64(),
        "{ctx}"
    );
    for key in ["distance_meters", "energy_burned_kcal"] {
        assert_eq!(view[key].as_f64(), sent[key].as_f64(), "{key}: {ctx}");
    }
    for key in ["avg_heart_rate", "max_heart_rate"] {
        assert_eq!(view[key].as_i64(), sent[key].as_i64(), "{key}: {ctx}");
    }
    let duration = sent["duration_seconds"].as_f64().unwrap();
    let distance = sent["distance_meters"].as_f64().unwrap();
    let pace = view["avg_pace_seconds_per_km"]
        .as_f64()
        .expect("pace computed when distance > 0");
    assert!(
        (pace - duration / (distance / 1000.0)).abs() < 0.01,
        "pace: {ctx}"
    );
    assert_eq!(view["revision"], json!(revision), "revision: {ctx}");
    for key in ["created_at", "updated_at"] {
        assert!(is_server_timestamp(&view[key]), "{key}: {ctx}");
    }
}
