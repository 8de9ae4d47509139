//! The PostgreSQL backend (TimescaleDB when the extension is there): the same tables and meaning
//! as the SQLite file, natively async on `tokio-postgres`. Bulk writes go through binary `COPY`
//! into a session staging table and one `INSERT … ON CONFLICT`; reads use prepared statements;
//! connections come from a `deadpool-postgres` pool.
//!
//! [`PgStore`] is a cheap, cloneable handle: clones share the pool and the id caches. Every call
//! takes one pooled connection for its duration, so concurrent tasks use different connections
//! and never wait for each other's calls. What belongs to one connection (its session settings,
//! its prepared statements, its staging table) lives with that connection: the settings are made
//! by the pool's `post_create` hook, statements are prepared once per connection through
//! deadpool-postgres's statement cache, and the staging table is created by a connection's first
//! write (see `write::prepare_staging`).

mod blocks;
mod indicators;
mod ledger;
pub mod queue;
mod read;
mod retention;
mod schema;
mod tables;
mod timescale;
mod universe;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, TimeRange, Timeframe,
    Venue,
};
use deadpool_postgres::{GenericClient, Hook, HookError, Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use queue::PgWorkQueue;
pub use timescale::Timescale;

use crate::access::{
    CandleRead, CandleWrite, GapLedger, HealthLog, IndicatorStore, JobLog, OwnedPage, Retention, TableCopy,
    UniverseStore,
};
use crate::migrate::CopyMarker;
use crate::model::blocks::through_blocks;
use crate::{
    CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, HealthSample, IndicatorValue, JobId, JobQuery, JobRecord,
    JobRow, ListingChanges, QualityDay, RangeDrift, RejectRow, SeriesStatus, StoreError, TableDef, Value, WriteStats,
};

/// One pooled connection: a `tokio_postgres::Client` with its per-connection statement cache.
pub(crate) type Conn = deadpool_postgres::Object;

/// How long opening one new connection may take before the call needing it fails.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// Connections the pool may open.
    pub pool_size: u32,
    pub timescale: Timescale,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            timescale: Timescale::default(),
        }
    }
}

/// An open PostgreSQL store (see the module docs). Cloning is cheap.
#[derive(Clone)]
pub struct PgStore(Arc<Inner>);

struct Inner {
    pool: deadpool_postgres::Pool,
    /// The URL without its password, for messages.
    url: String,
    timescale_note: Option<String>,
    /// Source ids never change once assigned. The locks are held for a lookup or an insert,
    /// never across a call to the server.
    source_ids: RwLock<HashMap<SourceId, i64>>,
    /// Instruments never change id once registered: looked up once per store.
    instrument_ids: RwLock<HashMap<Instrument, i64>>,
    flag_rules: RwLock<FlagRules>,
    /// Decoded read-cache blocks, shared by every connection (see `model::blocks::BlockCache`).
    block_cache: crate::model::blocks::BlockCache,
    /// Turns of long candle reads (see `access::read_slots`).
    read_slots: tokio::sync::Semaphore,
    /// Where long reads copy their bars out of the blocks (see `read_pool`).
    read_pool: crate::read_pool::ReadPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.0.url).finish()
    }
}

/// An error and its causes on one line ("error connecting to server: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        cause = c.source();
    }
    out
}

