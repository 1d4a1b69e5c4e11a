//! What every handler shares.

use std::sync::Arc;

use sync_store::Store;

use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::ratelimit::RateLimiter;

/// Shared application state (held in `web::Data`).
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The configuration.
    pub config: Config,
    /// Access-token keys.
    pub tokens: TokenKeys,
    /// This instance's rate-limit counters.
    pub rate_limiter: RateLimiter,
}
