//! Rate limiting: fixed one-minute windows per key, in this process's memory.
//!
//! Three budgets (`RATE_LIMIT_*_PER_MIN`):
//!
//! - **auth**: `POST /auth/register`, `/auth/login` and `/auth/refresh`, the endpoints that take
//!   credentials, and the dashboard's sign-in and registration posts, per client address,
//!   whatever token the request carries.
//! - **reads** (`GET`, `HEAD`, `OPTIONS`) and **writes** (every other method): everything else
//!   under the API, per user when the request carries a valid access token, per client address
//!   when it does not.
//!
//! `/healthz`, `/readyz` and `/metrics` are never limited; `RATE_LIMITS=off` switches all of it
//! off (no headers either). Every limited response carries `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the window ends); a refusal
//! is a 429 `rate_limited` with `Retry-After`.
//!
//! Each instance counts on its own (see `docs/security.md`). Memory is bounded: windows that
//! ended are swept once a minute per shard, and a shard that is full of live windows evicts
//! its oldest tenth, so a flood of distinct addresses cannot grow the map past
//! [`MAX_TRACKED_KEYS`].

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest, ResponseError};
use uuid::Uuid;

use crate::auth::tokens::{request_subject, TokenKeys};
use crate::config::{Config, RateLimits};
use crate::error::ApiError;
use crate::state::AppState;

/// The length of a window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most keys tracked at once, over all shards.
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// Independent maps, each behind its own mutex, so requests rarely wait for one another.
const SHARDS: usize = 16;

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: seconds until the window ends.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Paths outside every limit: health checks and scraping must work under any load.
const EXEMPT_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// Paths that take credentials: limited per client address on the auth budget.
const CREDENTIAL_PATHS: [&str; 3] = [
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
];

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Register, login, refresh; per client address.
    Auth,
    /// `GET`, `HEAD`, `OPTIONS`.
    Read,
    /// Every other method.
    Write,
}

/// Whose budget it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The user named by a valid access token.
    User(Uuid),
    /// A client address (IPv6 addresses by their /64 network).
    Address(IpAddr),
}

/// One counter: a budget of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The budget.
    pub budget: Budget,
    /// The subject.
    pub subject: Subject,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in this window after this one.
    pub remaining: u32,
    /// Whole seconds (rounded up, at least 1) until the window ends.
    pub reset_secs: u64,
    /// Whether this request may proceed.
    pub allowed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn ended(&self, now: Instant, length: Duration) -> bool {
        now.saturating_duration_since(self.started) >= length
    }
}

struct Shard {
    windows: HashMap<Key, Window>,
    next_sweep: Instant,
    /// When this shard last warned that it was full (at most one warning a window).
    last_warning: Option<Instant>,
}

impl Shard {
    fn sweep(&mut self, now: Instant, length: Duration) {
        self.windows.retain(|_, w| !w.ended(now, length));
        self.next_sweep = now + length;
    }

    /// Makes room for one more key: drops ended windows, then, if the shard is still full, the
    /// oldest tenth of the live ones (they are the nearest to their reset anyway).
    fn make_room(&mut self, now: Instant, length: Duration, cap: usize) {
        self.sweep(now, length);
        if self.windows.len() < cap {
            return;
        }
        let mut starts: Vec<Instant> = self.windows.values().map(|w| w.started).collect();
        let k = (starts.len() / 10).max(1);
        let (_, cutoff, _) = starts.select_nth_unstable(k - 1);
        let cutoff = *cutoff;
        self.windows.retain(|_, w| w.started > cutoff);
        let warn = match self.last_warning {
            Some(at) => now.saturating_duration_since(at) >= length,
            None => true,
        };
        if warn {
            self.last_warning = Some(now);
            log::warn!(
                "rate limiter full ({cap} keys in a shard): evicting the oldest live windows; \
                 a flood of distinct client addresses?"
            );
        }
    }
}

