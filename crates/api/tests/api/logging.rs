//! The server's own log, read from the real binary: every line written while serving a request
//! ends with that request's `request_id=`, whether the handler wrote it on its async worker or
//! the request's work wrote it on the blocking pool, and never another request's id, even when
//! requests run at once. Lines outside any request carry none.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sync_store::testing::TestDatabase;
use uuid::Uuid;

use test_support::{backend_of, workout, TestApp, TestUser, TEST_JWT_SECRET};

use crate::helpers::server_command;

/// The `sync-server` binary with its standard error in a file; killed when dropped.
struct LoggedServer {
    child: Child,
    log_path: PathBuf,
}

impl LoggedServer {
    /// Starts the binary at `RUST_LOG=debug`, one failed login locking an account (so that a
    /// failed login logs from the blocking pool), and waits until it serves.
    async fn start(database_url: &str, data_dir: &Path) -> (LoggedServer, TestApp) {
        let log_path = data_dir.join("server.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = server_command(database_url, data_dir, "debug")
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("RATE_LIMITS", "off")
            .env("LOGIN_LOCKOUT_THRESHOLD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the server binary starts");
        let mut server = LoggedServer { child, log_path };
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited with {status}:\n{}", server.log());
            }
            // "serving on 127.0.0.1:0 (port 41234) with sqlite"
            let port = server.log().lines().find_map(|line| {
                let rest = line.split("(port ").nth(1)?;
                rest.split(')').next()?.parse::<u16>().ok()
            });
            if let Some(port) = port {
                break port;
            }
            assert!(Instant::now() < deadline, "no port:\n{}", server.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let app = TestApp::client_for(format!("http://127.0.0.1:{port}"), backend_of(database_url));
        (server, app)
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// The log once the access line of every request in `ids` is in it (access lines are
    /// written after their response).
    async fn log_after(&self, ids: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if ids.iter().all(|id| {
                log.lines().any(|line| {
                    line.contains("HTTP/1.1\" ") && line.ends_with(&format!("request_id={id}"))
                })
            }) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "access lines missing for {ids:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_id(what: &str) -> String {
    format!("{what}-{}", Uuid::new_v4().simple())
}

/// A login with the wrong password; with a lockout threshold of 1 it locks the account, which
/// the blocking pool logs.
async fn failed_login(app: &TestApp, user: &TestUser, id: &str) {
    let response = app
        .client
        .post(app.api("/auth/login"))
        .header("X-Request-Id", id)
        .json(&json!({"email": user.email, "password": "not the password"}))
        .send()
        .await
        .expect("login request");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "[{}]",
        app.backend
    );
}

/// A sync of one new workout, which the handler logs.
async fn sync(app: &TestApp, user: &TestUser, id: &str) {
    let body = json!({"workouts": [workout(&format!("log-{id}"))]});
    let response = app
        .sync_raw(
            Some(&user.access_token),
            body.to_string(),
            &[("X-Request-Id", id)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "[{}]", app.backend);
}

/// The one line containing `text`, asserting it exists once.
fn line_with<'a>(log: &'a str, text: &str, backend: &str) -> &'a str {
    let lines: Vec<&str> = log.lines().filter(|line| line.contains(text)).collect();
    assert_eq!(lines.len(), 1, "[{backend}] lines with {text:?}:\n{log}");
    lines[0]
}

fn assert_carries(line: &str, id: &str, backend: &str) {
    assert!(
        line.ends_with(&format!(" request_id={id}")),
        "[{backend}] the line does not name request {id}: {line}"
    );
    assert_eq!(line.matches("request_id=").count(), 1, "[{backend}] {line}");
}

#[tokio::test]
async fn every_line_of_a_request_names_it_from_the_handler_and_the_blocking_pool() {
    for db in TestDatabase::all() {
        let dir = tempfile::tempdir().unwrap();
        let (server, app) = LoggedServer::start(db.url(), dir.path()).await;
        let b = app.backend;
        let user = app.register().await;

        let login_id = request_id("failed-login");
        failed_login(&app, &user, &login_id).await;
        let sync_id = request_id("sync");
        sync(&app, &user, &sync_id).await;
        let log = server.log_after(&[&login_id, &sync_id]).await;

        // Written by the login's work on the blocking pool.
        let locked = line_with(&log, &format!("user {} locked until", user.id), b);
        assert_carries(locked, &login_id, b);
        // Written by the sync handler on its async worker.
        let synced = line_with(&log, &format!("sync user={} mode=", user.id), b);
        assert_carries(synced, &sync_id, b);
        // The access lines name their request once, as they always did.
        let access = line_with(&log, "POST /api/v1/auth/login HTTP/1.1\" 401", b);
        assert_carries(access, &login_id, b);
        // Outside any request: no id.
        let serving = line_with(&log, "serving on ", b);
        assert!(!serving.contains("request_id="), "[{b}] {serving}");
        // Every line that names this request's id is one of its own.
        for line in log.lines().filter(|line| line.contains(&login_id)) {
            assert_carries(line, &login_id, b);
        }
    }
}

#[tokio::test]
async fn requests_served_at_once_keep_their_own_ids() {
    const USERS: usize = 4;
    for db in TestDatabase::all() {
        let dir = tempfile::tempdir().unwrap();
        let (server, app) = LoggedServer::start(db.url(), dir.path()).await;
        let b = app.backend;
        let mut users = Vec::new();
        for _ in 0..USERS {
            users.push(app.register().await);
        }
        let ids: Vec<(String, String)> = (0..USERS)
            .map(|i| {
                (
                    request_id(&format!("login-{i}")),
                    request_id(&format!("sync-{i}")),
                )
            })
            .collect();

        // Every user's failed login and sync at once: two workers and two hashing slots, so
        // requests share async workers and blocking threads.
        let requests: Vec<_> = users
            .iter()
            .zip(&ids)
            .map(|(user, (login_id, sync_id))| {
                let app = TestApp::client_for(app.address.clone(), b);
                let (user, login_id, sync_id) = (user.clone(), login_id.clone(), sync_id.clone());
                tokio::spawn(async move {
                    tokio::join!(
                        failed_login(&app, &user, &login_id),
                        sync(&app, &user, &sync_id)
                    );
                })
            })
            .collect();
        for request in requests {
            request.await.expect("the requests ran");
        }

        let all_ids: Vec<&str> = ids
            .iter()
            .flat_map(|(l, s)| [l.as_str(), s.as_str()])
            .collect();
        let log = server.log_after(&all_ids).await;
        for (user, (login_id, sync_id)) in users.iter().zip(&ids) {
            let locked = line_with(&log, &format!("user {} locked until", user.id), b);
            assert_carries(locked, login_id, b);
            let synced = line_with(&log, &format!("sync user={} mode=", user.id), b);
            assert_carries(synced, sync_id, b);
        }
    }
}
