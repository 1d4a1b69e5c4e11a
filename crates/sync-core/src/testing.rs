//! Builders for tests of the sync rules, without a database (the `testing` feature).
//!
//! - [`incoming`] builds the raw JSON of one workout as a client sends it: by default the
//!   contract's example, a 35-minute 5 km run on 15 January 2024, changed field by field.
//! - [`stored`] builds the server's row for a client id, as a sync created it: revision 1,
//!   change-feed position 1, fixed timestamps, its content the default workout's or any
//!   incoming one's.
//! - [`plan_one`] runs the planner on one incoming workout and the server's copy (if any) and
//!   returns its [`Outcome`]; [`plan_one_detailed`] returns the whole [`SyncPlan`].
//!
//! Every value goes through the crate's own rules: an incoming workout is checked by
//! [`validate_workout`], and stored rows are the rows the planner writes. Nothing reads a clock
//! or draws a random number: validation runs at the fixed [`now`], and a row's server id is
//! derived from its client id, so the same call builds the same value on every run.
//!
//! A conflict rule in a few lines:
//!
//! ```
//! use sync_core::testing::{incoming, plan_one, stored};
//! use sync_core::{ConflictReason, Outcome};
//!
//! // Another distance and no version to say which copy is newer: the server's copy wins.
//! assert_eq!(
//!     plan_one(incoming("a").distance(5100.0), Some(stored("a"))),
//!     Outcome::Conflict(ConflictReason::DataMismatch)
//! );
//! // A greater version than the stored one replaces it.
//! assert_eq!(
//!     plan_one(incoming("a").distance(5100.0).client_version(2), Some(stored("a"))),
//!     Outcome::Updated
//! );
//! ```
//!
//! These helpers are for tests: where a fixture is not what it claims to be (a timestamp
//! literal that does not parse, an invalid workout used as a stored row) they panic with the
//! reason, which fails the test that wrote it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

// The crate root's names, which stay put when a type moves between modules.
use crate::running::Tz;
use crate::time::parse_client_timestamp;
use crate::{
    plan_sync, validate_workout, Outcome, RejectedWorkout, StoredWorkout, SyncPlan, ValidWorkout,
};

/// Every key of a served workout, in the contract's order (its "Reading" section): what the
/// list, one workout, the change feed and a conflict's `server_workout` each carry. Written
/// here once, from the contract, for the tests of every crate to check the shape against.
pub const SERVED_WORKOUT_KEYS: [&str; 15] = [
    "id",
    "client_id",
    "date",
    "start_time",
    "end_time",
    "duration_seconds",
    "distance_meters",
    "avg_pace_seconds_per_km",
    "avg_heart_rate",
    "max_heart_rate",
    "energy_burned_kcal",
    "source",
    "revision",
    "created_at",
    "updated_at",
];

/// The instant the helpers validate at, 2024-06-01T12:00:00Z.
const NOW: &str = "2024-06-01T12:00:00Z";
/// When [`stored`] rows were created and last changed: after the default workout ended.
const STORED_AT: &str = "2024-01-15T09:00:00Z";
/// When [`StoredWorkoutBuilder::deleted`] deletes a row.
const DELETED_AT: &str = "2024-03-01T00:00:00Z";

/// The fixed instant the helpers validate at: 2024-06-01T12:00:00Z, months after the default
/// workout, so that a workout only starts "too far in the future" when a test says so.
pub fn now() -> DateTime<Utc> {
    utc(NOW)
}

/// An RFC 3339 literal read as the server reads client timestamps: to UTC, whole milliseconds.
///
/// ```
/// use sync_core::testing::utc;
/// assert_eq!(utc("2024-01-15T09:00:00.1239+01:00"), utc("2024-01-15T08:00:00.123Z"));
/// ```
///
/// # Panics
///
/// When `text` is not an RFC 3339 timestamp.
pub fn utc(text: &str) -> DateTime<Utc> {
    match parse_client_timestamp(text) {
        Some(timestamp) => timestamp.utc,
        None => panic!("not an RFC 3339 timestamp: {text:?}"),
    }
}

