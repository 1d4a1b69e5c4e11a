//! # sync-client
//!
//! The reference client of the Running Days sync service, the client half of
//! `seed/ios-sync.txt` in Rust, for programs and tests to embed (and the `rdsync` program):
//!
//! - a local cache ([`Cache`], SQLite through Diesel) where every new or changed workout is
//!   saved with `needs_sync = true` first, cleared only once the server confirmed it;
//! - [`SyncClient::sync`], incremental or full, in batches within the server's limit, each
//!   with an idempotency key persisted with the batch before it is sent and reused on every
//!   retry, so that a lost response or a crash can never apply a batch twice;
//! - the seed's recovery table on every request (401 → refresh once and retry; 429 →
//!   `Retry-After` or backoff; 5xx → backoff up to a limit; unreachable → stay queued, report
//!   offline), with an injectable [`retry::Sleeper`];
//! - server-wins conflicts applied to the cache, and [`SyncClient::pull`] of the change feed
//!   (other devices' workouts, server-side edits and deletions);
//! - the seed's four-state sync status, a [`SyncPhase`], as a watch channel and callbacks;
//! - the runner's numbers: [`SyncClient::goal_progress`], [`SyncClient::set_goal`],
//!   [`SyncClient::dashboard`], [`SyncClient::insights`] (the bodies are `sync_core::running`'s),
//!   and [`summary`], which writes them as the few lines `rdsync goal` and `rdsync stats` print;
//! - [`apple_health`]: a streaming Apple Health export importer.
//!
//! The wire types are `sync-core`'s own ([`sync_core::SyncResponse`],
//! [`sync_core::WorkoutView`], …), never re-declared here.

#![warn(missing_docs)]

pub mod apple_health;
mod bodies;
pub mod cache;
pub mod client;
pub mod error;
pub mod retry;
mod schema;
pub mod status;
pub mod summary;

pub use apple_health::{import_path, ImportReport};
pub use cache::{Cache, CacheSummary, CachedWorkout, RejectionReasons, SaveOutcome, SavedLogin};
pub use client::{
    Account, ClientConfig, ExportFormat, PullReport, SyncClient, SyncReport, DEFAULT_BATCH_SIZE,
};
pub use error::{CacheError, ClientError, ErrorKind, ImportError};
pub use retry::{RecordingSleeper, RetryPolicy, Sleeper, TokioSleeper};
pub use status::SyncPhase;
pub use sync_core::SyncMode;
