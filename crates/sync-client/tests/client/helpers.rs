//! What only the client suite needs on top of the shared harness (`test_support`, which starts
//! the real server in-process): clients with a fast retry policy, Apple Health exports built
//! here, the `rdsync` program run as a child process, and a fault-injecting HTTP proxy in front
//! of the server.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sync_client::{Cache, ClientConfig, RecordingSleeper, RetryPolicy, SyncClient};
pub use test_support::{TestApp, TestUser, PASSWORD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// `total_workouts` of `GET /sync/status`, as this session of the account sees it.
pub async fn total_workouts(server: &TestApp, session: &TestUser) -> i64 {
    server.get_ok(session, "/sync/status", &[]).await["total_workouts"]
        .as_i64()
        .expect("total_workouts")
}

/// A retry policy with short backoffs (the recording sleeper does not wait anyway).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(30),
    }
}

/// A client with its cache in `dir`, talking to `server_url`, with a recording sleeper.
pub fn client_at(
    dir: &Path,
    server_url: &str,
    batch_size: usize,
) -> (SyncClient, RecordingSleeper) {
    let cache = Cache::open(&cache_path(dir).to_string_lossy()).expect("cache");
    let mut config = ClientConfig::new(server_url);
    config.batch_size = batch_size;
    config.retry = fast_retry();
    let sleeper = RecordingSleeper::default();
    let client = SyncClient::new(cache, config)
        .expect("client")
        .with_sleeper(Arc::new(sleeper.clone()));
    (client, sleeper)
}

/// A fresh server (with configuration overrides) holding one account, and a client of it
/// ([`client_at`], cache in the returned directory) that has not logged in yet.
pub async fn server_and_client(
    overrides: &[(&str, &str)],
    batch_size: usize,
) -> (TestApp, TestUser, tempfile::TempDir, SyncClient) {
    let server = TestApp::spawn_with(overrides).await;
    let user = server.register().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, _) = client_at(dir.path(), &server.address, batch_size);
    (server, user, dir, client)
}

/// The client's cached workout with this client id, which must be there.
pub fn cached(client: &SyncClient, client_id: &str) -> sync_client::cache::CachedWorkout {
    client
        .cache()
        .workout(client_id)
        .expect("cache read")
        .unwrap_or_else(|| panic!("{client_id} is not cached"))
}

pub fn cache_path(dir: &Path) -> PathBuf {
    dir.join("rdsync.db")
}

// ---------------------------------------------------------------------------------------------
// Apple Health exports.

/// Client ids are derived from the workouts; these are the three running ones of
/// [`export_xml`], in the cache's (id) order once imported.
pub const RUNNING_IN_EXPORT: usize = 3;

/// An export with: a run in the older attribute form (km, kcal), a run in the newer
/// `WorkoutStatistics` form (mi, kJ, heart rate), a run in metres and seconds, a cycling and a
/// walking workout (skipped), and two malformed running workouts (reported, skipped).
pub fn export_xml() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Workout)*)>
<!ATTLIST Workout
  workoutActivityType CDATA #REQUIRED
  duration            CDATA #IMPLIED
  durationUnit        CDATA #IMPLIED
