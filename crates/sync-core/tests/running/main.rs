//! The running-days rules against the contract: table tests worked by hand from its formulas,
//! and property tests of what must hold for any runner.

mod achievements;
mod bodies;
mod calendar;
mod helpers;
mod progress;
mod properties;
mod series;
mod streaks;
