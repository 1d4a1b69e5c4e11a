//! The dashboard's tests against the real server (in-process, port 0, fresh database): over
//! plain HTTP with a cookie jar (`pages`, once per backend), and in real headless Chromium
//! through WebDriver (`browser`, on SQLite; skipped with a notice where Chromium is missing,
//! required with `REQUIRE_BROWSER_TESTS=1`).

mod browser;
mod helpers;
mod pages;
