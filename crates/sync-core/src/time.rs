//! Timestamp parsing and formatting exactly as the wire contract wants them.
//!
//! Requests carry RFC 3339 with any offset; the server keeps UTC with millisecond precision and
//! remembers the offset only to compute a workout's calendar `date`. Server-generated timestamps
//! are written with whole seconds because the iOS client's default ISO 8601 decoder rejects
//! fractions; workout times keep a fraction only when they have one.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat, Timelike, Utc};

/// A client timestamp normalised to UTC milliseconds, with the offset it was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimestamp {
    /// The instant, truncated to whole milliseconds.
    pub utc: DateTime<Utc>,
    /// The offset east of UTC, in minutes, that the client wrote the timestamp with.
    pub offset_minutes: i32,
}

/// Parses an RFC 3339 timestamp (any offset, optional fraction) and truncates it to milliseconds.
///
/// ```
/// let ts = sync_core::time::parse_client_timestamp("2024-01-15T09:00:00.1239+01:00").unwrap();
/// assert_eq!(sync_core::time::format_workout_time(ts.utc), "2024-01-15T08:00:00.123Z");
/// assert_eq!(ts.offset_minutes, 60);
/// ```
pub fn parse_client_timestamp(text: &str) -> Option<ClientTimestamp> {
    let parsed: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(text).ok()?;
    let offset_minutes = parsed.offset().local_minus_utc() / 60;
    Some(ClientTimestamp {
        utc: truncate_to_millis(parsed.with_timezone(&Utc)),
        offset_minutes,
    })
}

/// Drops everything below one millisecond, the precision the server keeps.
///
/// A leap second (`23:59:60`, which chrono represents as a nanosecond count of one second or
/// more) becomes the first second of the next minute, as in Unix time and PostgreSQL: the
/// server never stores, compares or echoes a `:60`.
pub fn truncate_to_millis(instant: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = instant.nanosecond();
    let (instant, nanos) = if nanos >= 1_000_000_000 {
        let whole = instant.with_nanosecond(0).unwrap_or(instant);
        (whole + Duration::seconds(1), nanos - 1_000_000_000)
    } else {
        (instant, nanos)
    };
    // `with_nanosecond` only fails for values >= 2e9; a truncated value is always smaller.
    instant
        .with_nanosecond(nanos - nanos % 1_000_000)
        .unwrap_or(instant)
}

/// Drops the fraction of a second: the precision of every server-generated timestamp.
pub fn truncate_to_seconds(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.with_nanosecond(0).unwrap_or(instant)
}

/// Formats a server-generated timestamp: UTC, `Z`, whole seconds, no fraction.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = Utc.timestamp_millis_opt(1_705_309_201_999).unwrap();
/// assert_eq!(sync_core::time::format_server_time(t), "2024-01-15T09:00:01Z");
/// ```
pub fn format_server_time(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a workout time: UTC with `Z`, milliseconds only when the instant has any.
pub fn format_workout_time(instant: DateTime<Utc>) -> String {
    if instant.nanosecond() == 0 {
        instant.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        instant.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// The calendar day of `instant` seen from a UTC offset given in minutes.
pub fn local_date(instant: DateTime<Utc>, offset_minutes: i32) -> NaiveDate {
    let offset = FixedOffset::east_opt(offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    instant.with_timezone(&offset).date_naive()
}

/// The calendar day (`YYYY-MM-DD`) of `instant` seen from a UTC offset given in minutes.
pub fn calendar_date(instant: DateTime<Utc>, offset_minutes: i32) -> String {
    local_date(instant, offset_minutes)
        .format("%Y-%m-%d")
        .to_string()
}

/// Serde helpers for the two timestamp styles of the contract.
pub mod serde_format {
    use chrono::{DateTime, FixedOffset, Utc};
    use serde::Serializer;

    /// Serialises a server-generated timestamp (whole seconds).
    pub fn server<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_server_time(*value))
    }

    /// Serialises an optional server-generated timestamp (whole seconds), `null` when absent.
    pub fn server_opt<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => server(v, s),
            None => s.serialize_none(),
        }
    }

    /// Serialises a workout time (fraction only when present).
    pub fn workout<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_workout_time(*value))
    }

    /// Serialises a time as a client sends it: in the offset it was recorded in (`Z` for
    /// UTC), milliseconds only when there is a fraction.
    pub fn client<S: Serializer>(value: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        use chrono::{SecondsFormat, Timelike};
        let format = if value.nanosecond() == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        s.serialize_str(&value.to_rfc3339_opts(format, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = parse_client_timestamp("2024-01-15T09:00:00+01:00").unwrap();
        let b = parse_client_timestamp("2024-01-15T08:00:00Z").unwrap();
        assert_eq!(a.utc, b.utc);
        assert_eq!(a.offset_minutes, 60);
        assert_eq!(b.offset_minutes, 0);
    }

    #[test]
    fn precision_is_milliseconds() {
        let t = parse_client_timestamp("2024-01-15T08:00:00.123456789Z").unwrap();
        assert_eq!(format_workout_time(t.utc), "2024-01-15T08:00:00.123Z");
        let whole = parse_client_timestamp("2024-01-15T08:00:00.000Z").unwrap();
        assert_eq!(format_workout_time(whole.utc), "2024-01-15T08:00:00Z");
    }

    #[test]
    fn a_leap_second_is_folded_into_the_next_minute() {
        let t = parse_client_timestamp("2016-12-31T23:59:60.5Z").unwrap();
        assert_eq!(format_workout_time(t.utc), "2017-01-01T00:00:00.500Z");
        let t = parse_client_timestamp("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(
            t.utc,
            parse_client_timestamp("2017-01-01T00:00:00Z").unwrap().utc
        );
    }

    #[test]
    fn garbage_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2024-01-15",
            "2024-13-01T00:00:00Z",
            "2024-01-15T08:00:00",
        ] {
            assert!(parse_client_timestamp(text).is_none(), "{text}");
        }
    }

    #[test]
    fn server_time_has_no_fraction() {
        let t = parse_client_timestamp("2024-01-15T09:00:01.999Z").unwrap();
        assert_eq!(format_server_time(t.utc), "2024-01-15T09:00:01Z");
    }

    #[test]
    fn calendar_date_uses_the_clients_offset() {
        let t = parse_client_timestamp("2024-01-15T23:30:00-05:00").unwrap();
        assert_eq!(calendar_date(t.utc, t.offset_minutes), "2024-01-15");
        assert_eq!(calendar_date(t.utc, 0), "2024-01-16");
    }
}
