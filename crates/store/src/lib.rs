//! Candlekeep's storage: the roles a store plays ([`access`]), the shared [`StoreHandle`], the
//! SQLite backend (blocking, behind [`BlockingStore`]) and the natively async PostgreSQL one,
//! and copying a whole store from one to the other.
//!
//! Candles are keyed by (instrument, timeframe, open time) and carry their provenance. Besides
//! candles the store keeps *covered ranges*: the half-open time ranges a source has answered for
//! completely. A range is covered even where the venue had no bar (an outage), which is what lets
//! a backfill resume exactly where it stopped and a rerun do nothing, without ever inventing a bar.

pub mod access;
pub mod catalog;
mod error;
mod handle;
pub mod migrate;
mod model;
pub mod postgres;
pub mod queue;
mod ranges;
mod read_pool;
pub mod sqlite;
mod types;
pub mod url;

pub use access::{
    CandleRead, CandleWrite, GapLedger, HealthLog, IndicatorStore, JobLog, OwnedPage, Retention, Store, StoreFuture,
    TableCopy, UniverseStore, WorkQueue,
};
pub use catalog::{TableDef, Value};
pub use error::StoreError;
pub use handle::{JobLock, StoreHandle};
pub use model::gaps::FETCH_FAILED;
pub use model::quality::score as quality_score;
pub use postgres::{PgOptions, PgStore, PgWorkQueue};
pub use ranges::subtract_ranges;
pub use sqlite::SqliteStore;

/// This machine's name as job runs record it (what [`JobLog::abandon_running`] takes).
pub fn job_host() -> String {
    model::statements::hostname()
}
pub use types::{
    CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, HealthSample, IndicatorValue, JobId, JobQuery, JobRecord,
    JobRow, JobStatus, ListingChanges, PageWrite, QualityDay, RangeDrift, RejectRow, Replace, SeriesStatus, WriteStats,
};

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, Timeframe, Venue,
};

/// One SQLite connection's blocking calls; tasks use a store through [`StoreHandle`], which
/// runs these on the blocking pool (see [`access`] for the roles). PostgreSQL is natively async
/// ([`PgStore`] implements the roles itself).
pub trait BlockingStore: Send {
    /// Which backend and mode this is, for `status`: `sqlite /path`, `postgresql 15.4`,
    /// `timescaledb 2.14 (hypertable, compression after 30 days)`.
    fn describe(&mut self) -> Result<String, StoreError>;

    /// The schema version the database is at.
    fn schema_version(&mut self) -> Result<i64, StoreError>;

    /// What counts as a jump or a flat run when writing.
    fn set_flag_rules(&mut self, rules: FlagRules);

    /// Stable id of an instrument, registering it on first use.
    fn instrument_id(&mut self, instrument: &Instrument) -> Result<i64, StoreError>;

    /// The instrument a stored id stands for, if any.
    fn instrument_of(&mut self, instrument_id: i64) -> Result<Option<Instrument>, StoreError>;

    /// Upserts `candles` (replacing any stored bar whose values differ) and marks
    /// `[covered.0, covered.1)` as answered by the source, in one transaction: either all of it
    /// is stored or none of it.
    fn write_page(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        provenance: Provenance,
        candles: &[Candle],
        covered: Option<(i64, i64)>,
    ) -> Result<WriteStats, StoreError> {
        let page = PageWrite {
            instrument_id,
            timeframe: tf,
            provenance,
            candles,
            covered,
            replace: Replace::Any,
        };
        let stats = self.write_pages(&[page])?;
        Ok(stats.first().copied().unwrap_or_default())
    }

