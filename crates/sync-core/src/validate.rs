//! Turns one workout as sent on the wire (any JSON value) into a [`ValidWorkout`] or a list of
//! field errors. A workout of the wrong shape is an error *of that workout*, never of the batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::{Map, Value};

use crate::time::{parse_client_timestamp, ClientTimestamp};
use crate::wire::RejectedWorkout;
use crate::workout::{ValidWorkout, WorkoutContent};

/// Longest accepted `client_id`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 255;
/// Longest accepted `source`, in characters.
pub const MAX_SOURCE_CHARS: usize = 64;
/// Lowest plausible heart rate, beats per minute.
pub const MIN_HEART_RATE: f64 = 20.0;
/// Highest plausible heart rate, beats per minute.
pub const MAX_HEART_RATE: f64 = 250.0;
/// The source recorded when a client sends none.
pub const DEFAULT_SOURCE: &str = "unknown";

/// How far in the future a workout may start (clock skew, time zones).
pub fn max_future_start() -> Duration {
    Duration::days(1)
}

/// Checks a client id: 1–255 characters, none of them a control character, and none
/// invisible or a text-direction control (two ids that print alike must be alike).
///
/// ```
/// assert!(sync_core::validate::check_client_id("healthkit_abc123").is_ok());
/// assert!(sync_core::validate::check_client_id("").is_err());
/// assert!(sync_core::validate::check_client_id("tab\there").is_err());
/// assert!(sync_core::validate::check_client_id("zero\u{200b}width").is_err());
/// assert!(sync_core::validate::check_client_id("\u{202e}reversed").is_err());
/// ```
pub fn check_client_id(id: &str) -> Result<(), String> {
    check_text(id, 1, MAX_CLIENT_ID_CHARS)?;
    if id.chars().any(is_invisible) {
        return Err("must not contain invisible or text-direction characters".into());
    }
    Ok(())
}

pub(crate) fn check_text(text: &str, min_chars: usize, max_chars: usize) -> Result<(), String> {
    let chars = text.chars().count();
    if chars < min_chars {
        return Err("must not be empty".into());
    }
    if chars > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must contain only printable characters".into());
    }
    Ok(())
}

/// Characters that show nothing or steer the direction of the text around them: Unicode's
/// default-ignorable code points (zero-width spaces and joiners, soft hyphen, word joiner,
/// variation selectors, tags, fillers) and the bidirectional marks, embeddings, overrides and
/// isolates.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Collects field errors while a workout is read.
#[derive(Default)]
struct ErrorCollector(BTreeMap<String, Vec<String>>);

impl ErrorCollector {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }
}

/// Validates the workout at `index` of a request, as received (`now` bounds future starts).
///
/// ```
/// use chrono::Utc;
/// let raw = serde_json::json!({
///     "client_id": "healthkit_abc123", "start_time": "2024-01-15T08:00:00Z",
///     "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100, "distance_meters": 5000
/// });
/// let workout = sync_core::validate_workout(0, &raw, Utc::now()).unwrap();
/// assert_eq!(workout.content.source, "unknown");
/// assert_eq!(workout.content.avg_pace_seconds_per_km, Some(420.0));
///
/// let bad = serde_json::json!({"client_id": "x", "distance_meters": "5000"});
/// let rejected = sync_core::validate_workout(3, &bad, Utc::now()).unwrap_err();
/// assert_eq!(rejected.index, 3);
/// assert!(rejected.errors.contains_key("distance_meters"));
/// assert!(rejected.errors.contains_key("start_time"));
/// ```
pub fn validate_workout(
    index: usize,
    raw: &Value,
    now: DateTime<Utc>,
) -> Result<ValidWorkout, RejectedWorkout> {
    let client_id_text = raw
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(object) = raw.as_object() else {
        let mut errors = ErrorCollector::default();
        errors.add("workout", "must be a JSON object");
        return Err(RejectedWorkout {
            index,
            client_id: None,
            errors: errors.0,
        });
    };

    let mut errors = ErrorCollector::default();
    let reader = Reader {
        object,
        errors: &mut errors,
    };
    let parsed = reader.read(now);
    match parsed {
        Some(workout) if errors.0.is_empty() => Ok(ValidWorkout { index, ..workout }),
        _ => Err(RejectedWorkout {
            index,
            client_id: client_id_text,
            errors: errors.0,
        }),
    }
}

struct Reader<'a> {
    object: &'a Map<String, Value>,
    errors: &'a mut ErrorCollector,
}

