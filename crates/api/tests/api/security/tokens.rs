//! Forged access tokens: every way of tampering with a JWT is a 401.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{per_backend, TestApp, TEST_JWT_SECRET};

use super::{assert_unauthorized, get, me};
use crate::helpers::{claims_of, sign};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

per_backend!(forged_access_tokens_are_refused_with_401_unauthorized);
async fn forged_access_tokens_are_refused_with_401_unauthorized(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let good = claims_of(&user.access_token);
    let secret = TEST_JWT_SECRET.as_bytes();
    let hs256 = |c: &Value| sign(Algorithm::HS256, c, secret);
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };

    // The forging harness is sound: the untouched claims, re-signed, are accepted.
    let control = me(&app, &hs256(&good)).await;
    assert_eq!(control.status(), StatusCode::OK, "[{b}] re-signed control");

    let now = chrono::Utc::now().timestamp();
    let signed_part = {
        let token = hs256(&good);
        let (_, rest) = token.split_once('.').unwrap();
        rest.to_owned()
    };
    let payload = b64(serde_json::to_string(&good).unwrap().as_bytes());
    let forged: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "alg none, original signature",
            format!("{}.{signed_part}", b64(br#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "RS256 header",
            format!("{}.{signed_part}", b64(br#"{"alg":"RS256","typ":"JWT"}"#)),
        ),
        (
            "HS512 with the right secret",
            sign(Algorithm::HS512, &good, secret),
        ),
        (
            "wrong secret",
            sign(
                Algorithm::HS256,
                &good,
                b"another-secret-that-is-long-enough-for-hs256",
            ),
        ),
        ("wrong aud", hs256(&with("aud", json!("another-audience")))),
        ("wrong iss", hs256(&with("iss", json!("evil-issuer")))),
        (
            "expired",
            hs256(&with("exp", json!(now - 3600)).tap_iat(now - 4000)),
        ),
        ("missing exp", hs256(&without("exp"))),
        ("missing sid", hs256(&without("sid"))),
        ("sub as a number", hs256(&with("sub", json!(12345)))),
        (
            "exp as a string",
            hs256(&with("exp", json!((now + 600).to_string()))),
        ),
        ("typ refresh", hs256(&with("typ", json!("refresh")))),
        ("a refresh token as bearer", user.refresh_token.clone()),
        ("garbage", "garbage".to_owned()),
        ("three dots of garbage", "a.b.c".to_owned()),
    ];
    for (case, token) in forged {
        let ctx = format!("[{b}] {case}");
        assert_unauthorized(me(&app, &token).await, &ctx).await;
        let sync = app
            .sync_raw(Some(&token), json!({"workouts": []}).to_string(), &[])
            .await;
        assert_unauthorized(sync, &ctx).await;
    }
    // No token and a non-bearer scheme.
    assert_unauthorized(get(&app, "/auth/me", None).await, b).await;
    let basic = app
        .client
        .get(app.api("/auth/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_unauthorized(basic, b).await;
    // The real token still works: nothing above harmed the session.
    assert_eq!(me(&app, &user.access_token).await.status(), StatusCode::OK);
}

/// Sets `iat` on a claims object (keeps the forged-token table readable).
trait TapIat {
    fn tap_iat(self, iat: i64) -> Value;
}

impl TapIat for Value {
    fn tap_iat(mut self, iat: i64) -> Value {
        self["iat"] = json!(iat);
        self
    }
}
