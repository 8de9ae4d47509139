//! Candlekeep's jobs.
//!
//! - [`backfill`]: fetch every bar of a range that no source has answered for yet, page by page,
//!   each page committed with its covered range in one transaction, so a run killed at any instant
//!   resumes where it stopped and a rerun fetches nothing. `sync` is a backfill up to now.
//! - [`import`]: load Binance archive files, each file all or nothing.
//! - [`indicators`]: the standard indicator set over stored candles, latest values stored.
//! - [`universe`]: the ranked assets and every venue's listings, mapped to series.
//! - [`worker`]: several processes sharing backfill and sync through the PostgreSQL work queue.

pub mod backfill;
pub mod import;
pub mod indicators;
mod progress;
pub mod universe;
pub mod worker;

pub use progress::{NoProgress, Progress};

/// The errors a job ends with.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] candlekeep_store::StoreError),
    #[error(transparent)]
    Source(#[from] candlekeep_sources::SourceError),
    #[error(transparent)]
    Archive(#[from] candlekeep_sources::archive::ArchiveError),
    #[error(transparent)]
    Indicator(#[from] candlekeep_ta::TaError),
    #[error("the store's worker thread stopped: {0}")]
    Worker(String),
}