impl Reader<'_> {
    /// Reads every field, recording each problem; `None` when a required field is unusable.
    fn read(mut self, now: DateTime<Utc>) -> Option<ValidWorkout> {
        let client_id = self.client_id();
        let start = self.timestamp("start_time");
        let end = self.timestamp("end_time");
        let duration = self.number("duration_seconds", true);
        let distance = self.number("distance_meters", true);
        let energy = self.number("energy_burned_kcal", false);
        let avg_hr = self.heart_rate("avg_heart_rate");
        let max_hr = self.heart_rate("max_heart_rate");
        let pace = self.number("avg_pace_seconds_per_km", false);
        let source = self.source();
        let client_version = self.client_version();

        if let (Some(start), Some(end)) = (start, end) {
            if end.utc <= start.utc {
                self.errors.add("end_time", "must be after start_time");
            } else if let Some(Some(duration)) = duration {
                let span_seconds = (end.utc - start.utc).num_milliseconds() as f64 / 1000.0;
                if duration.round() > span_seconds + 1.0 {
                    self.errors.add(
                        "duration_seconds",
                        "must not be longer than end_time - start_time",
                    );
                }
            }
        }
        if let Some(start) = start {
            if start.utc > now + max_future_start() {
                self.errors
                    .add("start_time", "must not be more than a day in the future");
            }
        }

        let start = start?;
        let duration_seconds = duration??.round() as i64;
        let distance_meters = distance??;
        let content = WorkoutContent {
            start_time: start.utc,
            end_time: end?.utc,
            duration_seconds,
            distance_meters,
            energy_burned_kcal: energy?,
            avg_heart_rate: avg_hr?,
            max_heart_rate: max_hr?,
            avg_pace_seconds_per_km: WorkoutContent::effective_pace(
                duration_seconds,
                distance_meters,
                pace?,
            ),
            source: source?,
        };
        Some(ValidWorkout {
            index: 0,
            client_id: client_id?,
            content,
            start_offset_minutes: start.offset_minutes,
            client_version: client_version?,
        })
    }

    /// The field's value, treating an explicit `null` as absent.
    fn present(&self, field: &str) -> Option<&Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    fn client_id(&mut self) -> Option<String> {
        match self.present("client_id") {
            None => self.errors.add("client_id", "is required"),
            Some(Value::String(id)) => match crate::validate::check_client_id(id) {
                Ok(()) => return Some(id.clone()),
                Err(message) => self.errors.add("client_id", message),
            },
            Some(_) => self.errors.add("client_id", "must be a string"),
        }
        None
    }

    fn timestamp(&mut self, field: &str) -> Option<ClientTimestamp> {
        match self.present(field) {
            None => self.errors.add(field, "is required"),
            Some(Value::String(text)) => match parse_client_timestamp(text) {
                // Responses write times in UTC with a four-digit year; an instant outside those
                // years could be stored but never served back as RFC 3339.
                Some(ts) if (0..=9999).contains(&ts.utc.year()) => return Some(ts),
                Some(_) => self
                    .errors
                    .add(field, "must be between the years 0000 and 9999 in UTC"),
                None => self.errors.add(field, "must be an RFC 3339 timestamp"),
            },
            Some(_) => self.errors.add(field, "must be a string"),
        }
        None
    }

    /// A finite, non-negative number. Outer `None`: unusable; inner `None`: absent and optional.
    fn number(&mut self, field: &str, required: bool) -> Option<Option<f64>> {
        match self.present(field) {
            None if required => {
                self.errors.add(field, "is required");
                None
            }
            None => Some(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() && v >= 0.0 => Some(Some(v + 0.0)), // folds -0.0 into 0.0
                _ => {
                    self.errors
                        .add(field, "must be a finite, non-negative number");
                    None
                }
            },
            Some(_) => {
                self.errors.add(field, "must be a number");
                None
            }
        }
    }

    fn heart_rate(&mut self, field: &str) -> Option<Option<i32>> {
        let value = self.number(field, false)?;
        match value {
            None => Some(None),
            Some(bpm) if (MIN_HEART_RATE..=MAX_HEART_RATE).contains(&bpm) => {
                Some(Some(bpm.round() as i32))
            }
            Some(_) => {
                self.errors.add(field, "must be between 20 and 250");
                None
            }
        }
    }

    fn source(&mut self) -> Option<String> {
        match self.present("source") {
            None => Some(DEFAULT_SOURCE.to_owned()),
            Some(Value::String(text)) if text.is_empty() => Some(DEFAULT_SOURCE.to_owned()),
            Some(Value::String(text)) => match check_text(text, 1, MAX_SOURCE_CHARS) {
                Ok(()) => Some(text.clone()),
                Err(message) => {
                    self.errors.add("source", message);
                    None
                }
            },
            Some(_) => {
                self.errors.add("source", "must be a string");
                None
            }
        }
    }

    fn client_version(&mut self) -> Option<Option<i64>> {
        match self.present("client_version") {
            None => Some(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v >= 0 => Some(Some(v)),
                _ => {
                    self.errors
                        .add("client_version", "must be a non-negative integer");
                    None
                }
            },
            Some(_) => {
                self.errors
                    .add("client_version", "must be a non-negative integer");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_client_timestamp("2024-06-01T12:00:00Z").unwrap().utc
    }

    fn base() -> Value {
        json!({
            "client_id": "hk-1", "start_time": "2024-01-15T08:00:00Z",
            "end_time": "2024-01-15T08:35:00Z", "duration_seconds": 2100,
            "distance_meters": 5000, "energy_burned_kcal": 350, "avg_heart_rate": 145,
            "source": "apple_watch"
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut w = base();
        w[field] = value;
        w
    }

    fn errors_of(raw: Value) -> BTreeMap<String, Vec<String>> {
        validate_workout(0, &raw, now()).unwrap_err().errors
    }

    #[test]
    fn the_seed_example_is_valid() {
        let w = validate_workout(0, &base(), now()).unwrap();
        assert_eq!(w.client_id, "hk-1");
        assert_eq!(w.content.duration_seconds, 2100);
        assert_eq!(w.content.avg_heart_rate, Some(145));
        assert_eq!(w.content.avg_pace_seconds_per_km, Some(420.0));
        assert_eq!(w.client_version, None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let w = validate_workout(0, &with("id", json!("random-per-request")), now()).unwrap();
        assert_eq!(w, validate_workout(0, &base(), now()).unwrap());
    }

    #[test]
    fn end_must_follow_start() {
        let e = errors_of(with("end_time", json!("2024-01-15T08:00:00Z")));
        assert!(e.contains_key("end_time"));
    }

    #[test]
    fn duration_may_not_exceed_the_span_plus_a_second() {
        assert!(validate_workout(0, &with("duration_seconds", json!(2101)), now()).is_ok());
        assert!(errors_of(with("duration_seconds", json!(2102))).contains_key("duration_seconds"));
    }

    #[test]
    fn wrong_types_are_field_errors() {
        let e = errors_of(with("distance_meters", json!("5000")));
        assert_eq!(e["distance_meters"], vec!["must be a number"]);
        let e = errors_of(with("start_time", json!(12)));
        assert!(e.contains_key("start_time"));
    }

    #[test]
    fn required_fields_are_reported_each() {
        let e = errors_of(json!({"client_id": "x"}));
        for field in [
            "start_time",
            "end_time",
            "duration_seconds",
            "distance_meters",
        ] {
            assert!(e.contains_key(field), "{field}");
        }
    }

    #[test]
    fn negative_and_out_of_range_numbers_are_refused() {
        assert!(errors_of(with("distance_meters", json!(-1))).contains_key("distance_meters"));
        assert!(
            errors_of(with("energy_burned_kcal", json!(-0.5))).contains_key("energy_burned_kcal")
        );
        assert!(errors_of(with("avg_heart_rate", json!(19))).contains_key("avg_heart_rate"));
        assert!(errors_of(with("max_heart_rate", json!(251))).contains_key("max_heart_rate"));
    }

    #[test]
    fn a_start_more_than_a_day_ahead_is_refused() {
        let w = json!({
            "client_id": "f", "start_time": "2024-06-03T12:00:00Z",
            "end_time": "2024-06-03T12:30:00Z", "duration_seconds": 1800, "distance_meters": 0
        });
        assert!(errors_of(w).contains_key("start_time"));
    }

    #[test]
    fn texts_are_bounded() {
        assert!(errors_of(with("client_id", json!("x".repeat(256)))).contains_key("client_id"));
        assert!(validate_workout(0, &with("client_id", json!("x".repeat(255))), now()).is_ok());
        assert!(errors_of(with("source", json!("s".repeat(65)))).contains_key("source"));
        assert!(errors_of(with("client_id", json!("a\nb"))).contains_key("client_id"));
    }

    #[test]
    fn a_non_object_is_rejected_without_a_client_id() {
        let r = validate_workout(4, &json!([1, 2]), now()).unwrap_err();
        assert_eq!(r.index, 4);
        assert_eq!(r.client_id, None);
    }

    #[test]
    fn rejected_keeps_the_client_id_it_could_read() {
        let r = validate_workout(1, &with("end_time", json!(null)), now()).unwrap_err();
        assert_eq!(r.client_id.as_deref(), Some("hk-1"));
    }

    #[test]
    fn client_version_must_be_a_non_negative_integer() {
        assert!(errors_of(with("client_version", json!(-1))).contains_key("client_version"));
        assert!(errors_of(with("client_version", json!(1.5))).contains_key("client_version"));
        let w = validate_workout(0, &with("client_version", json!(3)), now()).unwrap();
        assert_eq!(w.client_version, Some(3));
    }

    #[test]
    fn pace_is_the_clients_only_without_distance() {
        let w = validate_workout(0, &with("avg_pace_seconds_per_km", json!(999)), now()).unwrap();
        assert_eq!(w.content.avg_pace_seconds_per_km, Some(420.0));
        let mut treadmill = with("distance_meters", json!(0));
        treadmill["avg_pace_seconds_per_km"] = json!(400.5);
        let w = validate_workout(0, &treadmill, now()).unwrap();
        assert_eq!(w.content.avg_pace_seconds_per_km, Some(400.5));
    }

    #[test]
    fn fractional_distance_and_heart_rate_are_kept_and_rounded() {
        let mut raw = with("distance_meters", json!(5012.7));
        raw["avg_heart_rate"] = json!(144.6);
        let w = validate_workout(0, &raw, now()).unwrap();
        assert_eq!(w.content.distance_meters, 5012.7);
        assert_eq!(w.content.avg_heart_rate, Some(145));
    }
}
