//! `GET /export?format=json|csv`: a download of everything, in the shape the contract names;
//! and an export of 100,000 workouts from the real server binary, whose peak memory is
//! recorded and must stay flat.

use reqwest::StatusCode;
use serde_json::json;
use sync_core::wire::{ExportBody, EXPORT_CSV_HEADER};
use sync_core::{prepare_sync, SyncLimits, SyncRequestBody};
use sync_store::{Store, StoreOptions, SyncCommand};
use test_support::{assert_error, per_backend, workouts, TestApp, TestDatabase, TestUser};
use uuid::Uuid;

use crate::helpers::ServerProcess;

/// `GET /export` with `query`, read whole.
async fn download(
    app: &TestApp,
    user: &TestUser,
    query: &[(&str, &str)],
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    // A connection of its own: the tests spend seconds parsing a big download, past the
    // server's keep-alive, and a pooled connection it closed meanwhile would fail the next GET.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut response = client
        .get(app.api("/export"))
        .bearer_auth(&user.access_token)
        .query(query)
        .send()
        .await
        .expect("GET /export");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "[{}] {query:?}",
        app.backend
    );
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("export chunk") {
        body.extend_from_slice(&chunk);
    }
    (headers, body)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

per_backend!(an_export_holds_the_workouts_goals_and_history_as_a_download);
async fn an_export_holds_the_workouts_goals_and_history_as_a_download(app: TestApp) {
    let b = app.backend;
    let user = app.register().await;
    let mut batch = workouts("e", 4);
    batch[1]["client_id"] = json!("comma, \"quoted\"");
    app.sync_ok(&user, &json!({ "workouts": batch })).await;
    let gone = app.id_of(&user, "e-0000").await;
    app.delete_ok(&user, &gone).await;
    let goal = app
        .client
        .put(app.api("/goals/2024"))
        .bearer_auth(&user.access_token)
        .json(&json!({"target_days": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(goal.status(), StatusCode::OK, "[{b}]");
    let other = app.register().await;
    app.sync_ok(&other, &json!({ "workouts": workouts("theirs", 2) }))
        .await;

    let (headers, body) = download(&app, &user, &[("format", "json")]).await;
    assert!(
        header(&headers, "content-type").starts_with("application/json"),
        "[{b}] {headers:?}"
    );
    let disposition = header(&headers, "content-disposition");
    assert!(
        disposition.starts_with("attachment") && disposition.contains(".json"),
        "[{b}] {disposition}"
    );
    let export: ExportBody = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("[{b}] {e}: {}", String::from_utf8_lossy(&body)));
    assert_eq!(export.user.id.to_string(), user.id, "[{b}]");
    let served = app.list_all(&user, &[]).await;
    let exported: Vec<serde_json::Value> = export
        .workouts
        .iter()
        .map(|w| serde_json::to_value(w).unwrap())
        .collect();
    assert_eq!(
        exported, served,
        "[{b}] every live workout as GET /workouts serves it, and only those"
    );
    assert_eq!(export.goals.len(), 1, "[{b}]");
    assert_eq!(export.goals[0].target_days, 200, "[{b}]");
    assert_eq!(export.syncs.len(), 1, "[{b}] the sync history");
    // The contract's conventions hold in the download too: whole-second server times.
    let text = String::from_utf8(body).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        crate::helpers::is_server_timestamp(&raw["exported_at"]),
        "[{b}]"
    );
    assert!(
        raw["workouts"][0]["duration_seconds"].is_i64(),
        "[{b}] integers stay integers"
    );
    // JSON is the default.
    let (_, default_body) = download(&app, &user, &[]).await;
    assert!(
        serde_json::from_slice::<ExportBody>(&default_body).is_ok(),
        "[{b}]"
    );

    let (headers, body) = download(&app, &user, &[("format", "csv")]).await;
    assert!(
        header(&headers, "content-type").starts_with("text/csv"),
        "[{b}] {headers:?}"
    );
    assert!(
        header(&headers, "content-disposition").contains(".csv"),
        "[{b}]"
    );
    let csv = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines[0], EXPORT_CSV_HEADER, "[{b}]");
    assert_eq!(
        lines.len(),
        1 + 3,
        "[{b}] a header and the live workouts: {csv}"
    );
    assert!(
        csv.contains("\"comma, \"\"quoted\"\"\""),
        "[{b}] quoted as RFC 4180 says: {csv}"
    );
    assert!(!csv.contains("theirs"), "[{b}] another user's workouts");

    let refused = app.get(&user, "/export", &[("format", "xml")]).await;
    let body = assert_error(refused, StatusCode::BAD_REQUEST, "invalid_parameter", b).await;
    assert!(body["errors"]["format"].is_array(), "[{b}] {body}");
    let anonymous = app.client.get(app.api("/export")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized", b).await;
}

/// Workouts seeded in the 100,000-workout export.
const MANY: usize = 100_000;

/// A `Vm…:` line of a process's status (`VmRSS`: resident now; `VmHWM`: its peak), in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Resets the process's peak resident set to its current one (Linux's `clear_refs` 5), so a
/// later `VmHWM` is the peak of what happened since.
fn reset_peak_rss(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
}

/// Stores `MANY` workouts for the user (one every 55 minutes from 2010: all in the past) through the store's own sync path, a thousand a sync
/// (no HTTP: the export is under test, not the sync).
fn seed(database_url: &str, user_id: Uuid) {
    let store = Store::open(database_url, &StoreOptions::default()).expect("open store");
    let base = chrono::DateTime::parse_from_rfc3339("2010-01-01T06:00:00Z").unwrap();
    let now = chrono::Utc::now();
    for batch in 0..MANY / 1000 {
        let runs: Vec<serde_json::Value> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let start = base + chrono::Duration::minutes(55 * n as i64);
                json!({"client_id": format!("seed-{n:06}"), "start_time": start.to_rfc3339(),
                       "end_time": (start + chrono::Duration::minutes(40)).to_rfc3339(),
                       "duration_seconds": 2400, "distance_meters": 8000 + n % 500,
                       "energy_burned_kcal": 520.5, "avg_heart_rate": 150, "source": "apple_watch"})
            })
            .collect();
        let body = SyncRequestBody {
            workouts: Some(runs),
            ..SyncRequestBody::default()
        };
        let prepared = prepare_sync(body, None, &SyncLimits::default(), now).expect("prepare");
        let command = SyncCommand {
            user_id,
            session: None,
            request: &prepared,
            now,
            idempotency_ttl: chrono::Duration::hours(1),
        };
        match store.sync(&command).expect("seed sync") {
            sync_store::SyncOutcome::Applied { counts, .. } => assert_eq!(counts.created, 1000),
            other => panic!("seed sync: {other:?}"),
        }
    }
}

