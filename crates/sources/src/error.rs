//! Errors of the sources, each knowing whether trying again can help.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The venue refused the request itself (bad symbol, bad parameter): retrying cannot help.
    #[error("{venue} rejected the request (HTTP {status}, code {code}): {msg}")]
    Rejected {
        venue: String,
        status: u16,
        code: i64,
        msg: String,
    },
    #[error("{venue} answered HTTP {status}: {body}")]
    Status { venue: String, status: u16, body: String },
    #[error("{venue} rate limit hit (HTTP 429), asked to wait {retry_after:?}")]
    RateLimited { venue: String, retry_after: Duration },
    #[error("{venue} banned this IP (HTTP {status}) for {retry_after:?}; not waiting longer than {max_wait:?}")]
    Banned {
        venue: String,
        status: u16,
        retry_after: Duration,
        max_wait: Duration,
    },
    #[error("{venue}: {source}")]
    Transport { venue: String, source: reqwest::Error },
    #[error("{venue} sent a response that is not what its API documents: {detail}")]
    Malformed { venue: String, detail: String },
    #[error("{context}: gave up after {attempts} attempts; last error: {last}")]
    GaveUp {
        context: String,
        attempts: u32,
        last: Box<SourceError>,
    },
    #[error("{context}: {source}")]
    Context { context: String, source: Box<SourceError> },
    #[error("bad source configuration: {0}")]
    Config(String),
}

impl SourceError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500 || *status == 408,
            Self::RateLimited { .. } | Self::Transport { .. } | Self::Malformed { .. } => true,
            Self::Context { source, .. } => source.is_retryable(),
            Self::Rejected { .. } | Self::Banned { .. } | Self::GaveUp { .. } | Self::Config(_) => false,
        }
    }
}
