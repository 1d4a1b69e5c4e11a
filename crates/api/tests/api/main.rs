//! API integration tests: one binary, the real server, real HTTP.

mod cluster;
mod data;
mod docs;
mod edge;
mod faults;
mod helpers;
mod idempotency;
mod logging;
mod reads;
mod refusals;
mod running;
mod security;
mod smoke;
mod sync;
mod webhooks;
