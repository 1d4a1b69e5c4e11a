//! The requests the suites make of a [`TestApp`], as an account ([`TestUser`]): each plain one
//! returns the response, each `…_ok` one asserts the success status and returns the body.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Counts, TestApp, PASSWORD};

/// One answer to a sync sent concurrently ([`sync_at_once`]): the index of the app that
/// answered, the status, `X-Idempotent-Replayed`, whether `Retry-After` was sent, the body.
pub type SyncAnswer = (usize, StatusCode, Option<String>, bool, String);

/// Sends the raw sync `body` as `user` `requests` times at once, request `i` to
/// `apps[i % apps.len()]`; the answers in the order they arrived.
pub async fn sync_at_once(
    apps: &[&TestApp],
    user: &TestUser,
    body: &[u8],
    requests: usize,
) -> Vec<SyncAnswer> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests {
        let which = i % apps.len();
        let app = apps[which];
        let request = app
            .client
            .post(app.api("/workouts/sync"))
            .bearer_auth(&user.access_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        tasks.spawn(async move {
            let response = request.send().await.expect("sync request");
            let status = response.status();
            let replayed = crate::replayed_header(&response);
            let retry_after = response.headers().contains_key("retry-after");
            let text = response.text().await.expect("sync body");
            (which, status, replayed, retry_after, text)
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.expect("a sync task"));
    }
    answers
}

/// A registered account and the tokens of one of its sessions.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user's id, as the server gave it.
    pub id: String,
    /// The (normalised) email.
    pub email: String,
    /// The password it was registered with.
    pub password: String,
    /// The session's access token.
    pub access_token: String,
    /// The session's refresh token.
    pub refresh_token: String,
}