/// Why the pool could not hand out a connection, as [`StoreError::Connect`] naming the
/// (redacted) URL; the server's own reason when it gave one.
fn pool_error(url: &str, e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    let reason = match e {
        PoolError::Backend(e) => error_chain(&e),
        PoolError::PostCreateHook(HookError::Backend(e)) => error_chain(&e),
        other => other.to_string(),
    };
    StoreError::Connect {
        url: url.to_owned(),
        reason,
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and every other place a
/// password can hide in a URL or libpq string masked too (see [`crate::url::redact`]).
pub fn redact(url: &str) -> String {
    crate::url::redact(url)
}

/// Reads a lock's value even if a panicking thread held it: the maps only ever gain entries
/// that are true, so whatever is in them is still right.
fn read<T, R>(lock: &RwLock<T>, f: impl FnOnce(&T) -> R) -> R {
    f(&lock.read().unwrap_or_else(PoisonError::into_inner))
}

fn write<T, R>(lock: &RwLock<T>, f: impl FnOnce(&mut T) -> R) -> R {
    f(&mut lock.write().unwrap_or_else(PoisonError::into_inner))
}

impl PgStore {
    /// Connects with default options and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects, brings the schema (and the TimescaleDB setup) up to date, and checks that a
    /// connection can be had: a wrong password, an unreachable server or a missing database fails
    /// here with the server's own reason.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let redacted = redact(url);
        let fail = |reason: String| StoreError::Connect {
            url: redacted.clone(),
            reason,
        };
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| fail(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A pooled connection keeps its session (prepared statements, staging table):
                // only checked to be open when it is handed out again.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(options.pool_size.max(1) as usize)
            .runtime(Runtime::Tokio1)
            // Connections open as they are needed, not all up front; a call waits for a free one
            // as long as it takes, but opening one that does not answer fails.
            .create_timeout(Some(CONNECT_TIMEOUT))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move { write::prepare_session(client).await.map_err(HookError::Backend) })
            }))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut conn = pool.get().await.map_err(|e| pool_error(&redacted, e))?;
        let timescale_note = schema::open(&mut conn, options.timescale).await?;
        Ok(Self(Arc::new(Inner {
            pool,
            url: redacted,
            timescale_note,
            source_ids: RwLock::new(HashMap::new()),
            instrument_ids: RwLock::new(HashMap::new()),
            flag_rules: RwLock::new(FlagRules::default()),
            block_cache: crate::model::blocks::BlockCache::default(),
            read_slots: tokio::sync::Semaphore::new(crate::access::read_slots()),
            read_pool: crate::read_pool::ReadPool::new()?,
        })))
    }

    /// A connection of the pool, waiting (asynchronously) until one is free.
    pub(crate) async fn conn(&self) -> Result<Conn, StoreError> {
        self.0.pool.get().await.map_err(|e| pool_error(&self.0.url, e))
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Connections the pool may open.
    pub fn pool_size(&self) -> usize {
        self.0.pool.status().max_size
    }

    /// Sets what counts as a jump or a flat run when writing, for every clone.
    pub fn set_flag_rules(&self, rules: FlagRules) {
        write(&self.0.flag_rules, |r| *r = rules);
    }

    fn flag_rules(&self) -> FlagRules {
        read(&self.0.flag_rules, |r| *r)
    }

    fn cached_source(&self, source: SourceId) -> Option<i64> {
        read(&self.0.source_ids, |m| m.get(&source).copied())
    }

    async fn source_id(&self, conn: &mut Conn, source: SourceId) -> Result<i64, StoreError> {
        if let Some(id) = self.cached_source(source) {
            return Ok(id);
        }
        // Ids are bit positions of the write path's priority mask: small and dense, so they are
        // assigned here (under a lock) rather than by a sequence that skips values.
        let tx = conn.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SOURCES_LOCK]).await?;
        tx.execute(
            "INSERT INTO sources (id, name) SELECT m + 1, $1 FROM (SELECT COALESCE(MAX(id), 0) AS m FROM sources) x \
             WHERE NOT EXISTS (SELECT 1 FROM sources WHERE name = $1)",
            &[&source.as_str()],
        )
        .await?;
        let id: i64 = tx
            .query_one(crate::model::statements::SOURCE_ID_SQL, &[&source.as_str()])
            .await?
            .get(0);
        tx.commit().await?;
        write(&self.0.source_ids, |m| m.insert(source, id));
        Ok(id)
    }

    /// The sources stored rows name, by id. Only reads, so a role that may only read can
    /// decode rows; a name this build does not know is left out (and reported where a row
    /// names it).
    async fn source_names(&self, conn: &Conn) -> Result<HashMap<i64, SourceId>, StoreError> {
        let rows = conn.query("SELECT id, name FROM sources", &[]).await?;
        let mut names = HashMap::with_capacity(rows.len());
        for row in rows {
            let (id, name): (i64, String) = (row.get(0), row.get(1));
            if let Some(source) = SourceId::ALL.into_iter().find(|s| s.as_str() == name) {
                names.insert(id, source);
            }
        }
        write(&self.0.source_ids, |m| m.extend(names.iter().map(|(id, s)| (*s, *id))));
        Ok(names)
    }

    async fn find_instrument(&self, conn: &Conn, i: &Instrument) -> Result<Option<i64>, StoreError> {
        if let Some(id) = read(&self.0.instrument_ids, |m| m.get(i).copied()) {
            return Ok(Some(id));
        }
        let stmt = conn.prepare_cached(crate::model::statements::INSTRUMENT_ID_SQL).await?;
        let row = conn.query_opt(&stmt, &[&i.market.as_str(), &i.base, &i.quote]).await?;
        let id: Option<i64> = row.map(|r| r.get(0));
        if let Some(id) = id {
            write(&self.0.instrument_ids, |m| m.insert(i.clone(), id));
        }
        Ok(id)
    }

    async fn register_instrument(&self, conn: &Conn, i: &Instrument) -> Result<i64, StoreError> {
        if let Some(id) = self.find_instrument(conn, i).await? {
            return Ok(id);
        }
        let inserted = conn
            .query_opt(
                "INSERT INTO instruments (market, base, quote, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (market, base, quote) DO NOTHING RETURNING id",
                &[&i.market.as_str(), &i.base, &i.quote, &candlekeep_core::time::now_ms()],
            )
            .await?;
        match inserted {
            Some(row) => Ok(row.get(0)),
            // Another process registered it between the two statements.
            None => self
                .find_instrument(conn, i)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("instrument {i} vanished while being registered"))),
        }
    }

    /// Forgets the cached ids, in every clone: a whole-store copy (or emptying one) rewrites the
    /// tables they come from.
    fn forget_ids(&self) {
        write(&self.0.source_ids, HashMap::clear);
        write(&self.0.instrument_ids, HashMap::clear);
        self.0.block_cache.forget_all();
    }

    /// The work queue, as seen by the worker named `owner` (see [`queue`]).
    pub fn work_queue(&self, owner: &str) -> PgWorkQueue {
        PgWorkQueue::new(self.clone(), owner)
    }
}

