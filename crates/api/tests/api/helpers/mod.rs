//! What only the API suite needs on top of the shared harness (`test_support`): the server
//! binary as a child process, a TCP proxy that cuts the database off, direct database
//! connections, and checks of the wire format and of tokens.

mod db_probe;
mod process;
mod proxy;

pub use db_probe::DbProbe;
pub use process::{server_command, ServerProcess};
pub use proxy::{socket_addr_of, TcpProxy};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`: a server-generated timestamp, whole seconds.
pub fn is_server_time(text: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    text.len() == PATTERN.len()
        && text.bytes().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            literal => c == *literal,
        })
}

/// A JSON string holding a server-generated timestamp ([`is_server_time`]).
pub fn is_server_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(is_server_time)
}

/// Asserts that an error body says nothing about the database driver or the connection.
pub fn assert_no_driver_text(text: &str, context: &str) {
    let lower = text.to_ascii_lowercase();
    for word in [
        "connection",
        "postgres",
        "sqlite",
        "diesel",
        "r2d2",
        "refused",
        "locked",
        "timed out",
        "timeout",
        "server closed",
        "pool",
    ] {
        assert!(
            !lower.contains(word),
            "{context}: the body carries driver text ({word:?}): {text}"
        );
    }
}

/// The claims of a real access token (decoded without checking: the server issued it).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// `claims` signed with `secret` by `alg`: a token as a forger would make it.
pub fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
        .expect("sign")
}