/// The server id the builders give the row of `client_id`: distinct per client id, and the
/// same on every run.
pub fn server_id(client_id: &str) -> Uuid {
    let digest = Sha256::digest(client_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// One workout as a client sends it: a JSON value, changed field by field.
///
/// [`IncomingWorkout::new`] starts from the contract's example workout:
///
/// ```json
/// {"client_id": "<the id>", "start_time": "2024-01-15T08:00:00Z",
///  "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100, "distance_meters": 5000,
///  "energy_burned_kcal": 350, "avg_heart_rate": 145, "source": "apple_watch"}
/// ```
///
/// Each setter writes one field as sent, without looking at the others (moving `start_time`
/// leaves `end_time` where it was). Any JSON value converts into an `IncomingWorkout`, so a
/// test can send a workout of the wrong shape as well.
///
/// ```
/// use sync_core::testing::incoming;
/// let sent = incoming("hk-1").start("2024-01-15T09:00:00+01:00").client_version(2);
/// let valid = sent.valid();
/// assert_eq!(valid.start_offset_minutes, 60);
/// assert_eq!(valid.client_version, Some(2));
///
/// let rejected = incoming("hk-1").without("start_time").validate().unwrap_err();
/// assert!(rejected.errors.contains_key("start_time"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct IncomingWorkout {
    json: Value,
}

/// The contract's example workout with this client id (see [`IncomingWorkout`]).
pub fn incoming(client_id: &str) -> IncomingWorkout {
    IncomingWorkout::new(client_id)
}

impl IncomingWorkout {
    /// The contract's example workout with this client id.
    pub fn new(client_id: &str) -> Self {
        IncomingWorkout {
            json: json!({
                "client_id": client_id,
                "start_time": "2024-01-15T08:00:00Z",
                "end_time": "2024-01-15T08:35:00Z",
                "duration_seconds": 2100,
                "distance_meters": 5000,
                "energy_burned_kcal": 350,
                "avg_heart_rate": 145,
                "source": "apple_watch"
            }),
        }
    }

    /// Sends `field` with `value`, whatever its type (`.set("distance_meters", "5000")` sends
    /// a string, `.set("avg_heart_rate", Value::Null)` an explicit `null`). On a workout that
    /// is not a JSON object, the workout becomes an object holding just this field.
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Self {
        if !self.json.is_object() {
            self.json = Value::Object(Map::new());
        }
        if let Value::Object(fields) = &mut self.json {
            fields.insert(field.to_owned(), value.into());
        }
        self
    }

    /// Leaves `field` out.
    pub fn without(mut self, field: &str) -> Self {
        if let Value::Object(fields) = &mut self.json {
            fields.remove(field);
        }
        self
    }

    /// Sends `start_time` as written (RFC 3339, any offset).
    pub fn start(self, rfc3339: &str) -> Self {
        self.set("start_time", rfc3339)
    }

    /// Sends `end_time` as written (RFC 3339, any offset).
    pub fn end(self, rfc3339: &str) -> Self {
        self.set("end_time", rfc3339)
    }

    /// Sends `duration_seconds`.
    pub fn duration(self, seconds: i64) -> Self {
        self.set("duration_seconds", seconds)
    }

    /// Sends `distance_meters`.
    pub fn distance(self, meters: f64) -> Self {
        self.set("distance_meters", meters)
    }

    /// Sends `energy_burned_kcal`.
    pub fn energy(self, kcal: f64) -> Self {
        self.set("energy_burned_kcal", kcal)
    }

    /// Sends `avg_heart_rate`.
    pub fn avg_heart_rate(self, bpm: i64) -> Self {
        self.set("avg_heart_rate", bpm)
    }

    /// Sends `max_heart_rate`.
    pub fn max_heart_rate(self, bpm: i64) -> Self {
        self.set("max_heart_rate", bpm)
    }

    /// Sends `avg_pace_seconds_per_km` (the server derives its own when there is a distance).
    pub fn pace(self, seconds_per_km: f64) -> Self {
        self.set("avg_pace_seconds_per_km", seconds_per_km)
    }

    /// Sends `source`.
    pub fn source(self, source: &str) -> Self {
        self.set("source", source)
    }

    /// Sends `client_version`.
    pub fn client_version(self, version: i64) -> Self {
        self.set("client_version", version)
    }

    /// The JSON as sent.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The workout checked by [`validate_workout`] at [`now`], as the first of its batch.
    pub fn validate(&self) -> Result<ValidWorkout, RejectedWorkout> {
        validate_workout(0, &self.json, now())
    }

    /// The checked workout, for a test that needs a valid one.
    ///
    /// # Panics
    ///
    /// When validation rejects the workout; the message lists the field errors.
    pub fn valid(&self) -> ValidWorkout {
        match self.validate() {
            Ok(valid) => valid,
            Err(rejected) => panic!(
                "the test workout {} is invalid: {:?}",
                self.json, rejected.errors
            ),
        }
    }

    /// The server's row for this workout as a sync that created it stored it (see [`stored`]).
    ///
    /// # Panics
    ///
    /// When validation rejects the workout.
    pub fn to_stored(&self) -> StoredWorkoutBuilder {
        StoredWorkoutBuilder::from_valid(&self.valid())
    }
}

impl From<Value> for IncomingWorkout {
    fn from(json: Value) -> Self {
        IncomingWorkout { json }
    }
}

impl From<IncomingWorkout> for Value {
    fn from(workout: IncomingWorkout) -> Self {
        workout.json
    }
}

impl fmt::Display for IncomingWorkout {
    /// The JSON text as sent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.json.fmt(f)
    }
}

