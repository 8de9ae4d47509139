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
    /// The whole cause chain is shown: reqwest's own message ("error sending request") hides
    /// whether DNS failed, the connection was refused or the venue timed out.
    #[error("{venue}: {}", chain(.source))]
    Transport { venue: String, source: reqwest::Error },
    /// A request waited its whole wait budget (rate limits, bans, retry backoff) and the venue
    /// still said to wait: the job gets an error instead of an endless pause.
    #[error(
        "{context}: {venue} still answers {}: waited {} s in total, and a request waits at most {} s (http max_total_wait)",
        status_text(*status),
        waited.as_secs(),
        budget.as_secs()
    )]
    WaitBudgetSpent {
        context: String,
        venue: String,
        status: Option<u16>,
        waited: Duration,
        budget: Duration,
    },
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
            Self::Rejected { .. }
            | Self::Banned { .. }
            | Self::GaveUp { .. }
            | Self::WaitBudgetSpent { .. }
            | Self::Config(_) => false,
        }
    }

    /// The HTTP status behind the error, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. } | Self::Status { status, .. } | Self::Banned { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::WaitBudgetSpent { status, .. } => *status,
            Self::GaveUp { last: source, .. } | Self::Context { source, .. } => source.status(),
            Self::Transport { .. } | Self::Malformed { .. } | Self::Config(_) => None,
        }
    }
}

fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "with errors".to_owned(), |s| format!("HTTP {s}"))
}

/// `e` and every cause under it, joined by ": " (a cause already quoted by its parent once).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_shows_every_cause() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(chain(&e), "outer: connection refused");
    }
}
