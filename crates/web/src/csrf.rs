//! CSRF protection for every form that changes something: a token in the form that only this
//! server can make, and the `Origin` (and `Sec-Fetch-Site`) of the post checked against the
//! server's own.
//!
//! - Signed in, the token is the session's signature for CSRF: nothing to store, and it dies
//!   with the session.
//! - Before sign-in (the sign-in and registration forms), the browser gets a random nonce in a
//!   cookie of its own and the form carries the nonce's signature.

use actix_web::cookie::Cookie;
use actix_web::http::header::{HeaderValue, ORIGIN};
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::context::WebSettings;
use crate::error::PageError;
use crate::session::{base_cookie, sign, verify, Purpose, Viewer};

/// Why a post was refused, as the runner reads it.
const EXPIRED: &str = "This form has expired or did not come from this site. Go back, reload \
                       the page and try again.";

/// The pre-session nonce cookie's name (`__Host-` prefixed when cookies are `Secure`).
fn nonce_cookie_name(settings: &WebSettings) -> &'static str {
    if settings.secure_cookies {
        "__Host-rd_csrf"
    } else {
        "rd_csrf"
    }
}

/// The CSRF token of a signed-in runner's forms.
pub(crate) fn token(settings: &WebSettings, viewer: &Viewer) -> String {
    sign(
        &settings.cookie_key,
        Purpose::Csrf,
        viewer.session_id.as_bytes(),
    )
}

/// Refuses a signed-in post whose token is not the session's, or that came from elsewhere.
pub(crate) fn check(
    req: &HttpRequest,
    settings: &WebSettings,
    viewer: &Viewer,
    presented: &str,
) -> Result<(), PageError> {
    check_origin(req, settings)?;
    let valid = verify(
        &settings.cookie_key,
        Purpose::Csrf,
        viewer.session_id.as_bytes(),
        presented,
    );
    valid.then_some(()).ok_or(PageError::Forbidden(EXPIRED))
}

/// The token of a sign-in or registration form, and the nonce cookie to set when the browser
/// has none yet.
pub(crate) fn anonymous_token(
    req: &HttpRequest,
    settings: &WebSettings,
) -> (String, Option<Cookie<'static>>) {
    let existing = req
        .cookie(nonce_cookie_name(settings))
        .map(|c| c.value().to_owned())
        .filter(|nonce| URL_SAFE_NO_PAD.decode(nonce).is_ok_and(|b| b.len() == 32));
    let (nonce, cookie) = match existing {
        Some(nonce) => (nonce, None),
        None => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            let nonce = URL_SAFE_NO_PAD.encode(bytes);
            let cookie = base_cookie(settings, nonce_cookie_name(settings), nonce.clone());
            (nonce, Some(cookie))
        }
    };
    let token = sign(
        &settings.cookie_key,
        Purpose::AnonymousCsrf,
        nonce.as_bytes(),
    );
    (token, cookie)
}

/// Refuses a sign-in or registration post whose token is not the browser's nonce's, or that
/// came from elsewhere.
pub(crate) fn check_anonymous(
    req: &HttpRequest,
    settings: &WebSettings,
    presented: &str,
) -> Result<(), PageError> {
    check_origin(req, settings)?;
    let nonce = req
        .cookie(nonce_cookie_name(settings))
        .ok_or(PageError::Forbidden(EXPIRED))?;
    let valid = verify(
        &settings.cookie_key,
        Purpose::AnonymousCsrf,
        nonce.value().as_bytes(),
        presented,
    );
    valid.then_some(()).ok_or(PageError::Forbidden(EXPIRED))
}

/// A post that says where it came from must come from this server's own origin. Browsers send
/// `Origin` on every form post; a client that sends none is held to the token alone.
fn check_origin(req: &HttpRequest, settings: &WebSettings) -> Result<(), PageError> {
    if let Some(site) = req.headers().get("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            log::warn!("refused a form post from another site ({site:?})");
            return Err(PageError::Forbidden(EXPIRED));
        }
    }
    let Some(origin) = req.headers().get(ORIGIN) else {
        return Ok(());
    };
    let expected = match &settings.public_origin {
        Some(origin) => origin.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    if origin_matches(origin, &expected) {
        Ok(())
    } else {
        log::warn!("refused a form post from origin {origin:?} (expected {expected})");
        Err(PageError::Forbidden(EXPIRED))
    }
}

fn origin_matches(origin: &HeaderValue, expected: &str) -> bool {
    origin
        .to_str()
        .is_ok_and(|o| o.eq_ignore_ascii_case(expected.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use uuid::Uuid;

    use super::*;

    fn settings() -> WebSettings {
        WebSettings {
            cookie_key: [7; 32],
            secure_cookies: false,
            public_origin: Some("https://runs.example.org".into()),
            goal_default_target: 300,
        }
    }

    fn viewer() -> Viewer {
        Viewer {
            user_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_sessions_token_passes_and_another_sessions_does_not() {
        let (settings, me, other) = (settings(), viewer(), viewer());
        let req = TestRequest::post()
            .insert_header((ORIGIN, "https://runs.example.org"))
            .to_http_request();
        assert!(check(&req, &settings, &me, &token(&settings, &me)).is_ok());
        assert!(check(&req, &settings, &me, &token(&settings, &other)).is_err());
        assert!(check(&req, &settings, &me, "").is_err());
    }

    #[test]
    fn a_post_from_another_origin_or_site_is_refused_even_with_the_token() {
        let (settings, me) = (settings(), viewer());
        let token = token(&settings, &me);
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let req = TestRequest::post()
                .insert_header((name, value))
                .to_http_request();
            assert!(
                check(&req, &settings, &me, &token).is_err(),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn an_anonymous_token_is_bound_to_the_browsers_nonce() {
        let settings = settings();
        let fresh = TestRequest::get().to_http_request();
        let (token, cookie) = anonymous_token(&fresh, &settings);
        let cookie = cookie.expect("a browser without a nonce gets one");
        let with_nonce = TestRequest::post().cookie(cookie.clone()).to_http_request();
        assert!(check_anonymous(&with_nonce, &settings, &token).is_ok());
        let (again, none) = anonymous_token(&with_nonce, &settings);
        assert_eq!((again.as_str(), none), (token.as_str(), None));
        let without = TestRequest::post().to_http_request();
        assert!(check_anonymous(&without, &settings, &token).is_err());
        let other_browser = TestRequest::post()
            .cookie(Cookie::new("rd_csrf", URL_SAFE_NO_PAD.encode([1u8; 32])))
            .to_http_request();
        assert!(check_anonymous(&other_browser, &settings, &token).is_err());
    }
}
