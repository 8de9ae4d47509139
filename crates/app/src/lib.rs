//! The wiring shared by every front end (the `candlekeep` command line now; a server and a
//! scheduler later): the configuration (`config`: defaults, `candlekeep.toml`, `.env`, the
//! environment, validation, the commented template), the source registry and fallback chains
//! (`registry`: every venue's sources built from its configuration section), opening the
//! configured store (`store`), what a backfill or a worker covers (`plan`), and, with the `demo` feature, the simulated venues behind
//! `--demo` (`demo`).
//!
//! Argument parsing, output, progress and signal handling belong to the front ends.

pub mod cluster;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod health;
pub mod jobs;
pub mod plan;
pub mod registry;
pub mod retention;
pub mod scheduler;
pub mod service;
pub mod store;
