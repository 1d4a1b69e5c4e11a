//! Configuration from environment variables. Every variable has a default, so the server
//! starts with none set; `docs/configuration.md` lists them all.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;
use sync_core::running::DEFAULT_TARGET_DAYS;
use sync_core::webhooks::RetrySchedule;
use sync_core::SyncLimits;
use sync_store::StoreOptions;
use thiserror::Error;

/// A configuration value that is wrong; the server refuses to start.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The variable is set but unusable.
    #[error("{name}: {message}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The generated JWT secret could not be read or written.
    #[error("JWT secret file {path:?}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The JWT signing secret. Its `Debug` never shows it, so it cannot leak into logs.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Shortest accepted `JWT_SECRET`, in bytes (HS256 wants at least 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// Longest duration any variable may set (100 years): deadlines computed from the clock with
/// anything longer could leave the calendar's range.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Requests per minute allowed by one rate-limit bucket; `None` switches that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client address, on the credential endpoints (`/auth/register`, `login`, `refresh`).
    pub auth_per_min: Option<u32>,
    /// Per user, on authenticated writes.
    pub writes_per_min: Option<u32>,
    /// Per user, on authenticated reads.
    pub reads_per_min: Option<u32>,
}

/// Everything the server can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: `postgres://…` or a SQLite path. Default: `DATA_DIR/running-days.db`.
    pub database_url: String,
    /// `DATA_DIR`: where the SQLite file and the generated JWT secret live. Default `./data`.
    pub data_dir: PathBuf,
    /// `BIND_ADDR`. Default `127.0.0.1:8080`.
    pub bind_addr: String,
    /// `JWT_SECRET`, or a secret generated once into `DATA_DIR/jwt_secret`.
    pub jwt_secret: Secret,
    /// Whether the secret was generated (the server logs a warning).
    pub jwt_secret_generated: bool,
    /// `JWT_ISSUER`. Default `running-days-sync`.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`. Default `running-days`.
    pub jwt_audience: String,
    /// `ACCESS_TOKEN_TTL_SECS`. Default 900.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: absolute lifetime of a session. Default 30 days.
    pub refresh_token_ttl: chrono::Duration,
    /// `MAX_BATCH_SIZE`: workouts per sync. Default [`SyncLimits::default`] (1000).
    pub max_batch: usize,
    /// `MAX_BODY_BYTES`: request body limit. Default 2 MiB.
    pub max_body_bytes: usize,
    /// `INGEST_MAX_BODY_BYTES`: body limit of `POST /ingest/health-auto-export`, whose exports
    /// carry second-by-second heart rate. Default 32 MiB.
    pub ingest_max_body_bytes: usize,
    /// `IDEMPOTENCY_TTL_SECS`: how long stored responses replay. Default 24 h.
    pub idempotency_ttl: chrono::Duration,
    /// `PURGE_INTERVAL_SECS`: how often expired idempotency records are deleted. Default 600.
    pub purge_interval: Duration,
    /// `DB_POOL_SIZE`, `DB_POOL_TIMEOUT_MS`, `DB_LOCK_WAIT_MS`, `DB_STATEMENT_TIMEOUT_MS`,
    /// `DB_HEARTBEAT_TIMEOUT_MS`.
    /// Defaults: [`StoreOptions::default`].
    pub store: StoreOptions,
    /// `WORKERS`: HTTP worker threads. Default: the number of CPUs.
    pub workers: usize,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may finish after SIGTERM. Default 30.
    pub shutdown_timeout: Duration,
    /// `RATE_LIMITS` (`on`/`off`), `RATE_LIMIT_AUTH_PER_MIN`, `RATE_LIMIT_WRITES_PER_MIN`,
    /// `RATE_LIMIT_READS_PER_MIN`. Defaults 10, 60, 300.
    pub rate_limits: RateLimits,
    /// `TRUSTED_PROXY_HOPS`: reverse proxies in front of the server whose `X-Forwarded-For`
    /// entries name the client for the per-address rate limits. Default 0: the peer address.
    pub trusted_proxy_hops: usize,
    /// `LOGIN_LOCKOUT_THRESHOLD`: failed logins in a row for one email from one client
    /// address that lock that pair. Default 5.
    pub lockout_threshold: i32,
    /// `LOGIN_ACCOUNT_LOCKOUT_THRESHOLD`: failed logins in a row for one email from all
    /// addresses together that lock the email everywhere (against distributed guessing); at
    /// least `LOGIN_LOCKOUT_THRESHOLD`. Default 100.
    pub account_lockout_threshold: i32,
    /// `LOGIN_LOCKOUT_SECS`: how long a lock lasts, and how long a budget without an attempt
    /// keeps its count. Default 900.
    pub lockout_duration: chrono::Duration,
    /// `BODY_READ_TIMEOUT_SECS`: how long a request's body may take to arrive once its headers
    /// have (a 408 after that). Default 30.
    pub body_read_timeout: Duration,
    /// `MAX_PENDING_BODIES`: request bodies one instance awaits at once; a request with a body
    /// past that is answered 503 before any of it is read. Default 512.
    pub max_pending_bodies: usize,
    /// `SYNC_BUDGET_BYTES`: the bytes of sync bodies parsed and applied at once; a sync whose
    /// body does not fit waits its turn (`crate::sync_budget`). Default 1 MiB.
    pub sync_budget_bytes: usize,
    /// `SYNC_BUDGET_WAIT_MS`: how long a sync may wait for its turn before a 503. Default 10000.
    pub sync_budget_wait: Duration,
    /// `STATS_CACHE_BYTES`: the bytes of rendered stats bodies this instance keeps under their
    /// `ETag`s (`crate::numbers_cache`); 0 keeps none. Default 4 MiB.
    pub stats_cache_bytes: u64,
    /// `GOAL_DEFAULT_TARGET_DAYS`: the target of a year without a goal, 1 to 366 (kept within
    /// the days of each year). Default [`DEFAULT_TARGET_DAYS`] (300).
    pub goal_default_target: u16,
    /// `PUBLIC_URL`: the address runners open the dashboard at (`https://runs.example.org`).
    /// A form's `Origin` must be its origin; unset, the request's own `Host` is used.
    pub public_origin: Option<String>,
    /// `COOKIE_SECURE` (`auto`, `on`, `off`): whether the dashboard's cookies are `Secure` with
    /// the `__Host-` prefix. Default `auto`: on when `PUBLIC_URL` is https.
    pub secure_cookies: bool,
    /// `WEBHOOK_*`: outbound webhook delivery.
    pub webhooks: WebhookSettings,
}

