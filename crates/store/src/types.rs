//! Records the store hands back.

use candlekeep_core::{Candle, GapCause, Instrument, Provenance, SourceId, Timeframe};
use serde::Serialize;

/// What a write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    /// New candles plus stored candles whose values differed and were replaced (a revised bar).
    pub written: u64,
    /// Candles identical to what was stored, or stored from a source this write may not
    /// replace: nothing written.
    pub unchanged: u64,
    /// Candles met a stored bar from another source; the pair went to `cross_checks`.
    pub cross_checked: u64,
    /// Candles that cannot be true: quarantined in `rejects`, not written.
    pub rejected: u64,
    /// Flags raised on the written range (jumps, zero volume, flat runs).
    pub flagged: u64,
}

impl WriteStats {
    pub fn add(&mut self, other: WriteStats) {
        self.written += other.written;
        self.unchanged += other.unchanged;
        self.cross_checked += other.cross_checked;
        self.rejected += other.rejected;
        self.flagged += other.flagged;
    }
}

/// Which stored bars a write may replace when its values differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace<'a> {
    /// Any stored bar (an explicit import, a single-source store).
    Any,
    /// Bars of the writing source itself and of these (lower-priority) sources; a bar from any
    /// other source stays, and the difference is recorded as a cross-check.
    Outranked(&'a [SourceId]),
}

/// One page of a bulk write: candles of one series and the range their source covered.
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    pub instrument_id: i64,
    pub timeframe: Timeframe,
    pub provenance: Provenance,
    pub candles: &'a [Candle],
    pub covered: Option<(i64, i64)>,
    pub replace: Replace<'a>,
}

/// Summary of one stored series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStatus {
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    pub first_open_ms: i64,
    pub last_open_ms: i64,
    pub count: i64,
    /// Bars between the first and the last stored bar, both included.
    pub expected: i64,
    /// Stored candles per source, most first.
    pub sources: Vec<(String, i64)>,
}

/// Agreement between two sources over the bars both delivered for one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossCheckSummary {
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    /// The source whose bars stay stored.
    pub kept_source: String,
    pub other_source: String,
    pub bars: i64,
    pub mean_abs_close_diff_bps: f64,
    pub max_abs_close_diff_bps: f64,
    /// Median of other volume / kept volume, where defined.
    pub median_volume_ratio: Option<f64>,
}

impl SeriesStatus {
    pub fn missing(&self) -> i64 {
        self.expected - self.count
    }

    pub fn completeness_pct(&self) -> f64 {
        if self.expected == 0 {
            100.0
        } else {
            100.0 * self.count as f64 / self.expected as f64
        }
    }
}

pub type JobId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Ok,
    Failed,
    Interrupted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub status: JobStatus,
    pub rows_written: u64,
    pub sources: Vec<String>,
    pub error: Option<String>,
    /// What kind of failure `error` is (`source:ban`, `store`, `invalid-arguments`…).
    pub error_kind: Option<String>,
}

/// What one listing refresh of a venue and market changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ListingChanges {
    /// Listings seen now.
    pub listed: u64,
    pub new: u64,
    /// Listed again after having been marked delisted.
    pub relisted: u64,
    /// No longer listed: marked delisted now (their history is kept).
    pub delisted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GapStatus {
    Open,
    Repaired,
    /// Every source was asked and none has these bars.
    Unrepairable,
}

impl GapStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Repaired => "repaired",
            Self::Unrepairable => "unrepairable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Repaired, Self::Unrepairable]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

/// One entry of the gap ledger: bars missing in `[start_ms, end_ms)` of a series' listed lifetime.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    pub start_ms: i64,
    pub end_ms: i64,
    pub cause: GapCause,
    pub status: GapStatus,
    pub attempts: i64,
    /// The source that delivered most of the bars when the gap was repaired.
    pub repaired_by: Option<String>,
    pub first_seen_ms: i64,
}

impl Gap {
    pub fn bars(&self) -> i64 {
        self.timeframe.bars_between(self.start_ms, self.end_ms)
    }
}

