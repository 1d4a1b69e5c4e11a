//! What the dashboard's suites share.

pub mod chromium;
pub mod http;
pub mod runs;
