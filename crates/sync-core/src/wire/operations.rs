//! `GET /healthz` and `GET /readyz`.

use serde::{Deserialize, Serialize};

/// A health or readiness answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBody {
    /// `ok` (process up) or `ready` (database reachable, migrations applied).
    pub status: String,
    /// The database backend, on readiness: `sqlite` or `postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}
