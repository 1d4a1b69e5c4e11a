//! The server under test: built with the test configuration, served on this runtime.

use std::collections::HashMap;
use std::path::Path;

use api::{Application, Config};
use sync_store::testing::TestDatabase;

/// The JWT secret every test server signs with (tests forge tokens with it).
pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

/// The password of every account [`TestApp::register`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// A running server and the database it owns (dropped with it).
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The backend's name (`sqlite`, `postgres`), for assertion messages.
    pub backend: &'static str,
    /// The HTTP client the helpers use.
    pub client: reqwest::Client,
    /// `None` when the server shares a database it does not own (see [`TestApp::spawn_at`]).
    _db: Option<TestDatabase>,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    /// A server on a fresh SQLite database.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// A server on a fresh SQLite database, with configuration overrides.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_on(TestDatabase::sqlite(), overrides).await
    }

    /// A server on `db` (which it owns from now on) with configuration overrides
    /// (`("MAX_BATCH_SIZE", "3")`, …).
    pub async fn spawn_on(db: TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
        let mut app = TestApp::spawn_at(db.url(), overrides).await;
        app._db = Some(db);
        app
    }

    /// A server on a database it does not own (nothing is dropped with it): a second instance
    /// next to another `TestApp`, or a server that reaches its database through a proxy.
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

    /// A client of a server this harness did not start (e.g. the server binary run as a child
    /// process), with the harness's helpers.
    pub fn client_for(address: String, backend: &'static str) -> TestApp {
        TestApp {
            address,
            backend,
            client: reqwest::Client::new(),
            _db: None,
            _data_dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `http://127.0.0.1:PORT/api/v1{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.address, path)
    }
}

/// The configuration every test server gets: `database_url`, port 0, the shared test secret,
/// rate limits off, two workers, a pool of four, then `overrides`.
pub fn test_config(database_url: &str, data_dir: &Path, overrides: &[(&str, &str)]) -> Config {
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