/// How the webhook worker delivers (docs/webhooks.md, docs/configuration.md).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS` (`true`/`false`): allow targets on loopback, private,
    /// link-local and metadata addresses (tests, home networks). Default `false`.
    pub allow_private_targets: bool,
    /// `WEBHOOK_POLL_INTERVAL_MS`: how often an idle worker looks for due deliveries.
    /// Default 1000.
    pub poll_interval: Duration,
    /// `WEBHOOK_RETRY_DELAYS_SECS`: the waits after each failed attempt, comma separated;
    /// after the last one the delivery fails. Default [`RetrySchedule::standard`]
    /// (5,300,1800,7200,18000,36000,36000: about 27.6 hours).
    pub retry_schedule: RetrySchedule,
}

/// Most retries `WEBHOOK_RETRY_DELAYS_SECS` may list.
pub const MAX_RETRIES: usize = 20;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = get("DATABASE_URL").unwrap_or_else(|| {
            data_dir
                .join("running-days.db")
                .to_string_lossy()
                .into_owned()
        });
        let (jwt_secret, jwt_secret_generated) = match get("JWT_SECRET") {
            Some(s) if s.len() >= MIN_SECRET_BYTES => (Secret(s.into_bytes()), false),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET",
                    message: format!("must be at least {MIN_SECRET_BYTES} bytes"),
                })
            }
            None => (load_or_create_secret(&data_dir)?, true),
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| ConfigError::Invalid {
                        name,
                        message: format!("{text:?} is not a non-negative integer"),
                    }),
            }
        };
        let positive = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            let value = number(name, default)?;
            if value == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be greater than 0".into(),
                });
            }
            Ok(value)
        };
        let at_most_max = |name: &'static str, value: Duration| {
            if value > MAX_DURATION {
                return Err(ConfigError::Invalid {
                    name,
                    message: format!("must be at most {} seconds", MAX_DURATION.as_secs()),
                });
            }
            Ok(value)
        };
        let seconds = |name: &'static str, default: u64| {
            at_most_max(name, Duration::from_secs(positive(name, default)?))
        };
        let millis = |name: &'static str, default: Duration| {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            at_most_max(name, Duration::from_millis(positive(name, default)?))
        };
        // The same, for users that add it to a timestamp.
        let span = |name: &'static str, default: u64| {
            let value = seconds(name, default)?;
            chrono::Duration::from_std(value).map_err(|e| ConfigError::Invalid {
                name,
                message: e.to_string(),
            })
        };
        let rate_limits_on = match get("RATE_LIMITS").as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "RATE_LIMITS",
                    message: format!("{other:?} must be \"on\" or \"off\""),
                })
            }
        };
        let limit = |name: &'static str, default: u64| -> Result<Option<u32>, ConfigError> {
            let value = u32::try_from(positive(name, default)?).unwrap_or(u32::MAX);
            Ok(rate_limits_on.then_some(value))
        };
        let public_origin = get("PUBLIC_URL")
            .as_deref()
            .map(public_origin)
            .transpose()?;
        let https = public_origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"));
        let secure_cookies = match get("COOKIE_SECURE").as_deref().map(str::trim) {
            None | Some("auto") => https,
            Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "COOKIE_SECURE",
                    message: format!("{other:?} must be \"auto\", \"on\" or \"off\""),
                })
            }
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threshold = |name: &'static str, default: u64| {
            positive(name, default).map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        };
        let lockout_threshold = threshold("LOGIN_LOCKOUT_THRESHOLD", 5)?;
        let account_lockout_threshold = threshold("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD", 100)?;
        if account_lockout_threshold < lockout_threshold {
            return Err(ConfigError::Invalid {
                name: "LOGIN_ACCOUNT_LOCKOUT_THRESHOLD",
                message: format!(
                    "{account_lockout_threshold} is below LOGIN_LOCKOUT_THRESHOLD \
                     ({lockout_threshold}): the budget across all addresses must be at least \
                     the one for each"
                ),
            });
        }
        let store_defaults = StoreOptions::default();
        Ok(Config {
            database_url,
            bind_addr: get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()),
            jwt_secret,
            jwt_secret_generated,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "running-days-sync".into()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "running-days".into()),
            access_token_ttl: seconds("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl: span("REFRESH_TOKEN_TTL_SECS", 30 * 86_400)?,
            max_batch: positive("MAX_BATCH_SIZE", SyncLimits::default().max_batch as u64)? as usize,
            max_body_bytes: positive("MAX_BODY_BYTES", 2 * 1024 * 1024)? as usize,
            ingest_max_body_bytes: positive("INGEST_MAX_BODY_BYTES", 32 * 1024 * 1024)? as usize,
            idempotency_ttl: span("IDEMPOTENCY_TTL_SECS", 86_400)?,
            purge_interval: seconds("PURGE_INTERVAL_SECS", 600)?,
            store: StoreOptions {
                pool_size: u32::try_from(positive(
                    "DB_POOL_SIZE",
                    store_defaults.pool_size.into(),
                )?)
                .unwrap_or(u32::MAX),
                pool_timeout: millis("DB_POOL_TIMEOUT_MS", store_defaults.pool_timeout)?,
                lock_wait: millis("DB_LOCK_WAIT_MS", store_defaults.lock_wait)?,
                statement_timeout: millis(
                    "DB_STATEMENT_TIMEOUT_MS",
                    store_defaults.statement_timeout,
                )?,
                heartbeat_timeout: millis(
                    "DB_HEARTBEAT_TIMEOUT_MS",
                    store_defaults.heartbeat_timeout,
                )?,
                history_cache_bytes: number(
                    "HISTORY_CACHE_BYTES",
                    store_defaults.history_cache_bytes,
                )?,
            },
            workers: positive("WORKERS", cpus as u64)? as usize,
            shutdown_timeout: at_most_max(
                "SHUTDOWN_TIMEOUT_SECS",
                Duration::from_secs(number("SHUTDOWN_TIMEOUT_SECS", 30)?),
            )?,
            rate_limits: RateLimits {
                auth_per_min: limit("RATE_LIMIT_AUTH_PER_MIN", 10)?,
                writes_per_min: limit("RATE_LIMIT_WRITES_PER_MIN", 60)?,
                reads_per_min: limit("RATE_LIMIT_READS_PER_MIN", 300)?,
            },
            trusted_proxy_hops: number("TRUSTED_PROXY_HOPS", 0)? as usize,
            lockout_threshold,
            account_lockout_threshold,
            lockout_duration: span("LOGIN_LOCKOUT_SECS", 900)?,
            body_read_timeout: seconds("BODY_READ_TIMEOUT_SECS", 30)?,
            max_pending_bodies: usize::try_from(positive("MAX_PENDING_BODIES", 512)?)
                .unwrap_or(usize::MAX),
            sync_budget_bytes: usize::try_from(positive("SYNC_BUDGET_BYTES", 1024 * 1024)?)
                .unwrap_or(usize::MAX),
            sync_budget_wait: millis("SYNC_BUDGET_WAIT_MS", Duration::from_secs(10))?,
            stats_cache_bytes: number("STATS_CACHE_BYTES", 4 * 1024 * 1024)?,
            goal_default_target: match positive(
                "GOAL_DEFAULT_TARGET_DAYS",
                DEFAULT_TARGET_DAYS.into(),
            )? {
                target @ 1..=366 => target as u16,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "GOAL_DEFAULT_TARGET_DAYS",
                        message: "must be from 1 to 366".into(),
                    })
                }
            },
            public_origin,
            secure_cookies,
            webhooks: WebhookSettings {
                allow_private_targets: match get("WEBHOOK_ALLOW_PRIVATE_TARGETS")
                    .as_deref()
                    .map(str::trim)
                {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            name: "WEBHOOK_ALLOW_PRIVATE_TARGETS",
                            message: format!("{other:?} must be \"true\" or \"false\""),
                        })
                    }
                },
                poll_interval: millis("WEBHOOK_POLL_INTERVAL_MS", Duration::from_secs(1))?,
                retry_schedule: match get("WEBHOOK_RETRY_DELAYS_SECS") {
                    None => RetrySchedule::standard(),
                    Some(text) => retry_schedule(&text)?,
                },
            },
            data_dir,
        })
    }
}

