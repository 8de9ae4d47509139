//! [`StoreHandle`]: an open store that many tasks share. Cloning it is cheap; clones share the
//! connections. It implements every role of [`crate::access`] on both backends:
//!
//! - **SQLite:** one writing connection (SQLite lets one transaction write at a time anyway),
//!   which writes wait their turn for, and a few read-only WAL connections, so a read never waits
//!   behind a write. An in-memory database has only the writer.
//! - **PostgreSQL:** [`PgStore`], natively async: a pool of connections, one per call in flight,
//!   awaited directly.
//!
//! SQLite's calls block (rusqlite): they run on tokio's blocking pool, never on a runtime thread,
//! and a task waiting for a connection waits asynchronously.

use std::collections::HashSet;
use std::sync::Arc;

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, TimeRange, Timeframe,
    Venue,
};
use deadpool::unmanaged::Pool;
use tokio::sync::Mutex;

use crate::access::{
    CandleRead, CandleWrite, GapLedger, HealthLog, IndicatorStore, JobLog, OwnedPage, Retention, TableCopy,
    UniverseStore,
};
use crate::catalog::{TableDef, Value};
use crate::migrate::CopyMarker;
use crate::{
    BlockingStore, CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, HealthSample, IndicatorValue, JobId,
    JobQuery, JobRecord, JobRow, ListingChanges, PgOptions, PgStore, PgWorkQueue, QualityDay, RangeDrift, RejectRow,
    SeriesStatus, SqliteStore, StoreError, WriteStats,
};

/// An open store, shared by every task of a process (see the module docs).
#[derive(Clone)]
pub struct StoreHandle(Arc<Shared>);

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Shared::Sqlite { .. } => f.write_str("StoreHandle(sqlite)"),
            Shared::Postgres(_) => f.write_str("StoreHandle(postgresql)"),
        }
    }
}

enum Shared {
    Sqlite {
        writer: Arc<Mutex<SqliteStore>>,
        readers: Option<Pool<SqliteStore>>,
        /// Series whose read-cache blocks the writer has been asked to pack and has not yet.
        packing: Arc<std::sync::Mutex<HashSet<(i64, Timeframe)>>>,
        /// Where long reads run (see `read_pool`).
        read_pool: crate::read_pool::ReadPool,
    },
    Postgres(PgStore),
}

/// Runs a blocking store call on the blocking pool; a panic in it is passed on as a panic.
async fn on_blocking_pool<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Config(format!("a store call was cancelled: {e}"))),
    }
}

/// Hands the packing of a series' missing read-cache blocks to the writer, in the background:
/// the read that found them missing has its answer already, and the next reads get the blocks.
/// One request per series at a time.
fn pack_later(
    writer: &Arc<Mutex<SqliteStore>>,
    packing: &Arc<std::sync::Mutex<HashSet<(i64, Timeframe)>>>,
    id: i64,
    tf: Timeframe,
    starts: Vec<i64>,
) {
    let first_ask = packing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((id, tf));
    if !first_ask {
        return;
    }
    /// Takes the series off the list however the pack ends (a panic included), so it is asked
    /// for again.
    struct Done(Arc<std::sync::Mutex<HashSet<(i64, Timeframe)>>>, (i64, Timeframe));
    impl Drop for Done {
        fn drop(&mut self) {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&self.1);
        }
    }
    let (writer, done) = (writer.clone(), Done(packing.clone(), (id, tf)));
    tokio::spawn(async move {
        let _done = done;
        let mut conn = writer.lock_owned().await;
        // A failed pack (the disk full, another process holding the write lock past the busy
        // wait) costs nothing but speed: the rows are read until a later pack succeeds.
        let _ = tokio::task::spawn_blocking(move || conn.pack_blocks(id, tf, &starts)).await;
    });
}

