//! Streaming the `Workout` elements of an export out of its XML, each read into a checked
//! workout (or the reason it could not be).

use std::io::BufRead;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;
use serde_json::{Map, Value};
use sync_core::{validate_workout, ValidWorkout};

use super::values::{
    apple_date, clean_source, client_id, convert, heart_rate, kcal_per, meters_per, number,
    seconds_per, Quantity,
};
use super::RUNNING;

/// One `Workout` element of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportItem {
    /// A running workout, checked and ready for the cache.
    Running(Box<ValidWorkout>),
    /// A workout of another type (skipped).
    Other {
        /// Its `workoutActivityType`.
        activity: String,
    },
    /// A `Workout` element that could not be read (skipped).
    Malformed {
        /// Byte offset of the element in the XML.
        position: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// The XML itself broke off: nothing after `position` could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// Byte offset in the XML.
    pub position: u64,
    /// The parser's message.
    pub message: String,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.position, self.message)
    }
}

/// Streams the `Workout` elements of an export, one [`ExportItem`] each; an `Err` (the XML
/// broke off) ends the stream. Memory use is bounded by the largest single element.
pub struct WorkoutReader<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    depth: usize,
    current: Option<Pending>,
    done: bool,
    now: DateTime<Utc>,
}

impl<R: BufRead> WorkoutReader<R> {
    /// Reads the export XML from `source`.
    pub fn new(source: R) -> WorkoutReader<R> {
        let mut reader = quick_xml::Reader::from_reader(source);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.trim_text(true);
        WorkoutReader {
            reader,
            buf: Vec::with_capacity(64 * 1024),
            depth: 0,
            current: None,
            done: false,
            now: Utc::now(),
        }
    }

    /// Bytes of XML consumed so far.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }
}

