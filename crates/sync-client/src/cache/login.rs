//! The saved login: server, account and token pair, kept in the key-value table.

use std::fmt;

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::{keys, Cache};
use crate::error::CacheError;
use crate::schema::{pending_batches, workouts};

/// The login the cache keeps: which server and account, and the token pair that
/// authenticates to it. Its `Debug` never shows the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SavedLogin {
    /// The server's base URL (`http://127.0.0.1:8080`).
    pub server_url: String,
    /// The account's email.
    pub email: String,
    /// The account's id on the server.
    pub user_id: String,
    /// The bearer token (a JWT, short-lived).
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for SavedLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SavedLogin")
            .field("server_url", &self.server_url)
            .field("email", &self.email)
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

impl Cache {
    /// The saved login, if logged in.
    pub fn saved_login(&self) -> Result<Option<SavedLogin>, CacheError> {
        self.with(|conn| {
            let get = |conn: &mut SqliteConnection, key| Cache::get_in(conn, key);
            let (Some(server_url), Some(access_token), Some(refresh_token)) = (
                get(conn, keys::SERVER_URL)?,
                get(conn, keys::ACCESS_TOKEN)?,
                get(conn, keys::REFRESH_TOKEN)?,
            ) else {
                return Ok(None);
            };
            Ok(Some(SavedLogin {
                server_url,
                email: get(conn, keys::EMAIL)?.unwrap_or_default(),
                user_id: get(conn, keys::USER_ID)?.unwrap_or_default(),
                access_token,
                refresh_token,
            }))
        })
    }

    /// The server URL of the saved login (kept after logout), if any.
    pub fn server_url(&self) -> Result<Option<String>, CacheError> {
        self.with(|conn| Cache::get_in(conn, keys::SERVER_URL))
    }

    /// Saves a new login. When it is for another account or server than the cached sync
    /// state, that state is reset: every live workout is queued again for the new account, and
    /// server ids, the change-feed cursor and unconfirmed batches are forgotten.
    pub fn save_login(&self, login: &SavedLogin) -> Result<(), CacheError> {
        self.write(|conn| {
            let owner = format!("{} {}", login.server_url, login.user_id);
            match Cache::get_in(conn, keys::SYNC_OWNER)? {
                Some(previous) if previous == owner => {}
                None => {}
                Some(_) => Cache::reset_sync_state(conn)?,
            }
            Cache::set_in(conn, keys::SYNC_OWNER, &owner)?;
            Cache::set_in(conn, keys::SERVER_URL, &login.server_url)?;
            Cache::set_in(conn, keys::EMAIL, &login.email)?;
            Cache::set_in(conn, keys::USER_ID, &login.user_id)?;
            Cache::set_in(conn, keys::ACCESS_TOKEN, &login.access_token)?;
            Cache::set_in(conn, keys::REFRESH_TOKEN, &login.refresh_token)?;
            Ok(())
        })
    }

    /// Replaces the token pair (after a refresh rotated it).
    pub fn save_tokens(&self, access_token: &str, refresh_token: &str) -> Result<(), CacheError> {
        self.write(|conn| {
            Cache::set_in(conn, keys::ACCESS_TOKEN, access_token)?;
            Cache::set_in(conn, keys::REFRESH_TOKEN, refresh_token)
        })
    }

    /// Forgets the tokens, which logs out (the server URL, the workouts and the sync state
    /// stay).
    pub fn forget_tokens(&self) -> Result<(), CacheError> {
        self.write(|conn| {
            Cache::delete_in(conn, keys::ACCESS_TOKEN)?;
            Cache::delete_in(conn, keys::REFRESH_TOKEN)
        })
    }

    fn reset_sync_state(conn: &mut SqliteConnection) -> Result<(), CacheError> {
        diesel::delete(workouts::table.filter(workouts::deleted.eq(true))).execute(conn)?;
        diesel::update(workouts::table)
            .set((
                workouts::needs_sync.eq(true),
                workouts::server_id.eq(None::<String>),
                workouts::revision.eq(None::<i64>),
                workouts::synced_at.eq(None::<String>),
                workouts::rejected.eq(None::<String>),
                workouts::batch_key.eq(None::<String>),
                workouts::batch_version.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::delete(pending_batches::table).execute(conn)?;
        Cache::delete_in(conn, keys::CHANGE_CURSOR)?;
        Cache::delete_in(conn, keys::LAST_SYNC_AT)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::test_support::workout;

    #[test]
    fn saved_login_debug_redacts_tokens() {
        let login = SavedLogin {
            server_url: "http://x".into(),
            email: "a@b.c".into(),
            user_id: "u".into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
        };
        let text = format!("{login:?}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_new_account_requeues_everything() {
        let cache = Cache::open(":memory:").unwrap();
        let mut login = SavedLogin {
            server_url: "http://x".into(),
            email: "a@b.c".into(),
            user_id: "u1".into(),
            access_token: "t".into(),
            refresh_token: "r".into(),
        };
        cache.save_login(&login).unwrap();
        cache.save(&workout("a", 5000.0)).unwrap();
        cache
            .with(|conn| {
                diesel::update(workouts::table)
                    .set(workouts::needs_sync.eq(false))
                    .execute(conn)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 0);
        cache.save_login(&login).unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 0);
        login.user_id = "u2".into();
        cache.save_login(&login).unwrap();
        assert_eq!(cache.summary().unwrap().needs_sync, 1);
    }
}
