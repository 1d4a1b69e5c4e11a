//! The Health Auto Export app's REST payload, turned into an ordinary sync.
//!
//! The app POSTs `{"data": {"workouts": [...], "metrics": [...], ...}}`. Only the runs of
//! `workouts` matter here; everything else (every metric, other sections, a workout's
//! `heartRateData` and `route`, which run to tens of megabytes at one sample a second) is
//! skipped as it is read, with [`serde::de::IgnoredAny`], so [`read_payload`] holds nothing of
//! it: read from a stream, memory stays at the size of the runs' few summary fields.
//!
//! Both export formats of the app are read:
//!
//! - **version 2**: `id`, `name`, `start`, `end` (`yyyy-MM-dd HH:mm:ss Z`), `duration` (s),
//!   `distance` and `activeEnergyBurned` as `{qty, units}`, heart rate as
//!   `heartRate: {avg: {qty, units}, max: {qty, units}}` (or `avgHeartRate` / `maxHeartRate`);
//! - **version 1**: the same times, `activeEnergy` for the energy, `avgHeartRate` and
//!   `maxHeartRate`, and no `id` (see [`client_id_of`]).
//!
//! A quantity is `{qty, units}` or a bare number in the unit the app uses by default for that
//! field (km, kcal, beats per minute). A run becomes the sync workout
//! `{client_id: "hae:<id>", start_time, end_time, duration_seconds, distance_meters,
//! energy_burned_kcal, avg_heart_rate, max_heart_rate, source: "health_auto_export"}`, then
//! goes through the same validation and conflict rules as `POST /workouts/sync`
//! ([`prepare_ingest`]). A workout that cannot be read is rejected alone, with the app's field
//! names in its errors; the rest of the export goes in.
//!
//! ```
//! let payload = br#"{"data": {"metrics": [{"name": "step_count", "units": "count", "data": []}],
//!   "workouts": [
//!     {"id": "A1", "name": "Outdoor Run", "start": "2024-02-06 07:00:00 -0800",
//!      "end": "2024-02-06 07:30:00 -0800", "duration": 1800,
//!      "distance": {"qty": 3.1, "units": "mi"}, "activeEnergyBurned": {"qty": 1200, "units": "kJ"}},
//!     {"id": "B2", "name": "Yoga", "start": "2024-02-06 18:00:00 -0800",
//!      "end": "2024-02-06 18:45:00 -0800", "duration": 2700}]}}"#;
//! let export = sync_core::health_auto_export::read_payload(&payload[..]).unwrap();
//! let ingest = sync_core::health_auto_export::prepare_ingest(
//!     export, &sync_core::SyncLimits::default(), chrono::Utc::now()).unwrap();
//! assert_eq!((ingest.sync.valid.len(), ingest.skipped), (1, 1));
//! let run = &ingest.sync.valid[0];
//! assert_eq!(run.client_id, "hae:A1");
//! assert!((run.content.distance_meters - 4988.97).abs() < 0.01);
//! assert_eq!(run.start_offset_minutes, -480);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::request::{prepare_sync, PreparedSync, RequestError, SyncLimits};
use crate::wire::{FieldErrors, RejectedWorkout, SyncRequestBody};

/// The `source` of every workout that came in this way.
pub const SOURCE: &str = "health_auto_export";
/// The prefix of their `client_id`s.
pub const CLIENT_ID_PREFIX: &str = "hae:";

/// The payload as a whole could not be read (not JSON, or `data` / `workouts` of the wrong
/// type): nothing of it is applied.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct PayloadError(String);

impl PayloadError {
    /// Whether reading stopped because the underlying reader failed (the body did not arrive
    /// whole, or went over its limit) rather than because the JSON was wrong.
    pub fn is_io(&self) -> bool {
        self.0.starts_with(IO_PREFIX)
    }
}

const IO_PREFIX: &str = "the body could not be read: ";

/// The workouts of a payload, each kept only as the few fields a run needs.
#[derive(Debug, Default)]
pub struct HealthExport {
    workouts: Vec<ExportedWorkout>,
}

impl HealthExport {
    /// How many workouts the payload's `data.workouts` held, runs or not.
    pub fn workout_count(&self) -> usize {
        self.workouts.len()
    }
}

