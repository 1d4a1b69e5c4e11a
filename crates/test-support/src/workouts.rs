//! Workouts as the wire carries them, and the outcome counts of a sync response.

use serde_json::{json, Value};

/// A valid workout with this client id (35 minutes, 5 km).
pub fn workout(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "start_time": "2024-01-15T08:00:00Z",
        "end_time": "2024-01-15T08:35:00Z",
        "duration_seconds": 2100,
        "distance_meters": 5000,
        "energy_burned_kcal": 350,
        "avg_heart_rate": 145,
        "source": "apple_watch"
    })
}

/// `count` valid workouts `{prefix}-0000`, `{prefix}-0001`, … (distinct start times).
pub fn workouts(prefix: &str, count: usize) -> Vec<Value> {
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-01T06:00:00Z").expect("base time");
    (0..count)
        .map(|i| {
            let start = base + chrono::Duration::hours(i as i64);
            let end = start + chrono::Duration::minutes(35);
            json!({
                "client_id": format!("{prefix}-{i:04}"),
                "start_time": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "end_time": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "duration_seconds": 2100,
                "distance_meters": 5000 + i,
                "energy_burned_kcal": 350,
                "avg_heart_rate": 145,
                "source": "apple_watch"
            })
        })
        .collect()
}

/// `base` with the fields of `changes` (an object) set; a `null` change removes the field.
pub fn with(base: Value, changes: Value) -> Value {
    let mut out = base;
    let object = out.as_object_mut().expect("a workout object");
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            object.remove(k);
        } else {
            object.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The change-feed position of a sync response's `next_cursor`.
pub fn cursor_seq(body: &Value) -> i64 {
    let text = body["next_cursor"]
        .as_str()
        .expect("next_cursor is a string");
    sync_core::ChangeCursor::decode(text)
        .expect("next_cursor decodes")
        .after_seq
}

/// The outcome counts of a sync response (`conflicts` and `rejected` by length).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Workouts stored for the first time.
    pub created: u64,
    /// Workouts replaced by a newer client version.
    pub updated: u64,
    /// Workouts the server already held as sent.
    pub unchanged: u64,
    /// Deletions applied.
    pub deleted: u64,
    /// Entries of `conflicts`.
    pub conflicts: u64,
    /// Entries of `rejected`.
    pub rejected: u64,
}

impl Counts {
    /// Reads the counts of a sync response body; panics if one is missing or not a count.
    pub fn of(body: &Value) -> Counts {
        let count = |name: &str| {
            body[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} is not a count: {body}"))
        };
        let len = |name: &str| {
            body[name]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is not an array: {body}"))
                .len() as u64
        };
        Counts {
            created: count("created"),
            updated: count("updated"),
            unchanged: count("unchanged"),
            deleted: count("deleted"),
            conflicts: len("conflicts"),
            rejected: len("rejected"),
        }
    }

    /// Counts with only `created` set: the usual expectation of a batch of new workouts.
    pub fn created(n: u64) -> Counts {
        Counts {
            created: n,
            ..Counts::default()
        }
    }

    /// Counts with only `updated` set.
    pub fn updated(n: u64) -> Counts {
        Counts {
            updated: n,
            ..Counts::default()
        }
    }

    /// Counts with only `unchanged` set: a re-sync of what the server already holds.
    pub fn unchanged(n: u64) -> Counts {
        Counts {
            unchanged: n,
            ..Counts::default()
        }
    }

    /// Counts with only `deleted` set.
    pub fn deleted(n: u64) -> Counts {
        Counts {
            deleted: n,
            ..Counts::default()
        }
    }

    /// Counts with only `conflicts` set.
    pub fn conflicts(n: u64) -> Counts {
        Counts {
            conflicts: n,
            ..Counts::default()
        }
    }

    /// Workouts accounted for: everything but deletions.
    pub fn workouts(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.conflicts + self.rejected
    }
}
