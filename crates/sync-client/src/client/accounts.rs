//! Accounts: register, log in, refresh the token pair, log out; the login is saved in the
//! cache.

use std::future::Future;
use std::pin::Pin;

use super::transport::Auth;
use super::SyncClient;
use sync_core::wire::TokenBody;

use crate::bodies;
use crate::cache::SavedLogin;
use crate::error::ClientError;

/// The logged-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id on the server.
    pub user_id: String,
    /// Its email.
    pub email: String,
}

impl SyncClient {
    /// Creates an account and logs in to it.
    pub async fn register(&self, email: &str, password: &str) -> Result<Account, ClientError> {
        self.credentials("/auth/register", email, password).await
    }

    /// Logs in and saves the login (server, account, tokens) in the cache.
    pub async fn login(&self, email: &str, password: &str) -> Result<Account, ClientError> {
        self.credentials("/auth/login", email, password).await
    }

    async fn credentials(
        &self,
        path: &str,
        email: &str,
        password: &str,
    ) -> Result<Account, ClientError> {
        let url = self.url(path);
        let body = bodies::credentials_request(email, password);
        let reply = self
            .execute(Auth::Credentials, || self.http.post(&url).json(&body))
            .await
            .map_err(|e| match e {
                ClientError::Refused {
                    status: 409 | 422 | 423,
                    message,
                    ..
                } => ClientError::BadCredentials(message),
                other => other,
            })?;
        let tokens: TokenBody = reply.decode("token response")?;
        let user = tokens
            .user
            .ok_or_else(|| ClientError::Protocol("the token response has no user".into()))?;
        self.cache.save_login(&SavedLogin {
            server_url: self.base.clone(),
            email: user.email.clone(),
            user_id: user.id.to_string(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
        })?;
        Ok(Account {
            user_id: user.id.to_string(),
            email: user.email,
        })
    }

    /// Exchanges the stored refresh token for a new pair and stores it at once (the old one is
    /// spent). A refused refresh token is [`ClientError::SessionExpired`].
    pub async fn refresh(&self) -> Result<(), ClientError> {
        let login = self.cache.saved_login()?.ok_or(ClientError::NotLoggedIn)?;
        let url = self.url("/auth/refresh");
        let body = bodies::refresh_request(&login.refresh_token);
        let reply = self
            .execute(Auth::Refresh, || self.http.post(&url).json(&body))
            .await?;
        let tokens: TokenBody = reply.decode("refresh response")?;
        self.cache
            .save_tokens(&tokens.access_token, &tokens.refresh_token)?;
        Ok(())
    }

    /// [`SyncClient::refresh`] behind a trait object, which breaks the type cycle of
    /// `execute` → refresh → `execute`.
    pub(super) fn refresh_boxed(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send + '_>> {
        Box::pin(self.refresh())
    }

    /// Ends the session on the server (best effort) and forgets the tokens locally.
    pub async fn logout(&self) -> Result<(), ClientError> {
        if self.cache.saved_login()?.is_some() {
            let url = self.url("/auth/logout");
            if let Err(e) = self.execute(Auth::Bearer, || self.http.post(&url)).await {
                log::info!("logout on the server failed: {e}");
            }
        }
        self.cache.forget_tokens()?;
        Ok(())
    }

    /// [`ClientError::NotLoggedIn`] unless a login is saved.
    pub(super) fn ensure_logged_in(&self) -> Result<(), ClientError> {
        match self.cache.saved_login()? {
            Some(_) => Ok(()),
            None => Err(ClientError::NotLoggedIn),
        }
    }
}
