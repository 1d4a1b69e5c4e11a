//! Query and path parameters of the read endpoints, parsed strictly: anything malformed is a
//! 400 naming the parameter, never a 500 and never silently clamped.

use chrono::{DateTime, Utc};
use sync_core::running::validate_year;
use sync_core::time::parse_client_timestamp;
use sync_core::{ChangeCursor, ListCursor};
use uuid::Uuid;

use crate::error::ApiError;

fn invalid(name: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_parameter",
        message: format!("{name} {message}"),
        errors: Some([(name.to_owned(), vec![message.to_owned()])].into()),
    }
}

/// An integer `limit` within `min..=max`, `default` when absent.
pub fn limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(invalid(
                "limit",
                &format!("must be an integer from 1 to {max}"),
            )),
        },
    }
}

/// An RFC 3339 timestamp parameter.
pub fn timestamp(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|text| {
        parse_client_timestamp(text)
            .map(|t| t.utc)
            .ok_or_else(|| invalid(name, "must be an RFC 3339 timestamp"))
    })
    .transpose()
}

/// A calendar year from 1 to 9999.
pub fn year(raw: Option<&str>) -> Result<Option<i32>, ApiError> {
    raw.map(|text| match text.parse::<i32>() {
        Ok(y) if (1..=9999).contains(&y) => Ok(y),
        _ => Err(invalid("year", "must be a year from 1 to 9999")),
    })
    .transpose()
}

/// A list cursor made by this server.
pub fn list_cursor(raw: Option<&str>) -> Result<Option<ListCursor>, ApiError> {
    raw.map(|text| ListCursor::decode(text).map_err(|_| invalid("cursor", "is malformed")))
        .transpose()
}

/// A change-feed cursor made by this server; absent means from the beginning.
pub fn change_cursor(raw: Option<&str>) -> Result<ChangeCursor, ApiError> {
    match raw {
        None => Ok(ChangeCursor { after_seq: 0 }),
        Some(text) => ChangeCursor::decode(text).map_err(|_| invalid("cursor", "is malformed")),
    }
}

/// A UUID path segment.
pub fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| invalid("id", "must be a UUID"))
}

/// A year as written in a path or query: anything but an integer is a 400 naming `year`.
pub fn integer_year(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| invalid("year", "must be an integer"))
}

/// The year of a goal or of a runner's numbers: not an integer is a 400; outside 2000–2100 a
/// 422 naming `year` (the contract's two answers).
pub fn running_year(raw: &str) -> Result<i32, ApiError> {
    validate_year(integer_year(raw)?).map_err(|e| ApiError::invalid_field("year", e.to_string()))
}