impl StoreHandle {
    /// Shares an open SQLite store: its file gets read-only connections beside it (none for an
    /// in-memory database).
    pub fn sqlite(store: SqliteStore) -> Result<Self, StoreError> {
        let readers = match store.path() {
            Some(path) => {
                let cache = store.block_cache();
                let readers = (0..crate::access::read_slots())
                    .map(|_| SqliteStore::open_reader(&path, cache.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Pool::from(readers))
            }
            None => None,
        };
        Ok(Self(Arc::new(Shared::Sqlite {
            writer: Arc::new(Mutex::new(store)),
            readers,
            packing: Arc::default(),
            read_pool: crate::read_pool::ReadPool::new()?,
        })))
    }

    /// Opens a PostgreSQL store (see [`PgStore::connect_with`]) writing with `rules`: up to
    /// `options.pool_size` connections serve calls at once.
    pub async fn postgres(url: &str, options: PgOptions, rules: FlagRules) -> Result<Self, StoreError> {
        let store = PgStore::connect_with(url, options).await?;
        store.set_flag_rules(rules);
        Ok(Self::from(store))
    }

    /// A private in-memory SQLite store (tests, benchmarks, the demo).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::sqlite(SqliteStore::in_memory()?)
    }

    /// Whether this is a PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        self.pg().is_some()
    }

    /// The PostgreSQL store behind this handle; `None` on SQLite.
    pub fn pg(&self) -> Option<&PgStore> {
        match &*self.0 {
            Shared::Postgres(store) => Some(store),
            Shared::Sqlite { .. } => None,
        }
    }

    /// Sets what counts as a jump or a flat run when writing.
    pub async fn set_flag_rules(&self, rules: FlagRules) -> Result<(), StoreError> {
        match &*self.0 {
            Shared::Sqlite { writer, .. } => writer.lock().await.set_flag_rules(rules),
            Shared::Postgres(store) => store.set_flag_rules(rules),
        }
        Ok(())
    }

    /// Runs a read on a SQLite connection that may read (a reader, else the writer). PostgreSQL
    /// has no blocking connections: there this is an error.
    pub async fn read_with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn BlockingStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &*self.0 {
            Shared::Sqlite {
                readers: Some(readers), ..
            } => {
                let mut conn = readers
                    .get()
                    .await
                    .map_err(|e| StoreError::Config(format!("store pool closed: {e}")))?;
                on_blocking_pool(move || f(&mut *conn)).await
            }
            _ => self.write_with(f).await,
        }
    }

    /// Runs a write (or anything that may write) on the SQLite connection that writes.
    /// PostgreSQL has no blocking connections: there this is an error.
    pub async fn write_with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn BlockingStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &*self.0 {
            Shared::Sqlite { writer, .. } => {
                let mut conn = writer.clone().lock_owned().await;
                on_blocking_pool(move || f(&mut *conn)).await
            }
            Shared::Postgres(_) => Err(StoreError::Config(
                "a blocking store call was made on PostgreSQL, which is async only".into(),
            )),
        }
    }

    /// The work queue as seen by the worker named `owner`, for what only PostgreSQL has; `None`
    /// on SQLite.
    /// Takes the cluster-wide lock of job `name`: on PostgreSQL, `None` while another session
    /// holds it (another process runs that job), a guard releasing it when dropped otherwise; on
    /// SQLite (one service per file) always a guard that holds nothing.
    pub async fn job_lock(&self, name: &str) -> Result<Option<JobLock>, StoreError> {
        match self.pg() {
            Some(pg) => Ok(crate::postgres::queue::job_lock(pg, name)
                .await?
                .map(|l| JobLock { _held: Some(l) })),
            None => Ok(Some(JobLock { _held: None })),
        }
    }

    pub async fn postgres_work_queue(&self, owner: &str) -> Result<Option<PgWorkQueue>, StoreError> {
        Ok(self.pg().map(|pg| pg.work_queue(owner)))
    }
}

/// A job's cluster-wide lock (see [`StoreHandle::job_lock`]), released when dropped.
#[derive(Debug)]
pub struct JobLock {
    _held: Option<crate::postgres::queue::SessionLock>,
}

impl From<PgStore> for StoreHandle {
    fn from(store: PgStore) -> Self {
        Self(Arc::new(Shared::Postgres(store)))
    }
}

/// Awaits `$call` on the PostgreSQL store when this handle is one (returning its outcome);
/// falls through to the SQLite code after it otherwise.
macro_rules! on_postgres {
    ($handle:expr, |$pg:ident| $call:expr) => {
        if let Some($pg) = $handle.pg() {
            return $call.await;
        }
    };
}

impl CandleRead for StoreHandle {
    async fn describe(&self) -> Result<String, StoreError> {
        on_postgres!(self, |pg| pg.describe());
        self.read_with(|s| s.describe()).await
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        on_postgres!(self, |pg| pg.schema_version());
        self.read_with(|s| s.schema_version()).await
    }

