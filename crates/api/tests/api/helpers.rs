//! The test harness: the real server on port 0 against a fresh database, spoken to over HTTP.

use std::collections::HashMap;

use api::{Application, Config};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sync_store::testing::TestDatabase;
use uuid::Uuid;

/// A running server and the database it owns (dropped with it).
pub struct TestApp {
    pub address: String,
    pub backend: &'static str,
    pub client: reqwest::Client,
    /// `None` when the server shares a database it does not own (see `spawn_at`).
    _db: Option<TestDatabase>,
    _data_dir: tempfile::TempDir,
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

impl TestApp {
    /// A server on a fresh SQLite database.
    #[allow(dead_code)] // not every test module uses it
    pub async fn spawn() -> TestApp {
        TestApp::spawn_on(TestDatabase::sqlite(), &[]).await
    }

    /// One server per backend (SQLite always; PostgreSQL when `TEST_DATABASE_URL` is set).
    pub async fn spawn_all() -> Vec<TestApp> {
        TestApp::spawn_all_with(&[]).await
    }

    /// One server per backend, with configuration overrides.
    pub async fn spawn_all_with(overrides: &[(&str, &str)]) -> Vec<TestApp> {
        let mut apps = Vec::new();
        for db in TestDatabase::all() {
            apps.push(TestApp::spawn_on(db, overrides).await);
        }
        apps
    }

    /// A server on `db` with configuration overrides (`("MAX_BATCH_SIZE", "3")`, …).
    pub async fn spawn_on(db: TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
        let mut app = TestApp::spawn_at(db.url(), overrides).await;
        app._db = Some(db);
        app
    }

    /// `http://127.0.0.1:PORT/api/v1{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.address, path)
    }

