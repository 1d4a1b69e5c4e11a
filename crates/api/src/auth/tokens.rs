//! Access tokens (HS256 JWTs, every registered claim checked) and refresh tokens (opaque
//! random strings, stored only as SHA-256 hashes).

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;

/// The `typ` claim of access tokens; nothing else is accepted where an access token is due.
const ACCESS_TYPE: &str = "access";
/// Clock skew tolerated between instances, in seconds.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    typ: String,
}

/// Who an access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    /// The account.
    pub user_id: Uuid,
    /// The session (login) the token belongs to.
    pub session_id: Uuid,
}

/// Issues and checks access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenKeys {
    /// Keys from the configured secret, issuer, audience and lifetime.
    pub fn new(config: &Config) -> Self {
        let secret = config.jwt_secret.expose();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.set_issuer(&[config.jwt_issuer.as_str()]);
        validation.set_audience(&[config.jwt_audience.as_str()]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iat", "sub", "iss", "aud"].map(String::from));
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl: config.access_token_ttl,
        }
    }

    /// Seconds an access token lives (`expires_in`).
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// A signed access token for a session.
    pub fn issue(&self, subject: TokenSubject, now: DateTime<Utc>) -> Result<String, String> {
        let claims = AccessClaims {
            sub: subject.user_id,
            sid: subject.session_id,
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            typ: ACCESS_TYPE.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The subject of a valid access token; `None` for anything else (bad signature, other
    /// algorithm, `alg: none`, expired, wrong issuer or audience, wrong claim types, not an
    /// access token).
    pub fn verify(&self, token: &str) -> Option<TokenSubject> {
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        if data.header.alg != Algorithm::HS256 || data.claims.typ != ACCESS_TYPE {
            return None;
        }
        Some(TokenSubject { user_id: data.claims.sub, session_id: data.claims.sid })
    }
}

/// A new refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn keys() -> TokenKeys {
        let secret = "k".repeat(40);
        let config = Config::from_lookup(|name| (name == "JWT_SECRET").then(|| secret.clone())).unwrap();
        TokenKeys::new(&config)
    }

    fn subject() -> TokenSubject {
        TokenSubject { user_id: Uuid::new_v4(), session_id: Uuid::new_v4() }
    }

    #[test]
    fn a_fresh_token_verifies_to_its_subject() {
        let k = keys();
        let s = subject();
        let token = k.issue(s, Utc::now()).unwrap();
        assert_eq!(k.verify(&token), Some(s));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys();
        let token = k.issue(subject(), Utc::now() - chrono::Duration::hours(1)).unwrap();
        assert_eq!(k.verify(&token), None);
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(a.len(), 43);
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}