    async fn candles(
        &self,
        instrument: &Instrument,
        tf: Timeframe,
        range: TimeRange,
    ) -> Result<Vec<Candle>, StoreError> {
        on_postgres!(self, |pg| pg.candles(instrument, tf, range));
        let instrument = instrument.clone();
        let Shared::Sqlite {
            writer,
            readers: Some(readers),
            packing,
            read_pool,
        } = &*self.0
        else {
            // The writing connection packs missing read-cache blocks itself.
            return self
                .read_with(move |s| s.candles(&instrument, tf, range.start_ms, range.end_ms))
                .await;
        };
        let mut conn = readers
            .get()
            .await
            .map_err(|e| StoreError::Config(format!("store pool closed: {e}")))?;
        let (bars, unpacked) = read_pool
            .run(move || conn.read_candles(&instrument, tf, range.start_ms, range.end_ms))
            .await??;
        if let Some((id, starts)) = unpacked {
            pack_later(writer, packing, id, tf, starts);
        }
        Ok(bars)
    }

    async fn stored_sources(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        range: TimeRange,
    ) -> Result<Vec<(i64, SourceId)>, StoreError> {
        on_postgres!(self, |pg| pg.stored_sources(instrument_id, tf, range));
        self.read_with(move |s| s.stored_sources(instrument_id, tf, range.start_ms, range.end_ms))
            .await
    }

    async fn uncovered(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        range: TimeRange,
    ) -> Result<Vec<TimeRange>, StoreError> {
        on_postgres!(self, |pg| pg.uncovered(instrument_id, tf, source, range));
        let gaps = self
            .read_with(move |s| s.uncovered(instrument_id, tf, source, range.start_ms, range.end_ms))
            .await?;
        Ok(gaps.into_iter().map(TimeRange::from).collect())
    }

    async fn latest_covered(&self, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
        on_postgres!(self, |pg| pg.latest_covered(instrument_id, tf));
        self.read_with(move |s| s.latest_covered(instrument_id, tf)).await
    }

    async fn series_status(&self) -> Result<Vec<SeriesStatus>, StoreError> {
        on_postgres!(self, |pg| pg.series_status());
        self.read_with(|s| s.series_status()).await
    }

    async fn cross_check_summary(&self) -> Result<Vec<CrossCheckSummary>, StoreError> {
        on_postgres!(self, |pg| pg.cross_check_summary());
        self.read_with(|s| s.cross_check_summary()).await
    }

    async fn content_hash(&self) -> Result<String, StoreError> {
        on_postgres!(self, |pg| pg.content_hash());
        self.read_with(|s| s.content_hash()).await
    }

    async fn points(&self, instrument_id: i64, range: TimeRange) -> Result<Vec<MarketPoint>, StoreError> {
        on_postgres!(self, |pg| pg.points(instrument_id, range));
        self.read_with(move |s| s.points(instrument_id, range.start_ms, range.end_ms))
            .await
    }

    async fn freshness(&self) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
        on_postgres!(self, |pg| pg.freshness());
        self.read_with(|s| s.freshness()).await
    }

    async fn flags(&self) -> Result<Vec<FlagRow>, StoreError> {
        on_postgres!(self, |pg| pg.flags());
        self.read_with(|s| s.flags()).await
    }

    async fn rejects(&self) -> Result<Vec<RejectRow>, StoreError> {
        on_postgres!(self, |pg| pg.rejects());
        self.read_with(|s| s.rejects()).await
    }
}

impl CandleWrite for StoreHandle {
    async fn instrument_id(&self, instrument: &Instrument) -> Result<i64, StoreError> {
        on_postgres!(self, |pg| pg.instrument_id(instrument));
        let instrument = instrument.clone();
        self.write_with(move |s| s.instrument_id(&instrument)).await
    }

    async fn write_pages(&self, pages: Vec<OwnedPage>) -> Result<Vec<WriteStats>, StoreError> {
        on_postgres!(self, |pg| pg.write_pages(pages));
        self.write_with(move |s| {
            let pages: Vec<_> = pages.iter().map(OwnedPage::as_write).collect();
            s.write_pages(&pages)
        })
        .await
    }