impl TestApp {
    /// Registers a fresh account (password [`PASSWORD`]) and returns it with its tokens.
    pub async fn register(&self) -> TestUser {
        let email = format!("runner-{}@example.com", Uuid::new_v4().simple());
        let response = self
            .post_json(
                "/auth/register",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "[{}] register",
            self.backend
        );
        let body: Value = response.json().await.expect("register body");
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            email,
            password: PASSWORD.to_owned(),
            access_token: body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            refresh_token: body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        }
    }

    /// `POST /auth/login` with these credentials.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        let credentials = json!({"email": email, "password": password});
        self.post_json("/auth/login", &credentials).await
    }

    /// `POST /api/v1{path}` with a JSON body and no token (register, login, refresh).
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.api(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("[{}] POST {path}: {e}", self.backend))
    }

    /// A second login of the same account: another device (or the web dashboard).
    pub async fn new_session(&self, user: &TestUser) -> TestUser {
        let response = self.login(&user.email, &user.password).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "[{}] login",
            self.backend
        );
        let body: Value = response.json().await.expect("login body");
        TestUser {
            access_token: body["access_token"].as_str().expect("token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("token").to_owned(),
            ..user.clone()
        }
    }

    /// `POST /auth/refresh` with this refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post_json("/auth/refresh", &body).await
    }

    /// The body of `response`, asserting its status; `what` names the request in a failure.
    async fn expect_status(&self, response: Response, expected: StatusCode, what: &str) -> String {
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, expected, "[{}] {what}: {text}", self.backend);
        text
    }

    /// `POST /auth/logout` with this access token.
    pub async fn logout(&self, access_token: &str) -> Response {
        self.client
            .post(self.api("/auth/logout"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("logout")
    }

    /// `GET {path}` outside the versioned API (`/healthz`, `/readyz`, `/metrics`), anonymous.
    pub async fn get_root(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("[{}] GET {path}: {e}", self.backend))
    }

    /// `GET /api/v1{path}` with query parameters and, when given, a bearer token.
    pub async fn get_with(
        &self,
        path: &str,
        token: Option<&str>,
        query: &[(&str, &str)],
    ) -> Response {
        let mut request = self.client.get(self.api(path)).query(query);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET request")
    }

    /// `GET /api/v1{path}` with query parameters, as `user`.
    pub async fn get(&self, user: &TestUser, path: &str, query: &[(&str, &str)]) -> Response {
        self.get_with(path, Some(&user.access_token), query).await
    }

    /// `GET /api/v1{path}` expecting 200; the parsed body.
    pub async fn get_ok(&self, user: &TestUser, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self.get(user, path, query).await;
        let what = format!("GET {path} {query:?}");
        serde_json::from_str(&self.expect_status(response, StatusCode::OK, &what).await)
            .expect("a JSON body")
    }

    /// `POST /workouts/sync` with a JSON body.
    pub async fn sync(&self, user: &TestUser, body: &Value) -> Response {
        self.client
            .post(self.api("/workouts/sync"))
            .bearer_auth(&user.access_token)
            .json(body)
            .send()
            .await
            .expect("sync request")
    }

    /// `POST /workouts/sync` with a raw body (sent as `application/json`), an optional bearer
    /// token and extra headers: for malformed bodies, idempotency and request-id headers.
    pub async fn sync_raw(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .client
            .post(self.api("/workouts/sync"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("sync request")
    }

    /// `POST /workouts/sync` expecting 200; returns the parsed body.
    pub async fn sync_ok(&self, user: &TestUser, body: &Value) -> Value {
        let response = self.sync(user, body).await;
        serde_json::from_str(&self.expect_status(response, StatusCode::OK, "sync").await)
            .expect("sync body is JSON")
    }

    /// Sends the sync `bodies` one after another as `user` from a task of its own, each
    /// expected to answer 200: another device writing while the test reads.
    pub fn sync_in_background(
        &self,
        user: &TestUser,
        bodies: Vec<Value>,
    ) -> tokio::task::JoinHandle<()> {
        let (client, url) = (self.client.clone(), self.api("/workouts/sync"));
        let (token, backend) = (user.access_token.clone(), self.backend);
        tokio::spawn(async move {
            for body in bodies {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("sync request");
                assert_eq!(response.status(), StatusCode::OK, "[{backend}] {body}");
            }
        })
    }

    /// Syncs `workouts` (no idempotency key, 200 expected) and asserts the response's outcome
    /// counts are `expected`; returns the body.
    pub async fn sync_counted(
        &self,
        user: &TestUser,
        workouts: &[Value],
        expected: Counts,
    ) -> Value {
        let sent = json!({ "workouts": workouts });
        let body = self.sync_ok(user, &sent).await;
        assert_eq!(
            Counts::of(&body),
            expected,
            "[{}] {sent} -> {body}",
            self.backend
        );
        body
    }

    /// Syncs `workouts` (no idempotency key) and asserts every one of them is `created`:
    /// proof that nothing of them was stored before.
    pub async fn assert_all_created(&self, user: &TestUser, workouts: &[Value]) {
        let body = self.sync_ok(user, &json!({ "workouts": workouts })).await;
        assert_eq!(
            body["created"],
            json!(workouts.len()),
            "[{}] expected every workout to be new: {body}",
            self.backend
        );
    }

    /// `PATCH /workouts/{id}` with a JSON body.
    pub async fn patch(&self, user: &TestUser, id: &str, body: &Value) -> Response {
        self.client
            .patch(self.api(&format!("/workouts/{id}")))
            .bearer_auth(&user.access_token)
            .json(body)
            .send()
            .await
            .expect("PATCH request")
    }

    /// `PATCH /workouts/{id}` expecting 200; the served workout.
    pub async fn patch_ok(&self, user: &TestUser, id: &str, body: &Value) -> Value {
        let response = self.patch(user, id, body).await;
        let text = self
            .expect_status(response, StatusCode::OK, &format!("PATCH {id} {body}"))
            .await;
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        body["workout"].clone()
    }

    /// `DELETE /workouts/{id}`.
    pub async fn delete(&self, user: &TestUser, id: &str) -> Response {
        self.client
            .delete(self.api(&format!("/workouts/{id}")))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .expect("DELETE request")
    }

    /// `DELETE /workouts/{id}` expecting 204 with an empty body.
    pub async fn delete_ok(&self, user: &TestUser, id: &str) {
        let response = self.delete(user, id).await;
        let what = format!("DELETE {id}");
        let text = self
            .expect_status(response, StatusCode::NO_CONTENT, &what)
            .await;
        assert!(
            text.is_empty(),
            "[{}] a 204 with a body: {text}",
            self.backend
        );
    }

    /// One page of `GET /workouts` (200 expected): at most `limit` workouts after `cursor`
    /// (from the newest when `None`), with extra parameters.
    pub async fn list_page(
        &self,
        user: &TestUser,
        limit: &str,
        cursor: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Value {
        let mut query = vec![("limit", limit)];
        query.extend_from_slice(extra);
        query.extend(cursor.map(|c| ("cursor", c)));
        self.get_ok(user, "/workouts", &query).await
    }

    /// Every live workout of the user, walking `GET /workouts` (200 a page) with extra
    /// parameters.
    pub async fn list_all(&self, user: &TestUser, extra: &[(&str, &str)]) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page = self.list_page(user, "200", cursor.as_deref(), extra).await;
            all.extend(page["workouts"].as_array().expect("workouts").clone());
            if page["has_more"] != json!(true) {
                return all;
            }
            cursor = Some(
                page["next_cursor"]
                    .as_str()
                    .expect("next_cursor")
                    .to_owned(),
            );
        }
        panic!("[{}] the list never ended", self.backend);
    }

    /// The served workout with this client id, from the list.
    pub async fn served(&self, user: &TestUser, client_id: &str) -> Value {
        self.list_all(user, &[])
            .await
            .into_iter()
            .find(|w| w["client_id"] == json!(client_id))
            .unwrap_or_else(|| panic!("[{}] {client_id} is not listed", self.backend))
    }

    /// The server id of the workout with this client id.
    pub async fn id_of(&self, user: &TestUser, client_id: &str) -> String {
        self.served(user, client_id).await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// `(total_workouts, change-feed position)` from `GET /sync/status`.
    pub async fn status_counts(&self, user: &TestUser) -> (i64, i64) {
        let status = self.get_ok(user, "/sync/status", &[]).await;
        let total = status["total_workouts"]
            .as_i64()
            .unwrap_or_else(|| panic!("[{}] total_workouts: {status}", self.backend));
        let cursor = status["server_cursor"]
            .as_str()
            .unwrap_or_else(|| panic!("[{}] server_cursor: {status}", self.backend));
        let position = sync_core::ChangeCursor::decode(cursor)
            .expect("server_cursor decodes")
            .after_seq;
        (total, position)
    }

    /// One page of the change feed after `cursor` (from the start when `None`):
    /// `(changes, next_cursor, has_more)`.
    pub async fn changes_page(
        &self,
        user: &TestUser,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<Value>, String, bool) {
        let limit = limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let body = self.get_ok(user, "/workouts/changes", &query).await;
        let changes = body["changes"].as_array().expect("changes array").clone();
        let next = body["next_cursor"]
            .as_str()
            .expect("next_cursor")
            .to_owned();
        (changes, next, body["has_more"] == json!(true))
    }

    /// Every change of the feed from the start, in order, following `next_cursor`.
    pub async fn all_changes(&self, user: &TestUser) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (changes, next, more) = self.changes_page(user, cursor.as_deref(), 1000).await;
            all.extend(changes);
            cursor = Some(next);
            if !more {
                return all;
            }
        }
    }

    /// The value of an unlabelled series of `GET /metrics` (e.g. a counter); `None` if absent.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .get_root("/metrics")
            .await
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                (series == name).then(|| value.parse().expect("metric value"))
            })
    }
}
