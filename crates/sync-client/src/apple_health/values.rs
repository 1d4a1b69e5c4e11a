//! The values of a `Workout` element's attributes: Apple's dates, numbers with their units
//! (converted to the wire's), the source name, and the stable id derived from them.

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use sync_core::validate::MAX_SOURCE_CHARS;

/// A quantity as written in the export: a number and its unit.
#[derive(Debug, Clone, Default)]
pub(super) struct Quantity {
    pub(super) value: Option<String>,
    pub(super) unit: Option<String>,
}

/// Reads Apple's `2024-01-15 08:00:00 +0100` (or RFC 3339).
pub(super) fn apple_date(name: &str, text: Option<&str>) -> Result<DateTime<FixedOffset>, String> {
    let text = text.ok_or_else(|| format!("{name} is missing"))?.trim();
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map_err(|_| format!("{name} {text:?} is not a date like \"2024-01-15 08:00:00 +0100\""))
}

/// A finite, non-negative number.
pub(super) fn number(name: &str, text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{name} {text:?} is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "{name} {text:?} is not a finite non-negative number"
        ));
    }
    Ok(value)
}

pub(super) fn seconds_per(unit: &str) -> Result<f64, String> {
    Ok(match unit.trim() {
        "s" | "sec" => 1.0,
        "min" => 60.0,
        "hr" | "h" => 3600.0,
        "ms" => 0.001,
        "d" | "day" => 86_400.0,
        other => return Err(format!("unknown duration unit {other:?}")),
    })
}

pub(super) fn meters_per(unit: &str) -> Result<f64, String> {
    Ok(match unit.trim() {
        "m" => 1.0,
        "km" => 1000.0,
        "mi" => 1609.344,
        "ft" => 0.3048,
        "yd" => 0.9144,
        "cm" => 0.01,
        "mm" => 0.001,
        other => return Err(format!("unknown distance unit {other:?}")),
    })
}

pub(super) fn kcal_per(unit: &str) -> Result<f64, String> {
    Ok(match unit.trim() {
        "kcal" | "Cal" | "Kcal" => 1.0,
        "kJ" => 1.0 / 4.184,
        "cal" => 0.001,
        "J" => 1.0 / 4184.0,
        other => return Err(format!("unknown energy unit {other:?}")),
    })
}

/// A quantity in the target unit, rounded to thousandths.
pub(super) fn convert(
    name: &str,
    quantity: &Quantity,
    factor: fn(&str) -> Result<f64, String>,
) -> Result<f64, String> {
    let text = quantity.value.as_deref().unwrap_or_default();
    let unit = quantity
        .unit
        .as_deref()
        .ok_or_else(|| format!("{name} {text:?} has no unit"))?;
    let value = number(name, text)? * factor(unit)?;
    let rounded = (value * 1000.0).round() / 1000.0;
    if !rounded.is_finite() {
        return Err(format!("{name} {text:?} {unit} is out of range"));
    }
    Ok(rounded)
}

/// A heart rate in beats per minute, when plausible (20–250); anything else is left out.
pub(super) fn heart_rate(quantity: &Quantity) -> Option<i32> {
    let value = number("heart rate", quantity.value.as_deref()?).ok()?;
    let per_minute = match quantity.unit.as_deref().map(str::trim) {
        None | Some("count/min") => value,
        Some("count/s") => value * 60.0,
        Some(_) => return None,
    };
    let rounded = per_minute.round();
    (20.0..=250.0).contains(&rounded).then_some(rounded as i32)
}

/// `sourceName` as the server accepts it: printable, at most 64 characters.
pub(super) fn clean_source(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_SOURCE_CHARS)
        .collect()
}

/// A stable id for a workout that has none: `ah-` and a hash of what identifies it.
pub(super) fn client_id(
    activity: &str,
    source: &str,
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
) -> String {
    let key = format!(
        "{activity}\n{source}\n{}\n{}",
        start.timestamp_millis(),
        end.timestamp_millis()
    );
    let digest = Sha256::digest(key.as_bytes());
    format!("ah-{}", hex::encode(&digest[..16]))
}
