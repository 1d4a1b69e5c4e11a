//! The query code, written once and compiled for each backend: `backend/sqlite` and
//! `backend/pg` each include this module with `#[path]`, so the names it takes from `super`
//! resolve to that backend's:
//!
//! - `schema`, the backend's Diesel tables (same names, native column types);
//! - `Conn`, its connection type, and `MIGRATIONS`, its embedded migrations;
//! - `hooks`, the few statements the databases need written differently (the table in
//!   `backend/sqlite/hooks.rs` and `backend/pg/hooks.rs` says which and why).
//!
//! Calls go one way: from here into `hooks`, never back; what a hook needs from here is only
//! the row types of `rows`.

pub(crate) mod auth;
pub(crate) mod calendar;
pub(crate) mod ingest;
pub(crate) mod login;
pub(crate) mod maintenance;
pub(crate) mod rows;
pub(crate) mod running;
pub(crate) mod spans;
pub(crate) mod sync;
pub(crate) mod webhooks;
pub(crate) mod workouts;

use super::{hooks, schema, Conn, MIGRATIONS};
