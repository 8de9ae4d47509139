//! One venue's HTTP client: budget, timeouts, retries, and what each status code means.
//!
//! - 2xx: the body goes to the caller's parser; a body that does not parse is retried (a
//!   truncated or garbled answer is usually a network fault), up to the attempt limit.
//! - 429: wait `Retry-After` (all requests to the venue pause), then try again. Does not use up
//!   an attempt, but at most `max_rate_limit_waits` times.
//! - every wait (429, ban, backoff) is logged with venue, status and length, and all of one
//!   request's waits together stay within `max_total_wait`: past it the request fails with an
//!   error naming venue, status and the time waited.
//! - a business error inside a 2xx body (OKX, Bybit, CryptoCompare): the parser says which kind
//!   ([`BodyError`]), and it is treated like the matching status.
//! - 418 / 403 with Retry-After (or any 403 at a venue that bans with it, Bybit): an IP ban. Pause the whole venue for the ban, or give up at once
//!   with a clear error when the ban is longer than `max_ban_wait`; never keep knocking.
//! - 5xx, timeouts, connection resets: exponential backoff with jitter, up to `max_attempts`.
//! - any other 4xx: the request itself is wrong; fail at once.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::{StatusCode, header::HeaderMap};
use tracing::warn;

use super::stats::{self, VenueCounters};
use super::{BodyError, WeightBudget, error_fields};
use crate::SourceError;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub max_rate_limit_waits: u32,
    /// Longest ban worth waiting out; a longer one ends the job with an error.
    pub max_ban_wait: Duration,
    /// Longest one request waits in total (429 pauses, bans, retry backoff) before it fails
    /// with [`SourceError::WaitBudgetSpent`]; no answer of a venue can keep it waiting longer.
    pub max_total_wait: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_attempts: 6,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_rate_limit_waits: 30,
            max_ban_wait: Duration::from_secs(600),
            // Room for one whole ban of the longest length waited out, and then some.
            max_total_wait: Duration::from_secs(1200),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VenueClient {
    venue: String,
    base_url: String,
    http: reqwest::Client,
    budget: Arc<WeightBudget>,
    config: HttpConfig,
    /// A plain 403 is this venue's rate-limit ban, lasting this long unless Retry-After says.
    ban_on_403: Option<Duration>,
    /// The venue's pause and ban counts (shared by every client of the venue).
    counters: Arc<VenueCounters>,
    /// How long to pause after a rate limit reported without Retry-After.
    default_rate_limit_wait: Duration,
    /// Sent with every request (an API key); never logged.
    headers: HeaderMap,
}

/// The longest `Retry-After` taken at its word: a larger one is clamped to it, so no figure a
/// venue sends can overflow a deadline (and it ends in the wait budget's error anyway).
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// `Retry-After` in seconds (the HTTP-date form is not used by these venues: ignored). A number
/// too large for a `u64` is as good as infinite.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = v.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The used-weight header, whatever its case: prefer the per-minute one.
fn used_weight(headers: &HeaderMap) -> Option<u32> {
    ["x-mbx-used-weight-1m", "x-mbx-used-weight"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok()?.trim().parse().ok())
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The waits of one request, against its total budget.
struct Waits<'a> {
    venue: &'a str,
    total: Duration,
    budget: Duration,
}

impl Waits<'_> {
    /// Books a wait of `d` after an answer of `status`, and says so when `what` is given (a
    /// retry's backoff is announced by the retry itself); an error instead when it would take
    /// the request past its budget.
    fn spend(
        &mut self,
        status: Option<u16>,
        d: Duration,
        what: Option<&str>,
        context: &impl Fn() -> String,
    ) -> Result<(), SourceError> {
        let after = self.total.saturating_add(d);
        if after > self.budget {
            return Err(SourceError::WaitBudgetSpent {
                context: context(),
                venue: self.venue.to_owned(),
                status,
                waited: self.total,
                budget: self.budget,
            });
        }
        self.total = after;
        let Some(what) = what else { return Ok(()) };
        warn!(
            venue = %self.venue,
            status = status.unwrap_or(0),
            wait_s = d.as_secs_f64(),
            waited_s = self.total.as_secs_f64(),
            budget_s = self.budget.as_secs_f64(),
            "{}: {what} ({}): waiting {:.1} s ({:.0} s of {:.0} s waited)",
            self.venue,
            status.map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}")),
            d.as_secs_f64(),
            self.total.as_secs_f64(),
            self.budget.as_secs_f64()
        );
        Ok(())
    }
}