/// A [`StoredWorkout`] under construction: the row as a sync created it, changed field by field.
///
/// The defaults: the server id [`server_id`] of the client id, revision 1, change-feed position
/// 1, created and last changed at 2024-01-15T09:00:00Z, live, and the `client_version` the
/// workout was sent with (0 without one).
///
/// ```
/// use sync_core::testing::{incoming, server_id, stored};
/// let row = stored("hk-1").client_version(3).build();
/// assert_eq!((row.id, row.revision, row.change_seq), (server_id("hk-1"), 1, 1));
/// assert_eq!(row.client_version, 3);
/// assert_eq!(row.content, incoming("hk-1").valid().content);
///
/// let tombstone = stored("hk-1").deleted().build();
/// assert!(tombstone.is_deleted());
/// assert_eq!(tombstone.revision, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorkoutBuilder {
    row: StoredWorkout,
}

/// The server's row for `client_id`, its content the default [`incoming`] workout's (see
/// [`StoredWorkoutBuilder`]).
///
/// # Panics
///
/// When `client_id` is not a valid client id (empty, too long, a control character).
pub fn stored(client_id: &str) -> StoredWorkoutBuilder {
    incoming(client_id).to_stored()
}

impl StoredWorkoutBuilder {
    /// The row a sync creates for the checked workout `valid`, at the builders' fixed time.
    pub fn from_valid(valid: &ValidWorkout) -> Self {
        let created = plan_sync(std::slice::from_ref(valid), Vec::new(), &[], &[]);
        let row = created
            .rows_to_write(0, utc(STORED_AT), Tz::UTC, || server_id(&valid.client_id))
            .pop()
            .expect("planning a workout the server does not have writes its row");
        StoredWorkoutBuilder { row }
    }

    /// The content and the sent offset of `workout`, checked by [`validate_workout`]; the
    /// client id and everything else stay.
    ///
    /// # Panics
    ///
    /// When validation rejects `workout`.
    pub fn content_from(mut self, workout: &IncomingWorkout) -> Self {
        let valid = workout.valid();
        self.row.content = valid.content;
        self.row.start_offset_minutes = valid.start_offset_minutes;
        self
    }

    /// Sets the server id.
    pub fn id(mut self, id: Uuid) -> Self {
        self.row.id = id;
        self
    }

    /// Sets the highest `client_version` applied.
    pub fn client_version(mut self, version: i64) -> Self {
        self.row.client_version = version;
        self
    }

    /// Sets the server-side revision.
    pub fn revision(mut self, revision: i64) -> Self {
        self.row.revision = revision;
        self
    }

