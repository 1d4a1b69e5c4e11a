//! `rdsync`: get your runs from an Apple Health export into a Running Days server.
//!
//! ```text
//! rdsync login --email runner@example.com      # asks for the password
//! rdsync import ~/Downloads/export.zip
//! rdsync sync
//! rdsync goal --set 250                        # this year's goal, then how far along you are
//! rdsync stats                                 # the year's numbers
//! rdsync export runs.csv                       # everything on the server, as a file
//! rdsync delete-account                        # erase the account (asks first)
//! ```
//!
//! Exit codes (see docs/client.md): 0 ok, 1 error, 2 usage, 3 offline, 4 log in (again),
//! 5 partial (workouts rejected by the server, or an export that breaks off), 6 the server is
//! failing or rate limiting (try later).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sync_client::apple_health::ImportProgress;
use sync_client::error::describe_fields;
use sync_client::summary::{goal_summary, stats_summary};
use sync_client::{
    import_path, Cache, ClientConfig, ClientError, ErrorKind, ExportFormat, ImportError,
    SyncClient, SyncMode, SyncPhase,
};
use sync_core::running::{validate_goal, validate_year, ValidGoal};

/// Exit codes a script can test.
mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const OFFLINE: u8 = 3;
    pub const AUTH: u8 = 4;
    pub const PARTIAL: u8 = 5;
    pub const SERVER: u8 = 6;
}

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Parser)]
#[command(
    name = "rdsync",
    version,
    about = "Sync your runs to a Running Days server",
    long_about = "Sync your runs to a Running Days server.\n\n\
        A runner's three commands: `rdsync login`, `rdsync import export.zip`, `rdsync sync`; \
        then `rdsync goal` and `rdsync stats` show the year's goal and numbers.\n\n\
        Exit codes: 0 ok, 1 error, 2 usage, 3 offline (nothing lost, run sync again later), \
        4 log in (again), 5 partial (some workouts rejected, or the export breaks off), \
        6 the server is failing or rate limiting (try later)."
)]
struct Cli {
    /// The server's base URL [default: the server logged in to, else http://127.0.0.1:8080]
    #[arg(long, env = "RDSYNC_SERVER", global = true)]
    server: Option<String>,