const SOURCES_LOCK: i64 = 0x4341_4e44_4c45_0002;

impl CandleRead for PgStore {
    async fn describe(&self) -> Result<String, StoreError> {
        let conn = self.conn().await?;
        let version: String = conn.query_one("SHOW server_version", &[]).await?.get(0);
        let version = version.split_whitespace().next().unwrap_or("").to_owned();
        let mode = match timescale::read_state(&conn).await?.hypertable_version() {
            Some(ts) => format!("timescaledb {ts} on postgresql {version} (candles hypertable, compressed chunks)"),
            None => format!("postgresql {version} (plain tables; timescaledb not installed)"),
        };
        Ok(match &self.0.timescale_note {
            Some(note) => format!("{mode} at {}; {note}", self.0.url),
            None => format!("{mode} at {}", self.0.url),
        })
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.conn().await?;
        schema::version(&conn).await
    }

    async fn candles(
        &self,
        instrument: &Instrument,
        tf: Timeframe,
        range: TimeRange,
    ) -> Result<Vec<Candle>, StoreError> {
        // Its turn first, then a connection: a read waiting its turn holds neither.
        let _turn = self
            .0
            .read_slots
            .acquire()
            .await
            .map_err(|e| StoreError::Config(format!("the store is closing: {e}")))?;
        let mut conn = self.conn().await?;
        let Some(id) = self.find_instrument(&conn, instrument).await? else {
            return Ok(Vec::new());
        };
        let (from, to) = range.as_pair();
        if !through_blocks(tf, from, to) {
            return read::candles(&conn, id, tf, from, to).await;
        }
        let now = candlekeep_core::time::now_ms();
        let read = crate::model::blocks::BlockRead { id, tf, from, to };
        blocks::candles(&mut conn, &self.0.block_cache, &self.0.read_pool, read, now).await
    }

    async fn stored_sources(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        range: TimeRange,
    ) -> Result<Vec<(i64, SourceId)>, StoreError> {
        let conn = self.conn().await?;
        let names = self.source_names(&conn).await?;
        read::stored_sources(&conn, &names, instrument_id, tf, range.start_ms, range.end_ms).await
    }

    async fn uncovered(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        range: TimeRange,
    ) -> Result<Vec<TimeRange>, StoreError> {
        let conn = self.conn().await?;
        let gaps = read::uncovered(&conn, instrument_id, tf, source, range.start_ms, range.end_ms).await?;
        Ok(gaps.into_iter().map(TimeRange::from).collect())
    }

    async fn latest_covered(&self, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
        let conn = self.conn().await?;
        read::latest_covered(&conn, instrument_id, tf).await
    }

    async fn series_status(&self) -> Result<Vec<SeriesStatus>, StoreError> {
        read::series_status(&self.conn().await?).await
    }

    async fn cross_check_summary(&self) -> Result<Vec<CrossCheckSummary>, StoreError> {
        read::cross_checks(&self.conn().await?).await
    }

    async fn content_hash(&self) -> Result<String, StoreError> {
        read::content_hash(&self.conn().await?).await
    }

