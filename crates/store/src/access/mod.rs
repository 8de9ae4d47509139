//! Async access to a store, split by role. A job or a feature names only the roles it uses: the
//! API and the backtest take [`CandleRead`], a backfill [`CandleWrite`] and [`GapLedger`], the
//! universe refresh [`UniverseStore`]. Every method takes `&self`: an implementation is a cheap,
//! cloneable handle whose clones share connections, so many tasks use one store at once without a
//! process-wide lock. [`StoreHandle`](crate::StoreHandle) implements every role on both backends.
//!
//! The futures are `Send`, so a handle can be used from any task of a multi-threaded runtime; no
//! method blocks a runtime thread.

use std::future::Future;

use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, TimeRange, Timeframe,
    Venue,
};

use crate::catalog::{TableDef, Value};
use crate::migrate::CopyMarker;
use crate::queue::{NewUnit, QueueCounts, Unit};
use crate::{
    CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, HealthSample, IndicatorValue, JobId, JobQuery, JobRecord,
    JobRow, ListingChanges, PageWrite, QualityDay, RangeDrift, RejectRow, Replace, SeriesStatus, StoreError,
    WriteStats,
};

/// Long candle reads a store runs at once, on either backend: one per core but one, which is left
/// to the writer (SQLite: its read-only connections; PostgreSQL: a semaphore before the pool).
/// Reads beyond that wait their turn asynchronously, holding no thread, so a burst of reads
/// never starves a running write of CPU.
pub(crate) fn read_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Shorthand for the futures every role method returns.
pub trait StoreFuture<T>: Future<Output = Result<T, StoreError>> + Send {}
impl<T, F: Future<Output = Result<T, StoreError>> + Send> StoreFuture<T> for F {}

/// Reading candles, chart points and what describes them. Never writes.
pub trait CandleRead: Clone + Send + Sync + 'static {
    /// Which backend and mode this is, for `status`: `sqlite /path`, `postgresql 15.4`,
    /// `timescaledb 2.14 (hypertable, compression after 30 days)`.
    fn describe(&self) -> impl StoreFuture<String>;

    /// The schema version the database is at.
    fn schema_version(&self) -> impl StoreFuture<i64>;

    /// The stored candles of one series opening in `range`, ascending (none for an instrument the
    /// store has never seen).
    fn candles(&self, instrument: &Instrument, tf: Timeframe, range: TimeRange) -> impl StoreFuture<Vec<Candle>>;

    /// Open times of the stored bars in `range` with the source of each, ascending.
    fn stored_sources(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        range: TimeRange,
    ) -> impl StoreFuture<Vec<(i64, SourceId)>>;

    /// Parts of `range` that `source` has not answered for yet, ascending.
    fn uncovered(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        range: TimeRange,
    ) -> impl StoreFuture<Vec<TimeRange>>;

    /// End of the newest covered range of a series (where a sync picks up), if any.
    fn latest_covered(&self, instrument_id: i64, tf: Timeframe) -> impl StoreFuture<Option<i64>>;

    /// One row per stored (instrument, timeframe) series.
    fn series_status(&self) -> impl StoreFuture<Vec<SeriesStatus>>;

    /// Per series and pair of sources, how the bars both delivered agree.
    fn cross_check_summary(&self) -> impl StoreFuture<Vec<CrossCheckSummary>>;

    /// SHA-256 over every candle's key, values and source (not the fetch time), in key order:
    /// two stores with the same content have the same hash.
    fn content_hash(&self) -> impl StoreFuture<String>;

    /// Stored chart points of one instrument in `range`, ascending.
    fn points(&self, instrument_id: i64, range: TimeRange) -> impl StoreFuture<Vec<MarketPoint>>;

    /// Per series, the close time of its newest stored bar (from the stored ranges: cheap).
    fn freshness(&self) -> impl StoreFuture<Vec<(Instrument, Timeframe, i64)>>;

    /// Every flag raised on stored bars, in key order.
    fn flags(&self) -> impl StoreFuture<Vec<FlagRow>>;

    /// Every quarantined candle, by series and time.
    fn rejects(&self) -> impl StoreFuture<Vec<RejectRow>>;
}

/// One page of a write, owning its candles (see [`PageWrite`] for the meaning of each field).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPage {
    pub instrument_id: i64,
    pub timeframe: Timeframe,
    pub provenance: Provenance,
    pub candles: Vec<Candle>,
    pub covered: Option<TimeRange>,
    /// `None`: any stored bar may be replaced; `Some(sources)`: only bars of the writing source
    /// and of these lower-ranked ones.
    pub outranks: Option<Vec<SourceId>>,
}