/// The in-memory limiter shared by every worker of one instance.
pub struct RateLimiter {
    limits: RateLimits,
    trusted_proxy_hops: usize,
    window: Duration,
    shard_cap: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl RateLimiter {
    /// A limiter with the configured budgets.
    pub fn from_config(config: &Config) -> Self {
        RateLimiter::new(config.rate_limits, config.trusted_proxy_hops)
    }

    /// A limiter with these budgets, reading the client address `trusted_proxy_hops` entries
    /// from the right of `X-Forwarded-For` (0: the peer address).
    pub fn new(limits: RateLimits, trusted_proxy_hops: usize) -> Self {
        RateLimiter::with_window(limits, trusted_proxy_hops, WINDOW, MAX_TRACKED_KEYS)
    }

    fn with_window(
        limits: RateLimits,
        trusted_proxy_hops: usize,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        let now = Instant::now();
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    windows: HashMap::new(),
                    next_sweep: now + window,
                    last_warning: None,
                })
            })
            .collect();
        RateLimiter {
            limits,
            trusted_proxy_hops,
            window,
            shard_cap: (max_keys / SHARDS).max(1),
            hasher: RandomState::new(),
            shards,
        }
    }

    /// Whether any budget is on.
    pub fn enabled(&self) -> bool {
        let RateLimits {
            auth_per_min,
            writes_per_min,
            reads_per_min,
        } = self.limits;
        auth_per_min.is_some() || writes_per_min.is_some() || reads_per_min.is_some()
    }

    fn limit(&self, budget: Budget) -> Option<u32> {
        match budget {
            Budget::Auth => self.limits.auth_per_min,
            Budget::Read => self.limits.reads_per_min,
            Budget::Write => self.limits.writes_per_min,
        }
    }

    /// Counts a request against `key`; `None` when that budget is off.
    pub fn check(&self, key: Key) -> Option<Decision> {
        self.check_at(key, Instant::now())
    }

    /// [`check`](Self::check) at a given instant.
    pub fn check_at(&self, key: Key, now: Instant) -> Option<Decision> {
        let limit = self.limit(key.budget)?;
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        // Held for a hash-map lookup (and, at most once a minute, a sweep); never across an
        // await. A panic elsewhere cannot poison the limiter into refusing everything.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now >= shard.next_sweep {
            shard.sweep(now, self.window);
        }
        if shard.windows.len() >= self.shard_cap && !shard.windows.contains_key(&key) {
            shard.make_room(now, self.window, self.shard_cap);
        }
        let window = shard.windows.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if window.ended(now, self.window) {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        let left = self
            .window
            .saturating_sub(now.saturating_duration_since(window.started));
        let reset_secs = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
        Some(Decision {
            limit,
            remaining: limit.saturating_sub(window.count),
            reset_secs,
            allowed: window.count <= limit,
        })
    }

    /// How many windows are held (for tests and diagnostics).
    pub fn tracked_keys(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .windows
                    .len()
            })
            .sum()
    }

    /// The budget and subject a request draws on; `None` for exempt paths or when limiting
    /// is off.
    pub fn key_for(&self, req: &HttpRequest, tokens: &TokenKeys) -> Option<Key> {
        if !self.enabled() {
            return None;
        }
        let path = req.path();
        if EXEMPT_PATHS.contains(&path) {
            return None;
        }
        let address = || Subject::Address(client_address(req, self.trusted_proxy_hops));
        let dashboard_credentials =
            req.method() == Method::POST && ::web::CREDENTIAL_FORMS.contains(&path);
        if CREDENTIAL_PATHS.contains(&path) || dashboard_credentials {
            return Some(Key {
                budget: Budget::Auth,
                subject: address(),
            });
        }
        let budget = match *req.method() {
            Method::GET | Method::HEAD | Method::OPTIONS => Budget::Read,
            _ => Budget::Write,
        };
        // Only a verified token names a user; anything else counts against the address, so
        // made-up tokens cannot mint fresh budgets. The verdict stays with the request for
        // `AuthUser`, which does not verify again.
        let subject = request_subject(req, tokens)
            .map(|s| Subject::User(s.user_id))
            .unwrap_or_else(|_| address());
        Some(Key { budget, subject })
    }
}

/// The client's address as the rate limiter sees it: the peer address, or, behind
/// `trusted_proxy_hops` reverse proxies, the `X-Forwarded-For` entry the outermost of them
/// appended. IPv6 addresses count by their /64 network (one host's usual allocation).
pub fn client_address(req: &HttpRequest, trusted_proxy_hops: usize) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let address = if trusted_proxy_hops == 0 {
        peer
    } else {
        forwarded_for(req.headers(), trusted_proxy_hops).unwrap_or(peer)
    };
    bucket_address(address)
}

/// The entry `hops` from the right of the (combined) `X-Forwarded-For` headers; `None` when
/// there are fewer entries or it is not an address.
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    let entry = *entries.get(entries.len().checked_sub(hops)?)?;
    parse_address(entry)
}

fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

fn bucket_address(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(decision.reset_secs));
}

