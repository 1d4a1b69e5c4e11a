//! API integration tests: one binary, the real server, real HTTP.

mod helpers;
mod smoke;
