//! Access tokens (HS256 JWTs, every registered claim checked) and refresh tokens (opaque
//! random strings, stored only as SHA-256 hashes).
//!
//! A request's bearer token is verified once: [`request_subject`] keeps the verdict in the
//! request's extensions, so the rate limiter (which needs the user to pick a budget) and the
//! [`AuthUser`](super::AuthUser) extractor share one verification.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpMessage, HttpRequest};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::error::ApiError;

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
    /// Signature checks made, for `auth_token_verifications_total`.
    verifications: AtomicU64,
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
            verifications: AtomicU64::new(0),
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
        self.verify_at(token, Utc::now())
    }

    /// How many tokens this instance has verified since it started.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Option<TokenSubject> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        // `decode` checks, in order: the header parses and names HS256 (no `none`, no other
        // algorithm); the HMAC; `exp`, `iss`, `aud` present and right. Deserialising into
        // `AccessClaims` refuses missing or wrongly typed claims (`sub` must be a UUID string,
        // `exp` and `iat` integers, `sid` and `typ` present).
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        let claims = &data.claims;
        if data.header.alg != Algorithm::HS256 || claims.typ != ACCESS_TYPE {
            return None;
        }
        // Issued in the future (beyond clock skew) or living longer than we ever issue: not
        // ours, whatever the signature says.
        let leeway = LEEWAY_SECS as i64;
        if claims.iat > now.timestamp() + leeway
            || claims.exp.saturating_sub(claims.iat) > self.ttl.as_secs() as i64 + leeway
        {
            return None;
        }
        Some(TokenSubject {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }
}

/// The bearer token of the `Authorization` header (the only place a token is accepted: never
/// a URL, which would put it in access logs).
pub fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed bearer token"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or(ApiError::Unauthorized("malformed bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("malformed bearer token"));
    }
    Ok(token.trim())
}

/// How every ingest token begins: the server tells one from an access token without a lookup,
/// and secret scanners can recognise a leaked one.
pub const INGEST_TOKEN_PREFIX: &str = "rdi_";

/// A new ingest token: the prefix and 256 random bits, URL-safe.
pub fn new_ingest_token() -> String {
    format!("{INGEST_TOKEN_PREFIX}{}", new_refresh_token())
}

/// What the database keeps of an ingest token: its SHA-256, as of a refresh token.
pub fn hash_ingest_token(token: &str) -> String {
    hash_refresh_token(token)
}

