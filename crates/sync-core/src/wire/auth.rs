//! The bodies of `/auth/*`: credentials in, tokens and the account out, the session list.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::time::serde_format;

/// `{email, password}`, for register and login. Its `Debug` never shows the password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// Trimmed and lowercased; the normalised form identifies the account.
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    /// 8–128 characters.
    #[serde(deserialize_with = "secret_string")]
    #[cfg_attr(feature = "openapi", schema(format = Password, min_length = 8, max_length = 128))]
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `{email, password, time_zone?}`, for `POST /auth/register`: the credentials and, optionally,
/// the account's IANA time zone (`"UTC"` when absent). Its `Debug` never shows the password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    /// The email and password.
    #[serde(flatten)]
    pub credentials: Credentials,
    /// An IANA name such as `Europe/Stockholm`; decides the account's calendar days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Europe/Stockholm"))]
    pub time_zone: Option<String>,
}

/// `DELETE /auth/me`: the account's password, to confirm the erasure.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct DeleteAccount {
    /// The current password.
    #[serde(deserialize_with = "secret_string")]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}

impl std::fmt::Debug for DeleteAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteAccount").finish_non_exhaustive()
    }
}

/// `{time_zone}`, for `PATCH /auth/me`: the account's new time zone. Workouts sent in UTC are
/// re-dated in it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchMe {
    /// An IANA name such as `America/Los_Angeles`.
    #[cfg_attr(feature = "openapi", schema(example = "America/Los_Angeles"))]
    pub time_zone: String,
}

/// `{refresh_token}`, for `POST /auth/refresh`. Its `Debug` never shows the token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token of the last pair; single use.
    #[serde(deserialize_with = "secret_string")]
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest").finish_non_exhaustive()
    }
}

/// A string field holding a secret. serde's own type errors quote the offending value
/// (``invalid type: integer `12345678` ``), and that message reaches the error body and the
/// server's debug log; this one never does.
fn secret_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        _ => Err(serde::de::Error::custom(
            "a secret field must be a JSON string",
        )),
    }
}

/// An account as served (`user`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The account's id.
    pub id: Uuid,
    /// The normalised email.
    pub email: String,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
    /// The account's IANA time zone (`"UTC"` by default): it decides every calendar day the
    /// server computes.
    pub time_zone: String,
}

/// A token pair: the 201 of register, the 200 of login (both with `user`) and of refresh
/// (without).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBody {
    /// Always `true`.
    pub success: bool,
    /// The account, on register and login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque, single use: trade it for the next pair at `POST /auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
}

impl std::fmt::Debug for TokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBody")
            .field("user", &self.user)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// `{user}`: the caller's account (`GET /auth/me`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeBody {
    /// The account.
    pub user: UserView,
}

/// One session (a login on a device or browser) of the caller.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session's id (for `DELETE /auth/sessions/{id}`).
    pub id: Uuid,
    /// The `User-Agent` it logged in with.
    pub user_agent: Option<String>,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub created_at: DateTime<Utc>,
    /// Whole seconds, UTC.
    #[serde(serialize_with = "serde_format::server")]
    pub last_used_at: DateTime<Utc>,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

/// `GET /auth/sessions`: the caller's active sessions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsBody {
    /// Active sessions.
    pub sessions: Vec<SessionView>,
}
