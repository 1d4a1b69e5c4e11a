//! What the handlers share: the database, the configuration and the token keys. The rate
//! limiter is application data of its own (`web::Data<RateLimiter>`).

use std::sync::Arc;

use chrono::Utc;
use sync_store::{Store, StoreError};
use uuid::Uuid;

use crate::auth::tokens::TokenKeys;
use crate::auth::Caller;
use crate::config::Config;
use crate::error::{blocking, ApiError};
use crate::numbers_cache::NumbersCache;
use crate::sync_budget::SyncBudget;

/// Shared application state (held in `web::Data`).
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The configuration.
    pub config: Config,
    /// Access-token keys.
    pub tokens: TokenKeys,
    /// The sync work done at once (`SYNC_BUDGET_BYTES`).
    pub sync_budget: SyncBudget,
    /// The stats bodies kept under their `ETag`s (`STATS_CACHE_BYTES`).
    pub numbers_cache: NumbersCache,
}

impl AppState {
    /// The application state of the server `req` came to.
    pub fn of(req: &actix_web::HttpRequest) -> Result<actix_web::web::Data<AppState>, ApiError> {
        req.app_data::<actix_web::web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("application state missing".into()))
    }

    /// Runs one store call on the blocking pool as the request's own work ([`blocking`]: its
    /// request id, and a quick 503 when the database stops answering), its error mapped to
    /// the API's.
    pub async fn query<T, F>(&self, call: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        blocking(move || Ok(call(&store)?)).await
    }

    /// [`AppState::query`] for `caller`: when its session is not checked yet, the check runs
    /// first in the same hand-off, and `call` only once it holds.
    pub async fn query_as<T, F>(&self, caller: Caller, call: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Store, Uuid) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.query(move |store| {
            if let Some(claim) = caller.unchecked() {
                store.check_session(claim, Utc::now())?;
            }
            call(store, caller.user_id())
        })
        .await
    }
}
