//! Secrets never in logs: the server binary at trace level, its whole output searched for every
//! password, token and the JWT secret it saw.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_support::{per_backend, token_pair, wait_until, workout, TestApp, TestDatabase};
use uuid::Uuid;

use super::fresh_email;
use crate::helpers::server_command;

/// The server binary, running with its output going to a file; killed on drop, even when the
/// test panics.
struct LoggedServer {
    child: Child,
    address: String,
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

async fn spawn_server_binary(
    database_url: &str,
    data_dir: &Path,
    secret: &str,
    log_path: &Path,
) -> LoggedServer {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().unwrap().port()
    };
    let log = std::fs::File::create(log_path).expect("log file");
    let child = server_command(database_url, data_dir, "trace")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", secret)
        .env("DB_POOL_SIZE", "4")
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("the server binary starts");
    let mut server = LoggedServer {
        child,
        address: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("the server exited with {status}: {}", read_log(log_path));
        }
        let health = client
            .get(format!("{}/healthz", server.address))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if health.is_ok_and(|r| r.status() == StatusCode::OK) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come up: {}",
            read_log(log_path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

per_backend!(
    passwords_tokens_and_the_jwt_secret_never_reach_the_logs,
    database
);
async fn passwords_tokens_and_the_jwt_secret_never_reach_the_logs(db: TestDatabase) {
    let backend = sync_store::BackendKind::of_url(db.url()).0.name();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let secret = format!("log-test-secret-{}", Uuid::new_v4().simple());
    let server = spawn_server_binary(db.url(), dir.path(), &secret, &log_path).await;
    let app = TestApp::client_for(server.address.clone(), backend);

    let email = fresh_email();
    let password = format!("pw-{}", Uuid::new_v4().simple());
    let wrong_password = format!("wrong-{}", Uuid::new_v4().simple());
    let mut access_tokens = Vec::new();
    let mut refresh_tokens = Vec::new();

    let registered = app
        .post_json(
            "/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await;
    let (a, r) = token_pair(registered, "register", backend).await;
    access_tokens.push(a);
    refresh_tokens.push(r);
    let failed = app.login(&email, &wrong_password).await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "[{backend}]");
    // A buggy client sending its password as a JSON number: serde's type errors quote the
    // value, and actix logs response errors at debug level.
    let numeric_password =
        1_000_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000_000) as u64;
    let numeric = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": numeric_password}),
        )
        .await;
    assert_eq!(numeric.status(), StatusCode::BAD_REQUEST, "[{backend}]");
    let numeric_body = numeric.text().await.unwrap();
    assert!(
        !numeric_body.contains(&numeric_password.to_string()),
        "[{backend}] {numeric_body}"
    );
    let logged_in = app.login(&email, &password).await;
    let (a, r) = token_pair(logged_in, "login", backend).await;
    access_tokens.push(a);
    refresh_tokens.push(r.clone());
    let (access, r) = token_pair(app.refresh(&r).await, "refresh", backend).await;
    access_tokens.push(access.clone());
    refresh_tokens.push(r);
    let sync = serde_json::to_vec(&json!({"workouts": [workout("log-check")]})).unwrap();
    let synced = app
        .sync_raw(Some(&access), sync, &[("Idempotency-Key", "log-check-1")])
        .await;
    assert_eq!(synced.status(), StatusCode::OK, "[{backend}]");
    // A forged token and a client that wrongly puts its token in the URL.
    let forged = app
        .get_with("/auth/me", Some(&format!("{access}x")), &[])
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "[{backend}]");
    let in_url = app
        .get_with(
            "/workouts",
            Some(&access),
            &[("access_token", &access), ("limit", "5")],
        )
        .await;
    assert_eq!(in_url.status(), StatusCode::OK, "[{backend}]");
    let logout = app.logout(&access).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT, "[{backend}]");

    // The access log line of the last request is written after its response: wait for it.
    wait_until(
        &format!("[{backend}] the access log line of the logout"),
        Duration::from_secs(10),
        || read_log(&log_path).contains("POST /api/v1/auth/logout"),
    )
    .await;
    drop(server);
    let log = read_log(&log_path);

    // The capture works: the log has the events of every step.
    for expected in [
        "registered user",
        "logged in",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/workouts/sync",
        "access_token=[redacted]",
        " 401 ",
    ] {
        assert!(
            log.contains(expected),
            "[{backend}] the log lacks {expected:?}:\n{log}"
        );
    }
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", password.clone()),
        ("wrong password", wrong_password.clone()),
        ("numeric password", numeric_password.to_string()),
        ("JWT secret", secret.clone()),
    ];
    for token in &access_tokens {
        secrets.push(("access token", token.clone()));
        // The claims and the signature on their own, too.
        let mut parts = token.split('.').skip(1);
        secrets.push(("access token claims", parts.next().unwrap().to_owned()));
        secrets.push(("access token signature", parts.next().unwrap().to_owned()));
    }
    for token in &refresh_tokens {
        secrets.push(("refresh token", token.clone()));
    }
    for (what, value) in secrets {
        assert!(
            !log.contains(&value),
            "[{backend}] the log contains a {what}:\n{log}"
        );
    }
}
