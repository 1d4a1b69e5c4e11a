//! Outbound webhooks: a receiver inside the test (a small actix server on 127.0.0.1) that
//! records every request, and a verifier that checks each one with the Standard Webhooks
//! scheme, written here from the specification and independent of the server's signing code.

mod delivery;
mod failures;
mod instances;
mod overhead;
mod subscriptions;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use test_support::{wait_until, TestApp, TestUser};

/// Overrides for a server whose worker delivers to the test's receiver on 127.0.0.1 at once
/// and retries after a second.
pub const FAST: [(&str, &str); 3] = [
    ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ("WEBHOOK_POLL_INTERVAL_MS", "50"),
    ("WEBHOOK_RETRY_DELAYS_SECS", "1,1,1"),
];

/// Every event a subscription can name.
pub const ALL_EVENTS: [&str; 6] = [
    "workout.created",
    "workout.updated",
    "workout.deleted",
    "sync.completed",
    "goal.reached",
    "achievement.unlocked",
];

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub path: String,
    pub body: String,
}

#[derive(Default)]
struct Script {
    /// Answer 500 to the first request of each `webhook-id`.
    fail_first: bool,
    /// Answer every request after this long.
    delay: Duration,
}

struct Inbox {
    requests: Mutex<Vec<Received>>,
    seen: Mutex<HashSet<String>>,
    script: Script,
}

/// An HTTP server on 127.0.0.1 that records every request.
pub struct Receiver {
    pub url: String,
    inbox: Arc<Inbox>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn start() -> Receiver {
        Receiver::with(Script::default()).await
    }

    /// Answers 500 to the first request of each `webhook-id`, 200 to the rest.
    pub async fn failing_first() -> Receiver {
        Receiver::with(Script {
            fail_first: true,
            ..Script::default()
        })
        .await
    }

    /// Answers 200 after `delay`.
    pub async fn slow(delay: Duration) -> Receiver {
        Receiver::with(Script {
            delay,
            ..Script::default()
        })
        .await
    }

    async fn with(script: Script) -> Receiver {
        let inbox = Arc::new(Inbox {
            requests: Mutex::new(Vec::new()),
            seen: Mutex::new(HashSet::new()),
            script,
        });
        let data = web::Data::from(inbox.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind the receiver");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/running-days"),
            inbox,
            server: handle,
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.inbox.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; they all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        wait_until(&format!("{n} webhook requests"), timeout, || {
            self.inbox.requests.lock().unwrap().len() >= n
        })
        .await;
        self.requests()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        path: req.path().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let first = received
        .id
        .clone()
        .is_some_and(|id| inbox.seen.lock().unwrap().insert(id));
    inbox.requests.lock().unwrap().push(received);
    if !inbox.script.delay.is_zero() {
        tokio::time::sleep(inbox.script.delay).await;
    }
    if inbox.script.fail_first && first {
        HttpResponse::InternalServerError().body("try again")
    } else {
        HttpResponse::Ok().body("thanks")
    }
}

/// Checks one request as a Standard Webhooks receiver does (the three headers, a timestamp
/// within five minutes, `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the secret's
/// decoded bytes, compared in constant time) and returns its JSON body.
pub fn verify(secret: &str, request: &Received) -> Value {
    let id = request.id.as_deref().expect("a webhook-id header");
    let timestamp = request
        .timestamp
        .as_deref()
        .expect("a webhook-timestamp header");
    let signatures = request
        .signature
        .as_deref()
        .expect("a webhook-signature header");
    let sent: i64 = timestamp.parse().expect("an integer timestamp");
    let now = chrono::Utc::now().timestamp();
    assert!((now - sent).abs() <= 300, "timestamp {sent} is not recent");
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 after whsec_");
    let matched = signatures.split(' ').any(|entry| {
        let Some(encoded) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
        mac.verify_slice(&given).is_ok()
    });
    assert!(matched, "no valid signature in {signatures:?} for {id}");
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/json"),
        "content type"
    );
    assert_eq!(
        request.path, "/hooks/running-days",
        "sent to the subscribed path"
    );
    let body: Value = serde_json::from_str(&request.body).expect("a JSON body");
    assert_eq!(
        body["id"].as_str(),
        Some(id),
        "the body's id is the webhook-id"
    );
    body
}

/// `POST /webhooks` as `user`.
pub async fn subscribe(
    app: &TestApp,
    user: &TestUser,
    url: &str,
    events: &[&str],
) -> reqwest::Response {
    app.client
        .post(app.api("/webhooks"))
        .bearer_auth(&user.access_token)
        .json(&json!({"url": url, "events": events}))
        .send()
        .await
        .expect("POST /webhooks")
}

/// `POST /webhooks` expecting 201: `(id, secret)`.
pub async fn subscribe_ok(
    app: &TestApp,
    user: &TestUser,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let response = subscribe(app, user, url, events).await;
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "[{}] subscribe: {body}",
        app.backend
    );
    (
        body["id"].as_str().expect("id").to_owned(),
        body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// A request with the user's token.
pub async fn call(
    app: &TestApp,
    user: &TestUser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Response {
    app.client
        .request(method, app.api(path))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request")
}

/// `GET /webhooks/{id}/deliveries` expecting 200: the attempts, newest first.
pub async fn attempts(app: &TestApp, user: &TestUser, id: &str) -> Vec<Value> {
    let response = call(
        app,
        user,
        reqwest::Method::GET,
        &format!("/webhooks/{id}/deliveries?limit=200"),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "[{}] deliveries",
        app.backend
    );
    let body: Value = response.json().await.expect("JSON");
    body["deliveries"].as_array().expect("deliveries").clone()
}

/// The events among `requests` verified with `secret`, by type.
pub fn verified_events(secret: &str, requests: &[Received]) -> Vec<Value> {
    requests.iter().map(|r| verify(secret, r)).collect()
}

/// The bodies of type `kind`.
pub fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}