    async fn points(&self, instrument_id: i64, range: TimeRange) -> Result<Vec<MarketPoint>, StoreError> {
        read::points(&self.conn().await?, instrument_id, range.start_ms, range.end_ms).await
    }

    async fn freshness(&self) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
        read::freshness(&self.conn().await?).await
    }

    async fn flags(&self) -> Result<Vec<FlagRow>, StoreError> {
        universe::flags(&self.conn().await?).await
    }

    async fn rejects(&self) -> Result<Vec<RejectRow>, StoreError> {
        universe::rejects(&self.conn().await?).await
    }
}

/// Forgets the read cache's trust in some series when dropped (see `PgStore::write_pages`).
struct ForgetOnDrop<'a> {
    cache: &'a crate::model::blocks::BlockCache,
    series: Vec<(i64, Timeframe)>,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        for &(id, tf) in &self.series {
            self.cache.forget(id, tf);
        }
    }
}

impl CandleWrite for PgStore {
    async fn instrument_id(&self, instrument: &Instrument) -> Result<i64, StoreError> {
        let conn = self.conn().await?;
        self.register_instrument(&conn, instrument).await
    }

    async fn write_pages(&self, pages: Vec<OwnedPage>) -> Result<Vec<WriteStats>, StoreError> {
        // Whether the write commits, fails or is dropped half way (its COMMIT may have gone out):
        // the next reads of these series ask the database again.
        let _forget = ForgetOnDrop {
            cache: &self.0.block_cache,
            series: pages.iter().map(|p| (p.instrument_id, p.timeframe)).collect(),
        };
        write::write_pages(self, &pages.iter().map(OwnedPage::as_write).collect::<Vec<_>>()).await
    }

    async fn write_points(
        &self,
        instrument_id: i64,
        provenance: Provenance,
        points: Vec<MarketPoint>,
    ) -> Result<(), StoreError> {
        write::points(self, instrument_id, provenance, &points).await
    }

    async fn write_notes(
        &self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: Vec<(TimeRange, String)>,
    ) -> Result<(), StoreError> {
        let notes: Vec<_> = notes
            .iter()
            .map(|(r, note)| (r.start_ms, r.end_ms, note.as_str()))
            .collect();
        let mut conn = self.conn().await?;
        write::notes(&mut conn, instrument_id, tf, source, &notes).await
    }
}

impl GapLedger for PgStore {
    async fn refresh_gaps(&self, now_ms: i64) -> Result<GapRefresh, StoreError> {
        ledger::refresh_gaps(&mut self.conn().await?, now_ms).await
    }

    async fn gaps(&self, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
        ledger::list(&self.conn().await?, status, since_ms).await
    }

    async fn quality_days(&self, since_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        ledger::quality_days(&self.conn().await?, since_ms).await
    }

    async fn gap_attempted(&self, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let Some(id) = self.find_instrument(&conn, &gap.instrument).await? else {
            return Ok(());
        };
        ledger::attempted(&conn, id, gap, unrepairable).await
    }

    async fn refresh_quality(&self, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        ledger::refresh_quality(&mut self.conn().await?, since_ms, now_ms).await
    }

    async fn verify_stored_ranges(&self, repair: bool) -> Result<Vec<RangeDrift>, StoreError> {
        let drift = ledger::verify(&mut self.conn().await?, repair).await;
        if repair {
            self.0.block_cache.forget_all();
        }
        drift
    }
}

impl UniverseStore for PgStore {
    async fn save_assets(&self, assets: Vec<Asset>, at_ms: i64) -> Result<(), StoreError> {
        universe::save_assets(&mut self.conn().await?, &assets, at_ms).await
    }

    async fn refresh_listings(
        &self,
        venue: Venue,
        market: Market,
        seen: Vec<Listing>,
        at_ms: i64,
    ) -> Result<ListingChanges, StoreError> {
        let seen = crate::model::listings::Seen {
            venue,
            market,
            listings: &seen,
            at_ms,
        };
        universe::refresh_listings(&mut self.conn().await?, seen).await
    }

    async fn ranked_assets(&self, limit: usize) -> Result<Vec<Asset>, StoreError> {
        universe::ranked_assets(&self.conn().await?, limit).await
    }

    async fn listings(&self) -> Result<Vec<KnownListing>, StoreError> {
        universe::listings(&self.conn().await?).await
    }

    async fn cache_get(&self, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(crate::model::statements::CACHE_GET_SQL, &[&key, &newer_than_ms])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn cache_put(&self, key: &str, body: Vec<u8>, at_ms: i64) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        conn.execute(crate::model::statements::CACHE_PUT_SQL, &[&key, &at_ms, &body])
            .await?;
        Ok(())
    }
}

