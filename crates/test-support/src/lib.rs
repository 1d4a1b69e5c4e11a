//! The harness shared by the HTTP test suites of `crates/api` and `crates/sync-client`: the
//! real server started in-process on port 0 against a fresh database ([`TestApp`]), accounts
//! ([`TestUser`]), the requests the suites make, workout JSON builders, the contract's
//! error-body assertions, and [`per_backend!`], which runs one async test once per database
//! backend under its own name.
//!
//! What only one suite needs (the server binary as a child process, fault proxies, direct
//! database connections) stays in that suite's own helpers.

#![warn(missing_docs)]

mod app;
mod assertions;
mod backends;
mod requests;
mod wait;
mod workouts;

pub use app::{backend_of, test_config, TestApp, PASSWORD, TEST_JWT_SECRET};
pub use assertions::{
    assert_error, assert_fresh, assert_refused, replayed_header, request_id_header, token_pair,
};
pub use backends::{on_backend, on_backend_with_app, Backend};
pub use requests::{sync_at_once, SyncAnswer, TestUser};
pub use wait::{wait_for, wait_until};
pub use workouts::{cursor_seq, with, workout, workouts, Counts};

/// Every key of a served workout, from the contract (see `sync_core::testing`).
pub use sync_core::testing::SERVED_WORKOUT_KEYS;

/// Re-exported for tests that start their own servers on a [`Backend`]'s database.
pub use sync_store::testing::TestDatabase;