impl VenueClient {
    pub fn new(
        venue: &str,
        base_url: &str,
        budget: Arc<WeightBudget>,
        config: HttpConfig,
    ) -> Result<Self, SourceError> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SourceError::Config(format!(
                "{venue} base URL {base_url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("candlekeep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Config(format!("{venue} HTTP client: {e}")))?;
        Ok(Self {
            venue: venue.to_owned(),
            base_url,
            http,
            budget,
            config,
            ban_on_403: None,
            counters: stats::counters(venue),
            default_rate_limit_wait: Duration::from_secs(60),
            headers: HeaderMap::new(),
        })
    }

    /// Sends `name: value` with every request (marked sensitive, so it is never logged).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Result<Self, SourceError> {
        let mut v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| SourceError::Config(format!("{}: the value for header {name} is not valid", self.venue)))?;
        v.set_sensitive(true);
        self.headers.insert(name, v);
        Ok(self)
    }

    /// Treats every 403 as an IP ban of `length` (Bybit: "access too frequent", ≥ 10 minutes).
    pub fn with_403_ban(mut self, length: Duration) -> Self {
        self.ban_on_403 = Some(length);
        self
    }

    /// The pause after a rate limit that names no wait (a 429 without Retry-After, a body code).
    pub fn with_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.default_rate_limit_wait = wait;
        self
    }

    pub fn venue(&self) -> &str {
        &self.venue
    }

    /// GETs `path?query`, spending `weight`, and parses a 2xx body with `parse`. `context` names
    /// the request in the final error ("binance-spot BTCUSDT 1h 2020-01-01T00:00:00Z…").
    pub async fn get<T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        weight: u32,
        context: impl Fn() -> String,
        parse: impl Fn(&[u8]) -> Result<T, BodyError>,
    ) -> Result<T, SourceError> {
        let url = format!("{}{}", self.base_url, path);
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.backoff_min)
            .with_max_delay(self.config.backoff_max)
            .with_max_times(self.config.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build();
        let mut attempts = 0;
        let mut rate_limit_waits = 0;
        let mut waits = Waits {
            venue: &self.venue,
            total: Duration::ZERO,
            budget: self.config.max_total_wait,
        };
        loop {
            attempts += 1;
            let window = self.budget.acquire(weight).await;
            let error = match self.attempt(&url, query, window, &parse).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if matches!(error, SourceError::Banned { .. }) {
                self.counters.banned();
            }
            match error {
                SourceError::RateLimited { venue, retry_after } => {
                    self.counters.paused();
                    rate_limit_waits += 1;
                    attempts -= 1;
                    if rate_limit_waits > self.config.max_rate_limit_waits {
                        return Err(SourceError::GaveUp {
                            context: context(),
                            attempts: rate_limit_waits,
                            last: Box::new(SourceError::RateLimited { venue, retry_after }),
                        });
                    }
                    waits.spend(
                        Some(429),
                        retry_after,
                        Some("rate limited: pausing the venue"),
                        &context,
                    )?;
                    self.budget.pause(retry_after);
                }
                SourceError::Banned {
                    venue,
                    status,
                    retry_after,
                    max_wait,
                } if retry_after <= max_wait => {
                    // A ban short enough to wait out is still a rate-limit wait: counted, and
                    // bounded like the others (it used to be waited out again and again).
                    rate_limit_waits += 1;
                    attempts -= 1;
                    if rate_limit_waits > self.config.max_rate_limit_waits {
                        return Err(SourceError::GaveUp {
                            context: context(),
                            attempts: rate_limit_waits,
                            last: Box::new(SourceError::Banned {
                                venue,
                                status,
                                retry_after,
                                max_wait,
                            }),
                        });
                    }
                    waits.spend(
                        Some(status),
                        retry_after,
                        Some("IP banned: pausing the venue for the whole ban"),
                        &context,
                    )?;
                    self.budget.pause(retry_after);
                }
                e if !e.is_retryable() => {
                    return Err(SourceError::Context {
                        context: context(),
                        source: Box::new(e),
                    });
                }
                e => {
                    let status = e.status();
                    let delay = self.next_delay(&mut backoff, e, attempts, &context)?;
                    waits.spend(status, delay, None, &context)?;
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// One request: send, read the venue's weight header, read the body, judge the status, parse.
    async fn attempt<T>(
        &self,
        url: &str,
        query: &[(&str, String)],
        window: i64,
        parse: &impl Fn(&[u8]) -> Result<T, BodyError>,
    ) -> Result<T, SourceError> {
        let transport = |source| SourceError::Transport {
            venue: self.venue.clone(),
            source,
        };
        let resp = self
            .http
            .get(url)
            .headers(self.headers.clone())
            .query(query)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Some(used) = used_weight(&headers) {
            self.budget.observe(window, used);
        }
        let body = resp.bytes().await.map_err(transport)?;
        self.classify(status, &headers, &body)?;
        let venue = self.venue.clone();
        parse(&body).map_err(|e| match e {
            BodyError::Malformed(detail) => SourceError::Malformed { venue, detail },
            BodyError::Rejected { code, msg } => SourceError::Rejected {
                venue,
                status: status.as_u16(),
                code,
                msg,
            },
            BodyError::RateLimited { .. } => SourceError::RateLimited {
                venue,
                retry_after: self.default_rate_limit_wait,
            },
            BodyError::Unavailable { code, msg } => SourceError::Status {
                venue,
                status: 503,
                body: format!("code {code}: {msg}"),
            },
        })
    }

    fn next_delay(
        &self,
        backoff: &mut impl Iterator<Item = Duration>,
        error: SourceError,
        attempts: u32,
        context: &impl Fn() -> String,
    ) -> Result<Duration, SourceError> {
        match backoff.next() {
            Some(delay) => {
                warn!(venue = %self.venue, attempt = attempts, wait_ms = delay.as_millis() as u64, "{}: retrying after: {error}", context());
                Ok(delay)
            }
            None => Err(SourceError::GaveUp {
                context: context(),
                attempts,
                last: Box::new(error),
            }),
        }
    }

    /// What a status code means, before the body is parsed.
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Result<(), SourceError> {
        let venue = self.venue.clone();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let wait = retry_after(headers);
        match code {
            429 => Err(SourceError::RateLimited {
                venue,
                retry_after: wait.unwrap_or(self.default_rate_limit_wait),
            }),
            418 => Err(SourceError::Banned {
                venue,
                status: code,
                retry_after: wait.unwrap_or(Duration::from_secs(120)),
                max_wait: self.config.max_ban_wait,
            }),
            403 if wait.is_some() || self.ban_on_403.is_some() => Err(SourceError::Banned {
                venue,
                status: code,
                retry_after: wait.or(self.ban_on_403).unwrap_or_default(),
                max_wait: self.config.max_ban_wait,
            }),
            _ if status.is_server_error() => Err(SourceError::Status {
                venue,
                status: code,
                body: snippet(body),
            }),
            _ => match error_fields(body) {
                Some((venue_code, msg)) => Err(SourceError::Rejected {
                    venue,
                    status: code,
                    code: venue_code,
                    msg,
                }),
                None => Err(SourceError::Status {
                    venue,
                    status: code,
                    body: snippet(body),
                }),
            },
        }
    }
}