/// A series whose stored-range index differs from its candles (see `BlockingStore::verify_stored_ranges`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeDrift {
    pub instrument_id: i64,
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    /// Stored bars the index does not list (gaps would call them missing).
    pub unindexed_bars: i64,
    /// Bars the index lists that are not stored (gaps and status would miss these holes).
    pub phantom_bars: i64,
    /// The islands of stored bars, as the candles have them: what the index is rebuilt to.
    pub actual: Vec<(i64, i64)>,
}

/// What a ledger refresh found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GapRefresh {
    pub series: u64,
    /// Open gaps now, and missing bars in them (hours some source was asked for).
    pub open: u64,
    pub open_bars: i64,
    /// Gaps no source was ever asked for yet (cause `not-requested`), and their bars: what a
    /// backfill or sync would fetch, not a failure.
    pub not_requested: u64,
    pub not_requested_bars: i64,
    pub new: u64,
    pub repaired: u64,
}

impl GapRefresh {
    /// Counts one open gap of `bars` bars: hours never requested apart from missing ones.
    pub fn count_open(&mut self, cause: GapCause, bars: i64) {
        if cause == GapCause::NotRequested {
            self.not_requested += 1;
            self.not_requested_bars += bars;
        } else {
            self.open += 1;
            self.open_bars += bars;
        }
    }
}

/// One day of one series, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityDay {
    pub instrument: Instrument,
    pub timeframe: Timeframe,
    /// 00:00 UTC of the day.
    pub day_ms: i64,
    /// Bars the day should have within the series' listed lifetime.
    pub expected: i64,
    pub stored: i64,
    pub missing: i64,
    pub rejected: i64,
    pub flagged: i64,
    /// Mean absolute close difference to other sources where both delivered a bar, in bp.
    pub divergence_bps: Option<f64>,
    /// Share of the stored bars not from the series' main source.
    pub fallback_share: f64,
    /// 0–100, see `candlekeep_store::quality_score`.
    pub score: f64,
}

/// A quarantined candle, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRow {
    pub instrument_id: i64,
    pub timeframe: String,
    pub open_time_ms: i64,
    pub source: String,
    pub reason: String,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: Option<f64>,
    pub volume: Option<f64>,
}

/// A flag on a stored bar: an odd but possible value (a jump, zero volume, a flat run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagRow {
    pub instrument_id: i64,
    pub open_time_ms: i64,
    pub kind: String,
    pub detail: String,
}

/// The latest value of one indicator of one series, as `candlekeep indicators` stores it for
/// the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorValue {
    pub instrument_id: i64,
    pub timeframe: Timeframe,
    /// The indicator and its parameters, e.g. `rsi_14`.
    pub name: String,
    /// Open time of the bar the value is for.
    pub bar_ms: i64,
    pub value: f64,
    pub computed_at_ms: i64,
}

/// One run of a command, as logged in `job_runs`.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub job: String,
    pub args: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub status: String,
    pub rows_written: i64,
    /// Candles written per source: `binance-spot-rest=25301,okx-rest=26`.
    pub sources_used: String,
    pub error: Option<String>,
    /// What kind of failure `error` is, for runs that record it.
    pub error_kind: Option<String>,
}

/// Which job runs to list ([`JobLog::jobs`](crate::JobLog::jobs)): newest first, each filter
/// optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only runs of this job (`backfill`, `sync`, …).
    pub job: Option<String>,
    pub status: Option<JobStatus>,
    /// A cursor for paging: only runs with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// One sample of the machine's and the service's health, as `system_health` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSample {
    /// When it was taken (epoch ms); one sample per instant.
    pub at_ms: i64,
    pub cpu_pct: f64,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// The service process's resident memory.
    pub rss_bytes: u64,
    /// Age of the stalest series' newest bar; `None` when no series is stored.
    pub freshness_lag_ms: Option<i64>,
    /// 99th percentile of the API's response times over the last minute; `None` without requests.
    pub api_p99_ms: Option<f64>,
    /// API requests in the last minute.
    pub api_requests: u64,
}