/// One element of `data.workouts`.
#[derive(Debug)]
enum ExportedWorkout {
    /// An object, with the fields read (raw JSON, converted later so that a bad field rejects
    /// its workout, not the payload).
    Fields(Box<WorkoutFields>),
    /// Anything that is not an object.
    NotAnObject,
}

#[derive(Debug, Default)]
struct WorkoutFields {
    id: Option<Value>,
    name: Option<Value>,
    start: Option<Value>,
    end: Option<Value>,
    duration: Option<Value>,
    distance: Option<Value>,
    /// `activeEnergyBurned` (version 2) or `activeEnergy` (version 1), with the name it had.
    active_energy: Option<(&'static str, Value)>,
    /// Version 2's `heartRate: {min, avg, max}`.
    heart_rate: Option<Value>,
    avg_heart_rate: Option<Value>,
    max_heart_rate: Option<Value>,
}

/// Reads a payload from `reader` as it arrives, keeping only each workout's summary fields.
///
/// ```
/// let err = sync_core::health_auto_export::read_payload(&b"[1, 2]"[..]).unwrap_err();
/// assert!(err.to_string().contains("object"));
/// ```
pub fn read_payload<R: std::io::Read>(reader: R) -> Result<HealthExport, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let envelope = Envelope::deserialize(&mut deserializer).map_err(payload_error)?;
    deserializer.end().map_err(payload_error)?;
    Ok(envelope.0)
}

fn payload_error(e: serde_json::Error) -> PayloadError {
    if e.is_io() {
        PayloadError(format!("{IO_PREFIX}{e}"))
    } else {
        PayloadError(format!("not a Health Auto Export payload: {e}"))
    }
}

/// The top-level object: `data` is read, every other key skipped.
struct Envelope(HealthExport);

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a JSON object {"data": {"workouts": [...]}}"#)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
                let mut export = HealthExport::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "data" {
                        export = map.next_value::<DataSection>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Envelope(export))
            }
        }
        d.deserialize_map(EnvelopeVisitor)
    }
}

/// `data`: `workouts` is read; `metrics` and every other section are skipped unread.
struct DataSection(HealthExport);

