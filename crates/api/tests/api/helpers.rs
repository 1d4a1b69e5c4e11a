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
    _db: TestDatabase,
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
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), db.url().to_owned()),
            ("DATA_DIR".into(), data_dir.path().to_string_lossy().into_owned()),
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
            ("RATE_LIMITS".into(), "off".into()),
            ("WORKERS".into(), "2".into()),
            ("DB_POOL_SIZE".into(), "4".into()),
        ]);
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let backend = sync_store::BackendKind::of_url(&config.database_url).0.name();
        let app = Application::build(config).expect("server builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            backend,
            client: reqwest::Client::new(),
            _db: db,
            _data_dir: data_dir,
        }
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
        assert_eq!(response.status(), StatusCode::CREATED, "[{}] register", self.backend);
        let body: Value = response.json().await.expect("register body");
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            email,
            password,
            access_token: body["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh token").to_owned(),
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

    /// `POST /workouts/sync` expecting 200; returns the parsed body.
    pub async fn sync_ok(&self, user: &TestUser, body: &Value) -> Value {
        let response = self.sync(user, body).await;
        let status = response.status();
        let text = response.text().await.expect("sync body");
        assert_eq!(status, StatusCode::OK, "[{}] sync failed: {text}", self.backend);
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
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["error"], json!(code), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}