impl<R: BufRead> Iterator for WorkoutReader<R> {
    type Item = Result<ExportItem, XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            let position = self.reader.buffer_position();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => {
                    self.done = true;
                    return Some(Err(XmlError {
                        position: self.reader.error_position(),
                        message: e.to_string(),
                    }));
                }
            };
            match event {
                Event::Eof => {
                    self.done = true;
                    if let Some(pending) = self.current.take() {
                        return Some(Err(XmlError {
                            position: pending.position,
                            message: "the file ends inside a Workout element".into(),
                        }));
                    }
                }
                Event::Start(element) => {
                    self.depth += 1;
                    if let Some(pending) = &mut self.current {
                        pending.child(&element);
                    } else if element.name().as_ref() == b"Workout" {
                        self.current = Some(Pending::open(&element, position, self.depth));
                    }
                }
                Event::Empty(element) => {
                    if let Some(pending) = &mut self.current {
                        pending.child(&element);
                    } else if element.name().as_ref() == b"Workout" {
                        let pending = Pending::open(&element, position, self.depth + 1);
                        return Some(Ok(pending.finish(self.now)));
                    }
                }
                Event::End(_) => {
                    let closes_workout = self
                        .current
                        .as_ref()
                        .is_some_and(|pending| pending.depth == self.depth);
                    self.depth = self.depth.saturating_sub(1);
                    if closes_workout {
                        if let Some(pending) = self.current.take() {
                            return Some(Ok(pending.finish(self.now)));
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// A `Workout` element being read.
#[derive(Debug, Default)]
struct Pending {
    position: u64,
    depth: usize,
    activity: String,
    source: Option<String>,
    start: Option<String>,
    end: Option<String>,
    duration: Quantity,
    total_distance: Quantity,
    total_energy: Quantity,
    stat_distance: Option<Quantity>,
    stat_energy: Option<Quantity>,
    heart_rate_avg: Option<Quantity>,
    heart_rate_max: Option<Quantity>,
    problems: Vec<String>,
}

/// The attributes of an element as `(name, value)`, up to the first syntax problem (if any).
fn attributes(element: &BytesStart<'_>) -> (Vec<(String, String)>, Option<String>) {
    let mut out = Vec::new();
    for attribute in element.attributes() {
        let attribute = match attribute {
            Ok(attribute) => attribute,
            Err(e) => return (out, Some(format!("unreadable attribute: {e}"))),
        };
        let name = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        match attribute.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) => out.push((name, value.into_owned())),
            Err(e) => return (out, Some(format!("unreadable value of {name}: {e}"))),
        }
    }
    (out, None)
}

impl Pending {
    fn open(element: &BytesStart<'_>, position: u64, depth: usize) -> Pending {
        let mut pending = Pending {
            position,
            depth,
            ..Pending::default()
        };
        let (attributes, problem) = attributes(element);
        pending.problems.extend(problem);
        for (name, value) in attributes {
            match name.as_str() {
                "workoutActivityType" => pending.activity = value,
                "sourceName" => pending.source = Some(value),
                "startDate" => pending.start = Some(value),
                "endDate" => pending.end = Some(value),
                "duration" => pending.duration.value = Some(value),
                "durationUnit" => pending.duration.unit = Some(value),
                "totalDistance" => pending.total_distance.value = Some(value),
                "totalDistanceUnit" => pending.total_distance.unit = Some(value),
                "totalEnergyBurned" => pending.total_energy.value = Some(value),
                "totalEnergyBurnedUnit" => pending.total_energy.unit = Some(value),
                _ => {}
            }
        }
        pending
    }

    /// A child element of the workout: only `WorkoutStatistics` matter.
    fn child(&mut self, element: &BytesStart<'_>) {
        if element.name().as_ref() != b"WorkoutStatistics" {
            return;
        }
        let (attributes, problem) = attributes(element);
        if let Some(problem) = problem {
            self.problems.push(format!("WorkoutStatistics: {problem}"));
            return;
        }
        let get = |key: &str| {
            attributes
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
        };
        let unit = get("unit");
        let quantity = |value: Option<String>| Quantity {
            value,
            unit: unit.clone(),
        };
        match get("type").as_deref() {
            Some("HKQuantityTypeIdentifierDistanceWalkingRunning") => {
                self.stat_distance = Some(quantity(get("sum")));
            }
            Some("HKQuantityTypeIdentifierActiveEnergyBurned") => {
                self.stat_energy = Some(quantity(get("sum")));
            }
            Some("HKQuantityTypeIdentifierHeartRate") => {
                self.heart_rate_avg = get("average").map(|v| quantity(Some(v)));
                self.heart_rate_max = get("maximum").map(|v| quantity(Some(v)));
            }
            _ => {}
        }
    }

    fn finish(self, now: DateTime<Utc>) -> ExportItem {
        // A workout whose type could not even be read is malformed, not "another type".
        let unreadable = self.activity.is_empty() && !self.problems.is_empty();
        if self.activity != RUNNING && !unreadable {
            return ExportItem::Other {
                activity: self.activity,
            };
        }
        let position = self.position;
        match self.read(now) {
            Ok(workout) => ExportItem::Running(Box::new(workout)),
            Err(reason) => ExportItem::Malformed { position, reason },
        }
    }

    fn read(self, now: DateTime<Utc>) -> Result<ValidWorkout, String> {
        if !self.problems.is_empty() {
            return Err(self.problems.join("; "));
        }
        let start = apple_date("startDate", self.start.as_deref())?;
        let end = apple_date("endDate", self.end.as_deref())?;
        let elapsed = (end - start).num_milliseconds() as f64 / 1000.0;
        if elapsed <= 0.0 {
            return Err(format!(
                "endDate {} is not after startDate {}",
                self.end.unwrap_or_default(),
                self.start.unwrap_or_default()
            ));
        }

        let duration = match &self.duration.value {
            None => elapsed,
            Some(text) => {
                let unit = self.duration.unit.as_deref().unwrap_or("min");
                number("duration", text)? * seconds_per(unit)?
            }
        };
        // Apple writes the duration as fractional minutes; a rounding hair over the elapsed
        // time is clamped, anything more is an error.
        let duration = if duration > elapsed && duration <= elapsed + 60.0 {
            elapsed.floor()
        } else {
            duration
        };
        if !(duration.is_finite() && duration <= 9.0e15) {
            return Err(format!("duration of {duration} s is out of range"));
        }
        let duration_seconds = duration.round() as i64;

        let distance = match (&self.stat_distance, &self.total_distance.value) {
            (Some(stat), _) if stat.value.is_some() => Some(stat.clone()),
            (_, Some(_)) => Some(self.total_distance.clone()),
            _ => None,
        };
        let distance_meters = match distance {
            None => 0.0,
            Some(q) => convert("distance", &q, meters_per)?,
        };
        let energy = match (&self.stat_energy, &self.total_energy.value) {
            (Some(stat), _) if stat.value.is_some() => Some(stat.clone()),
            (_, Some(_)) => Some(self.total_energy.clone()),
            _ => None,
        };
        let energy_kcal = energy
            .map(|q| convert("energy", &q, kcal_per))
            .transpose()?;
        let avg_hr = self.heart_rate_avg.as_ref().and_then(heart_rate);
        let max_hr = self.heart_rate_max.as_ref().and_then(heart_rate);

        let source = self.source.as_deref().map(clean_source).unwrap_or_default();
        let client_id = client_id(&self.activity, &source, start, end);
        let mut wire = Map::new();
        wire.insert("client_id".into(), client_id.into());
        wire.insert("start_time".into(), start.to_rfc3339().into());
        wire.insert("end_time".into(), end.to_rfc3339().into());
        wire.insert("duration_seconds".into(), duration_seconds.into());
        wire.insert("distance_meters".into(), distance_meters.into());
        if let Some(kcal) = energy_kcal {
            wire.insert("energy_burned_kcal".into(), kcal.into());
        }
        if let Some(hr) = avg_hr {
            wire.insert("avg_heart_rate".into(), hr.into());
        }
        if let Some(hr) = max_hr {
            wire.insert("max_heart_rate".into(), hr.into());
        }
        if !source.is_empty() {
            wire.insert("source".into(), source.into());
        }
        validate_workout(0, &Value::Object(wire), now).map_err(|rejected| {
            rejected
                .errors
                .iter()
                .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(xml: &str) -> Vec<Result<ExportItem, XmlError>> {
        WorkoutReader::new(xml.as_bytes()).collect()
    }

    fn running(xml: &str) -> ValidWorkout {
        match items(xml).into_iter().next() {
            Some(Ok(ExportItem::Running(w))) => *w,
            other => panic!("{other:?}"),
        }
    }

    fn malformed(xml: &str) -> String {
        match items(xml).into_iter().next() {
            Some(Ok(ExportItem::Malformed { reason, .. })) => reason,
            other => panic!("{other:?}"),
        }
    }

    const START: &str =
        r#"startDate="2024-01-15 08:00:00 +0100" endDate="2024-01-15 08:35:00 +0100""#;

    #[test]
    fn the_statistics_form_wins_and_units_convert() {
        let w = running(&format!(
            r#"<HealthData><Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="0.5" durationUnit="hr"
                 totalDistance="9" totalDistanceUnit="km" sourceName="Watch" {START}>
               <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="3.1" unit="mi"/>
               <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" sum="1464.4" unit="kJ"/>
               <WorkoutStatistics type="HKQuantityTypeIdentifierHeartRate" average="150.4" maximum="171" unit="count/min"/>
             </Workout></HealthData>"#
        ));
        assert_eq!(w.content.distance_meters, 4988.966);
        assert_eq!(w.content.energy_burned_kcal, Some(350.0));
        assert_eq!(w.content.duration_seconds, 1800);
        assert_eq!(w.content.avg_heart_rate, Some(150));
        assert_eq!(w.content.max_heart_rate, Some(171));
        assert_eq!(w.start_offset_minutes, 60);
        assert_eq!(
            sync_core::time::format_workout_time(w.content.start_time),
            "2024-01-15T07:00:00Z"
        );
    }

    #[test]
    fn units_of_every_kind() {
        for (distance, unit, meters) in [
            ("5000", "m", 5000.0),
            ("16404.2", "ft", 5000.0),
            ("5", "km", 5000.0),
        ] {
            let w = running(&format!(
                r#"<Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="2100" durationUnit="s"
                    totalDistance="{distance}" totalDistanceUnit="{unit}" totalEnergyBurned="350" totalEnergyBurnedUnit="Cal" {START}/>"#
            ));
            assert!((w.content.distance_meters - meters).abs() < 0.01, "{unit}");
            assert_eq!(w.content.energy_burned_kcal, Some(350.0));
        }
    }

    #[test]
    fn the_same_workout_gets_the_same_id_and_another_a_different_one() {
        let xml = |source: &str| {
            format!(
                r#"<Workout workoutActivityType="HKWorkoutActivityTypeRunning" sourceName="{source}" {START}/>"#
            )
        };
        assert_eq!(running(&xml("A")).client_id, running(&xml("A")).client_id);
        assert_ne!(running(&xml("A")).client_id, running(&xml("B")).client_id);
        // Without a duration, the elapsed time is used; without a distance, 0.
        let w = running(&xml("A"));
        assert_eq!(w.content.duration_seconds, 2100);
        assert_eq!(w.content.distance_meters, 0.0);
    }

    #[test]
    fn bad_values_are_malformed_not_fatal() {
        let base = r#"<Workout workoutActivityType="HKWorkoutActivityTypeRunning""#;
        for (attrs, expect) in [
            (format!(r#"duration="abc" {START}"#), "not a number"),
            (format!(r#"duration="1e400" {START}"#), "finite"),
            (
                format!(r#"totalDistance="5" totalDistanceUnit="parsec" {START}"#),
                "unknown distance unit",
            ),
            (
                format!(r#"totalDistance="1e308" totalDistanceUnit="km" {START}"#),
                "out of range",
            ),
            (
                format!(r#"totalDistance="-5" totalDistanceUnit="km" {START}"#),
                "non-negative",
            ),
            (format!(r#"totalDistance="5" {START}"#), "no unit"),
            (
                r#"startDate="yesterday" endDate="2024-01-15 08:35:00 +0100""#.into(),
                "startDate",
            ),
            (
                r#"startDate="2024-01-15 09:00:00 +0100" endDate="2024-01-15 08:35:00 +0100""#
                    .into(),
                "not after",
            ),
            (
                format!(r#"duration="5" durationUnit="hr" {START}"#),
                "duration_seconds",
            ),
            (
                format!(r#"duration="35" durationUnit="fortnights" {START}"#),
                "unknown duration unit",
            ),
            (
                format!(r#"totalDistance=5.1 {START}"#),
                "unreadable attribute",
            ),
        ] {
            let reason = malformed(&format!("{base} {attrs}/>"));
            assert!(reason.contains(expect), "{attrs}: {reason}");
        }
    }

    #[test]
    fn other_workouts_and_children_are_skipped_and_the_stream_goes_on() {
        let xml = format!(
            r#"<?xml version="1.0"?>
            <!DOCTYPE HealthData [
            <!ELEMENT HealthData (Workout*)>
            <!ATTLIST Workout workoutActivityType CDATA #REQUIRED>
            ]>
            <HealthData>
              <Record type="HKQuantityTypeIdentifierStepCount" value="10"/>
              <Workout workoutActivityType="HKWorkoutActivityTypeCycling" {START}>
                <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="bogus" unit="mi"/>
              </Workout>
              <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="x" {START}><MetadataEntry key="k" value="v"/></Workout>
              <Workout workoutActivityType="HKWorkoutActivityTypeRunning" {START}></Workout>
            </HealthData>"#
        );
        let items = items(&xml);
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(
            matches!(&items[0], Ok(ExportItem::Other { activity }) if activity == "HKWorkoutActivityTypeCycling")
        );
        assert!(matches!(&items[1], Ok(ExportItem::Malformed { .. })));
        assert!(matches!(&items[2], Ok(ExportItem::Running(_))));
    }

    #[test]
    fn broken_xml_ends_the_stream_with_an_error() {
        let xml = format!(
            r#"<HealthData><Workout workoutActivityType="HKWorkoutActivityTypeRunning" {START}/><Workout workoutActivityType="HKWorkoutActivityTypeRunning" {START}>"#
        );
        let items = items(&xml);
        assert!(matches!(&items[0], Ok(ExportItem::Running(_))));
        assert!(items[1].is_err(), "{items:?}");
        // Garbage is not a panic.
        for garbage in ["", "<", "<<<>>>", "\u{0}\u{1}", "<Workout", "<a><b></a>"] {
            let _ = WorkoutReader::new(garbage.as_bytes()).count();
        }
    }
}