impl<'de> Deserialize<'de> for DataSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = DataSection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`data` to be an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<DataSection, E> {
                Ok(DataSection(HealthExport::default()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataSection, A::Error> {
                let mut workouts = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "workouts" {
                        workouts = map.next_value::<WorkoutList>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(DataSection(HealthExport { workouts }))
            }
        }
        // `any`, not `map`: a `null` section is an empty one; another type is still refused.
        d.deserialize_any(DataVisitor)
    }
}

struct WorkoutList(Vec<ExportedWorkout>);

impl<'de> Deserialize<'de> for WorkoutList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = WorkoutList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`data.workouts` to be an array")
            }
            fn visit_unit<E: de::Error>(self) -> Result<WorkoutList, E> {
                Ok(WorkoutList(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WorkoutList, A::Error> {
                let mut workouts = Vec::new();
                while let Some(workout) = seq.next_element::<ExportedWorkout>()? {
                    workouts.push(workout);
                }
                Ok(WorkoutList(workouts))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

impl<'de> Deserialize<'de> for ExportedWorkout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WorkoutVisitor)
    }
}

struct WorkoutVisitor;

impl WorkoutVisitor {
    fn not_an_object<E>(self) -> Result<ExportedWorkout, E> {
        Ok(ExportedWorkout::NotAnObject)
    }
}

impl<'de> Visitor<'de> for WorkoutVisitor {
    type Value = ExportedWorkout;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a workout")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExportedWorkout, A::Error> {
        let mut fields = WorkoutFields::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "id" => &mut fields.id,
                "name" => &mut fields.name,
                "start" => &mut fields.start,
                "end" => &mut fields.end,
                "duration" => &mut fields.duration,
                "distance" => &mut fields.distance,
                "heartRate" => &mut fields.heart_rate,
                "avgHeartRate" => &mut fields.avg_heart_rate,
                "maxHeartRate" => &mut fields.max_heart_rate,
                "activeEnergyBurned" | "activeEnergy" => {
                    let name = if key == "activeEnergy" {
                        "activeEnergy"
                    } else {
                        "activeEnergyBurned"
                    };
                    let value = map.next_value::<Value>()?;
                    // Version 2's name wins when a payload carries both.
                    if fields.active_energy.is_none() || name == "activeEnergyBurned" {
                        fields.active_energy = Some((name, value));
                    }
                    continue;
                }
                // heartRateData, route, heartRateRecovery, stepCount, …: skipped unread.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value::<Value>()?);
        }
        Ok(ExportedWorkout::Fields(Box::new(fields)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExportedWorkout, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<ExportedWorkout, E> {
        self.not_an_object()
    }
}

/// A payload turned into a sync, ready for the store.
#[derive(Debug, Clone)]
pub struct PreparedIngest {
    /// The runs as a sync request (mode `incremental`, no idempotency key: a re-sent export is
    /// recognised by its content). Indexes in it, rejections included, are positions in the
    /// payload's `data.workouts`.
    pub sync: PreparedSync,
    /// Workouts of the payload that are not runs, left out.
    pub skipped: usize,
}

/// Turns the payload's runs into a sync and applies the sync's whole-request rules (the batch
/// limit counts runs). A workout that cannot be read, or one whose `id` repeats an earlier
/// one's, is rejected alone; a sync-rule rejection names the app's field.
pub fn prepare_ingest(
    export: HealthExport,
    limits: &SyncLimits,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PreparedIngest, RequestError> {
    let mut runs: Vec<Value> = Vec::new();
    // Position in `runs` → position in the payload.
    let mut payload_index: Vec<usize> = Vec::new();
    let mut rejected: Vec<RejectedWorkout> = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut skipped = 0;
    for (index, workout) in export.workouts.into_iter().enumerate() {
        match convert(index, workout) {
            Converted::NotARun => skipped += 1,
            Converted::Rejected(r) => rejected.push(r),
            Converted::Run { client_id, workout } => {
                if let Some(first) = first_seen.get(&client_id) {
                    rejected.push(RejectedWorkout {
                        index,
                        client_id: Some(client_id),
                        errors: one_error(
                            "id",
                            format!("repeats the id of workouts[{first}] in this export"),
                        ),
                    });
                    continue;
                }
                first_seen.insert(client_id, index);
                runs.push(workout);
                payload_index.push(index);
            }
        }
    }
    let body = SyncRequestBody {
        workouts: Some(runs),
        ..SyncRequestBody::default()
    };
    let mut sync = prepare_sync(body, None, limits, now)?;
    for valid in &mut sync.valid {
        valid.index = payload_index[valid.index];
    }
    for r in &mut sync.rejected {
        r.index = payload_index[r.index];
        r.errors = std::mem::take(&mut r.errors)
            .into_iter()
            .map(|(field, messages)| (app_field_name(&field).to_owned(), messages))
            .collect();
    }
    sync.rejected.extend(rejected);
    sync.rejected.sort_by_key(|r| r.index);
    Ok(PreparedIngest { sync, skipped })
}

/// The app's name of a sync workout field, for rejections the runner can find in the export.
fn app_field_name(sync_field: &str) -> &str {
    match sync_field {
        "client_id" => "id",
        "start_time" => "start",
        "end_time" => "end",
        "duration_seconds" => "duration",
        "distance_meters" => "distance",
        "energy_burned_kcal" => "activeEnergyBurned",
        "avg_heart_rate" => "heartRate.avg",
        "max_heart_rate" => "heartRate.max",
        other => other,
    }
}

enum Converted {
    Run { client_id: String, workout: Value },
    NotARun,
    Rejected(RejectedWorkout),
}

fn one_error(field: &str, message: impl Into<String>) -> FieldErrors {
    BTreeMap::from([(field.to_owned(), vec![message.into()])])
}

/// Whether a workout type names a run: "Running", "Outdoor Run", "Indoor Run", "Trail Running"
/// (a word `run` or `running`, in any case).
pub fn is_run(name: &str) -> bool {
    name.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("run") || word.eq_ignore_ascii_case("running"))
}

/// The `client_id` of an exported workout: `hae:` and its `id`; a version 1 workout, which has
/// none, gets one derived from its type and start (both stable across re-sends), so that a
/// re-sent export is still recognised.
pub fn client_id_of(id: Option<&str>, name: &str, start: &str) -> String {
    match id {
        Some(id) => format!("{CLIENT_ID_PREFIX}{id}"),
        None => {
            let digest = Sha256::digest(format!("{name}\n{start}").as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("{CLIENT_ID_PREFIX}v1-{hex}")
        }
    }
}

fn convert(index: usize, workout: ExportedWorkout) -> Converted {
    let ExportedWorkout::Fields(fields) = workout else {
        return Converted::Rejected(RejectedWorkout {
            index,
            client_id: None,
            errors: one_error("workout", "must be a JSON object"),
        });
    };
    let mut errors: FieldErrors = BTreeMap::new();
    let mut fail = |field: &str, message: String| {
        errors.entry(field.to_owned()).or_default().push(message);
    };
    let name = match fields.name.as_ref() {
        Some(Value::String(name)) => name.as_str(),
        _ => {
            fail("name", "must be a string naming the workout type".into());
            ""
        }
    };
    if !name.is_empty() && !is_run(name) {
        return Converted::NotARun;
    }
    let id = match fields.id.as_ref() {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.as_str()),
        Some(_) => {
            fail("id", "must be a non-empty string".into());
            None
        }
    };
    let start_text = fields.start.as_ref().and_then(Value::as_str).unwrap_or("");
    let client_id = client_id_of(id, name, start_text);
    let start = time_field("start", fields.start.as_ref(), &mut fail);
    let end = time_field("end", fields.end.as_ref(), &mut fail);
    let duration = match (fields.duration.as_ref(), start, end) {
        (Some(Value::Number(n)), _, _) => n.as_f64().map(|s| s.round() as i64),
        (Some(_), _, _) => {
            fail("duration", "must be a number of seconds".into());
            None
        }
        // Version 1 may leave it out: the workout lasted from start to end.
        (None, Some(start), Some(end)) => Some((end - start).num_seconds()),
        (None, _, _) => None,
    };
    let distance = match fields.distance.as_ref() {
        None | Some(Value::Null) => Some(0.0),
        Some(value) => quantity("distance", value, Unit::Length, &mut fail),
    };
    let energy = fields
        .active_energy
        .as_ref()
        .filter(|(_, value)| !value.is_null())
        .and_then(|(name, value)| quantity(name, value, Unit::Energy, &mut fail));
    let heart_rate = |part: &str| fields.heart_rate.as_ref().and_then(|hr| hr.get(part));
    let avg_hr = match heart_rate("avg").or(fields.avg_heart_rate.as_ref()) {
        None | Some(Value::Null) => None,
        Some(value) => quantity("heartRate.avg", value, Unit::HeartRate, &mut fail),
    };
    let max_hr = match heart_rate("max").or(fields.max_heart_rate.as_ref()) {
        None | Some(Value::Null) => None,
        Some(value) => quantity("heartRate.max", value, Unit::HeartRate, &mut fail),
    };
    if !errors.is_empty() {
        return Converted::Rejected(RejectedWorkout {
            index,
            client_id: Some(client_id),
            errors,
        });
    }
    let (Some(start), Some(end), Some(duration), Some(distance)) = (start, end, duration, distance)
    else {
        // Each missing piece recorded an error above; this is not reached.
        return Converted::Rejected(RejectedWorkout {
            index,
            client_id: Some(client_id),
            errors: one_error("workout", "cannot be read"),
        });
    };
    let mut workout = Map::new();
    workout.insert("client_id".into(), json!(client_id));
    workout.insert("start_time".into(), json!(rfc3339(start)));
    workout.insert("end_time".into(), json!(rfc3339(end)));
    workout.insert("duration_seconds".into(), json!(duration));
    workout.insert("distance_meters".into(), json!(distance));
    workout.insert("source".into(), json!(SOURCE));
    if let Some(kcal) = energy {
        workout.insert("energy_burned_kcal".into(), json!(kcal));
    }
    if let Some(bpm) = avg_hr {
        workout.insert("avg_heart_rate".into(), json!(bpm.round()));
    }
    if let Some(bpm) = max_hr {
        workout.insert("max_heart_rate".into(), json!(bpm.round()));
    }
    Converted::Run {
        client_id,
        workout: Value::Object(workout),
    }
}

/// RFC 3339 with the offset the app wrote (the offset decides the workout's `date`).
fn rfc3339(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The app's `yyyy-MM-dd HH:mm:ss Z` (`2024-02-06 07:00:00 -0800`), or RFC 3339.
pub fn parse_app_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_rfc3339(text.trim()))
        .ok()
}

fn time_field(
    field: &str,
    value: Option<&Value>,
    fail: &mut impl FnMut(&str, String),
) -> Option<DateTime<FixedOffset>> {
    match value {
        Some(Value::String(text)) => {
            let parsed = parse_app_time(text);
            if parsed.is_none() {
                fail(
                    field,
                    format!("{text:?} is not a time like \"2024-02-06 07:00:00 -0800\""),
                );
            }
            parsed
        }
        Some(_) => {
            fail(field, "must be a string".into());
            None
        }
        None => {
            fail(field, "is required".into());
            None
        }
    }
}

/// What a quantity measures, and so which units it may come in.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// To metres; a bare number is in km.
    Length,
    /// To kilocalories; a bare number is in kcal.
    Energy,
    /// Beats per minute, as sent.
    HeartRate,
}

