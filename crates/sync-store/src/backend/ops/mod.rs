//! The query code, written once and compiled for each backend: `backend/sqlite` and
//! `backend/pg` each include this module with `#[path]`, so `super::schema`, `super::Conn` and
//! the few backend-specific functions (`write_transaction`, `lock_user`, `lookup_workouts`, `write_workouts`,
//! `record_sync`) resolve to that
//! backend's. Only what truly differs between the databases lives outside this module.

pub(crate) mod auth;
pub(crate) mod maintenance;
pub(crate) mod rows;
pub(crate) mod sync;
pub(crate) mod workouts;

use super::{
    lock_user, lookup_workouts, record_sync, schema, write_transaction, write_workouts, Conn,
};
