//! Opaque cursors. Clients treat them as strings; the server reads them back strictly, and a
//! cursor it did not make is an error, never a panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use thiserror::Error;
use uuid::Uuid;

/// A cursor that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the cursor is malformed")]
pub struct CursorError;

/// A position in a user's change feed: every change with a greater `change_seq` follows it.
///
/// ```
/// use sync_core::ChangeCursor;
/// let c = ChangeCursor { after_seq: 42 };
/// assert_eq!(ChangeCursor::decode(&c.encode()), Ok(c));
/// assert!(ChangeCursor::decode("not a cursor").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCursor {
    /// The last change already seen (0: from the beginning).
    pub after_seq: i64,
}

impl ChangeCursor {
    const TAG: &'static str = "c1";

    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", Self::TAG, self.after_seq))
    }

    /// Reads a string made by [`ChangeCursor::encode`].
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let fields = decode_fields(text, Self::TAG, 1)?;
        let after_seq: i64 = fields[0].parse().map_err(|_| CursorError)?;
        if after_seq < 0 {
            return Err(CursorError);
        }
        Ok(ChangeCursor { after_seq })
    }
}

/// A position in the newest-first workout list: the last workout already returned.
///
/// ```
/// use sync_core::ListCursor;
/// let c = ListCursor { start_time: chrono::Utc::now(), id: uuid::Uuid::new_v4() };
/// let back = ListCursor::decode(&c.encode()).unwrap();
/// assert_eq!(back.id, c.id);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    /// `start_time` of the last workout returned.
    pub start_time: DateTime<Utc>,
    /// Its id, the tie-breaker between equal start times.
    pub id: Uuid,
}

impl ListCursor {
    const TAG: &'static str = "l1";

    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}:{}",
            Self::TAG,
            self.start_time.timestamp_millis(),
            self.id
        ))
    }

    /// Reads a string made by [`ListCursor::encode`].
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let fields = decode_fields(text, Self::TAG, 2)?;
        let millis: i64 = fields[0].parse().map_err(|_| CursorError)?;
        let start_time = Utc
            .timestamp_millis_opt(millis)
            .single()
            .ok_or(CursorError)?;
        // The server only stores times in years 0000–9999; anything else was not made here
        // (and PostgreSQL would refuse to compare with it).
        if !(0..=9999).contains(&start_time.year()) {
            return Err(CursorError);
        }
        let id = Uuid::parse_str(&fields[1]).map_err(|_| CursorError)?;
        Ok(ListCursor { start_time, id })
    }
}

/// Longest cursor text accepted, far above anything the server makes.
const MAX_CURSOR_CHARS: usize = 256;

fn decode_fields(text: &str, tag: &str, count: usize) -> Result<Vec<String>, CursorError> {
    if text.len() > MAX_CURSOR_CHARS {
        return Err(CursorError);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
    let plain = String::from_utf8(bytes).map_err(|_| CursorError)?;
    let mut parts = plain.split(':');
    if parts.next() != Some(tag) {
        return Err(CursorError);
    }
    let fields: Vec<String> = parts.map(str::to_owned).collect();
    if fields.len() != count {
        return Err(CursorError);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_of_one_kind_are_not_the_other() {
        let change = ChangeCursor { after_seq: 7 }.encode();
        assert_eq!(ListCursor::decode(&change), Err(CursorError));
        let list = ListCursor {
            start_time: Utc::now(),
            id: Uuid::nil(),
        }
        .encode();
        assert_eq!(ChangeCursor::decode(&list), Err(CursorError));
    }

    #[test]
    fn malformed_cursors_are_errors() {
        for text in ["", "%%%", "YzE6", "YzE6LTE", "YzE6YWJj", &"A".repeat(300)] {
            assert_eq!(ChangeCursor::decode(text), Err(CursorError), "{text}");
        }
    }
}
