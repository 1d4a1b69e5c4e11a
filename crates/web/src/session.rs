//! The browser's session: a cookie naming a row of the `sessions` table, signed so that it
//! cannot be forged, and checked against that row on every request, so that a revocation
//! anywhere (the app's session list, sign-out) ends it at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::context::{WebContext, WebSettings};
use crate::error::PageError;

type HmacSha256 = Hmac<Sha256>;

/// What a signature is bound to, so that a signature made for one use is never valid for
/// another (a session cookie's is not a CSRF token).
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    /// The session cookie, over the session id.
    Session,
    /// A signed-in form's CSRF token, over the session id.
    Csrf,
    /// A sign-in or registration form's CSRF token, over the browser's pre-session nonce.
    AnonymousCsrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"running-days web session\0",
            Purpose::Csrf => b"running-days web csrf\0",
            Purpose::AnonymousCsrf => b"running-days web anonymous csrf\0",
        }
    }
}

fn mac(key: &[u8; 32], purpose: Purpose, subject: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(purpose.label());
    mac.update(subject);
    mac
}

/// The signature of `subject` for `purpose`, base64url.
pub(crate) fn sign(key: &[u8; 32], purpose: Purpose, subject: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, purpose, subject).finalize().into_bytes())
}

/// Whether `signature` is `subject`'s for `purpose` (compared in constant time).
pub(crate) fn verify(key: &[u8; 32], purpose: Purpose, subject: &[u8], signature: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(key, purpose, subject).verify_slice(&bytes).is_ok()
}

/// The cookie's name: `__Host-` prefixed when cookies are `Secure`, so that no subdomain can set
/// or shadow it.
pub(crate) fn cookie_name(settings: &WebSettings) -> &'static str {
    if settings.secure_cookies {
        "__Host-rd_session"
    } else {
        "rd_session"
    }
}

/// The session cookie for a new browser session (a session cookie of the browser: it ends when
/// the browser closes, and the row's own expiry bounds it in any case).
pub(crate) fn cookie(settings: &WebSettings, session_id: Uuid) -> Cookie<'static> {
    let value = format!(
        "{}.{}",
        session_id.simple(),
        sign(
            &settings.cookie_key,
            Purpose::Session,
            session_id.as_bytes()
        )
    );
    base_cookie(settings, cookie_name(settings), value)
}

/// The cookie that clears the session cookie.
pub(crate) fn cleared_cookie(settings: &WebSettings) -> Cookie<'static> {
    let mut cookie = base_cookie(settings, cookie_name(settings), String::new());
    cookie.make_removal();
    cookie
}

/// `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` when configured.
pub(crate) fn base_cookie(
    settings: &WebSettings,
    name: &'static str,
    value: String,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .finish()
}

/// The session a cookie value names, if its signature holds.
pub(crate) fn session_of(settings: &WebSettings, value: &str) -> Option<Uuid> {
    let (id, signature) = value.split_once('.')?;
    let id = Uuid::try_parse(id).ok()?;
    verify(
        &settings.cookie_key,
        Purpose::Session,
        id.as_bytes(),
        signature,
    )
    .then_some(id)
}

/// The signed-in runner of a page request. A handler that takes it cannot run without a live
/// browser session; without one the runner is sent to the sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The account.
    pub user_id: Uuid,
    /// The browser's session.
    pub session_id: Uuid,
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let context = req
                .app_data::<web::Data<WebContext>>()
                .ok_or_else(|| PageError::Internal("the dashboard's context is missing".into()))?
                .clone();
            let session_id = req
                .cookie(cookie_name(context.settings()))
                .and_then(|c| session_of(context.settings(), c.value()))
                .ok_or(PageError::SignInRequired)?;
            let viewer = context
                .store(move |store| store.live_session(session_id, Utc::now()))
                .await?
                .map(|s| Viewer {
                    user_id: s.user_id,
                    session_id: s.id,
                });
            viewer.ok_or(PageError::SignInRequired)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: u8) -> WebSettings {
        WebSettings {
            cookie_key: [key; 32],
            secure_cookies: false,
            public_origin: None,
            goal_default_target: 300,
        }
    }

    #[test]
    fn a_cookie_names_its_session_only_under_its_own_key() {
        let id = Uuid::new_v4();
        let cookie = cookie(&settings(1), id);
        assert_eq!(session_of(&settings(1), cookie.value()), Some(id));
        assert_eq!(session_of(&settings(2), cookie.value()), None);
    }

    #[test]
    fn a_forged_or_mangled_cookie_names_no_session() {
        let key = settings(1);
        let id = Uuid::new_v4();
        let other = Uuid::new_v4();
        let signature = sign(&key.cookie_key, Purpose::Session, id.as_bytes());
        let csrf = sign(&key.cookie_key, Purpose::Csrf, id.as_bytes());
        for value in [
            format!("{}.{signature}", other.simple()),
            format!("{}.{csrf}", id.simple()),
            format!("{}.", id.simple()),
            format!("{}", id.simple()),
            format!("{}.{}x", id.simple(), signature),
            "not-a-uuid.abc".to_owned(),
            String::new(),
        ] {
            assert_eq!(session_of(&key, &value), None, "{value}");
        }
    }

    #[test]
    fn secure_cookies_carry_the_host_prefix_and_every_cookie_is_http_only_and_lax() {
        let mut secure = settings(1);
        secure.secure_cookies = true;
        let cookie = cookie(&secure, Uuid::new_v4());
        assert_eq!(cookie.name(), "__Host-rd_session");
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
        let plain = super::cookie(&settings(1), Uuid::new_v4());
        assert_eq!(plain.name(), "rd_session");
        assert_eq!(plain.secure(), Some(false));
    }
}