    /// Registers a fresh account and returns it with its tokens.
    pub async fn register(&self) -> TestUser {
        let email = format!("runner-{}@example.com", Uuid::new_v4().simple());
        let password = "correct horse battery".to_owned();
        let response = self
            .client
            .post(self.api("/auth/register"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("register request");
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
            password,
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

    /// `POST /workouts/sync` expecting 200; returns the parsed body.
    pub async fn sync_ok(&self, user: &TestUser, body: &Value) -> Value {
        let response = self.sync(user, body).await;
        let status = response.status();
        let text = response.text().await.expect("sync body");
        assert_eq!(
            status,
            StatusCode::OK,
            "[{}] sync failed: {text}",
            self.backend
        );
        serde_json::from_str(&text).expect("sync body is JSON")
    }
}

/// A valid workout with this client id (35 minutes, 5 km).
pub fn workout(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "start_time": "2024-01-15T08:00:00Z",
        "end_time": "2024-01-15T08:35:00Z",
        "duration_seconds": 2100,
        "distance_meters": 5000,
        "energy_burned_kcal": 350,
        "avg_heart_rate": 145,
        "source": "apple_watch"
    })
}

/// Asserts the contract's error body and returns it.
#[allow(dead_code)] // not every test module uses it
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["error"], json!(code), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// `base` with the fields of `changes` (an object) set; a `null` change removes the field.
pub fn with(base: Value, changes: Value) -> Value {
    let mut out = base;
    let object = out.as_object_mut().expect("a workout object");
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            object.remove(k);
        } else {
            object.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The change-feed position of a sync response's `next_cursor`.
pub fn cursor_seq(body: &Value) -> i64 {
    let text = body["next_cursor"]
        .as_str()
        .expect("next_cursor is a string");
    sync_core::ChangeCursor::decode(text)
        .expect("next_cursor decodes")
        .after_seq
}

/// The `X-Idempotent-Replayed` header, when present.
pub fn replayed_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get("x-idempotent-replayed")
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

/// Asserts a contract error body (`success: false`, a non-empty `error` code and `message`)
/// with this status, whatever the code; returns the body.
pub async fn assert_refused(response: Response, status: StatusCode, backend: &str) -> Value {
    let actual = response.status();
    assert!(
        response
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "[{backend}] a {actual} response without X-Request-Id"
    );
    let text = response.text().await.expect("error body");
    assert_eq!(actual, status, "[{backend}] {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("[{backend}] error body is not JSON ({e}): {text}"));
    assert_eq!(body["success"], json!(false), "[{backend}] {body}");
    assert!(
        body["error"].as_str().is_some_and(|c| !c.is_empty()),
        "[{backend}] {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "[{backend}] {body}"
    );
    body
}

/// The outcome counts of a sync response (`conflicts` and `rejected` by length).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub conflicts: u64,
    pub rejected: u64,
}

impl Counts {
    /// Reads the counts of a sync response body; panics if one is missing or not a count.
    pub fn of(body: &Value) -> Counts {
        let count = |name: &str| {
            body[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} is not a count: {body}"))
        };
        let len = |name: &str| {
            body[name]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is not an array: {body}"))
                .len() as u64
        };
        Counts {
            created: count("created"),
            updated: count("updated"),
            unchanged: count("unchanged"),
            deleted: count("deleted"),
            conflicts: len("conflicts"),
            rejected: len("rejected"),
        }
    }

    /// Workouts accounted for: everything but deletions.
    pub fn workouts(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.conflicts + self.rejected
    }
}

// ---------------------------------------------------------------------------------------------
// Several instances on one database, the server binary as a child process, and fault injection
// (a TCP proxy that can cut the database off, direct database connections that hold locks).
// Used by `cluster.rs` and `faults.rs`.

/// The configuration every test server gets: `database_url`, port 0, the shared test secret,
/// rate limits off, two workers, a pool of four, then `overrides`.
pub fn test_config(
    database_url: &str,
    data_dir: &std::path::Path,
    overrides: &[(&str, &str)],
) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("DATA_DIR".into(), data_dir.to_string_lossy().into_owned()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        ("RATE_LIMITS".into(), "off".into()),
        ("WORKERS".into(), "2".into()),
        ("DB_POOL_SIZE".into(), "4".into()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config")
}

/// The backend a database URL selects, by the name assertion messages use.
pub fn backend_of(database_url: &str) -> &'static str {
    sync_store::BackendKind::of_url(database_url).0.name()
}

impl TestApp {
    /// A server on a database it does not own (nothing is dropped with it): a second instance
    /// next to another `TestApp`, or a server that reaches its database through a [`TcpProxy`].
    pub async fn spawn_at(database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(database_url, data_dir.path(), overrides);
        let app = Application::build(config).expect("server builds");
        TestApp::serve(app, backend_of(database_url), data_dir)
    }

    /// Serves an `Application` built elsewhere (e.g. on another thread) on this runtime.
    pub fn serve(app: Application, backend: &'static str, data_dir: tempfile::TempDir) -> TestApp {
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            backend,
            client: reqwest::Client::new(),
            _db: None,
            _data_dir: data_dir,
        }
    }

    /// A client of a server this harness did not start (a [`ServerProcess`]).
    pub fn client_for(address: String, backend: &'static str) -> TestApp {
        TestApp {
            address,
            backend,
            client: reqwest::Client::new(),
            _db: None,
            _data_dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `GET /api/v1{path}` with the user's token.
    pub async fn get_as(&self, user: &TestUser, path: &str) -> Response {
        self.client
            .get(self.api(path))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .expect("GET request")
    }

    /// `GET /api/v1{path}` expecting 200; the parsed body.
    pub async fn get_ok(&self, user: &TestUser, path: &str) -> Value {
        let response = self.get_as(user, path).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(
            status,
            StatusCode::OK,
            "[{}] GET {path}: {text}",
            self.backend
        );
        serde_json::from_str(&text).expect("JSON body")
    }

    /// `(total_workouts, change-feed position)` from `GET /sync/status`.
    pub async fn status_counts(&self, user: &TestUser) -> (i64, i64) {
        let status = self.get_ok(user, "/sync/status").await;
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
        let mut request = self
            .client
            .get(self.api("/workouts/changes"))
            .bearer_auth(&user.access_token)
            .query(&[("limit", limit.to_string())]);
        if let Some(cursor) = cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let response = request.send().await.expect("changes request");
        let status = response.status();
        let text = response.text().await.expect("changes body");
        assert_eq!(status, StatusCode::OK, "[{}] changes: {text}", self.backend);
        let body: Value = serde_json::from_str(&text).expect("changes JSON");
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
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics request")
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

/// `count` valid workouts `{prefix}-0000`, `{prefix}-0001`, … (distinct start times).
pub fn workouts(prefix: &str, count: usize) -> Vec<Value> {
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-01T06:00:00Z").expect("base time");
    (0..count)
        .map(|i| {
            let start = base + chrono::Duration::hours(i as i64);
            let end = start + chrono::Duration::minutes(35);
            json!({
                "client_id": format!("{prefix}-{i:04}"),
                "start_time": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "end_time": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "duration_seconds": 2100,
                "distance_meters": 5000 + i,
                "energy_burned_kcal": 350,
                "avg_heart_rate": 145,
                "source": "apple_watch"
            })
        })
        .collect()
}

/// Asserts that an error body says nothing about the database driver or the connection.
pub fn assert_no_driver_text(text: &str, context: &str) {
    let lower = text.to_ascii_lowercase();
    for word in [
        "connection",
        "postgres",
        "sqlite",
        "diesel",
        "r2d2",
        "refused",
        "locked",
        "timed out",
        "timeout",
        "server closed",
        "pool",
    ] {
        assert!(
            !lower.contains(word),
            "{context}: the body carries driver text ({word:?}): {text}"
        );
    }
}

/// Polls `condition` every 20 ms until it holds; panics after `timeout` naming `what`.
pub async fn wait_until(
    what: &str,
    timeout: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A direct connection to a test database, outside the server: to hold locks the server must
/// wait for, and to look at what is stored.
pub enum DbProbe {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl DbProbe {
    /// Connects to the database `database_url` selects (as the server would).
    pub fn connect(database_url: &str) -> DbProbe {
        use diesel::Connection;
        let (kind, target) = sync_store::BackendKind::of_url(database_url);
        match kind {
            sync_store::BackendKind::Sqlite => {
                let mut conn =
                    diesel::SqliteConnection::establish(target).expect("open the SQLite file");
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000;",
                )
                .expect("busy timeout");
                DbProbe::Sqlite(conn)
            }
            sync_store::BackendKind::Postgres => {
                DbProbe::Pg(diesel::PgConnection::establish(target).expect("connect to PostgreSQL"))
            }
        }
    }

    /// Runs SQL statements (e.g. `BEGIN EXCLUSIVE`, `ROLLBACK`).
    pub fn execute(&mut self, sql: &str) {
        self.try_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs SQL statements; the database's error message when one fails.
    pub fn try_execute(&mut self, sql: &str) -> Result<(), String> {
        use diesel::connection::SimpleConnection;
        match self {
            DbProbe::Sqlite(c) => c.batch_execute(sql),
            DbProbe::Pg(c) => c.batch_execute(sql),
        }
        .map_err(|e| e.to_string())
    }

    /// The value of a query `SELECT COUNT(*) AS n …` (any integer aliased `n`).
    pub fn count(&mut self, sql: &str) -> i64 {
        use diesel::RunQueryDsl;
        let query = diesel::sql_query(sql);
        match self {
            DbProbe::Sqlite(c) => query.get_result::<CountRow>(c),
            DbProbe::Pg(c) => query.get_result::<CountRow>(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
    }

    /// PostgreSQL: how many sessions of this database are waiting for a lock.
    pub fn sessions_waiting_for_a_lock(&mut self) -> i64 {
        self.count(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    }
}

/// `postgres://user@host:port/db?…` with `host:port` replaced by `authority`.
pub fn with_authority(database_url: &str, authority: &str) -> String {
    let scheme_end = database_url.find("://").expect("a URL") + 3;
    let rest = &database_url[scheme_end..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..host_end].rfind('@').map(|i| i + 1).unwrap_or(0);
    format!(
        "{}{}{}{}",
        &database_url[..scheme_end],
        &rest[..host_start],
        authority,
        &rest[host_end..]
    )
}

/// The server address of a `postgres://` URL (port 5432 when not given).
pub fn socket_addr_of(database_url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let scheme_end = database_url.find("://").expect("a URL") + 3;
    let rest = &database_url[scheme_end..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}

/// A TCP proxy in front of PostgreSQL on its own runtime, so it keeps forwarding whatever the
/// test's runtime does. [`TcpProxy::cut`] closes its port (new connections are refused) and
/// drops every open connection, like a database that went away; [`TcpProxy::restore`] opens
/// the same port again.
pub struct TcpProxy {
    pub port: u16,
    upstream: std::net::SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    accept: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: std::net::SocketAddr) -> TcpProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let proxy = TcpProxy {
            port: listener.local_addr().expect("proxy address").port(),
            upstream,
            runtime: Some(runtime),
            accept: std::sync::Mutex::new(None),
            connections: Default::default(),
        };
        proxy.listen(listener);
        proxy
    }

    /// `database_url` (same user and database) through this proxy.
    pub fn url_for(&self, database_url: &str) -> String {
        with_authority(database_url, &format!("127.0.0.1:{}", self.port))
    }

    fn listen(&self, listener: std::net::TcpListener) {
        let runtime = self.runtime.as_ref().expect("proxy runtime");
        let _entered = runtime.enter();
        listener.set_nonblocking(true).expect("non-blocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let upstream = self.upstream;
        let connections = self.connections.clone();
        let accept = runtime.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut open = connections.lock().unwrap();
                open.retain(|t| !t.is_finished());
                open.push(task.abort_handle());
            }
        });
        *self.accept.lock().unwrap() = Some(accept);
    }

    /// The database goes away: the port refuses connections and open ones are dropped.
    pub fn cut(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
            while !accept.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// The database is back, on the same port.
    pub fn restore(&self) {
        let mut attempts = 0;
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(_) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on the proxy port {} again: {e}", self.port),
            }
        };
        self.listen(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The `sync-server` binary running as a child process. Killed (SIGKILL) when dropped, so a
/// failing test never leaves it behind; its log is printed when the test panics.
pub struct ServerProcess {
    child: std::process::Child,
    pub port: u16,
    pub backend: &'static str,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on `database_url` (port 0, the test secret, rate limits off, two
    /// workers, `RUST_LOG=info`, then `env`) and waits until `/readyz` answers 200.
    pub async fn start(
        database_url: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        use std::io::BufRead;
        use std::process::{Command, Stdio};

        let mut command = Command::new(env!("CARGO_BIN_EXE_sync-server"));
        command
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("DATA_DIR", data_dir)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("RATE_LIMITS", "off")
            .env("WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn sync-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (port_tx, port_rx) = tokio::sync::oneshot::channel::<u16>();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut port_tx = Some(port_tx);
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    // "serving on 127.0.0.1:0 (port 41234) with sqlite"
                    if let Some(rest) = line.split("(port ").nth(1) {
                        if let Some(port) = rest.split(')').next().and_then(|p| p.parse().ok()) {
                            if let Some(tx) = port_tx.take() {
                                let _ = tx.send(port);
                            }
                        }
                    }
                    let mut log = log.lock().unwrap();
                    if log.len() >= 5000 {
                        log.drain(..1000);
                    }
                    log.push(line);
                }
            });
        }
        let backend = backend_of(database_url);
        let port = match tokio::time::timeout(std::time::Duration::from_secs(60), port_rx).await {
            Ok(Ok(port)) => port,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "[{backend}] sync-server did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let process = ServerProcess {
            child,
            port,
            backend,
            log,
        };
        let client = process.client();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ready = client
                .client
                .get(format!("{}/readyz", client.address))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "[{backend}] sync-server never became ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        process
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An HTTP client of this process with the harness's helpers.
    pub fn client(&self) -> TestApp {
        TestApp::client_for(self.address(), self.backend)
    }

    /// `kill -9`, and reaps the process.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// `kill -TERM`.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit by itself; `None` after `timeout`.
    pub async fn wait_for_exit(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let tail = log.len().saturating_sub(60);
            eprintln!(
                "--- sync-server ({}) log, last lines ---\n{}",
                self.backend,
                log[tail..].join("\n")
            );
        }
    }
}