    /// Sets the position of the row's latest change in the change feed.
    pub fn change_seq(mut self, change_seq: i64) -> Self {
        self.row.change_seq = change_seq;
        self
    }

    /// Sets when the server first stored the row.
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.row.created_at = at;
        self
    }

    /// Sets when the server last changed the row.
    pub fn updated_at(mut self, at: DateTime<Utc>) -> Self {
        self.row.updated_at = at;
        self
    }

    /// Sets the deletion time alone, leaving revision, position and `updated_at` as they are.
    pub fn deleted_at(mut self, at: DateTime<Utc>) -> Self {
        self.row.deleted_at = Some(at);
        self
    }

    /// The row as a later sync that deletes it leaves it: a tombstone with the same content,
    /// one revision and one change-feed position further, deleted (and last changed) at
    /// 2024-03-01T00:00:00Z. A row already deleted stays as it is.
    pub fn deleted(mut self) -> Self {
        let deletion = plan_sync(
            &[],
            Vec::new(),
            std::slice::from_ref(&self.row.client_id),
            std::slice::from_ref(&self.row),
        );
        let written = deletion.rows_to_write(self.row.change_seq, utc(DELETED_AT), Tz::UTC, || {
            self.row.id
        });
        if let Some(tombstone) = written.into_iter().next() {
            self.row = tombstone;
        }
        self
    }

    /// The row.
    pub fn build(self) -> StoredWorkout {
        self.row
    }
}

impl From<StoredWorkout> for StoredWorkoutBuilder {
    fn from(row: StoredWorkout) -> Self {
        StoredWorkoutBuilder { row }
    }
}

impl From<StoredWorkoutBuilder> for StoredWorkout {
    fn from(builder: StoredWorkoutBuilder) -> Self {
        builder.row
    }
}

/// Plans a sync of the one workout `incoming` against the server's copy of it (if any) and
/// returns that workout's outcome. An invalid workout is [`Outcome::Rejected`], as in a sync.
///
/// ```
/// use sync_core::testing::{incoming, plan_one, stored};
/// use sync_core::{ConflictReason, Outcome};
/// assert_eq!(plan_one(incoming("a"), None), Outcome::Created);
/// assert_eq!(plan_one(incoming("a").source("iphone"), Some(stored("a"))),
///            Outcome::Conflict(ConflictReason::DataMismatch));
/// assert_eq!(plan_one(incoming("a"), Some(stored("a").deleted())),
///            Outcome::Conflict(ConflictReason::DeletedOnServer));
/// assert_eq!(plan_one(incoming("a").avg_heart_rate(300), None), Outcome::Rejected);
/// ```
pub fn plan_one(incoming: IncomingWorkout, server_copy: Option<StoredWorkoutBuilder>) -> Outcome {
    let plan = plan_one_detailed(incoming, server_copy);
    match plan.outcomes.first() {
        Some(&(_, outcome)) => outcome,
        None => unreachable!("the plan of one workout has its outcome"),
    }
}

/// Plans a sync of the one workout `incoming` against the server's copy of it (if any): the
/// whole plan, with the conflict entry (its differing fields and the server's copy), the
/// rejection, or the write.
///
/// ```
/// use sync_core::testing::{incoming, plan_one_detailed, stored};
/// let plan = plan_one_detailed(incoming("a").max_heart_rate(180), Some(stored("a")));
/// assert_eq!(plan.conflicts[0].fields, vec!["max_heart_rate"]);
/// assert!(plan.writes.is_empty());
/// ```
pub fn plan_one_detailed(
    incoming: IncomingWorkout,
    server_copy: Option<StoredWorkoutBuilder>,
) -> SyncPlan {
    let server: Vec<StoredWorkout> = server_copy
        .map(StoredWorkoutBuilder::build)
        .into_iter()
        .collect();
    match incoming.validate() {
        Ok(valid) => plan_sync(&[valid], Vec::new(), &[], &server),
        Err(rejected) => plan_sync(&[], vec![rejected], &[], &server),
    }
}

/// `docs/sync-core.md`, compiled here so that its examples run as doctests
/// (`cargo test -p sync-core --features testing --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/sync-core.md")]
pub struct SyncCoreGuide;