impl Unit {
    fn factor(self, units: Option<&str>) -> Result<f64, String> {
        let Some(units) = units else {
            return Ok(match self {
                Unit::Length => 1000.0,
                Unit::Energy | Unit::HeartRate => 1.0,
            });
        };
        let lowered = units.trim().to_ascii_lowercase();
        let factor = match (self, lowered.as_str()) {
            (Unit::Length, "km") => Some(1000.0),
            (Unit::Length, "m") => Some(1.0),
            (Unit::Length, "mi") => Some(1609.344),
            (Unit::Length, "yd") => Some(0.9144),
            (Unit::Length, "ft") => Some(0.3048),
            (Unit::Energy, "kcal") => Some(1.0),
            (Unit::Energy, "kj") => Some(1.0 / 4.184),
            (Unit::HeartRate, "bpm" | "count/min" | "beats/min") => Some(1.0),
            _ => None,
        };
        factor.ok_or_else(|| {
            let known = match self {
                Unit::Length => "km, mi, m, yd, ft",
                Unit::Energy => "kcal, kJ",
                Unit::HeartRate => "bpm, count/min",
            };
            format!("units {units:?} is not one of {known}")
        })
    }
}

/// A `{qty, units}` object or a bare number, in the field's base unit.
fn quantity(
    field: &str,
    value: &Value,
    unit: Unit,
    fail: &mut impl FnMut(&str, String),
) -> Option<f64> {
    let (qty, units) = match value {
        Value::Number(n) => (n.as_f64(), None),
        Value::Object(object) => {
            let units = match object.get("units") {
                None | Some(Value::Null) => None,
                Some(Value::String(units)) => Some(units.as_str()),
                Some(_) => {
                    fail(field, "units must be a string".into());
                    return None;
                }
            };
            (object.get("qty").and_then(Value::as_f64), units)
        }
        _ => (None, None),
    };
    let Some(qty) = qty else {
        fail(
            field,
            "must be {\"qty\": number, \"units\": text} or a number".into(),
        );
        return None;
    };
    match unit.factor(units) {
        Ok(factor) => Some(qty * factor),
        Err(message) => {
            fail(field, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ingest(payload: &Value) -> PreparedIngest {
        let bytes = serde_json::to_vec(payload).unwrap();
        let export = read_payload(&bytes[..]).unwrap();
        prepare_ingest(export, &SyncLimits::default(), Utc::now()).unwrap()
    }

    fn run(extra: Value) -> Value {
        let mut w = json!({"id": "W", "name": "Running", "start": "2024-02-06 07:00:00 -0800",
                           "end": "2024-02-06 07:30:00 -0800", "duration": 1800});
        for (k, v) in extra.as_object().unwrap() {
            w[k] = v.clone();
        }
        w
    }

    fn distance_in(units: &str, qty: f64) -> f64 {
        let p =
            json!({"data": {"workouts": [run(json!({"distance": {"qty": qty, "units": units}}))]}});
        ingest(&p).sync.valid[0].content.distance_meters
    }

    #[test]
    fn every_length_unit_becomes_metres() {
        for (units, qty, metres) in [
            ("km", 5.0, 5000.0),
            ("mi", 1.0, 1609.344),
            ("m", 5012.7, 5012.7),
            ("yd", 1000.0, 914.4),
            ("ft", 1000.0, 304.8),
            ("KM", 1.0, 1000.0),
        ] {
            let got = distance_in(units, qty);
            assert!((got - metres).abs() < 1e-6, "{units}: {got} != {metres}");
        }
    }

    #[test]
    fn kilojoules_become_kilocalories_and_version_1_names_are_read() {
        let p = json!({"data": {"workouts": [
            run(json!({"id": "a", "activeEnergyBurned": {"qty": 418.4, "units": "kJ"}})),
            run(json!({"id": "b", "activeEnergy": {"qty": 350, "units": "kcal"},
                       "avgHeartRate": {"qty": 145.4, "units": "count/min"},
                       "maxHeartRate": {"qty": 171.6, "units": "bpm"}})),
            run(json!({"id": "c", "heartRate": {"min": {"qty": 90, "units": "bpm"},
                       "avg": {"qty": 150, "units": "bpm"}, "max": {"qty": 180, "units": "bpm"}}})),
        ]}});
        let valid = ingest(&p).sync.valid;
        assert!((valid[0].content.energy_burned_kcal.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(valid[1].content.energy_burned_kcal, Some(350.0));
        assert_eq!(valid[1].content.avg_heart_rate, Some(145));
        assert_eq!(valid[1].content.max_heart_rate, Some(172));
        assert_eq!(valid[2].content.avg_heart_rate, Some(150));
        assert_eq!(valid[2].content.max_heart_rate, Some(180));
    }

    #[test]
    fn only_runs_are_kept_and_metrics_are_skipped() {
        assert!(is_run("Running") && is_run("Outdoor Run") && is_run("Indoor Run"));
        assert!(is_run("Trail Running") && !is_run("Walking") && !is_run("Rowing"));
        assert!(!is_run("Brunch"));
        let p = json!({"data": {
            "metrics": [{"name": "heart_rate", "units": "count/min",
                         "data": [{"date": "2024-02-06 07:00:00 -0800", "Min": 60, "Avg": 70, "Max": 80}]}],
            "workouts": [run(json!({})), run(json!({"id": "y", "name": "Yoga"}))],
            "stateOfMind": []}});
        let ingest = ingest(&p);
        assert_eq!(ingest.sync.valid.len(), 1);
        assert_eq!(ingest.skipped, 1);
    }

    #[test]
    fn a_bad_workout_is_rejected_alone_with_the_apps_field_names() {
        let p = json!({"data": {"workouts": [
            run(json!({"id": "ok"})),
            run(json!({"id": "bad-units", "distance": {"qty": 3, "units": "furlong"}})),
            run(json!({"id": "bad-time", "start": "yesterday"})),
            7,
            run(json!({"id": "backwards", "end": "2024-02-06 06:00:00 -0800"})),
            run(json!({"id": "ok"})),
        ]}});
        let ingest = ingest(&p);
        assert_eq!(ingest.sync.valid.len(), 1);
        let rejected: Vec<(usize, Vec<String>)> = ingest
            .sync
            .rejected
            .iter()
            .map(|r| (r.index, r.errors.keys().cloned().collect()))
            .collect();
        assert_eq!(
            rejected,
            vec![
                (1, vec!["distance".to_owned()]),
                (2, vec!["start".to_owned()]),
                (3, vec!["workout".to_owned()]),
                (4, vec!["end".to_owned()]),
                (5, vec!["id".to_owned()]),
            ]
        );
        assert_eq!(
            ingest.sync.rejected[0].client_id.as_deref(),
            Some("hae:bad-units")
        );
    }

    #[test]
    fn a_version_1_workout_without_id_gets_a_stable_one() {
        let mut w = run(json!({}));
        w.as_object_mut().unwrap().remove("id");
        let p = json!({"data": {"workouts": [w]}});
        let first = ingest(&p).sync.valid[0].client_id.clone();
        assert!(first.starts_with("hae:v1-"), "{first}");
        assert_eq!(first, ingest(&p).sync.valid[0].client_id);
    }

    #[test]
    fn a_payload_that_is_not_an_export_is_refused_whole() {
        for bad in [
            &b"nope"[..],
            b"[]",
            b"{\"data\": 5}",
            b"{\"data\": {\"workouts\": {}}}",
            b"{} x",
        ] {
            assert!(
                read_payload(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        for empty in [
            &b"{}"[..],
            b"{\"data\": null}",
            b"{\"data\": {\"workouts\": null}}",
        ] {
            assert_eq!(read_payload(empty).unwrap().workout_count(), 0);
        }
    }
}