impl JobLog for PgStore {
    async fn job_started(&self, job: &str, args: &str) -> Result<JobId, StoreError> {
        universe::job_started(&self.conn().await?, job, args).await
    }

    async fn job_finished(&self, id: JobId, outcome: JobRecord) -> Result<(), StoreError> {
        universe::job_finished(&self.conn().await?, id, &outcome).await
    }

    async fn jobs(&self, query: JobQuery) -> Result<Vec<JobRow>, StoreError> {
        universe::jobs(&self.conn().await?, &query).await
    }

    async fn abandon_running(&self, host: &str) -> Result<u64, StoreError> {
        universe::abandon_running(&self.conn().await?, host).await
    }
}

impl HealthLog for PgStore {
    async fn record_health(&self, sample: HealthSample) -> Result<(), StoreError> {
        retention::record_health(&self.conn().await?, &sample).await
    }

    async fn health_history(&self, range: TimeRange, limit: usize) -> Result<Vec<HealthSample>, StoreError> {
        retention::health_history(&self.conn().await?, range.start_ms, range.end_ms, limit).await
    }
}

impl Retention for PgStore {
    async fn prune_job_runs(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        Ok(conn
            .execute(crate::model::statements::PRUNE_JOB_RUNS_SQL, &[&older_than_ms])
            .await?)
    }

    async fn prune_http_cache(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        Ok(conn
            .execute(crate::model::statements::PRUNE_HTTP_CACHE_SQL, &[&older_than_ms])
            .await?)
    }

    async fn prune_candles(&self, timeframe: Timeframe, older_than_ms: i64) -> Result<u64, StoreError> {
        let cutoff = timeframe.ceil(older_than_ms);
        let mut conn = self.conn().await?;
        // The horizon first: a prune that stops half way leaves hours not yet pruned that the
        // ledger no longer judges, never pruned hours reported missing.
        retention::set_horizon(&conn, timeframe, cutoff).await?;
        let mut pruned = 0;
        for id in retention::series_before(&conn, timeframe, cutoff).await? {
            // However the series' transaction ends, this process's reads of it ask again.
            let _forget = ForgetOnDrop {
                cache: &self.0.block_cache,
                series: vec![(id, timeframe)],
            };
            pruned += retention::prune_series(&mut conn, id, timeframe, cutoff).await?;
        }
        Ok(pruned)
    }

    async fn retention_horizons(&self) -> Result<Vec<(Timeframe, i64)>, StoreError> {
        retention::horizons(&self.conn().await?).await
    }

    async fn database_size(&self) -> Result<Option<u64>, StoreError> {
        retention::database_size(&self.conn().await?).await
    }
}

impl IndicatorStore for PgStore {
    async fn save_indicators(&self, values: Vec<IndicatorValue>) -> Result<(), StoreError> {
        indicators::save(&mut self.conn().await?, &values).await
    }

    async fn indicator_values(&self) -> Result<Vec<IndicatorValue>, StoreError> {
        indicators::list(&self.conn().await?).await
    }
}

impl TableCopy for PgStore {
    async fn read_table(
        &self,
        table: &'static TableDef,
        rows: tokio::sync::mpsc::Sender<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        tables::read(&self.conn().await?, table, rows).await
    }

    async fn append_rows(&self, table: &'static TableDef, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        self.forget_ids();
        tables::append(&mut self.conn().await?, table, &rows).await
    }

    async fn after_copy(&self) -> Result<(), StoreError> {
        tables::after_copy(&self.conn().await?).await
    }

    async fn copy_marker(&self) -> Result<Option<CopyMarker>, StoreError> {
        let conn = self.conn().await?;
        Ok(conn
            .query_opt(crate::migrate::READ_MARKER_SQL, &[])
            .await?
            .map(|r| CopyMarker {
                source: r.get(0),
                started_at_ms: r.get(1),
            }))
    }

    async fn set_copy_marker(&self, marker: Option<CopyMarker>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute(crate::migrate::CLEAR_MARKER_SQL, &[]).await?;
        if let Some(m) = &marker {
            tx.execute(crate::migrate::SET_MARKER_SQL, &[&m.source, &m.started_at_ms])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn empty_for_copy(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        for sql in crate::migrate::empty_statements() {
            tx.batch_execute(&sql).await?;
        }
        tx.commit().await?;
        self.forget_ids();
        Ok(())
    }
}
