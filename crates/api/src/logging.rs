//! The server's log lines: `env_logger`'s usual shape, `[time LEVEL module] message`, followed
//! by `request_id=<id>` when the line was written while serving a request (on its async worker
//! or on the blocking thread doing its work), so that every line of one request can be found by
//! the id its client saw. Lines outside any request (start-up, the purge task, the access log
//! line, which names the id itself) have no such field.

use std::io::{self, Write};

use env_logger::fmt::Formatter;
use log::Record;

use crate::request_id;

/// Installs the logger: `RUST_LOG` filters (`info` when unset), standard error receives.
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(write_line)
        .init();
}

fn write_line(out: &mut Formatter, record: &Record<'_>) -> io::Result<()> {
    let timestamp = out.timestamp();
    let level = out.default_level_style(record.level());
    write!(out, "[{timestamp} {level}{:<5}{level:#}", record.level())?;
    if let Some(module) = record.module_path() {
        write!(out, " {module}")?;
    }
    write!(out, "] {}", record.args())?;
    if let Some(id) = request_id::current() {
        write!(out, " request_id={id}")?;
    }
    writeln!(out)
}
