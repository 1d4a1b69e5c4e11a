//! The sync client against the real server, started in-process on port 0 by each test through
//! the shared harness `test_support` (a temporary SQLite database, rate limits off), with a
//! fault-injecting proxy where a test needs one. SQLite only: what the server stores is tested
//! on both backends by the API suite; here the client's side of the protocol is.

mod cli;
mod data;
mod helpers;
mod import;
mod numbers;
mod recovery;
mod sync;
