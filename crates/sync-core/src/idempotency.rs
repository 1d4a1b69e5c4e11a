//! Idempotency: keys, request fingerprints, and what to do with a key the server has seen.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::validate::check_text;

/// Longest accepted key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// A key that is not 1–255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("idempotency key {0}")]
pub struct InvalidKey(pub String);

/// A client-chosen key naming one logical sync request; scoped to the user by the store.
///
/// ```
/// use sync_core::IdempotencyKey;
/// assert!(IdempotencyKey::parse("sync_20240115_abc").is_ok());
/// assert!(IdempotencyKey::parse("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks the key: 1–255 characters, none a control character.
    pub fn parse(text: &str) -> Result<Self, InvalidKey> {
        check_text(text, 1, MAX_KEY_CHARS).map_err(InvalidKey)?;
        Ok(IdempotencyKey(text.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A hash of the canonical form of a request: two requests with the same fingerprint apply
/// the same changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The SHA-256 of `canonical_bytes`, in lowercase hex.
    pub fn of(canonical_bytes: &[u8]) -> Self {
        Fingerprint::from_digest(&Sha256::digest(canonical_bytes))
    }

    /// Wraps a finished SHA-256 digest.
    pub fn from_digest(digest: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(digest.len() * 2);
        for b in digest {
            hex.push(HEX[usize::from(b >> 4)] as char);
            hex.push(HEX[usize::from(b & 0x0f)] as char);
        }
        Fingerprint(hex)
    }

    /// Wraps a fingerprint read back from storage.
    pub fn from_stored(hex: String) -> Self {
        Fingerprint(hex)
    }

    /// The lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A completed sync stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The fingerprint of the request that completed.
    pub fingerprint: Fingerprint,
    /// Its response body, byte for byte.
    pub response_body: String,
    /// When it completed.
    pub created_at: DateTime<Utc>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyDecision {
    /// No live record: apply the request and store its response under the key.
    Process,
    /// The same request completed before: send its stored body again.
    Replay(String),
    /// The key completed with a different request: refuse, apply nothing.
    KeyReused,
}

/// Decides, given the record stored under the request's key (if any). A record older than
/// `ttl` counts as absent: it may simply not have been purged yet.
///
/// ```
/// use chrono::{Duration, Utc};
/// use sync_core::{decide_idempotency, Fingerprint, IdempotencyDecision, IdempotencyRecord};
/// let fp = Fingerprint::of(b"request");
/// let record = IdempotencyRecord {
///     fingerprint: fp.clone(), response_body: "{}".into(), created_at: Utc::now(),
/// };
/// let ttl = Duration::hours(24);
/// assert_eq!(decide_idempotency(None, &fp, Utc::now(), ttl), IdempotencyDecision::Process);
/// assert_eq!(
///     decide_idempotency(Some(&record), &fp, Utc::now(), ttl),
///     IdempotencyDecision::Replay("{}".into())
/// );
/// assert_eq!(
///     decide_idempotency(Some(&record), &Fingerprint::of(b"other"), Utc::now(), ttl),
///     IdempotencyDecision::KeyReused
/// );
/// ```
pub fn decide_idempotency(
    stored: Option<&IdempotencyRecord>,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
    ttl: Duration,
) -> IdempotencyDecision {
    match stored {
        Some(record) if now - record.created_at < ttl => {
            if &record.fingerprint == fingerprint {
                IdempotencyDecision::Replay(record.response_body.clone())
            } else {
                IdempotencyDecision::KeyReused
            }
        }
        _ => IdempotencyDecision::Process,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_record_is_processed_afresh() {
        let fp = Fingerprint::of(b"a");
        let now = Utc::now();
        let old = IdempotencyRecord {
            fingerprint: Fingerprint::of(b"b"),
            response_body: "{}".into(),
            created_at: now - Duration::hours(25),
        };
        assert_eq!(
            decide_idempotency(Some(&old), &fp, now, Duration::hours(24)),
            IdempotencyDecision::Process
        );
    }

    #[test]
    fn keys_are_bounded_and_printable() {
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("a\u{0}b").is_err());
        assert!(IdempotencyKey::parse("9b2c1f4e-3d5a-4c8b-a7e6-1f2d3c4b5a69").is_ok());
    }

    #[test]
    fn fingerprints_are_hex_sha256() {
        let fp = Fingerprint::of(b"abc");
        assert_eq!(
            fp.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
