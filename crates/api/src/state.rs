//! What the handlers share: the database, the configuration and the token keys. The rate
//! limiter is application data of its own (`web::Data<RateLimiter>`).

use std::sync::Arc;

use sync_store::Store;

use crate::auth::tokens::TokenKeys;
use crate::config::Config;

/// Shared application state (held in `web::Data`).
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The configuration.
    pub config: Config,
    /// Access-token keys.
    pub tokens: TokenKeys,
}