impl OwnedPage {
    /// The borrowed form the backends write.
    pub fn as_write(&self) -> PageWrite<'_> {
        PageWrite {
            instrument_id: self.instrument_id,
            timeframe: self.timeframe,
            provenance: self.provenance,
            candles: &self.candles,
            covered: self.covered.map(|r| r.as_pair()),
            replace: match &self.outranks {
                None => Replace::Any,
                Some(sources) => Replace::Outranked(sources),
            },
        }
    }
}

/// Writing candles with their provenance, the ranges sources answered for, chart points and
/// the notes that explain missing bars.
pub trait CandleWrite: CandleRead {
    /// Stable id of an instrument, registering it on first use.
    fn instrument_id(&self, instrument: &Instrument) -> impl StoreFuture<i64>;

    /// Validates, quarantines, upserts (with source priority), flags and marks covered ranges for
    /// several pages in one transaction: either all of it is stored or none of it.
    fn write_pages(&self, pages: Vec<OwnedPage>) -> impl StoreFuture<Vec<WriteStats>>;

    /// One page, replacing any stored bar whose values differ (a single-source write).
    fn write_page(
        &self,
        instrument_id: i64,
        timeframe: Timeframe,
        provenance: Provenance,
        candles: Vec<Candle>,
        covered: Option<TimeRange>,
    ) -> impl StoreFuture<WriteStats> {
        let page = OwnedPage {
            instrument_id,
            timeframe,
            provenance,
            candles,
            covered,
            outranks: None,
        };
        async move { Ok(self.write_pages(vec![page]).await?.first().copied().unwrap_or_default()) }
    }

    /// Stores chart points of one instrument (replacing points at the same instants).
    fn write_points(
        &self,
        instrument_id: i64,
        provenance: Provenance,
        points: Vec<MarketPoint>,
    ) -> impl StoreFuture<()>;

    /// Records why a source has no bars in some ranges (`no-trades`, `not-listed`,
    /// `history-cap`): the gap ledger names causes from these.
    fn write_notes(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: Vec<(TimeRange, String)>,
    ) -> impl StoreFuture<()>;
}

/// The gap ledger, data quality and the integrity of the stored-range index.
pub trait GapLedger: Clone + Send + Sync + 'static {
    /// Brings the gap ledger up to date at `now_ms` (see the backends for the rules).
    fn refresh_gaps(&self, now_ms: i64) -> impl StoreFuture<GapRefresh>;

    /// Gaps of `status` (all when `None`) ending after `since_ms`, by series and time.
    fn gaps(&self, status: Option<GapStatus>, since_ms: i64) -> impl StoreFuture<Vec<Gap>>;

    /// Records a repair attempt on an open gap; `unrepairable` when every source answered for it
    /// and none had the bars.
    fn gap_attempted(&self, gap: &Gap, unrepairable: bool) -> impl StoreFuture<()>;

    /// The stored daily quality rows of days from `since_ms`'s day on, as last refreshed, by
    /// series and day. Never writes.
    fn quality_days(&self, since_ms: i64) -> impl StoreFuture<Vec<QualityDay>>;

    /// Computes, stores and returns the daily quality rows of every series from `since_ms`.
    fn refresh_quality(&self, since_ms: i64, now_ms: i64) -> impl StoreFuture<Vec<QualityDay>>;

    /// Recomputes every series' stored ranges from its candles and returns the series whose
    /// index differs; with `repair`, rebuilds their index in the same transaction.
    fn verify_stored_ranges(&self, repair: bool) -> impl StoreFuture<Vec<RangeDrift>>;
}