    async fn write_points(
        &self,
        instrument_id: i64,
        provenance: Provenance,
        points: Vec<MarketPoint>,
    ) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.write_points(instrument_id, provenance, points));
        self.write_with(move |s| s.write_points(instrument_id, provenance, &points))
            .await
    }

    async fn write_notes(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: Vec<(TimeRange, String)>,
    ) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.write_notes(instrument_id, tf, source, notes));
        self.write_with(move |s| {
            let notes: Vec<_> = notes
                .iter()
                .map(|(r, note)| (r.start_ms, r.end_ms, note.as_str()))
                .collect();
            s.write_notes(instrument_id, tf, source, &notes)
        })
        .await
    }
}

impl GapLedger for StoreHandle {
    async fn refresh_gaps(&self, now_ms: i64) -> Result<GapRefresh, StoreError> {
        on_postgres!(self, |pg| pg.refresh_gaps(now_ms));
        self.write_with(move |s| s.refresh_gaps(now_ms)).await
    }

    async fn gaps(&self, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
        on_postgres!(self, |pg| pg.gaps(status, since_ms));
        self.read_with(move |s| s.gaps(status, since_ms)).await
    }

    async fn quality_days(&self, since_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        on_postgres!(self, |pg| pg.quality_days(since_ms));
        self.read_with(move |s| s.quality_days(since_ms)).await
    }

    async fn gap_attempted(&self, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.gap_attempted(gap, unrepairable));
        let gap = gap.clone();
        self.write_with(move |s| s.gap_attempted(&gap, unrepairable)).await
    }

    async fn refresh_quality(&self, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        on_postgres!(self, |pg| pg.refresh_quality(since_ms, now_ms));
        self.write_with(move |s| s.refresh_quality(since_ms, now_ms)).await
    }

    async fn verify_stored_ranges(&self, repair: bool) -> Result<Vec<RangeDrift>, StoreError> {
        on_postgres!(self, |pg| pg.verify_stored_ranges(repair));
        self.write_with(move |s| s.verify_stored_ranges(repair)).await
    }
}

impl UniverseStore for StoreHandle {
    async fn save_assets(&self, assets: Vec<Asset>, at_ms: i64) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.save_assets(assets, at_ms));
        self.write_with(move |s| s.save_assets(&assets, at_ms)).await
    }

    async fn refresh_listings(
        &self,
        venue: Venue,
        market: Market,
        seen: Vec<Listing>,
        at_ms: i64,
    ) -> Result<ListingChanges, StoreError> {
        on_postgres!(self, |pg| pg.refresh_listings(venue, market, seen, at_ms));
        self.write_with(move |s| s.refresh_listings(venue, market, &seen, at_ms))
            .await
    }

    async fn ranked_assets(&self, limit: usize) -> Result<Vec<Asset>, StoreError> {
        on_postgres!(self, |pg| pg.ranked_assets(limit));
        self.read_with(move |s| s.ranked_assets(limit)).await
    }

    async fn listings(&self) -> Result<Vec<KnownListing>, StoreError> {
        on_postgres!(self, |pg| pg.listings());
        self.read_with(|s| s.listings()).await
    }

    async fn cache_get(&self, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
        on_postgres!(self, |pg| pg.cache_get(key, newer_than_ms));
        let key = key.to_owned();
        self.read_with(move |s| s.cache_get(&key, newer_than_ms)).await
    }

    async fn cache_put(&self, key: &str, body: Vec<u8>, at_ms: i64) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.cache_put(key, body, at_ms));
        let key = key.to_owned();
        self.write_with(move |s| s.cache_put(&key, &body, at_ms)).await
    }
}

impl JobLog for StoreHandle {
    async fn job_started(&self, job: &str, args: &str) -> Result<JobId, StoreError> {
        on_postgres!(self, |pg| pg.job_started(job, args));
        let (job, args) = (job.to_owned(), args.to_owned());
        self.write_with(move |s| s.job_started(&job, &args)).await
    }

    async fn job_finished(&self, id: JobId, outcome: JobRecord) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.job_finished(id, outcome));
        self.write_with(move |s| s.job_finished(id, &outcome)).await
    }

    async fn jobs(&self, query: JobQuery) -> Result<Vec<JobRow>, StoreError> {
        on_postgres!(self, |pg| pg.jobs(query));
        self.read_with(move |s| s.jobs(&query)).await
    }

    async fn abandon_running(&self, host: &str) -> Result<u64, StoreError> {
        on_postgres!(self, |pg| pg.abandon_running(host));
        let host = host.to_owned();
        self.write_with(move |s| s.abandon_running(&host)).await
    }
}

