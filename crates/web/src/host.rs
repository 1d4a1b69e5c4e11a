//! What the dashboard borrows from the server that mounts it: sign-in and registration by the
//! API's rules (Argon2 and the account lockout live there, and a browser must be held to the
//! same ones as the app), and the hand-off of blocking work that keeps the request id on every
//! log line and the API's bound on a silent database.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use uuid::Uuid;

/// Blocking work bound for the blocking pool.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// A future the host returns; actix handlers run on one thread, so it need not be `Send`.
pub type HostFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// Credentials typed into the sign-in form.
#[derive(Clone)]
pub struct SignInRequest {
    /// The email as typed (the host normalises it).
    pub email: String,
    /// The password as typed.
    pub password: String,
    /// The browser's `User-Agent`, for the session list.
    pub user_agent: Option<String>,
    /// The client's address as [`Host::client_address`] tells it (the lockout counts by it).
    pub address: IpAddr,
}

/// The registration form.
#[derive(Clone)]
pub struct NewAccount {
    /// The email as typed.
    pub email: String,
    /// The password as typed.
    pub password: String,
    /// An IANA zone name; `None` for UTC.
    pub time_zone: Option<String>,
    /// The browser's `User-Agent`, for the session list.
    pub user_agent: Option<String>,
}

/// A session opened for a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn {
    /// The account.
    pub user_id: Uuid,
    /// The new session (a row of the `sessions` table).
    pub session_id: Uuid,
}

/// Why an account could not be signed in or created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Wrong email or password (the same for both).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Locked after repeated failures.
    #[error("locked for {retry_after} s")]
    Locked {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// An account with this email exists.
    #[error("an account with this email exists")]
    EmailTaken,
    /// Fields at fault, by the API's field names (`email`, `password`, `time_zone`).
    #[error("invalid fields")]
    Invalid(BTreeMap<String, Vec<String>>),
    /// The database is unavailable for now.
    #[error("unavailable")]
    Unavailable {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Refused for a reason the runner can act on (a limit reached, a bad value), said in
    /// this message.
    #[error("{0}")]
    Refused(String),
    /// Anything else; the host has logged it.
    #[error("{0}")]
    Internal(String),
}

/// An ingest token just made: its secret, shown this once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token's id.
    pub id: Uuid,
    /// The runner's name for it.
    pub name: String,
    /// The secret, for the Health Auto Export app's `Authorization` header.
    pub token: String,
}

/// The server around the dashboard.
pub trait Host: Send + Sync + 'static {
    /// The client's address as the host's rate limits and lockout count it (behind trusted
    /// proxies, from `X-Forwarded-For`).
    fn client_address(&self, request: &actix_web::HttpRequest) -> IpAddr;
    /// Checks the credentials (with the lockout) and opens a session.
    fn sign_in(&self, request: SignInRequest) -> HostFuture<Result<SignedIn, AccountError>>;
    /// Creates an account and opens its first session.
    fn register(&self, account: NewAccount) -> HostFuture<Result<SignedIn, AccountError>>;
    /// The runner's data as a streamed download (`json` or `csv`), as the API's export serves it.
    fn export(
        &self,
        user_id: Uuid,
        format: Option<String>,
    ) -> HostFuture<Result<actix_web::HttpResponse, AccountError>>;
    /// Erases the account and everything it owns, once `password` is its own (checked under
    /// the lockout, which counts by `address`).
    fn delete_account(
        &self,
        user_id: Uuid,
        password: String,
        address: IpAddr,
    ) -> HostFuture<Result<(), AccountError>>;
    /// Issues an ingest token named `name` (the API's rules and limit).
    fn issue_ingest_token(
        &self,
        user_id: Uuid,
        name: String,
    ) -> HostFuture<Result<IssuedToken, AccountError>>;
    /// Runs `job` on the blocking pool as the current request's own work: under its request
    /// id, and bounded as the API bounds its own (a database that stops answering is a quick
    /// [`AccountError::Unavailable`]; the job is then given up and rolls back).
    fn run_blocking(&self, job: Job) -> HostFuture<Result<(), AccountError>>;
}