/// The middleware (`actix_web::middleware::from_fn`); it runs inside the request-id middleware
/// so that a 429's body names the request.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limiter = req.app_data::<web::Data<RateLimiter>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let decision = limiter.zip(state).and_then(|(limiter, state)| {
        let key = limiter.key_for(req.request(), &state.tokens)?;
        limiter.check(key)
    });
    let Some(decision) = decision else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !decision.allowed {
        let refusal = ApiError::RateLimited {
            retry_after: decision.reset_secs,
        }
        .error_response();
        let mut response = req.into_response(refusal);
        set_headers(response.headers_mut(), &decision);
        return Ok(response);
    }
    // Handlers' and extractors' errors arrive here as responses already (only `edge`, which
    // answers with responses too, sits between); holding a clone of the request across the call would break
    // routing, which needs the only reference.
    let mut response = next.call(req).await?.map_into_boxed_body();
    set_headers(response.headers_mut(), &decision);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits(auth: u32, writes: u32, reads: u32) -> RateLimits {
        RateLimits {
            auth_per_min: Some(auth),
            writes_per_min: Some(writes),
            reads_per_min: Some(reads),
        }
    }

    fn key(budget: Budget, last_octet: u8) -> Key {
        Key {
            budget,
            subject: Subject::Address(IpAddr::from([10, 0, 0, last_octet])),
        }
    }

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_it_resets() {
        let limiter = RateLimiter::new(limits(3, 5, 7), 0);
        let start = Instant::now();
        let k = key(Budget::Auth, 1);
        let seen: Vec<Decision> = (0..4)
            .map(|i| limiter.check_at(k, start + Duration::from_secs(i)).unwrap())
            .collect();
        assert_eq!(
            seen.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert_eq!(
            seen.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert!(seen.iter().all(|d| d.limit == 3));
        assert_eq!(seen[0].reset_secs, 60);
        assert_eq!(seen[3].reset_secs, 57);
        // A new window after a minute.
        let later = limiter.check_at(k, start + WINDOW).unwrap();
        assert!(later.allowed);
        assert_eq!(later.remaining, 2);
    }

    #[test]
    fn budgets_and_subjects_are_counted_apart() {
        let limiter = RateLimiter::new(limits(1, 1, 1), 0);
        let now = Instant::now();
        assert!(limiter.check_at(key(Budget::Auth, 1), now).unwrap().allowed);
        assert!(!limiter.check_at(key(Budget::Auth, 1), now).unwrap().allowed);
        assert!(limiter.check_at(key(Budget::Auth, 2), now).unwrap().allowed);
        assert!(limiter.check_at(key(Budget::Read, 1), now).unwrap().allowed);
        assert!(
            limiter
                .check_at(key(Budget::Write, 1), now)
                .unwrap()
                .allowed
        );
        let user = Key {
            budget: Budget::Write,
            subject: Subject::User(Uuid::new_v4()),
        };
        assert!(limiter.check_at(user, now).unwrap().allowed);
    }

    #[test]
    fn switched_off_budgets_decide_nothing() {
        let off = RateLimits {
            auth_per_min: None,
            writes_per_min: None,
            reads_per_min: None,
        };
        let limiter = RateLimiter::new(off, 0);
        assert!(!limiter.enabled());
        assert_eq!(limiter.check(key(Budget::Auth, 1)), None);
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn a_flood_of_addresses_cannot_grow_memory_without_bound() {
        let cap = 1_000;
        let limiter = RateLimiter::with_window(limits(5, 5, 5), 0, WINDOW, cap);
        let now = Instant::now();
        for i in 0..50_000u32 {
            let subject = Subject::Address(IpAddr::from(i.to_be_bytes()));
            let at = now + Duration::from_millis(u64::from(i));
            limiter.check_at(
                Key {
                    budget: Budget::Auth,
                    subject,
                },
                at,
            );
            assert!(limiter.tracked_keys() <= cap + SHARDS, "{i}");
        }
    }

    #[test]
    fn ended_windows_are_swept() {
        let limiter = RateLimiter::new(limits(5, 5, 5), 0);
        let now = Instant::now();
        for i in 0..200u8 {
            limiter.check_at(key(Budget::Read, i), now);
        }
        assert_eq!(limiter.tracked_keys(), 200);
        // Two minutes on, a shard's first request sweeps it; 2000 new keys reach every shard
        // (the chance that one of 16 shards gets none is about 16 * (15/16)^2000: nil).
        for _ in 0..2000 {
            let user = Key {
                budget: Budget::Write,
                subject: Subject::User(Uuid::new_v4()),
            };
            limiter.check_at(user, now + 2 * WINDOW);
        }
        assert_eq!(limiter.tracked_keys(), 2000);
    }

    #[test]
    fn the_client_address_is_the_peer_unless_proxies_are_trusted() {
        let req = TestRequest::default()
            .peer_addr("192.0.2.7:5555".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.1"))
            .to_http_request();
        assert_eq!(client_address(&req, 0), IpAddr::from([192, 0, 2, 7]));
        assert_eq!(client_address(&req, 1), IpAddr::from([198, 51, 100, 1]));
        assert_eq!(client_address(&req, 2), IpAddr::from([203, 0, 113, 9]));
        // Fewer entries than trusted hops: nothing a trusted proxy vouched for; the peer.
        assert_eq!(client_address(&req, 3), IpAddr::from([192, 0, 2, 7]));
        let garbage = TestRequest::default()
            .peer_addr("192.0.2.7:5555".parse().unwrap())
            .insert_header(("x-forwarded-for", "not-an-address"))
            .to_http_request();
        assert_eq!(client_address(&garbage, 1), IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn ipv6_clients_count_by_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket_address(a), bucket_address(b));
        assert_ne!(bucket_address(a), bucket_address(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(bucket_address(mapped), IpAddr::from([192, 0, 2, 1]));
    }
}