/// The ranked assets, every venue's listings and the cache of provider answers.
pub trait UniverseStore: Clone + Send + Sync + 'static {
    /// Saves the ranked assets of a universe refresh.
    fn save_assets(&self, assets: Vec<Asset>, at_ms: i64) -> impl StoreFuture<()>;

    /// Records one venue's current instrument list for one market (see [`ListingChanges`]).
    fn refresh_listings(
        &self,
        venue: Venue,
        market: Market,
        seen: Vec<Listing>,
        at_ms: i64,
    ) -> impl StoreFuture<ListingChanges>;

    /// The `limit` best-ranked assets.
    fn ranked_assets(&self, limit: usize) -> impl StoreFuture<Vec<Asset>>;

    /// Every listing ever seen, delisted ones included.
    fn listings(&self) -> impl StoreFuture<Vec<KnownListing>>;

    /// A cached provider answer fetched after `newer_than_ms`, if any.
    fn cache_get(&self, key: &str, newer_than_ms: i64) -> impl StoreFuture<Option<Vec<u8>>>;

    /// Caches a provider answer under `key`.
    fn cache_put(&self, key: &str, body: Vec<u8>, at_ms: i64) -> impl StoreFuture<()>;
}

/// The job log: every run of every job, with its outcome and host.
pub trait JobLog: Clone + Send + Sync + 'static {
    fn job_started(&self, job: &str, args: &str) -> impl StoreFuture<JobId>;
    fn job_finished(&self, id: JobId, outcome: JobRecord) -> impl StoreFuture<()>;

    /// The runs `query` asks for, newest first (id descending).
    fn jobs(&self, query: JobQuery) -> impl StoreFuture<Vec<JobRow>>;

    /// One run by id, if it is logged.
    fn job(&self, id: JobId) -> impl StoreFuture<Option<JobRow>> {
        // The newest run below `id + 1` is the run `id` when it exists: the same statement as
        // any listing, one row through the primary key.
        let query = JobQuery {
            before_id: id.checked_add(1),
            limit: 1,
            ..JobQuery::default()
        };
        async move { Ok(self.jobs(query).await?.into_iter().find(|j| j.id == id)) }
    }

    /// Recent job runs, newest first.
    fn recent_jobs(&self, limit: usize) -> impl StoreFuture<Vec<JobRow>> {
        self.jobs(JobQuery {
            limit,
            ..JobQuery::default()
        })
    }

    /// Marks `interrupted` every run of `host` still marked `running` (runs logged before hosts
    /// were recorded count as every host's), returning how many. For a service starting up: runs
    /// of a previous process on this host that ended without closing them. Call it before this
    /// process starts runs of its own, which it would mark too. `host` is the name job runs
    /// record, [`job_host`](crate::job_host).
    fn abandon_running(&self, host: &str) -> impl StoreFuture<u64>;
}

/// Samples of the machine's and the service's health over time (`system_health`).
pub trait HealthLog: Clone + Send + Sync + 'static {
    /// Stores a sample, replacing one taken at the same instant.
    fn record_health(&self, sample: HealthSample) -> impl StoreFuture<()>;

    /// The samples taken in `range`, ascending by time: at most `limit`, the newest ones when
    /// there are more.
    fn health_history(&self, range: TimeRange, limit: usize) -> impl StoreFuture<Vec<HealthSample>>;
}

/// Deleting what is no longer kept, and the store's size (what retention is about).
pub trait Retention: Clone + Send + Sync + 'static {
    /// Deletes the finished job runs started before `older_than_ms` (never a `running` one);
    /// returns how many.
    fn prune_job_runs(&self, older_than_ms: i64) -> impl StoreFuture<u64>;

    /// Deletes the cached provider answers fetched before `older_than_ms`; returns how many.
    fn prune_http_cache(&self, older_than_ms: i64) -> impl StoreFuture<u64>;

    /// Deletes every instrument's candles of `timeframe` opening before `older_than_ms`
    /// (delisted instruments too), returning how many, and keeps the store consistent (see
    /// `model::retention`): the stored-range index still matches the candles, the read cache
    /// forgets them, the covered ranges stay (a backfill does not fetch the pruned hours again),
    /// and the gap ledger and quality start the timeframe's series at the cutoff, so the pruned
    /// hours are never reported missing. One transaction per series, so other writes go between
    /// them; a prune that stops half way is finished by running it again.
    fn prune_candles(&self, timeframe: Timeframe, older_than_ms: i64) -> impl StoreFuture<u64>;

    /// Where each pruned timeframe's kept history starts, by timeframe.
    fn retention_horizons(&self) -> impl StoreFuture<Vec<(Timeframe, i64)>>;

    /// The database's size in bytes, if the backend can tell (SQLite: its pages plus the WAL
    /// file; PostgreSQL: `pg_database_size` of the database).
    fn database_size(&self) -> impl StoreFuture<Option<u64>>;
}