>
]>
<HealthData locale="en_US">
 <ExportDate value="2024-02-01 10:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexNotSet"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="iPhone" unit="count" value="1200" startDate="2024-01-15 07:00:00 +0100" endDate="2024-01-15 07:10:00 +0100"/>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="35" durationUnit="min" totalDistance="5.1" totalDistanceUnit="km" totalEnergyBurned="350" totalEnergyBurnedUnit="kcal" sourceName="Alex&apos;s Apple Watch" sourceVersion="10.1" creationDate="2024-01-15 08:36:00 +0100" startDate="2024-01-15 08:00:00 +0100" endDate="2024-01-15 08:35:00 +0100">
  <MetadataEntry key="HKIndoorWorkout" value="0"/>
  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="2024-01-15 08:00:00 +0100" duration="5" durationUnit="min"/>
  <WorkoutRoute sourceName="Alex&apos;s Apple Watch"><FileReference path="/workout-routes/route_2024-01-15.gpx"/></WorkoutRoute>
 </Workout>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30.5" durationUnit="min" sourceName="Alex&apos;s Apple Watch" startDate="2024-01-16 07:00:00 -0500" endDate="2024-01-16 07:31:00 -0500">
  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" startDate="2024-01-16 07:00:00 -0500" endDate="2024-01-16 07:31:00 -0500" sum="1200" unit="kJ"/>
  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" startDate="2024-01-16 07:00:00 -0500" endDate="2024-01-16 07:31:00 -0500" sum="3.1" unit="mi"/>
  <WorkoutStatistics type="HKQuantityTypeIdentifierHeartRate" startDate="2024-01-16 07:00:00 -0500" endDate="2024-01-16 07:31:00 -0500" average="152.6" minimum="98" maximum="174" unit="count/min"/>
 </Workout>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="3000" durationUnit="s" totalDistance="10000" totalDistanceUnit="m" sourceName="Treadmill" startDate="2024-01-20 18:00:00 +0000" endDate="2024-01-20 18:52:00 +0000"/>
 <Workout workoutActivityType="HKWorkoutActivityTypeCycling" duration="60" durationUnit="min" totalDistance="25" totalDistanceUnit="km" sourceName="Watch" startDate="2024-01-17 08:00:00 +0100" endDate="2024-01-17 09:00:00 +0100"/>
 <Workout workoutActivityType="HKWorkoutActivityTypeWalking" duration="20" durationUnit="min" sourceName="Watch" startDate="2024-01-18 12:00:00 +0100" endDate="2024-01-18 12:20:00 +0100">
  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="1.5" unit="km"/>
 </Workout>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="abc" durationUnit="min" totalDistance="5" totalDistanceUnit="km" sourceName="Watch" startDate="2024-01-19 08:00:00 +0100" endDate="2024-01-19 08:30:00 +0100"/>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" durationUnit="min" sourceName="Watch" startDate="last tuesday" endDate="2024-01-21 08:30:00 +0100">
  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="5" unit="km"/>
 </Workout>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" value="61" startDate="2024-01-21 09:00:00 +0100" endDate="2024-01-21 09:00:00 +0100"/>
</HealthData>
"#
    .to_owned()
}

/// An export of `n` plain running workouts, one a day from 2020-01-01.
pub fn runs_xml(n: usize) -> String {
    // From 2020-01-01, so that even thousands of days stay in the past.
    let mut xml = String::from("<HealthData>\n");
    for i in 0..n {
        let day = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")
            + chrono::Duration::days(i as i64);
        xml += &format!(
            r#" <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" durationUnit="min" totalDistance="{}" totalDistanceUnit="km" sourceName="Watch" startDate="{day} 07:00:00 +0100" endDate="{day} 07:30:00 +0100"/>
"#,
            5.0 + i as f64 / 10.0
        );
    }
    xml + "</HealthData>\n"
}

/// Writes `xml` as `dir/export.xml`.
pub fn write_xml(dir: &Path, xml: &str) -> PathBuf {
    let path = dir.join("export.xml");
    std::fs::write(&path, xml).expect("write export.xml");
    path
}

/// Writes `xml` inside `dir/export.zip` as `apple_health_export/export.xml` (with the other
/// files an export has).
pub fn write_zip(dir: &Path, xml: &str) -> PathBuf {
    let path = dir.join("export.zip");
    let file = std::fs::File::create(&path).expect("create zip");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("apple_health_export/export_cda.xml", options)
        .expect("zip entry");
    zip.write_all(b"<ClinicalDocument/>").expect("zip write");
    zip.start_file("apple_health_export/export.xml", options)
        .expect("zip entry");
    zip.write_all(xml.as_bytes()).expect("zip write");
    zip.finish().expect("zip finish");
    path
}

/// Imports `xml` (as a file) into the client's cache.
pub fn import(client: &SyncClient, dir: &Path, xml: &str) -> sync_client::ImportReport {
    let path = write_xml(dir, xml);
    sync_client::import_path(&path, client.cache(), |_| {}).expect("import")
}

// ---------------------------------------------------------------------------------------------
// The `rdsync` program.

/// Runs `rdsync` with `args` as a child process (output not a terminal, stdin empty), with the
/// cache `cache`, none of the `RDSYNC_*` variables but those in `env`.
pub async fn rdsync(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rdsync"));
    command
        .env_remove("RDSYNC_SERVER")
        .env_remove("RDSYNC_EMAIL")
        .env_remove("RDSYNC_PASSWORD")
        .env("RDSYNC_CACHE", cache)
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().await.expect("run rdsync")
}

/// [`rdsync`] with `input` on its stdin (a script answering its questions).
pub async fn rdsync_with_input(
    cache: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: &str,
) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rdsync"));
    command
        .env_remove("RDSYNC_SERVER")
        .env_remove("RDSYNC_EMAIL")
        .env_remove("RDSYNC_PASSWORD")
        .env("RDSYNC_CACHE", cache)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run rdsync");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    child.wait_with_output().await.expect("rdsync output")
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting proxy.

