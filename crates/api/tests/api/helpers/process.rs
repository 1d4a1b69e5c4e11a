//! The `sync-server` binary run as a child process: for faults that need a real process
//! (`kill -9`, SIGTERM).

use reqwest::StatusCode;
use test_support::{backend_of, TestApp, TEST_JWT_SECRET};

/// The `sync-server` binary with nothing of this environment: `database_url`, `data_dir`,
/// `RUST_LOG=rust_log`, two workers, standard input closed. The caller adds the rest.
pub fn server_command(
    database_url: &str,
    data_dir: &std::path::Path,
    rust_log: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sync-server"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", rust_log)
        .env("WORKERS", "2")
        .stdin(std::process::Stdio::null());
    command
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
        use std::process::Stdio;

        let mut command = server_command(database_url, data_dir, "info");
        command
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("RATE_LIMITS", "off")
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