per_backend!(
    an_export_of_100000_workouts_streams_in_flat_memory,
    database
);
async fn an_export_of_100000_workouts_streams_in_flat_memory(db: TestDatabase) {
    let data_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(db.url(), data_dir.path(), &[]).await;
    let app = server.client();
    let b = app.backend;
    let user = app.register().await;
    let user_id: Uuid = user.id.parse().unwrap();
    let url = db.url().to_owned();
    let seeding = std::time::Instant::now();
    tokio::task::spawn_blocking(move || seed(&url, user_id))
        .await
        .unwrap();
    let seeded_in = seeding.elapsed();
    // Warm up the export's code paths on a small account (the first requests allocate pools
    // and caches), so that the peak after the big one is that export's own.
    let small = app.register().await;
    app.sync_ok(&small, &json!({ "workouts": workouts("small", 10) }))
        .await;
    download(&app, &small, &[("format", "json")]).await;
    download(&app, &small, &[("format", "csv")]).await;
    let pid = server.pid();
    reset_peak_rss(pid);
    let before = memory_kib(pid, "VmRSS:");

    let started = std::time::Instant::now();
    let (_, json_body) = download(&app, &user, &[("format", "json")]).await;
    let json_secs = started.elapsed().as_secs_f64();
    let after_json = memory_kib(pid, "VmHWM:");
    reset_peak_rss(pid);
    let export: ExportBody = serde_json::from_slice(&json_body).expect("the export parses");
    assert_eq!(export.workouts.len(), MANY, "[{b}]");
    assert_eq!(export.syncs.len(), MANY / 1000, "[{b}]");
    assert!(
        export
            .workouts
            .windows(2)
            .all(|w| w[0].start_time >= w[1].start_time),
        "[{b}] newest first, each once"
    );
    let started = std::time::Instant::now();
    let (_, csv_body) = download(&app, &user, &[("format", "csv")]).await;
    let csv_secs = started.elapsed().as_secs_f64();
    let after_csv = memory_kib(pid, "VmHWM:");
    assert_eq!(
        csv_body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        MANY + 1,
        "[{b}]"
    );

    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "[{b}] export of {MANY} workouts (seeded in {seeded_in:.1?}): JSON {:.1} MiB in {json_secs:.1} s, \
         CSV {:.1} MiB in {csv_secs:.1} s; server RSS {:.1} MiB before, peak {:.1} MiB during JSON, \
         {:.1} MiB during CSV",
        mib(json_body.len() as u64 / 1024),
        mib(csv_body.len() as u64 / 1024),
        mib(before),
        mib(after_json),
        mib(after_csv),
    );
    // Streamed a page at a time, the peak grows by a few pages, never by the download's size.
    let growth = after_json.max(after_csv).saturating_sub(before);
    let download_kib = json_body.len() as u64 / 1024;
    assert!(
        growth < 16 * 1024 && growth < download_kib / 4,
        "[{b}] peak RSS grew {growth} KiB for a {download_kib} KiB download"
    );
}