/// What the proxy does to one request instead of forwarding it normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with a contract error body (and `Retry-After`, when given);
    /// the server never sees the request.
    Status(u16, Option<u64>),
    /// Forward the request, let the server apply it, then cut the connection without
    /// answering (the response is lost). With `then_refuse`, the proxy also stops accepting
    /// connections before cutting this one (a crash or an outage right after sending).
    DropResponse { then_refuse: bool },
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The body's `idempotency_key`, for sync requests.
    pub idempotency_key: Option<String>,
    /// The status the client got (0: the response was dropped).
    pub status: u16,
    /// The server's `X-Idempotent-Replayed` was `true`.
    pub replayed: bool,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<VecDeque<(String, Fault)>>,
    seen: Mutex<Vec<Seen>>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

/// An HTTP proxy in front of the server that can answer errors, lose responses, and refuse
/// connections (like a server that is down); every request it sees is logged.
pub struct FaultProxy {
    pub address: String,
    port: u16,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            faults: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            accept: Mutex::new(None),
        });
        let proxy = FaultProxy {
            address: format!("http://127.0.0.1:{port}"),
            port,
            state,
        };
        proxy.listen(listener);
        proxy
    }

    fn listen(&self, listener: TcpListener) {
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(stream, state.clone()));
            }
        });
        *self.state.accept.lock().unwrap() = Some(task);
    }

    /// Queues `fault` for the next request whose path contains `path`.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .faults
            .lock()
            .unwrap()
            .push_back((path.to_owned(), fault));
    }

    /// The server is down: connections are refused from now on.
    pub async fn refuse(&self) {
        refuse(&self.state).await;
    }

    /// The server is back, on the same port.
    pub async fn restore(&self) {
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if attempts < 100 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on the proxy port again: {e}"),
            }
        };
        self.listen(listener);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The sync requests seen so far.
    pub fn syncs(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with("/api/v1/workouts/sync"))
            .collect()
    }
}

async fn refuse(state: &ProxyState) {
    let task = state.accept.lock().unwrap().take();
    if let Some(task) = task {
        task.abort();
        let _ = task.await; // the listener is closed once the task is gone
    }
}

/// Reads one HTTP/1.1 request: `(method, path, headers, body)`.
async fn read_request(
    stream: &mut TcpStream,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || data.len() > 1 << 20 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, headers, body))
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status");
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

async fn handle(mut stream: TcpStream, state: Arc<ProxyState>) {
    let Some((method, path, headers, body)) = read_request(&mut stream).await else {
        return;
    };
    let idempotency_key = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["idempotency_key"].as_str().map(str::to_owned));
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let index = faults.iter().position(|(p, _)| path.contains(p.as_str()));
        index.and_then(|i| faults.remove(i)).map(|(_, f)| f)
    };
    let mut seen = Seen {
        method: method.clone(),
        path: path.clone(),
        idempotency_key,
        status: 0,
        replayed: false,
    };
    if let Some(Fault::Status(status, retry_after)) = fault {
        let code = match status {
            401 => "unauthorized",
            429 => "rate_limited",
            _ => "internal_error",
        };
        let mut extra = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(seconds) = retry_after {
            extra.push(("retry-after".to_owned(), seconds.to_string()));
        }
        let body =
            json!({"success": false, "error": code, "message": "injected by the test proxy"});
        seen.status = status;
        state.seen.lock().unwrap().push(seen);
        write_response(&mut stream, status, &extra, body.to_string().as_bytes()).await;
        return;
    }

    // Forward to the server.
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for (k, v) in &headers {
        if !matches!(k.as_str(), "host" | "connection" | "content-length") {
            request = request.header(k.as_str(), v.as_str());
        }
    }
    let (status, response_headers, response_body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "transfer-encoding" | "connection" | "content-length"
                    )
                })
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, headers, body)
        }
        Err(_) => (502, Vec::new(), b"{}".to_vec()),
    };
    seen.replayed = response_headers
        .iter()
        .any(|(k, v)| k == "x-idempotent-replayed" && v == "true");
    if let Some(Fault::DropResponse { then_refuse }) = fault {
        state.seen.lock().unwrap().push(seen);
        if then_refuse {
            refuse(&state).await;
        }
        drop(stream); // the server applied it; the client never hears
        return;
    }
    seen.status = status;
    state.seen.lock().unwrap().push(seen);
    write_response(&mut stream, status, &response_headers, &response_body).await;
}