    /// Several pages in one transaction (bulk loads: one commit instead of one per page).
    fn write_pages(&mut self, pages: &[PageWrite<'_>]) -> Result<Vec<WriteStats>, StoreError>;

    /// Parts of `[from, to)` that `source` has not answered for yet, ascending.
    fn uncovered(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError>;

    /// Open times of the stored bars in `[from, to)` with the source of each, ascending.
    fn stored_sources(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SourceId)>, StoreError>;

    /// The stored candles of one series opening in `[from, to)`, ascending.
    fn candles(
        &mut self,
        instrument: &Instrument,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<Candle>, StoreError>;

    /// End of the newest covered range of a series (where a sync picks up), if any.
    fn latest_covered(&mut self, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError>;

    /// One row per stored (instrument, timeframe) series.
    fn series_status(&mut self) -> Result<Vec<SeriesStatus>, StoreError>;

    /// Per series and pair of sources, how the bars both delivered agree.
    fn cross_check_summary(&mut self) -> Result<Vec<CrossCheckSummary>, StoreError>;

    /// SHA-256 over every candle's key, values and source (not the fetch time), in key order:
    /// two stores with the same content have the same hash.
    fn content_hash(&mut self) -> Result<String, StoreError>;

    /// Stores chart points of one instrument (replacing points at the same instants).
    fn write_points(
        &mut self,
        instrument_id: i64,
        provenance: Provenance,
        points: &[MarketPoint],
    ) -> Result<(), StoreError>;

    /// Records why a source has no bars in some ranges (`no-trades`, `not-listed`,
    /// `history-cap`): the gap ledger names causes from these.
    fn write_notes(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: &[(i64, i64, &str)],
    ) -> Result<(), StoreError>;

    /// Stored chart points of one instrument in `[from, to)`, ascending.
    fn points(&mut self, instrument_id: i64, from: i64, to: i64) -> Result<Vec<MarketPoint>, StoreError>;

    /// Brings the gap ledger up to date at `now_ms`: every missing range of every series within
    /// its listed lifetime (from its earliest listing, or its first bar, to the newest closed
    /// bar) is an open gap; a gap whose bars are now stored is marked repaired.
    fn refresh_gaps(&mut self, now_ms: i64) -> Result<GapRefresh, StoreError>;

    /// Recomputes every series' stored ranges from its candles and returns the series whose
    /// index differs; with `repair`, rebuilds their index in the same transaction.
    fn verify_stored_ranges(&mut self, repair: bool) -> Result<Vec<RangeDrift>, StoreError>;

    /// The ledger: gaps of `status` (all when `None`) ending after `since_ms`, by series and time.
    fn gaps(&mut self, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError>;

    /// The stored daily quality rows of days from `since_ms`'s day on (as last refreshed).
    fn quality_days(&mut self, since_ms: i64) -> Result<Vec<QualityDay>, StoreError>;

    /// Records a repair attempt on an open gap; `unrepairable` when every source answered for it
    /// and none had the bars.
    fn gap_attempted(&mut self, gap: &Gap, unrepairable: bool) -> Result<(), StoreError>;

    /// Computes, stores and returns the daily quality rows of every series from `since_ms`.
    fn refresh_quality(&mut self, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError>;

    /// Every quarantined candle, by series and time.
    fn rejects(&mut self) -> Result<Vec<RejectRow>, StoreError>;

    /// Per series, the close time of its newest stored bar (from the stored ranges: cheap).
    fn freshness(&mut self) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError>;

    /// Saves the ranked assets of a universe refresh.
    fn save_assets(&mut self, assets: &[Asset], at_ms: i64) -> Result<(), StoreError>;

    /// Records one venue's current instrument list for one market (see [`ListingChanges`]).
    fn refresh_listings(
        &mut self,
        venue: Venue,
        market: Market,
        seen: &[Listing],
        at_ms: i64,
    ) -> Result<ListingChanges, StoreError>;

    /// The `limit` best-ranked assets.
    fn ranked_assets(&mut self, limit: usize) -> Result<Vec<Asset>, StoreError>;

    /// Every listing ever seen, delisted ones included.
    fn listings(&mut self) -> Result<Vec<KnownListing>, StoreError>;

    /// A cached provider answer fetched after `newer_than_ms`, if any.
    fn cache_get(&mut self, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError>;
    fn cache_put(&mut self, key: &str, body: &[u8], at_ms: i64) -> Result<(), StoreError>;

    fn job_started(&mut self, job: &str, args: &str) -> Result<JobId, StoreError>;
    fn job_finished(&mut self, id: JobId, outcome: &JobRecord) -> Result<(), StoreError>;

    /// The runs `query` asks for, newest first.
    fn jobs(&mut self, query: &JobQuery) -> Result<Vec<JobRow>, StoreError>;

    /// Recent job runs, newest first.
    fn recent_jobs(&mut self, limit: usize) -> Result<Vec<JobRow>, StoreError> {
        self.jobs(&JobQuery {
            limit,
            ..JobQuery::default()
        })
    }

    /// Marks interrupted every run of `host` still marked running (see [`JobLog::abandon_running`]).
    fn abandon_running(&mut self, host: &str) -> Result<u64, StoreError>;

    /// Stores a health sample, replacing one taken at the same instant.
    fn record_health(&mut self, sample: &HealthSample) -> Result<(), StoreError>;

    /// The newest `limit` health samples in `[from, to)`, ascending.
    fn health_history(&mut self, from: i64, to: i64, limit: usize) -> Result<Vec<HealthSample>, StoreError>;

    /// Deletes the finished job runs started before `before`.
    fn prune_job_runs(&mut self, before: i64) -> Result<u64, StoreError>;

    /// Deletes the provider answers fetched before `before`.
    fn prune_http_cache(&mut self, before: i64) -> Result<u64, StoreError>;

    /// Records that `tf`'s bars before `cutoff` are pruned (see [`Retention::prune_candles`]).
    fn set_retention_horizon(&mut self, tf: Timeframe, cutoff: i64) -> Result<(), StoreError>;

    /// Where each pruned timeframe's kept history starts.
    fn retention_horizons(&mut self) -> Result<Vec<(Timeframe, i64)>, StoreError>;

    /// The instruments with bars of `tf` opening before `cutoff`.
    fn series_before(&mut self, tf: Timeframe, cutoff: i64) -> Result<Vec<i64>, StoreError>;

    /// Prunes one series' bars before `cutoff` (on `tf`'s grid) in one transaction; returns how
    /// many candles went.
    fn prune_series(&mut self, instrument_id: i64, tf: Timeframe, cutoff: i64) -> Result<u64, StoreError>;

    /// Prunes every series of `tf` before `older_than_ms` (see [`Retention::prune_candles`]).
    fn prune_candles(&mut self, tf: Timeframe, older_than_ms: i64) -> Result<u64, StoreError> {
        let cutoff = tf.ceil(older_than_ms);
        // The horizon first: a prune that stops half way leaves hours not yet pruned that the
        // ledger no longer judges, never pruned hours reported missing.
        self.set_retention_horizon(tf, cutoff)?;
        let mut pruned = 0;
        for id in self.series_before(tf, cutoff)? {
            pruned += self.prune_series(id, tf, cutoff)?;
        }
        Ok(pruned)
    }

    /// The database's size in bytes (its pages and its WAL file).
    fn database_size(&mut self) -> Result<Option<u64>, StoreError>;

    /// Every flag raised on stored bars, in key order.
    fn flags(&mut self) -> Result<Vec<FlagRow>, StoreError>;

    /// Replaces the stored latest indicator values of every series that `values` has values for
    /// (a series' older names go), in one transaction.
    fn save_indicators(&mut self, values: &[IndicatorValue]) -> Result<(), StoreError>;

    /// Every stored latest indicator value, by series and name.
    fn indicator_values(&mut self) -> Result<Vec<IndicatorValue>, StoreError>;

    /// Streams every row of `table` in key order to `sink` (a whole-store copy).
    fn read_table(
        &mut self,
        table: &TableDef,
        sink: &mut (dyn FnMut(Vec<Value>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError>;

    /// Appends rows to `table` as they are, ids included, in one transaction (a whole-store copy
    /// into an empty store).
    fn append_rows(&mut self, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError>;

    /// After a whole-store copy: whatever the backend keeps beside the rows (id sequences) is
    /// brought in line with them.
    fn after_copy(&mut self) -> Result<(), StoreError>;

    /// The mark of a whole-store copy into this database that was not verified yet, if any.
    fn copy_marker(&mut self) -> Result<Option<migrate::CopyMarker>, StoreError>;

    /// Sets (or with `None` clears) the unfinished-copy mark.
    fn set_copy_marker(&mut self, marker: Option<&migrate::CopyMarker>) -> Result<(), StoreError>;

    /// Deletes every row an unfinished copy wrote, in one transaction, keeping the mark.
    fn empty_for_copy(&mut self) -> Result<(), StoreError>;
}