    /// The local cache (a SQLite file)
    #[arg(
        long,
        env = "RDSYNC_CACHE",
        default_value = "./rdsync.db",
        global = true
    )]
    cache: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account on the server and log in to it
    Register(Credentials),
    /// Log in; the session is kept in the cache (tokens are never printed)
    Login(Credentials),
    /// Log out on the server and forget the tokens
    Logout,
    /// Import the running workouts of an Apple Health export (export.zip or export.xml)
    Import {
        /// The export: `export.zip` as the Health app shares it, or the `export.xml` inside
        file: PathBuf,
    },
    /// Send what changed to the server, then pull changes made elsewhere
    Sync {
        /// Send every workout in the cache, not only what changed since the last sync
        #[arg(long)]
        full: bool,
        /// Workouts per request (at most the server's limit)
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// Do not pull changes from the server afterwards
        #[arg(long)]
        no_pull: bool,
    },
    /// Bring in workouts, edits and deletions made on other devices or the dashboard
    Pull,
    /// Show what the cache holds and what waits to be synced (works offline)
    Status,
    /// Show the year's goal and how far along you are; with --set N, set the goal first
    Goal {
        /// The year, 2000 to 2100 [default: this year in your time zone, as the server's
        /// dashboard counts it]
        #[arg(allow_negative_numbers = true)]
        year: Option<i64>,
        /// Set the year's goal to N running days (1 to the days of the year), then show it
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        set: Option<i64>,
    },
    /// Show the year's numbers: goal, streaks, next achievement, distance, time, bests
    Stats {
        /// The year, 2000 to 2100 [default: this year in your time zone]
        #[arg(allow_negative_numbers = true)]
        year: Option<i64>,
    },
    /// Download everything the server holds of the account into FILE
    Export {
        /// Where to write it; an existing file is replaced only once the download is whole
        file: PathBuf,
        /// `json` (workouts, goals and sync history) or `csv` (workouts) [default: csv for a
        /// FILE ending in .csv, else json]
        #[arg(long, value_parser = ["json", "csv"])]
        format: Option<String>,
    },
    /// Erase the account on the server, with every workout, goal and token of it
    DeleteAccount {
        /// The account's password (else asked for, without echo)
        #[arg(long, env = "RDSYNC_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Do not ask for confirmation (for scripts)
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct Credentials {
    /// The account's email (else asked for)
    #[arg(long, env = "RDSYNC_EMAIL")]
    email: Option<String>,
    /// The password (else asked for, without echo)
    #[arg(long, env = "RDSYNC_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// A failure with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match e.kind() {
            ErrorKind::Offline => exit::OFFLINE,
            ErrorKind::Auth => exit::AUTH,
            ErrorKind::ServerTrouble => exit::SERVER,
            ErrorKind::Other => exit::FAILURE,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<sync_client::CacheError> for Failure {
    fn from(e: sync_client::CacheError) -> Failure {
        Failure {
            code: exit::FAILURE,
            message: e.to_string(),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Failure {
        Failure {
            code: exit::FAILURE,
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rdsync: cannot start: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("rdsync: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let cache = Arc::new(Cache::open(&cli.cache.to_string_lossy())?);
    let server = match &cli.server {
        Some(server) => server.clone(),
        None => cache
            .server_url()?
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
    };
    let client = |batch_size: usize| -> Result<SyncClient, Failure> {
        let mut config = ClientConfig::new(server.clone());
        config.batch_size = batch_size;
        SyncClient::with_shared_cache(cache.clone(), config)
            .map_err(|e| Failure::usage(e.to_string()))
    };
    match cli.command {
        Command::Register(credentials) => {
            let (email, password) = ask_credentials(credentials)?;
            let client = client(sync_client::DEFAULT_BATCH_SIZE)?;
            let account = client.register(&email, &password).await?;
            println!(
                "registered and logged in as {} at {}",
                account.email,
                client.server_url()
            );
            Ok(exit::OK)
        }
        Command::Login(credentials) => {
            let (email, password) = ask_credentials(credentials)?;
            let client = client(sync_client::DEFAULT_BATCH_SIZE)?;
            let account = client.login(&email, &password).await?;
            println!("logged in as {} at {}", account.email, client.server_url());
            Ok(exit::OK)
        }
        Command::Logout => {
            client(sync_client::DEFAULT_BATCH_SIZE)?.logout().await?;
            println!("logged out");
            Ok(exit::OK)
        }
        Command::Import { file } => import(&file, &cache),
        Command::Sync {
            full,
            batch_size,
            no_pull,
        } => {
            let client = client(batch_size as usize)?;
            let mode = if full {
                SyncMode::Full
            } else {
                SyncMode::Incremental
            };
            sync(&client, mode, !no_pull).await
        }
        Command::Pull => {
            let client = client(sync_client::DEFAULT_BATCH_SIZE)?;
            pull(&client).await?;
            Ok(exit::OK)
        }
        Command::Status => status(&cache, &server),
        Command::Goal { year, set } => {
            goal(&client(sync_client::DEFAULT_BATCH_SIZE)?, year, set).await
        }
        Command::Stats { year } => stats(&client(sync_client::DEFAULT_BATCH_SIZE)?, year).await,
        Command::Export { file, format } => {
            export(
                &client(sync_client::DEFAULT_BATCH_SIZE)?,
                &file,
                format.as_deref(),
            )
            .await
        }
        Command::DeleteAccount { password, yes } => {
            let client = client(sync_client::DEFAULT_BATCH_SIZE)?;
            delete_account(&client, &cli.cache, password, yes).await
        }
    }
}

/// Email and password from the flags or the environment, else asked for.
fn ask_credentials(credentials: Credentials) -> Result<(String, String), Failure> {
    let email = match credentials.email {
        Some(email) => email,
        None => prompt_line("email: ")?,
    };
    let password = match credentials.password {
        Some(password) => password,
        None if std::io::stdin().is_terminal() => rpassword::prompt_password("password: ")
            .map_err(|e| Failure::usage(format!("cannot read the password: {e}")))?,
        None => prompt_line("password: ")?,
    };
    if email.trim().is_empty() || password.is_empty() {
        return Err(Failure::usage(
            "an email and a password are needed (--email/--password, RDSYNC_EMAIL/RDSYNC_PASSWORD, or typed in)",
        ));
    }
    Ok((email.trim().to_owned(), password))
}

fn prompt_line(prompt: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", prompt.trim())))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A progress display on stderr: a bar on a terminal, a plain line every 10% otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    last_tenth: Mutex<Option<u64>>,
}

impl Progress {
    fn new(label: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg:>8} [{bar:40}] {percent:>3}% {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label);
            bar
        });
        Progress {
            bar,
            label,
            last_tenth: Mutex::new(None),
        }
    }

    fn set(&self, fraction: f64) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match &self.bar {
            Some(bar) => bar.set_position((fraction * 1000.0) as u64),
            None => {
                let tenth = (fraction * 10.0).floor() as u64;
                if let Ok(mut last) = self.last_tenth.lock() {
                    if *last != Some(tenth) {
                        *last = Some(tenth);
                        eprintln!("{}: {}%", self.label, tenth * 10);
                    }
                }
            }
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn import(file: &std::path::Path, cache: &Cache) -> Result<u8, Failure> {
    let progress = Progress::new("import");
    let result = import_path(file, cache, |p: ImportProgress| {
        if let Some(total) = p.total_bytes.filter(|t| *t > 0) {
            progress.set(p.bytes_read as f64 / total as f64);
        }
    });
    progress.done();
    let report = result?;
    let mut line = format!(
        "imported {} running workouts: {} new, {} changed, {} unchanged",
        report.running, report.inserted, report.changed, report.unchanged
    );
    if report.kept_deleted > 0 {
        line += &format!(", {} deleted earlier and left deleted", report.kept_deleted);
    }
    println!("{line}");
    println!("skipped {} workouts of other types", report.other_workouts);
    if report.malformed > 0 {
        println!("skipped {} malformed workout elements:", report.malformed);
        for reason in &report.malformed_reasons {
            println!("  {reason}");
        }
        if report.malformed > report.malformed_reasons.len() {
            println!(
                "  … and {} more",
                report.malformed - report.malformed_reasons.len()
            );
        }
    }
    let summary = cache.summary()?;
    println!("waiting to sync: {}", summary.needs_sync);
    if let Some(error) = &report.xml_error {
        eprintln!(
            "rdsync: the export's XML breaks off {error}; the workouts before that point were imported"
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}

/// Shows the client's status changes on the progress display of the running command.
#[derive(Clone, Default)]
struct StatusDisplay(Arc<Mutex<Option<Arc<Progress>>>>);

impl StatusDisplay {
    fn attach(client: &SyncClient) -> StatusDisplay {
        let display = StatusDisplay::default();
        let shown = display.clone();
        client.on_status(move |status| {
            if let SyncPhase::Syncing { progress } = status {
                let current = shown.0.lock().ok().and_then(|p| p.clone());
                if let Some(current) = current {
                    current.set(*progress);
                }
            }
        });
        display
    }

    fn show(&self, label: &'static str) {
        if let Ok(mut current) = self.0.lock() {
            *current = Some(Arc::new(Progress::new(label)));
        }
    }

    fn hide(&self) {
        if let Ok(mut current) = self.0.lock() {
            if let Some(progress) = current.take() {
                progress.done();
            }
        }
    }
}

async fn sync(client: &SyncClient, mode: SyncMode, then_pull: bool) -> Result<u8, Failure> {
    if client.cache().saved_login()?.is_none() {
        return Err(ClientError::NotLoggedIn.into());
    }
    let display = StatusDisplay::attach(client);
    display.show("sync");
    let result = client.sync(mode).await;
    display.hide();
    let report = result?;
    println!(
        "synced {} workouts: {} created, {} updated, {} unchanged, {} deleted, {} conflicts",
        report.synced(),
        report.created,
        report.updated,
        report.unchanged,
        report.deleted,
        report.conflicts.len()
    );
    for conflict in report.conflicts.iter().take(10) {
        println!(
            "  conflict on {} ({:?}): the server's copy was kept and is now the local one",
            conflict.client_id, conflict.reason
        );
    }
    if report.replayed_batches > 0 {
        println!(
            "{} batches had already been applied (their answer was lost) and were confirmed without applying them twice",
            report.replayed_batches
        );
    }
    if !report.rejected.is_empty() {
        println!("rejected by the server: {}", report.rejected.len());
        for (client_id, errors) in report.rejected.iter().take(5) {
            println!("  {client_id}: {}", describe_fields(errors));
        }
    }
    if then_pull {
        pull(client).await?;
    }
    Ok(if report.rejected.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}

async fn pull(client: &SyncClient) -> Result<(), Failure> {
    if client.cache().saved_login()?.is_none() {
        return Err(ClientError::NotLoggedIn.into());
    }
    let report = client.pull().await?;
    println!(
        "pulled {} changes: {} new, {} updated, {} deleted",
        report.applied(),
        report.added,
        report.updated,
        report.deleted
    );
    Ok(())
}

fn status(cache: &Cache, server: &str) -> Result<u8, Failure> {
    let summary = cache.summary()?;
    let login = cache.saved_login()?;
    println!("server: {server}");
    match &login {
        Some(login) => println!("account: {} (logged in)", login.email),
        None => println!("account: not logged in"),
    }
    println!("workouts: {}", summary.workouts);
    println!("deleted: {}", summary.deleted);
    println!("waiting to sync: {}", summary.needs_sync);
    println!("rejected by the server: {}", summary.rejected);
    println!("unconfirmed batches: {}", summary.pending_batches);
    match summary.last_sync_at {
        Some(at) => println!(
            "last sync: {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => println!("last sync: never"),
    }
    Ok(exit::OK)
}

/// A YEAR from the command line, checked before anything is sent.
fn checked_year(year: i64) -> Result<i32, Failure> {
    validate_year(year).map_err(|e| Failure::usage(format!("year {year} {e}")))
}

/// A goal from the command line, checked before it is sent.
fn checked_goal(year: i32, target_days: i64) -> Result<ValidGoal, Failure> {
    validate_goal(year.into(), target_days).map_err(|e| {
        Failure::usage(format!(
            "cannot set the goal of {year} to {target_days} days: {}",
            describe_fields(&e.field_errors())
        ))
    })
}

/// `rdsync goal [YEAR] [--set N]`. Without a YEAR, the year is the dashboard's: this year in
/// the runner's time zone, as the server counts it (not this computer's date).
async fn goal(client: &SyncClient, year: Option<i64>, set: Option<i64>) -> Result<u8, Failure> {
    let year = year.map(checked_year).transpose()?;
    if let (Some(year), Some(target)) = (year, set) {
        checked_goal(year, target)?;
    }
    let year = match year {
        Some(year) => year,
        None => client.dashboard(None).await?.goal.year,
    };
    if let Some(target) = set {
        let valid = checked_goal(year, target)?;
        let goal = client.set_goal(valid.year(), valid.target_days()).await?;
        println!(
            "goal for {} set to {} running days",
            goal.year, goal.target_days
        );
    }
    println!("{}", goal_summary(&client.goal_progress(year).await?));
    Ok(exit::OK)
}

/// `rdsync stats [YEAR]`: the dashboard, and the insights of the same year (asked for by
/// number, so that both are about one year even across midnight on New Year's Eve).
async fn stats(client: &SyncClient, year: Option<i64>) -> Result<u8, Failure> {
    let year = year.map(checked_year).transpose()?;
    let dashboard = client.dashboard(year).await?;
    let insights = client.insights(Some(dashboard.goal.year)).await?;
    println!("{}", stats_summary(&dashboard, &insights));
    Ok(exit::OK)
}

/// `rdsync export FILE [--format json|csv]`: downloads into `FILE.partial` and renames it to
/// FILE once whole, so a download that breaks off never leaves a file that looks complete.
async fn export(
    client: &SyncClient,
    file: &std::path::Path,
    format: Option<&str>,
) -> Result<u8, Failure> {
    let by_extension = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let format = match format {
        Some("csv") => ExportFormat::Csv,
        Some(_) => ExportFormat::Json,
        None if by_extension => ExportFormat::Csv,
        None => ExportFormat::Json,
    };
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let write_failure = |what: &str, e: std::io::Error| Failure {
        code: exit::FAILURE,
        message: format!("cannot {what} {}: {e}", partial.display()),
    };
    let created = std::fs::File::create(&partial).map_err(|e| write_failure("create", e))?;
    let mut out = std::io::BufWriter::new(created);
    let downloaded = client.export(format, &mut out).await;
    let flushed = out
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all());
    let bytes = match (downloaded, flushed) {
        (Ok(bytes), Ok(())) => bytes,
        (Err(e), _) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        (Ok(_), Err(e)) => {
            let _ = std::fs::remove_file(&partial);
            return Err(write_failure("write", e));
        }
    };
    std::fs::rename(&partial, file).map_err(|e| Failure {
        code: exit::FAILURE,
        message: format!("cannot move the export to {}: {e}", file.display()),
    })?;
    println!(
        "exported {} ({}, {bytes} bytes)",
        file.display(),
        format.as_str()
    );
    Ok(exit::OK)
}

/// `rdsync delete-account [--password P] [--yes]`: without `--yes`, the runner types the
/// account's email to confirm (from the terminal, or the first line of stdin in a script).
async fn delete_account(
    client: &SyncClient,
    cache_path: &std::path::Path,
    password: Option<String>,
    yes: bool,
) -> Result<u8, Failure> {
    let login = client
        .cache()
        .saved_login()?
        .ok_or(ClientError::NotLoggedIn)?;
    if !yes {
        eprintln!(
            "This erases the account {} on {} with every workout, goal, session and token of \
             it. It cannot be undone.",
            login.email,
            client.server_url()
        );
        let typed = prompt_line("type the account's email to confirm: ")?;
        if typed.trim() != login.email {
            eprintln!("rdsync: not confirmed; nothing was deleted");
            return Ok(exit::USAGE);
        }
    }
    let password = match password {
        Some(password) => password,
        None if std::io::stdin().is_terminal() => rpassword::prompt_password("password: ")
            .map_err(|e| Failure::usage(format!("cannot read the password: {e}")))?,
        None => prompt_line("password: ")?,
    };
    if password.is_empty() {
        return Err(Failure::usage(
            "the account's password is needed (--password, RDSYNC_PASSWORD, or typed in)",
        ));
    }
    client.delete_account(&password).await?;
    println!(
        "deleted the account {} and everything it held on {}",
        login.email,
        client.server_url()
    );
    println!(
        "the local cache {} still holds the imported workouts; delete it to remove them too",
        cache_path.display()
    );
    Ok(exit::OK)
}