impl HealthLog for StoreHandle {
    async fn record_health(&self, sample: HealthSample) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.record_health(sample));
        self.write_with(move |s| s.record_health(&sample)).await
    }

    async fn health_history(&self, range: TimeRange, limit: usize) -> Result<Vec<HealthSample>, StoreError> {
        on_postgres!(self, |pg| pg.health_history(range, limit));
        self.read_with(move |s| s.health_history(range.start_ms, range.end_ms, limit))
            .await
    }
}

impl Retention for StoreHandle {
    async fn prune_job_runs(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        on_postgres!(self, |pg| pg.prune_job_runs(older_than_ms));
        self.write_with(move |s| s.prune_job_runs(older_than_ms)).await
    }

    async fn prune_http_cache(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        on_postgres!(self, |pg| pg.prune_http_cache(older_than_ms));
        self.write_with(move |s| s.prune_http_cache(older_than_ms)).await
    }

    async fn prune_candles(&self, timeframe: Timeframe, older_than_ms: i64) -> Result<u64, StoreError> {
        on_postgres!(self, |pg| pg.prune_candles(timeframe, older_than_ms));
        let cutoff = timeframe.ceil(older_than_ms);
        // As `BlockingStore::prune_candles`, but the writer is taken per series, so the writes
        // waiting for it go between the series instead of after the whole prune.
        self.write_with(move |s| s.set_retention_horizon(timeframe, cutoff))
            .await?;
        let ids = self.read_with(move |s| s.series_before(timeframe, cutoff)).await?;
        let mut pruned = 0;
        for id in ids {
            pruned += self.write_with(move |s| s.prune_series(id, timeframe, cutoff)).await?;
        }
        Ok(pruned)
    }

    async fn retention_horizons(&self) -> Result<Vec<(Timeframe, i64)>, StoreError> {
        on_postgres!(self, |pg| pg.retention_horizons());
        self.read_with(|s| s.retention_horizons()).await
    }

    async fn database_size(&self) -> Result<Option<u64>, StoreError> {
        on_postgres!(self, |pg| pg.database_size());
        // The writer's connection: it knows its file (an in-memory store has only it anyway).
        self.write_with(|s| s.database_size()).await
    }
}

impl IndicatorStore for StoreHandle {
    async fn save_indicators(&self, values: Vec<IndicatorValue>) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.save_indicators(values));
        self.write_with(move |s| s.save_indicators(&values)).await
    }

    async fn indicator_values(&self) -> Result<Vec<IndicatorValue>, StoreError> {
        on_postgres!(self, |pg| pg.indicator_values());
        self.read_with(|s| s.indicator_values()).await
    }
}

impl TableCopy for StoreHandle {
    async fn read_table(
        &self,
        table: &'static TableDef,
        rows: tokio::sync::mpsc::Sender<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        on_postgres!(self, |pg| pg.read_table(table, rows));
        self.read_with(move |s| {
            let mut sent = 0u64;
            let mut open = true;
            s.read_table(table, &mut |row| {
                // The receiver went away: the copy stopped, so the rest is not needed.
                if open && rows.blocking_send(row).is_err() {
                    open = false;
                }
                sent += u64::from(open);
                Ok(())
            })?;
            Ok(sent)
        })
        .await
    }

    async fn append_rows(&self, table: &'static TableDef, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.append_rows(table, rows));
        self.write_with(move |s| s.append_rows(table, &rows)).await
    }

    async fn after_copy(&self) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.after_copy());
        self.write_with(|s| s.after_copy()).await
    }

    async fn copy_marker(&self) -> Result<Option<CopyMarker>, StoreError> {
        on_postgres!(self, |pg| pg.copy_marker());
        self.read_with(|s| s.copy_marker()).await
    }

    async fn set_copy_marker(&self, marker: Option<CopyMarker>) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.set_copy_marker(marker));
        self.write_with(move |s| s.set_copy_marker(marker.as_ref())).await
    }

    async fn empty_for_copy(&self) -> Result<(), StoreError> {
        on_postgres!(self, |pg| pg.empty_for_copy());
        self.write_with(|s| s.empty_for_copy()).await
    }
}
