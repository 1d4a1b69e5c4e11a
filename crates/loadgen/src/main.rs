//! `rd-loadgen`: drives a running `sync-server` with one traffic mix at a time, for a fixed time
//! over a fixed number of connections, and reports throughput, latency, errors and the server's
//! peak memory. `scripts/bench` runs it; `docs/benchmarks.md` explains the mixes and the numbers.
//!
//! ```text
//! rd-loadgen register --url http://127.0.0.1:8080 --users 200 --out users.json
//! rd-loadgen run --url http://127.0.0.1:8080 --users-file users.json --mix incremental \
//!     --connections 16 --duration 20 --server-pid 1234 --label sqlite --json-out results.jsonl
//! rd-loadgen header
//! ```
//!
//! The server must run with `RATE_LIMITS=off`. Traffic goes only to the given URL.

mod server;
mod workload;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    name = "rd-loadgen",
    about = "Load generator for the Running Days sync server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Registers users (Argon2 on the server: a few per second per core) and writes their tokens.
    Register {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Registrations in flight at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        #[arg(long)]
        out: String,
    },
    /// Drives one mix and prints a markdown table row (and appends JSON to --json-out).
    Run(RunArgs),
    /// Prints the markdown table header matching `run`'s rows.
    Header,
}

#[derive(Parser, Clone)]
struct RunArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The file `register` wrote.
    #[arg(long)]
    users_file: String,
    #[arg(long, value_enum)]
    mix: Mix,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Unmeasured seconds before (connections open, caches and plans warm).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// The server's process id, for its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A free-form label for the row (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Appends the result as one JSON line.
    #[arg(long)]
    json_out: Option<String>,
    /// Pages followed per user in the `list` and `changes` mixes before moving to the next.
    #[arg(long, default_value_t = 5)]
    pages: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mix {
    /// (a) 1–3 new workouts per sync, a fresh idempotency key each, users round-robin.
    Incremental,
    /// (b) a full sync of 100 new workouts per request.
    Full100,
    /// (b) a full sync of 1,000 new workouts per request.
    Full1000,
    /// (b) a full sync re-sending 1,000 stored workouts, all unchanged (fresh key each).
    Resync1000,
    /// (c) the same key and body again: the stored response is replayed.
    Replay,
    /// (d) `GET /workouts?limit=50`, following `next_cursor`.
    List,
    /// (d) `GET /workouts/changes?limit=200`, following `next_cursor`.
    Changes,
    /// (e) `GET /stats/dashboard` (this year), users round-robin.
    Dashboard,
    /// (e) `GET /stats/insights` (this year), users round-robin.
    Insights,
    /// (e) `GET /stats/dashboard` with the current `ETag` in `If-None-Match`: the 304 path
    /// (a 200 counts as an error: the numbers did not change).
    Dashboard304,
    /// (e) `GET /`: the web dashboard's page of the same numbers, signed in by cookie.
    DashboardPage,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Incremental => "a incremental 1-3",
            Mix::Full100 => "b full 100 new",
            Mix::Full1000 => "b full 1000 new",
            Mix::Resync1000 => "b re-sync 1000 unchanged",
            Mix::Replay => "c replay",
            Mix::List => "d GET /workouts",
            Mix::Changes => "d GET /workouts/changes",
            Mix::Dashboard => "e GET /stats/dashboard",
            Mix::Insights => "e GET /stats/insights",
            Mix::Dashboard304 => "e GET /stats/dashboard, 304",
            Mix::DashboardPage => "e GET / (dashboard page)",
        }
    }

    fn route(self) -> (&'static str, &'static str) {
        match self {
            Mix::List => ("/api/v1/workouts", "GET"),
            Mix::Changes => ("/api/v1/workouts/changes", "GET"),
            Mix::Dashboard | Mix::Dashboard304 => ("/api/v1/stats/dashboard", "GET"),
            Mix::Insights => ("/api/v1/stats/insights", "GET"),
            Mix::DashboardPage => ("/", "GET"),
            _ => ("/api/v1/workouts/sync", "POST"),
        }
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct BenchUser {
    user_id: String,
    email: String,
    access_token: String,
    /// For the dashboard page mix, which signs in through the web form (absent in files
    /// written before it existed).
    #[serde(default)]
    password: String,
}

/// One mix's result.
#[derive(Serialize)]
struct Report {
    label: String,
    mix: Mix,
    mix_name: &'static str,
    connections: usize,
    duration_s: f64,
    requests: u64,
    ok: u64,
    errors: u64,
    statuses: BTreeMap<String, u64>,
    requests_per_s: f64,
    workouts_per_s: f64,
    workouts_per_request: f64,
    latency_ms: Latency,
    /// When the slowest request started, in seconds into the window.
    slowest_started_at_s: f64,
    /// Mean time the server spent per request of this route (its own histogram in /metrics).
    server_mean_ms: Option<f64>,
    rss_start_mib: Option<f64>,
    rss_peak_mib: Option<f64>,
    rss_end_mib: Option<f64>,
    load_avg_1m: Option<f64>,
    /// Of the machine's CPU time over the window: what the server, PostgreSQL, this load
    /// generator and everything else used (shares of all CPUs together).
    cpu_share: Option<CpuShare>,
}

#[derive(Serialize)]
struct CpuShare {
    server: f64,
    postgres: f64,
    loadgen: f64,
    other: f64,
    idle: f64,
}

#[derive(Serialize, Default)]
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// The slowest request: its latency (µs) and when it started (s into the window).
    slowest: (u32, f64),
    ok: u64,
    workouts: u64,
    statuses: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        if other.slowest.0 > self.slowest.0 {
            self.slowest = other.slowest;
        }
        self.ok += other.ok;
        self.workouts += other.workouts;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
    }
}

