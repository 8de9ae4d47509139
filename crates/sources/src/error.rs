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

/// What kind of failure a source error is, for whoever reacts to it (an alert, the API, the
/// job log): a ban, an outage and a refusal call for different actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The venue refused the request itself (unknown symbol, bad parameter): retrying cannot help.
    Refused,
    /// The venue banned this address for a while (HTTP 418, or 403 with a wait).
    Banned,
    /// Too many requests: the venue asked to slow down, longer than the job may wait.
    RateLimited,
    /// The venue was down or unreachable (5xx, timeouts, refused connections) after retries.
    Unavailable,
    /// The answer did not match the venue's documented format.
    Malformed,
    /// The source is set up wrongly on this side.
    Config,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Banned => "banned",
            Self::RateLimited => "rate-limited",
            Self::Unavailable => "unavailable",
            Self::Malformed => "malformed",
            Self::Config => "config",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SourceError {
    /// What kind of failure this is, looking through context and retries to the last cause.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Rejected { .. } => FailureKind::Refused,
            Self::Banned { .. } => FailureKind::Banned,
            Self::RateLimited { .. } => FailureKind::RateLimited,
            Self::Status { status, .. } if *status < 500 && *status != 408 => FailureKind::Refused,
            Self::Status { .. } | Self::Transport { .. } => FailureKind::Unavailable,
            Self::WaitBudgetSpent { status, .. } => match status {
                Some(418) => FailureKind::Banned,
                Some(429) => FailureKind::RateLimited,
                _ => FailureKind::Unavailable,
            },
            Self::Malformed { .. } => FailureKind::Malformed,
            Self::GaveUp { last: source, .. } | Self::Context { source, .. } => source.kind(),
            Self::Config(_) => FailureKind::Config,
        }
    }

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
    fn a_ban_an_outage_and_a_refusal_stay_distinguishable_through_context_and_retries() {
        let wrap = |e: SourceError| SourceError::Context {
            context: "BTCUSDT 1h".into(),
            source: Box::new(SourceError::GaveUp {
                context: "klines".into(),
                attempts: 3,
                last: Box::new(e),
            }),
        };
        let venue = || "binance".to_owned();
        let ban = SourceError::Banned {
            venue: venue(),
            status: 418,
            retry_after: std::time::Duration::from_secs(600),
            max_wait: std::time::Duration::from_secs(60),
        };
        let outage = SourceError::Status {
            venue: venue(),
            status: 503,
            body: String::new(),
        };
        let refusal = SourceError::Rejected {
            venue: venue(),
            status: 400,
            code: -1121,
            msg: "Invalid symbol.".into(),
        };
        let still_banned = SourceError::WaitBudgetSpent {
            context: "klines".into(),
            venue: venue(),
            status: Some(418),
            waited: std::time::Duration::from_secs(60),
            budget: std::time::Duration::from_secs(60),
        };
        assert_eq!(wrap(ban).kind(), FailureKind::Banned);
        assert_eq!(wrap(outage).kind(), FailureKind::Unavailable);
        assert_eq!(wrap(refusal).kind(), FailureKind::Refused);
        assert_eq!(still_banned.kind(), FailureKind::Banned);
        assert_eq!(
            SourceError::Status {
                venue: venue(),
                status: 404,
                body: String::new()
            }
            .kind(),
            FailureKind::Refused
        );
    }

    #[test]
    fn the_chain_shows_every_cause() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(chain(&e), "outer: connection refused");
    }
}
