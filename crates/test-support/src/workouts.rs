//! Workouts as the wire carries them, and the outcome counts of a sync response.

use serde_json::Value;
use sync_core::testing::incoming;

/// The contract's example workout with this client id (35 minutes, 5 km): the one
/// [`sync_core::testing::incoming`] builds.
pub fn workout(client_id: &str) -> Value {
    incoming(client_id).into()
}

/// `count` valid workouts `{prefix}-0000`, `{prefix}-0001`, …: the example workout an hour
/// apart from 2024-01-01T06:00:00Z, each a metre longer than the one before.
pub fn workouts(prefix: &str, count: usize) -> Vec<Value> {
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-01T06:00:00Z").expect("base time");
    let rfc3339 = |t: chrono::DateTime<chrono::FixedOffset>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    (0..count)
        .map(|i| {
            let start = base + chrono::Duration::hours(i as i64);
            let end = start + chrono::Duration::minutes(35);
            incoming(&format!("{prefix}-{i:04}"))
                .start(&rfc3339(start))
                .end(&rfc3339(end))
                .set("distance_meters", 5000 + i)
                .into()
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

/// `Counts::NAME(n)`: counts with only the field `NAME` set, one constructor per name.
macro_rules! one_outcome {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(n: u64) -> Counts {
                Counts {
                    $name: n,
                    ..Counts::default()
                }
            }
        )*
    };
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

    one_outcome! {
        /// Counts with only `created` set: the usual expectation of a batch of new workouts.
        created,
        /// Counts with only `updated` set.
        updated,
        /// Counts with only `unchanged` set: a re-sync of what the server already holds.
        unchanged,
        /// Counts with only `deleted` set.
        deleted,
        /// Counts with only `conflicts` set.
        conflicts,
    }

    /// Workouts accounted for: everything but deletions.
    pub fn workouts(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.conflicts + self.rejected
    }
}
