//! Candlekeep's jobs.
//!
//! - [`backfill`]: fetch every bar of a range that no source has answered for yet, page by page,
//!   each page committed with its covered range in one transaction, so a run killed at any instant
//!   resumes where it stopped and a rerun fetches nothing. `sync` is a backfill up to now.
//! - [`import`]: load Binance archive files, each file all or nothing.
//! - [`indicators`]: the standard indicator set over stored candles, latest values stored.
//! - [`universe`]: the ranked assets and every venue's listings, mapped to series.
//! - [`events`]: what the service tells its listeners (job started or ended, candles stored).
//! - [`schedule`]: when the service's jobs are due (cron in UTC, no overlap, one catch-up run).
//! - [`worker`]: several processes sharing backfill and sync through the PostgreSQL work queue.

pub mod backfill;
pub mod events;
pub mod import;
pub mod indicators;
mod progress;
pub mod schedule;
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
    #[error("a task of the job stopped: {0}")]
    Worker(String),
}

/// What kind of failure ended a job or a source's part of it, for alerts and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobFailure {
    /// A source failed in the way its kind says (a ban, an outage, a refusal...).
    Source(candlekeep_sources::FailureKind),
    /// The store failed (disk, database, corruption).
    Store,
    /// An archive file was unreadable or not what its name says.
    Archive,
    /// An indicator could not be computed.
    Indicator,
    /// A task of the job stopped unexpectedly.
    Worker,
}

impl JobFailure {
    /// Its name in `job_runs.error_kind` and the API: `source:banned`, `store`, `archive`…
    pub fn name(self) -> String {
        match self {
            Self::Source(k) => format!("source:{k}"),
            Self::Store => "store".into(),
            Self::Archive => "archive".into(),
            Self::Indicator => "indicator".into(),
            Self::Worker => "worker".into(),
        }
    }
}

impl JobError {
    /// What kind of failure this is.
    pub fn kind(&self) -> JobFailure {
        match self {
            Self::Store(_) => JobFailure::Store,
            Self::Source(e) => JobFailure::Source(e.kind()),
            Self::Archive(_) => JobFailure::Archive,
            Self::Indicator(_) => JobFailure::Indicator,
            Self::Worker(_) => JobFailure::Worker,
        }
    }
}