/// The origin (`scheme://host[:port]`) of `PUBLIC_URL`: http or https, nothing after the host
/// but an optional `/`.
fn public_origin(url: &str) -> Result<String, ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        name: "PUBLIC_URL",
        message: format!("{url:?} {message}"),
    };
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace)
    {
        return Err(invalid("must be an origin: scheme and host, with no path"));
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// `WEBHOOK_RETRY_DELAYS_SECS`: whole seconds, comma separated, at most [`MAX_RETRIES`].
fn retry_schedule(text: &str) -> Result<RetrySchedule, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        name: "WEBHOOK_RETRY_DELAYS_SECS",
        message,
    };
    let delays = text
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .ok()
                .filter(|secs| *secs <= MAX_DURATION.as_secs())
                .and_then(|secs| i64::try_from(secs).ok())
                .map(chrono::Duration::seconds)
                .ok_or_else(|| invalid(format!("{part:?} is not a number of seconds")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > MAX_RETRIES {
        return Err(invalid(format!("lists more than {MAX_RETRIES} delays")));
    }
    Ok(RetrySchedule::new(delays))
}

/// Reads `DATA_DIR/jwt_secret`, creating it (owner-only) with 64 random bytes when absent, so a
/// restart keeps everyone logged in.
fn load_or_create_secret(data_dir: &Path) -> Result<Secret, ConfigError> {
    let path = data_dir.join("jwt_secret");
    let io_error = |source| ConfigError::SecretFile {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= MIN_SECRET_BYTES => return Ok(Secret(bytes)),
        Ok(_) => {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                message: format!("{path:?} holds fewer than {MIN_SECRET_BYTES} bytes"),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io_error)?;
    let mut bytes = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    write_private(&path, hex.as_bytes()).map_err(io_error)?;
    Ok(Secret(hex.into_bytes()))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_nothing_but_a_writable_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[("DATA_DIR", dir.path().to_str().unwrap())]).unwrap();
        assert_eq!(c.bind_addr, "127.0.0.1:8080");
        assert!(c.database_url.ends_with("running-days.db"));
        assert!(c.jwt_secret_generated);
        assert_eq!(c.max_batch, 1000);
        assert_eq!(c.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(c.ingest_max_body_bytes, 32 * 1024 * 1024);
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.trusted_proxy_hops, 0);
        assert_eq!(c.sync_budget_bytes, 1024 * 1024);
        assert_eq!(c.sync_budget_wait, Duration::from_secs(10));
        assert_eq!(c.stats_cache_bytes, 4 * 1024 * 1024);
        assert_eq!(c.store.history_cache_bytes, 4 * 1024 * 1024);
        // The generated secret is kept: a second start reads the same one.
        let again = config(&[("DATA_DIR", dir.path().to_str().unwrap())]).unwrap();
        assert_eq!(c.jwt_secret.expose(), again.jwt_secret.expose());
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let err = config(&[("JWT_SECRET", "short"), ("DATA_DIR", "/nonexistent")]).unwrap_err();
        assert!(err.to_string().starts_with("JWT_SECRET"));
        let secret = "s".repeat(32);
        let err = config(&[("JWT_SECRET", &secret), ("MAX_BATCH_SIZE", "lots")]).unwrap_err();
        assert!(err.to_string().starts_with("MAX_BATCH_SIZE"));
        let err = config(&[("JWT_SECRET", &secret), ("INGEST_MAX_BODY_BYTES", "0")]).unwrap_err();
        assert!(err.to_string().starts_with("INGEST_MAX_BODY_BYTES"));
        let err = config(&[("JWT_SECRET", &secret), ("SYNC_BUDGET_BYTES", "0")]).unwrap_err();
        assert!(err.to_string().starts_with("SYNC_BUDGET_BYTES"));
        let err = config(&[("JWT_SECRET", &secret), ("STATS_CACHE_BYTES", "4M")]).unwrap_err();
        assert!(err.to_string().starts_with("STATS_CACHE_BYTES"));
        // 0 is a setting of its own: keep no stats bodies.
        let c = config(&[("JWT_SECRET", &secret), ("STATS_CACHE_BYTES", "0")]).unwrap();
        assert_eq!(c.stats_cache_bytes, 0);
        let err = config(&[("JWT_SECRET", &secret), ("HISTORY_CACHE_BYTES", "-1")]).unwrap_err();
        assert!(err.to_string().starts_with("HISTORY_CACHE_BYTES"));
        let c = config(&[("JWT_SECRET", &secret), ("HISTORY_CACHE_BYTES", "0")]).unwrap();
        assert_eq!(c.store.history_cache_bytes, 0);
        let err = config(&[("JWT_SECRET", &secret), ("RATE_LIMITS", "maybe")]).unwrap_err();
        assert!(err.to_string().starts_with("RATE_LIMITS"));
        let err = config(&[("JWT_SECRET", &secret), ("TRUSTED_PROXY_HOPS", "-1")]).unwrap_err();
        assert!(err.to_string().starts_with("TRUSTED_PROXY_HOPS"));
        // The budget across all addresses cannot be smaller than each address's.
        let err = config(&[
            ("JWT_SECRET", &secret),
            ("LOGIN_LOCKOUT_THRESHOLD", "10"),
            ("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD", "9"),
        ])
        .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD"));
    }

    #[test]
    fn durations_are_ready_to_use_and_bounded() {
        let secret = "s".repeat(32);
        let c = config(&[
            ("JWT_SECRET", &secret),
            ("IDEMPOTENCY_TTL_SECS", "3600"),
            ("DB_LOCK_WAIT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.idempotency_ttl, chrono::Duration::hours(1));
        assert_eq!(c.refresh_token_ttl, chrono::Duration::days(30));
        assert_eq!(c.lockout_duration, chrono::Duration::minutes(15));
        assert_eq!(c.store.lock_wait, Duration::from_millis(250));
        assert_eq!(c.store.pool_timeout, StoreOptions::default().pool_timeout);
        assert_eq!(c.max_batch, SyncLimits::default().max_batch);
        // Too long to add to a timestamp: refused at start-up, never replaced by a default.
        let forever = u64::MAX.to_string();
        for name in [
            "ACCESS_TOKEN_TTL_SECS",
            "REFRESH_TOKEN_TTL_SECS",
            "IDEMPOTENCY_TTL_SECS",
            "LOGIN_LOCKOUT_SECS",
            "SHUTDOWN_TIMEOUT_SECS",
            "DB_STATEMENT_TIMEOUT_MS",
            "SYNC_BUDGET_WAIT_MS",
        ] {
            let err = config(&[("JWT_SECRET", &secret), (name, &forever)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let longest = MAX_DURATION.as_secs().to_string();
        let c = config(&[
            ("JWT_SECRET", &secret),
            ("REFRESH_TOKEN_TTL_SECS", &longest),
        ])
        .unwrap();
        assert_eq!(c.refresh_token_ttl.to_std().unwrap(), MAX_DURATION);
    }

    #[test]
    fn cookies_are_secure_behind_an_https_public_url_unless_told_otherwise() {
        let secret = "s".repeat(32);
        let with = |vars: &[(&str, &str)]| {
            let mut all = vec![("JWT_SECRET", secret.as_str())];
            all.extend_from_slice(vars);
            config(&all)
        };
        let plain = with(&[]).unwrap();
        assert_eq!((plain.public_origin, plain.secure_cookies), (None, false));
        let https = with(&[("PUBLIC_URL", "https://Runs.Example.org/")]).unwrap();
        assert_eq!(
            https.public_origin.as_deref(),
            Some("https://runs.example.org")
        );
        assert!(https.secure_cookies);
        let http = with(&[("PUBLIC_URL", "http://10.0.0.5:8080")]).unwrap();
        assert!(!http.secure_cookies);
        assert!(
            with(&[("PUBLIC_URL", "https://x.org"), ("COOKIE_SECURE", "off")])
                .is_ok_and(|c| !c.secure_cookies)
        );
        assert!(with(&[("COOKIE_SECURE", "on")]).is_ok_and(|c| c.secure_cookies));
        for bad in [
            "runs.example.org",
            "https://x.org/app",
            "ftp://x.org",
            "https://",
        ] {
            let err = with(&[("PUBLIC_URL", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("PUBLIC_URL"), "{bad}: {err}");
        }
        let err = with(&[("COOKIE_SECURE", "yes")]).unwrap_err();
        assert!(err.to_string().starts_with("COOKIE_SECURE"));
    }

    #[test]
    fn webhook_settings_have_safe_defaults_and_refuse_nonsense() {
        let secret = "s".repeat(32);
        let c = config(&[("JWT_SECRET", &secret)]).unwrap();
        assert!(!c.webhooks.allow_private_targets);
        assert_eq!(c.webhooks.retry_schedule, RetrySchedule::standard());
        assert_eq!(c.webhooks.poll_interval, Duration::from_secs(1));
        let c = config(&[
            ("JWT_SECRET", &secret),
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
            ("WEBHOOK_RETRY_DELAYS_SECS", "1, 2,0"),
        ])
        .unwrap();
        assert!(c.webhooks.allow_private_targets);
        assert_eq!(c.webhooks.retry_schedule.max_attempts(), 4);
        for (name, value) in [
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes"),
            ("WEBHOOK_RETRY_DELAYS_SECS", "1,soon"),
            ("WEBHOOK_RETRY_DELAYS_SECS", "-5"),
            ("WEBHOOK_POLL_INTERVAL_MS", "0"),
        ] {
            let err = config(&[("JWT_SECRET", &secret), (name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn rate_limits_can_be_switched_off() {
        let secret = "s".repeat(32);
        let c = config(&[("JWT_SECRET", &secret), ("RATE_LIMITS", "off")]).unwrap();
        assert_eq!(c.rate_limits.auth_per_min, None);
        assert_eq!(c.rate_limits.writes_per_min, None);
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = "a-very-secret-value-that-is-long-enough";
        let c = config(&[("JWT_SECRET", secret)]).unwrap();
        assert!(!format!("{c:?}").contains(secret));
    }
}