/// The verdict on a request's bearer token, kept in its extensions: the subject, or why not.
#[derive(Debug, Clone, Copy)]
struct Verdict(Result<TokenSubject, &'static str>);

/// The subject of the request's access token, verified at most once per request whoever asks.
pub fn request_subject(req: &HttpRequest, keys: &TokenKeys) -> Result<TokenSubject, ApiError> {
    if let Some(Verdict(verdict)) = req.extensions().get::<Verdict>().copied() {
        return verdict.map_err(ApiError::Unauthorized);
    }
    let verdict = match bearer(req) {
        Ok(token) if token.starts_with(INGEST_TOKEN_PREFIX) => {
            Err("an ingest token opens only POST /api/v1/ingest/health-auto-export")
        }
        Ok(token) => keys.verify(token).ok_or("invalid or expired access token"),
        Err(ApiError::Unauthorized(why)) => Err(why),
        Err(_) => Err("malformed bearer token"),
    };
    req.extensions_mut().insert(Verdict(verdict));
    verdict.map_err(ApiError::Unauthorized)
}

/// A new refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use actix_web::test::TestRequest;

    fn keys() -> TokenKeys {
        let secret = "k".repeat(40);
        let config =
            Config::from_lookup(|name| (name == "JWT_SECRET").then(|| secret.clone())).unwrap();
        TokenKeys::new(&config)
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_request_token_is_verified_once_whoever_asks() {
        let k = keys();
        let s = subject();
        let token = k.issue(s, Utc::now()).unwrap();
        let req = TestRequest::get()
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_http_request();
        let before = k.verifications();
        assert_eq!(request_subject(&req, &k).unwrap(), s);
        assert_eq!(request_subject(&req, &k).unwrap(), s);
        assert_eq!(k.verifications() - before, 1);

        let forged = TestRequest::get()
            .insert_header(("authorization", format!("Bearer {token}x")))
            .to_http_request();
        let before = k.verifications();
        assert!(request_subject(&forged, &k).is_err());
        assert!(request_subject(&forged, &k).is_err());
        assert_eq!(k.verifications() - before, 1);
        let missing = TestRequest::get().to_http_request();
        assert!(matches!(
            request_subject(&missing, &k),
            Err(ApiError::Unauthorized("missing bearer token"))
        ));
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
        let token = k
            .issue(subject(), Utc::now() - chrono::Duration::hours(1))
            .unwrap();
        assert_eq!(k.verify(&token), None);
    }

    fn claims(k: &TokenKeys, s: TokenSubject) -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({
            "sub": s.user_id, "sid": s.session_id, "iat": now, "exp": now + 600,
            "iss": k.issuer, "aud": k.audience, "typ": "access",
        })
    }

    fn sign(alg: Algorithm, claims: &serde_json::Value, secret: &[u8]) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let k = keys();
        let s = subject();
        let secret = "k".repeat(40);
        let good = claims(&k, s);
        // The harness signs acceptable tokens: only the defect under test makes a refusal.
        assert_eq!(
            k.verify(&sign(Algorithm::HS256, &good, secret.as_bytes())),
            Some(s)
        );
        let with = |field: &str, value: serde_json::Value| {
            let mut c = good.clone();
            c[field] = value;
            c
        };
        let without = |field: &str| {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(field);
            c
        };
        let now = Utc::now().timestamp();
        let hs256 = |c: &serde_json::Value| sign(Algorithm::HS256, c, secret.as_bytes());
        let forged = [
            ("HS512", sign(Algorithm::HS512, &good, secret.as_bytes())),
            ("HS384", sign(Algorithm::HS384, &good, secret.as_bytes())),
            ("wrong secret", sign(Algorithm::HS256, &good, &[b'x'; 40])),
            ("wrong aud", hs256(&with("aud", "someone-else".into()))),
            (
                "aud array",
                hs256(&with("aud", serde_json::json!([k.audience]))),
            ),
            ("wrong iss", hs256(&with("iss", "evil".into()))),
            ("expired", hs256(&with("exp", (now - 3600).into()))),
            ("no exp", hs256(&without("exp"))),
            ("no iat", hs256(&without("iat"))),
            ("no sid", hs256(&without("sid"))),
            ("no typ", hs256(&without("typ"))),
            ("no iss", hs256(&without("iss"))),
            ("no aud", hs256(&without("aud"))),
            ("refresh typ", hs256(&with("typ", "refresh".into()))),
            ("sub number", hs256(&with("sub", 42.into()))),
            ("sub not a uuid", hs256(&with("sub", "admin".into()))),
            (
                "exp string",
                hs256(&with("exp", (now + 600).to_string().into())),
            ),
            (
                "exp float",
                hs256(&with("exp", (now as f64 + 600.5).into())),
            ),
            ("iat in future", hs256(&with("iat", (now + 3600).into()))),
            ("too long-lived", hs256(&with("exp", (now + 86_400).into()))),
            ("garbage", "not-a-token".to_owned()),
            ("empty", String::new()),
        ];
        for (case, token) in forged {
            assert_eq!(k.verify(&token), None, "{case} was accepted");
        }
        // `alg: none`, with and without the original signature.
        let token = hs256(&good);
        let (_, rest) = token.split_once('.').unwrap();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let (payload, _) = rest.split_once('.').unwrap();
        assert_eq!(k.verify(&format!("{none}.{payload}.")), None);
        assert_eq!(k.verify(&format!("{none}.{rest}")), None);
        let rs256 = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        assert_eq!(k.verify(&format!("{rs256}.{rest}")), None);
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(a.len(), 43);
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
        // Lowercase hex SHA-256, as stored by every earlier version.
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
