//! The login lockout (docs/security.md, "Login, enumeration and lockout"): every password
//! check, at login and at account deletion, first takes an attempt from two budgets of failed
//! logins, one for the email at this client address and a much larger one for the email
//! across all addresses. Both are counted by email, not by account, so an email no account has
//! is counted, refused and timed exactly like one that exists.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sync_store::{LoginAttempt, LoginBudget, Store};
use uuid::Uuid;

use crate::auth::password;
use crate::config::Config;
use crate::error::blocking;
use crate::error::ApiError;

/// What a guarded password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is the account's; the budgets start afresh.
    Right,
    /// Wrong password, or no account has the email.
    Wrong,
}

/// The two budgets of `email` (normalised, or as typed when it cannot be an account's) seen
/// from `address`. Their keys are HMACs under a key derived from the server's secret, so the
/// table never holds an email or an address, and nobody without the secret can tell which.
pub fn budgets(config: &Config, email: &str, address: IpAddr) -> [LoginBudget; 2] {
    let key = |scope: &str, subject: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(config.jwt_secret.expose())
            .expect("HMAC takes a key of any length");
        mac.update(b"running-days login budget v1\0");
        mac.update(scope.as_bytes());
        mac.update(b"\0");
        mac.update(subject.as_bytes());
        format!("{scope}:{}", hex::encode(mac.finalize().into_bytes()))
    };
    [
        LoginBudget {
            key: key("address", &format!("{email}\0{address}")),
            threshold: config.lockout_threshold,
        },
        LoginBudget {
            key: key("email", email),
            threshold: config.account_lockout_threshold,
        },
    ]
}

/// Checks `password` against `hash` (`None`: no account has the email, so a dummy hash is
/// checked instead, for the same timing) once both budgets grant an attempt; a refusal is
/// [`ApiError::Locked`] after the same hashing work. A wrong password that uses up a budget
/// locks it for `LOGIN_LOCKOUT_SECS`; a right one clears both. `account` (the user whose
/// `hash` it is) only names them in the log.
pub async fn guarded_check(
    store: &Arc<Store>,
    config: &Config,
    budgets: [LoginBudget; 2],
    password: String,
    account: Option<(Uuid, String)>,
    now: DateTime<Utc>,
) -> Result<Verdict, ApiError> {
    // One window: how long a lock lasts, and how long an idle budget keeps its count.
    let window = config.lockout_duration;
    let reserving = store.clone();
    let attempt = blocking(move || Ok(reserving.reserve_login(&budgets, now, window)?)).await?;
    let reservation = match attempt {
        LoginAttempt::Granted(reservation) => reservation,
        LoginAttempt::Refused { locked_until } => {
            password::verify_dummy(password).await?;
            // No end yet: the budget's last attempts are still being checked.
            let retry_after = locked_until.map_or(1, |until| seconds_until(until, now));
            return Err(ApiError::Locked { retry_after });
        }
    };
    let (user_id, hash) = account.unzip();
    let right = match hash {
        Some(hash) => password::verify(password, hash).await?,
        None => {
            password::verify_dummy(password).await?;
            false
        }
    };
    let store = store.clone();
    if right {
        let keys: Vec<String> = reservation
            .attempts
            .into_iter()
            .map(|(budget, _)| budget.key)
            .collect();
        blocking(move || Ok(store.clear_login_budgets(&keys)?)).await?;
        return Ok(Verdict::Right);
    }
    blocking(move || {
        if let Some(until) = store.fail_login(&reservation, now, window)? {
            let used_up: Vec<&str> = reservation
                .attempts
                .iter()
                .filter(|(budget, attempt)| *attempt >= budget.threshold)
                .map(|(budget, _)| log_label(&budget.key))
                .collect();
            let who = user_id.map_or_else(
                || "an email with no account".to_owned(),
                |id| format!("user {id}"),
            );
            log::warn!(
                "{who} locked until {until} after repeated failed logins (budget {})",
                used_up.join(", ")
            );
        }
        Ok(())
    })
    .await?;
    Ok(Verdict::Wrong)
}

/// A budget's key as the log names it: its scope and first eight hex digits (`address:1a2b3c4d`),
/// enough to tell budgets apart and nothing that names an email or an address.
fn log_label(key: &str) -> &str {
    let end = key.find(':').map_or(0, |scope| scope + 1 + 8);
    key.get(..end).unwrap_or(key)
}

/// Whole seconds from `now` to `until`, at least 1 (a `Retry-After` of 0 invites a storm).
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}
