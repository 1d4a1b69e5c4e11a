//! # api
//!
//! The HTTP edge of the Running Days sync service: actix-web handlers that translate HTTP to
//! `sync-core` and `sync-store` calls and back. Blocking work (Diesel, Argon2) runs off the
//! async workers; every error leaves through [`error::ApiError`].

#![warn(missing_docs)]

pub mod app;
pub mod auth;
pub mod body_deadline;
pub mod config;
pub mod dashboard;
pub mod edge;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod numbers_cache;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod state;
pub mod sync_budget;
pub mod webhooks;

pub use app::{Application, StartupError};
pub use config::Config;
