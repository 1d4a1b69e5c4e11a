//! The error body every 4xx and 5xx response carries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Messages per request field at fault, e.g. `"workouts[3].end_time"`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// `{"success": false, "error", "message", "errors"?, "request_id"?}`. Read leniently: a
/// client that gets a partial body (a proxy's, say) keeps what it has.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// A stable code, e.g. `unauthorized`, `validation_failed`, `idempotency_key_reused`.
    pub error: String,
    /// One human sentence.
    pub message: String,
    /// Messages per request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
    /// The request id, also in the `X-Request-Id` header and the server's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