/// The latest indicator values per series.
pub trait IndicatorStore: Clone + Send + Sync + 'static {
    /// Replaces the stored latest indicator values of every series that `values` has values for
    /// (a series' older names go), in one transaction.
    fn save_indicators(&self, values: Vec<IndicatorValue>) -> impl StoreFuture<()>;
    /// Every stored latest indicator value, by series and name.
    fn indicator_values(&self) -> impl StoreFuture<Vec<IndicatorValue>>;
}

/// Whole-store copy (`candlekeep migrate`): every table's rows as they are.
pub trait TableCopy: Clone + Send + Sync + 'static {
    /// Sends every row of `table` in key order to `rows`, returning how many were sent. Stops
    /// early, without error, when the receiver is dropped.
    fn read_table(
        &self,
        table: &'static TableDef,
        rows: tokio::sync::mpsc::Sender<Vec<Value>>,
    ) -> impl StoreFuture<u64>;

    /// Appends rows to `table` as they are, ids included, in one transaction (a whole-store copy
    /// into an empty store).
    fn append_rows(&self, table: &'static TableDef, rows: Vec<Vec<Value>>) -> impl StoreFuture<()>;

    /// After a whole-store copy: whatever the backend keeps beside the rows (id sequences) is
    /// brought in line with them.
    fn after_copy(&self) -> impl StoreFuture<()>;

    /// The mark of a whole-store copy into this database that was not verified yet, if any.
    fn copy_marker(&self) -> impl StoreFuture<Option<CopyMarker>>;

    /// Sets (or with `None` clears) the unfinished-copy mark.
    fn set_copy_marker(&self, marker: Option<CopyMarker>) -> impl StoreFuture<()>;

    /// Deletes every row an unfinished copy wrote, in one transaction, keeping the mark.
    fn empty_for_copy(&self) -> impl StoreFuture<()>;
}

/// A work queue of backfill units, as seen by one worker: PostgreSQL's, which worker processes
/// share under leases ([`crate::postgres::queue`]), or [`crate::queue::LocalQueue`] within one
/// process. Each worker owns its view of the queue, so the methods take `&mut self`.
pub trait WorkQueue: Send {
    /// Takes the scheduler role if no live process holds it; true while this process holds it.
    fn try_schedule(&mut self) -> impl StoreFuture<bool>;

    /// Gives the scheduler role up.
    fn stop_scheduling(&mut self) -> impl Future<Output = ()> + Send;

    /// Adds units (those already queued are left as they are, except that a done unit reaching
    /// past `reopen_after_ms` is pending again, so new bars at the end get fetched, and a failed
    /// unit is pending again with its attempts reset: planned again, it gets a new chance) and
    /// records that plan `name` is complete; returns how many units were added or reopened.
    fn enqueue(&mut self, name: &str, units: &[NewUnit], reopen_after_ms: i64) -> impl StoreFuture<u64>;

    /// Whether plan `name` has been made.
    fn planned(&mut self, name: &str) -> impl StoreFuture<bool>;

    /// Claims the oldest pending unit nobody holds a live lease on, for `lease_ms`.
    fn claim(&mut self, lease_ms: i64) -> impl StoreFuture<Option<Unit>>;

    /// Extends the lease on a unit this worker holds; false when the lease was lost (it ran out
    /// and another worker took the unit).
    fn renew(&mut self, id: i64, lease_ms: i64) -> impl StoreFuture<bool>;

    /// Records the end of a unit: done, or (with an error) pending again after `retry_ms`, or
    /// failed after [`MAX_ATTEMPTS`](crate::queue::MAX_ATTEMPTS) attempts.
    fn finish(&mut self, id: i64, written: u64, error: Option<&str>, retry_ms: i64) -> impl StoreFuture<()>;

    /// Units by state.
    fn counts(&mut self) -> impl StoreFuture<QueueCounts>;

    /// Of exactly these units (by series, timeframe and span), how many are in each state
    /// (units not queued are not counted).
    fn counts_of(&mut self, units: &[NewUnit]) -> impl StoreFuture<QueueCounts>;
}

/// Every role at once: what a job that does a bit of everything (a backfill with its job log and
/// gap ledger, the service) takes.
pub trait Store:
    CandleWrite + GapLedger + UniverseStore + JobLog + IndicatorStore + TableCopy + HealthLog + Retention
{
}
impl<T: CandleWrite + GapLedger + UniverseStore + JobLog + IndicatorStore + TableCopy + HealthLog + Retention> Store
    for T
{
}
