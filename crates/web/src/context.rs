//! What every page handler shares: the store, the host and the dashboard's settings.

use std::sync::{Arc, Mutex, PoisonError};

use sync_store::{Store, StoreError};

use crate::error::PageError;
use crate::host::Host;

/// The dashboard's settings, from the server's configuration.
#[derive(Clone)]
pub struct WebSettings {
    /// The key the session cookie and the CSRF tokens are signed with (derive it from a server
    /// secret; never log it).
    pub cookie_key: [u8; 32],
    /// Whether cookies carry `Secure` and the `__Host-` prefix (the public URL is https).
    pub secure_cookies: bool,
    /// The public origin (`https://runs.example.org`), against which a form's `Origin` is
    /// checked; `None` checks it against the request's own `Host`.
    pub public_origin: Option<String>,
    /// The goal of a year without one, as the API uses.
    pub goal_default_target: u16,
}

/// Application data of the dashboard (`web::Data<WebContext>`).
pub struct WebContext {
    store: Arc<Store>,
    host: Arc<dyn Host>,
    settings: WebSettings,
}

impl WebContext {
    /// The context of a server.
    pub fn new(store: Arc<Store>, host: Arc<dyn Host>, settings: WebSettings) -> WebContext {
        WebContext {
            store,
            host,
            settings,
        }
    }

    pub(crate) fn settings(&self) -> &WebSettings {
        &self.settings
    }

    pub(crate) fn host(&self) -> &dyn Host {
        self.host.as_ref()
    }

    /// Runs `work` against the store on the blocking pool, as the request's own work.
    pub(crate) async fn store<T, F>(&self, work: F) -> Result<T, PageError>
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        self.host
            .run_blocking(Box::new(move || {
                let result = work(&store);
                *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            }))
            .await?;
        let result = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| PageError::Internal("store work ended without a result".into()))?;
        Ok(result?)
    }
}