/// Connections prepare (unmeasured), then all start at once.
struct Start {
    prepared: tokio::sync::Barrier,
    released: tokio::sync::Barrier,
    window: std::sync::OnceLock<Window>,
}

/// The measured window: requests that complete inside it are counted.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("LOADGEN_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        )
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.command {
        Command::Register {
            url,
            users,
            concurrency,
            out,
        } => rt.block_on(register(url, users, concurrency, out)),
        Command::Run(args) => rt.block_on(run(args)),
        Command::Header => {
            println!("{}", header());
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("rd-loadgen: {e}");
        std::process::exit(1);
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

async fn register(
    url: String,
    users: usize,
    concurrency: usize,
    out: String,
) -> Result<(), String> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (url, tag, next) = (url.clone(), tag.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= users {
                    return Ok::<_, String>(mine);
                }
                let email = format!("bench-{tag}-{i}@example.com");
                let password = format!("bench-password-{i}");
                let response = client
                    .post(format!("{url}/api/v1/auth/register"))
                    .json(&serde_json::json!({"email": email, "password": password}))
                    .send()
                    .await
                    .map_err(|e| format!("register: {e}"))?;
                let status = response.status();
                let body: serde_json::Value = response.json().await.map_err(|e| format!("register body: {e}"))?;
                if !status.is_success() {
                    return Err(format!(
                        "register answered {status}: {body} (is the server running with RATE_LIMITS=off?)"
                    ));
                }
                mine.push((
                    i,
                    BenchUser {
                        user_id: body["user"]["id"].as_str().unwrap_or_default().to_owned(),
                        email,
                        access_token: body["access_token"].as_str().unwrap_or_default().to_owned(),
                        password,
                    },
                ));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    all.sort_by_key(|(i, _)| *i);
    let all: Vec<BenchUser> = all.into_iter().map(|(_, u)| u).collect();
    std::fs::write(&out, serde_json::to_vec(&all).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "rd-loadgen: registered {} users in {:.1} s ({:.1}/s)",
        all.len(),
        started.elapsed().as_secs_f64(),
        all.len() as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A request prepared before the window: whose it is, its body, the validator it sends again,
/// and the workouts it carries.
struct Prepared {
    token: Arc<str>,
    body: Arc<str>,
    /// The `Idempotency-Key` of a replayed sync, or the `ETag` the 304 mix sends in
    /// `If-None-Match`.
    key: String,
    workouts: u64,
}

impl Prepared {
    /// Sends `body` once as `user` under a fresh key, so that every later send of it is a
    /// replay. A status other than 200 is an error naming `what` was being prepared.
    async fn stored(
        client: &reqwest::Client,
        url: &str,
        user: &BenchUser,
        body: Arc<str>,
        workouts: u64,
        what: &str,
    ) -> Result<Prepared, String> {
        let key = uuid::Uuid::new_v4().to_string();
        let (status, _) = send_sync(client, url, &user.access_token, &key, &body).await?;
        if status != 200 {
            return Err(format!("preparing {what} answered {status}"));
        }
        Ok(Prepared {
            token: user.access_token.as_str().into(),
            body,
            key,
            workouts,
        })
    }
}

/// Sends one sync; the status and whether it was a replay.
async fn send_sync(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &str,
) -> Result<(u16, bool), String> {
    let response = client
        .post(format!("{url}/api/v1/workouts/sync"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("x-idempotent-replayed")
        .is_some_and(|v| v == "true");
    // Read the body to the end so the connection is reused.
    let _ = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, replayed))
}

/// One stats read, with `If-None-Match` when given; the status and the `ETag`.
async fn get_stats(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
    if_none_match: Option<&str>,
) -> Result<(u16, Option<String>), String> {
    let mut request = client.get(format!("{url}{path}")).bearer_auth(token);
    if let Some(etag) = if_none_match {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Read the body to the end so the connection is reused.
    let _ = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, etag))
}

/// Signs `user` in through the dashboard's form (the CSRF nonce cookie and token from the page,
/// then the post); the session cookie (`name=value`) to send with each page request.
async fn web_sign_in(url: &str, user: &BenchUser) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let cookie_of = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let page = client
        .get(format!("{url}/login"))
        .send()
        .await
        .map_err(|e| format!("sign-in page: {e}"))?;
    let nonce = cookie_of(&page, "rd_csrf").ok_or("the sign-in page set no CSRF cookie")?;
    let html = page.text().await.map_err(|e| e.to_string())?;
    let marker = r#"name="csrf" value=""#;
    let token = html
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("the sign-in page has no CSRF field")?;
    let response = client
        .post(format!("{url}/login"))
        .header("cookie", nonce)
        .header("origin", url)
        .form(&[
            ("csrf", token),
            ("email", &user.email),
            ("password", &user.password),
        ])
        .send()
        .await
        .map_err(|e| format!("sign in: {e}"))?;
    match response.status().as_u16() {
        303 => cookie_of(&response, "rd_session").ok_or_else(|| "no session cookie".to_owned()),
        status => Err(format!(
            "signing {} in through the form answered {status} (registered by this version of rd-loadgen?)",
            user.email
        )),
    }
}

/// `GET /` with the session cookie; a redirect (to the sign-in page) is not a 2xx, so it counts
/// as an error.
async fn get_page(client: &reqwest::Client, url: &str, cookie: &str) -> Result<u16, String> {
    let response = client
        .get(format!("{url}/"))
        .header("cookie", cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.bytes().await.map_err(|e| e.to_string())?;
    Ok(status)
}

#[derive(Deserialize)]
struct Page {
    #[serde(alias = "changes")]
    workouts: Vec<serde::de::IgnoredAny>,
    next_cursor: Option<String>,
    has_more: bool,
}

fn record(
    t: &mut Tally,
    window: Window,
    started: Instant,
    status: Result<u16, String>,
    workouts: u64,
) {
    let done = Instant::now();
    if started < window.start || done > window.end {
        return;
    }
    let key = match &status {
        Ok(s) => s.to_string(),
        Err(_) => "transport".to_owned(),
    };
    *t.statuses.entry(key).or_default() += 1;
    let us = done
        .duration_since(started)
        .as_micros()
        .min(u32::MAX as u128) as u32;
    t.latencies_us.push(us);
    if us > t.slowest.0 {
        t.slowest = (us, started.duration_since(window.start).as_secs_f64());
    }
    if matches!(status, Ok(s) if (200..300).contains(&s)) {
        t.ok += 1;
        t.workouts += workouts;
    }
}

/// One connection's loop for one mix.
async fn drive(
    args: Arc<RunArgs>,
    users: Arc<Vec<BenchUser>>,
    conn: usize,
    sync: Arc<Start>,
    tag: Arc<str>,
) -> Result<Tally, String> {
    let client = client();
    let url = args.url.as_str();
    let mine: Vec<&BenchUser> = users
        .iter()
        .skip(conn % users.len())
        .step_by(args.connections.max(1))
        .collect();
    if mine.is_empty() {
        return Err(format!(
            "connection {conn} has no user: register at least --connections users"
        ));
    }
    let mut tally = Tally::default();
    let mut counter: u64 = 0;
    let mut turn = 0usize;

    // Preparation, unmeasured. A failure still meets the others at the start line.
    let prepared: Result<Vec<Prepared>, String> = async {
        let mut prepared: Vec<Prepared> = Vec::new();
        match args.mix {
            Mix::Resync1000 => {
                let body = workload::sync_body(&format!("{tag}-c{conn}-set"), 0, 1000, "full");
                let what = "the stored set";
                let set = Prepared::stored(&client, url, mine[0], body.into(), 1000, what).await?;
                prepared.push(set);
            }
            Mix::Replay => {
                for i in 0..20u64 {
                    let user = mine[i as usize % mine.len()];
                    let n = 1 + i % 3;
                    let body = workload::sync_body(
                        &format!("{tag}-c{conn}-r"),
                        i * 10,
                        n as usize,
                        "incremental",
                    );
                    let replay = Prepared::stored(&client, url, user, body.into(), n, "a replay");
                    prepared.push(replay.await?);
                }
            }
            Mix::Dashboard304 => {
                for user in &mine {
                    let (status, etag) =
                        get_stats(&client, url, args.mix.route().0, &user.access_token, None)
                            .await?;
                    match (status, etag) {
                        (200, Some(etag)) => prepared.push(Prepared {
                            token: user.access_token.as_str().into(),
                            body: Arc::from(""),
                            key: etag,
                            workouts: 0,
                        }),
                        (status, _) => return Err(format!("preparing an ETag answered {status}")),
                    }
                }
            }
            Mix::DashboardPage => {
                for user in &mine {
                    prepared.push(Prepared {
                        token: web_sign_in(url, user).await?.into(),
                        body: Arc::from(""),
                        key: String::new(),
                        workouts: 0,
                    });
                }
            }
            _ => {}
        }
        Ok(prepared)
    }
    .await;
    // Every connection has prepared: the warm-up and then the window start together.
    sync.prepared.wait().await;
    sync.released.wait().await;
    let window = *sync.window.get().expect("window set before release");
    let prepared = prepared?;

    let mut cursor: Option<String> = None;
    let mut pages_done = 0usize;
    while Instant::now() < window.end {
        match args.mix {
            Mix::Incremental | Mix::Full100 | Mix::Full1000 => {
                let user = mine[turn % mine.len()];
                turn += 1;
                let n: u64 = match args.mix {
                    // 1, 2, 3, 1, 2, 3, …: two on average, as the ceiling's batches.
                    Mix::Incremental => 1 + turn as u64 % 3,
                    Mix::Full100 => 100,
                    _ => 1000,
                };
                let mode = if args.mix == Mix::Incremental {
                    "incremental"
                } else {
                    "full"
                };
                let body =
                    workload::sync_body(&format!("{tag}-c{conn}"), counter, n as usize, mode);
                counter += n;
                let key = uuid::Uuid::new_v4().to_string();
                let started = Instant::now();
                let status = send_sync(&client, url, &user.access_token, &key, &body)
                    .await
                    .map(|(s, _)| s);
                record(&mut tally, window, started, status, n);
            }
            Mix::Resync1000 => {
                let p = &prepared[0];
                let key = uuid::Uuid::new_v4().to_string();
                let started = Instant::now();
                let status = send_sync(&client, url, &p.token, &key, &p.body)
                    .await
                    .map(|(s, _)| s);
                record(&mut tally, window, started, status, p.workouts);
            }
            Mix::Replay => {
                let p = &prepared[turn % prepared.len()];
                turn += 1;
                let started = Instant::now();
                let status = send_sync(&client, url, &p.token, &p.key, &p.body)
                    .await
                    .map(|(s, replayed)| if s == 200 && !replayed { 599 } else { s });
                record(&mut tally, window, started, status, p.workouts);
            }
            Mix::Dashboard | Mix::Insights => {
                let user = mine[turn % mine.len()];
                turn += 1;
                let started = Instant::now();
                let status = get_stats(&client, url, args.mix.route().0, &user.access_token, None)
                    .await
                    .map(|(s, _)| s);
                record(&mut tally, window, started, status, 0);
            }
            Mix::Dashboard304 => {
                let p = &prepared[turn % prepared.len()];
                turn += 1;
                let started = Instant::now();
                let status = get_stats(&client, url, args.mix.route().0, &p.token, Some(&p.key))
                    .await
                    // The answer this mix measures is the 304; a 200 means it was not given.
                    .map(|(s, _)| match s {
                        304 => 200,
                        200 => 599,
                        other => other,
                    });
                record(&mut tally, window, started, status, 0);
            }
            Mix::DashboardPage => {
                let p = &prepared[turn % prepared.len()];
                turn += 1;
                let started = Instant::now();
                let status = get_page(&client, url, &p.token).await;
                record(&mut tally, window, started, status, 0);
            }
            Mix::List | Mix::Changes => {
                let user = mine[turn % mine.len()];
                let (path, limit) = if args.mix == Mix::List {
                    ("/api/v1/workouts", 50)
                } else {
                    ("/api/v1/workouts/changes", 200)
                };
                let mut request = client
                    .get(format!("{url}{path}"))
                    .bearer_auth(&user.access_token)
                    .query(&[("limit", limit.to_string())]);
                if let Some(c) = &cursor {
                    request = request.query(&[("cursor", c)]);
                }
                let started = Instant::now();
                let outcome = async {
                    let response = request.send().await.map_err(|e| e.to_string())?;
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
                    Ok::<_, String>((status, bytes))
                }
                .await;
                let (status, page) = match outcome {
                    Ok((s, bytes)) if s == 200 => {
                        (Ok(s), serde_json::from_slice::<Page>(&bytes).ok())
                    }
                    Ok((s, _)) => (Ok(s), None),
                    Err(e) => (Err(e), None),
                };
                let items = page.as_ref().map_or(0, |p| p.workouts.len() as u64);
                record(&mut tally, window, started, status, items);
                pages_done += 1;
                match page {
                    Some(p) if p.has_more && pages_done < args.pages => cursor = p.next_cursor,
                    _ => {
                        cursor = None;
                        pages_done = 0;
                        turn += 1;
                    }
                }
            }
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn run(args: RunArgs) -> Result<(), String> {
    let users: Vec<BenchUser> = serde_json::from_slice(
        &std::fs::read(&args.users_file).map_err(|e| format!("{}: {e}", args.users_file))?,
    )
    .map_err(|e| format!("{}: {e}", args.users_file))?;
    if users.len() < args.connections {
        return Err(format!(
            "{} users for {} connections: register at least one per connection",
            users.len(),
            args.connections
        ));
    }
    let args = Arc::new(args);
    let users = Arc::new(users);
    let tag: Arc<str> = uuid::Uuid::new_v4().simple().to_string()[..10].into();
    let meta = client();

    // Connections prepare first (unmeasured); then a warm-up; then the measured window.
    let sync = Arc::new(Start {
        prepared: tokio::sync::Barrier::new(args.connections + 1),
        released: tokio::sync::Barrier::new(args.connections + 1),
        window: std::sync::OnceLock::new(),
    });
    let tasks: Vec<_> = (0..args.connections)
        .map(|conn| {
            tokio::spawn(drive(
                args.clone(),
                users.clone(),
                conn,
                sync.clone(),
                tag.clone(),
            ))
        })
        .collect();
    sync.prepared.wait().await;
    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let window = Window {
        start,
        end: start + Duration::from_secs_f64(args.duration),
    };
    let _ = sync.window.set(window);
    sync.released.wait().await;

    tokio::time::sleep_until(window.start.into()).await;
    let pid = args.server_pid;
    let rss_start = pid.and_then(server::memory_kib).map(|(rss, _)| rss);
    let peak_reset = pid.is_some_and(server::reset_peak);
    let sampler = pid.map(|p| server::RssSampler::start(p, Duration::from_millis(50)));
    let times_before = server::server_times(&meta, &args.url).await;
    let ticks_before = server::cpu_ticks(pid);

    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(one)) => tally.merge(one),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let ticks_after = server::cpu_ticks(pid);
    let times_after = server::server_times(&meta, &args.url).await;
    let sampled_peak = sampler.map(|s| s.finish());
    let (rss_end, hwm) = match pid.and_then(server::memory_kib) {
        Some((r, h)) => (Some(r), Some(h)),
        None => (None, None),
    };
    if !failures.is_empty() {
        return Err(format!(
            "{} connection(s) failed: {}",
            failures.len(),
            failures[0]
        ));
    }
    // The kernel's high-water mark since the reset catches spikes between samples.
    let rss_peak = match (sampled_peak, hwm, peak_reset) {
        (Some(s), Some(h), true) => Some(s.max(h)),
        (Some(s), _, _) => Some(s),
        _ => None,
    };

    let mut lat = std::mem::take(&mut tally.latencies_us);
    lat.sort_unstable();
    let requests = lat.len() as u64;
    let secs = args.duration;
    let mib = |k: Option<u64>| k.map(|v| v as f64 / 1024.0);
    let (route, method) = args.mix.route();
    let report = Report {
        label: args.label.clone(),
        mix: args.mix,
        mix_name: args.mix.name(),
        connections: args.connections,
        duration_s: secs,
        requests,
        ok: tally.ok,
        errors: requests - tally.ok,
        statuses: tally.statuses,
        requests_per_s: tally.ok as f64 / secs,
        workouts_per_s: tally.workouts as f64 / secs,
        workouts_per_request: if tally.ok > 0 {
            tally.workouts as f64 / tally.ok as f64
        } else {
            0.0
        },
        latency_ms: Latency {
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
            max: lat.last().map_or(0.0, |&v| v as f64 / 1000.0),
            mean: if lat.is_empty() {
                0.0
            } else {
                lat.iter().map(|&v| v as f64).sum::<f64>() / lat.len() as f64 / 1000.0
            },
        },
        slowest_started_at_s: tally.slowest.1,
        server_mean_ms: match (&times_before, &times_after) {
            (Some(b), Some(a)) => server::mean_ms(b, a, route, method),
            _ => None,
        },
        rss_start_mib: mib(rss_start),
        rss_peak_mib: mib(rss_peak),
        rss_end_mib: mib(rss_end),
        load_avg_1m: load_avg(),
        cpu_share: cpu_share(ticks_before, ticks_after, args.duration),
    };
    println!("{}", row(&report));
    if let Some(path) = &args.json_out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(
            f,
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        )
        .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn cpu_share(
    before: Option<server::CpuTicks>,
    after: Option<server::CpuTicks>,
    seconds: f64,
) -> Option<CpuShare> {
    let (b, a) = (before?, after?);
    let hz = 100.0; // USER_HZ, the unit of /proc/*/stat on Linux
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total = hz * seconds * cpus;
    let share = |x: u64, y: u64| y.saturating_sub(x) as f64 / total;
    let server = share(b.server, a.server);
    let postgres = share(b.postgres, a.postgres);
    let loadgen = share(b.own, a.own);
    let busy = share(b.machine_busy, a.machine_busy);
    Some(CpuShare {
        server,
        postgres,
        loadgen,
        other: (busy - server - postgres - loadgen).max(0.0),
        idle: (1.0 - busy).max(0.0),
    })
}

fn header() -> String {
    "| backend | mix | conns | req/s | workouts/s | p50 ms | p99 ms | max ms | server mean ms | errors | server RSS peak MiB |\n\
     |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_owned()
}

fn row(r: &Report) -> String {
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
    format!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
        r.label,
        r.mix_name,
        r.connections,
        r.requests_per_s,
        r.workouts_per_s,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max,
        opt(r.server_mean_ms, 2),
        r.errors,
        opt(r.rss_peak_mib, 1),
    )
}
