//! The sync client against the real server, started in-process on port 0 by each test
//! (temporary SQLite database, rate limits off), with a fault-injecting proxy where a test
//! needs one.

mod cli;
mod helpers;
mod import;
mod recovery;
mod sync;
