//! `/metrics`: Prometheus (OpenMetrics text) counters of the jobs, the candles written, the HTTP
//! requests, the rate limits met at each venue, and gauges of each series' freshness and the
//! database's size.
//!
//! Jobs and candles are counted from the event bus (`job-finished`), so runs started by the
//! scheduler and by the API are counted alike; the gauges are read from the store when scraped.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobName {
    job: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeriesLabel {
    instrument: String,
    timeframe: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VenueLabel {
    venue: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn job_histogram() -> Histogram {
    // 0.1 s to about 55 minutes.
    Histogram::new(exponential_buckets(0.1, 2.0, 16))
}

fn http_histogram() -> Histogram {
    // 0.1 ms to about 3 s: the API's answers are meant to take milliseconds.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    job_seconds: HistogramFamily<JobName>,
    candles_written: Family<SourceLabel, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: HistogramFamily<RouteLabel>,
    freshness: Family<SeriesLabel, Gauge<f64, AtomicU64>>,
    database_bytes: Gauge,
    rate_limit_pauses: Family<VenueLabel, Counter>,
    bans: Family<VenueLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("candlekeep");
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Job runs ended, by job and status", jobs.clone());
        let job_seconds: HistogramFamily<JobName> = Family::new_with_constructor(job_histogram);
        registry.register("job_duration_seconds", "How long job runs took", job_seconds.clone());
        let candles_written = Family::<SourceLabel, Counter>::default();
        registry.register(
            "candles_written",
            "Candles written by job runs, by source",
            candles_written.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_seconds: HistogramFamily<RouteLabel> = Family::new_with_constructor(http_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            http_seconds.clone(),
        );
        let freshness = Family::<SeriesLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "series_freshness_seconds",
            "Seconds since the newest stored bar of each series closed",
            freshness.clone(),
        );
        let database_bytes = Gauge::default();
        registry.register(
            "database_size_bytes",
            "Size of the database in bytes, where the backend tells",
            database_bytes.clone(),
        );
        let rate_limit_pauses = Family::<VenueLabel, Counter>::default();
        registry.register(
            "source_rate_limit_pauses",
            "Pauses of a venue after a rate-limit answer (429)",
            rate_limit_pauses.clone(),
        );
        let bans = Family::<VenueLabel, Counter>::default();
        registry.register("source_bans", "IP bans answered by a venue", bans.clone());
        Self {
            registry,
            jobs,
            job_seconds,
            candles_written,
            http_requests,
            http_seconds,
            freshness,
            database_bytes,
            rate_limit_pauses,
            bans,
        }
    }
}

impl Metrics {
    /// A run ended.
    pub fn job_finished(&self, job: &str, status: &str, duration_ms: i64, written_by: &[(String, u64)]) {
        self.jobs
            .get_or_create(&JobLabels {
                job: job.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.job_seconds
            .get_or_create(&JobName { job: job.to_owned() })
            .observe(duration_ms.max(0) as f64 / 1000.0);
        for (source, n) in written_by {
            self.candles_written
                .get_or_create(&SourceLabel { source: source.clone() })
                .inc_by(*n);
        }
    }

    /// A request was answered.
    pub fn request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Renders the metrics with the gauges set from `freshness` (instrument, timeframe, seconds),
    /// `database_bytes` and the venues' rate-limit counts.
    pub fn render(&self, freshness: &[(String, String, f64)], database_bytes: Option<u64>) -> String {
        // Series that are gone (retention) must not linger with their last value.
        self.freshness.clear();
        for (instrument, timeframe, seconds) in freshness {
            self.freshness
                .get_or_create(&SeriesLabel {
                    instrument: instrument.clone(),
                    timeframe: timeframe.clone(),
                })
                .set(*seconds);
        }
        if let Some(bytes) = database_bytes {
            self.database_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        // The venues count in the sources' HTTP layer; brought up to their totals here.
        for s in candlekeep_sources::http::rate_limit_stats() {
            let label = VenueLabel { venue: s.venue };
            for (family, total) in [(&self.rate_limit_pauses, s.pauses), (&self.bans, s.bans)] {
                let counter = family.get_or_create(&label);
                let seen = counter.get();
                if total > seen {
                    counter.inc_by(total - seen);
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not render the metrics");
        }
        out
    }
}
