//! The embedded SQLite backend: one file, WAL mode, every write a single transaction.

mod blocks;
mod candles;
mod coverage;
mod gaps;
mod indicators;
mod jobs;
mod quality;
mod quality_daily;
mod retention;
mod schema;
mod status;
mod tables;
mod universe;

use std::{collections::HashMap, path::Path, sync::Arc};

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, Timeframe, Venue,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::model::blocks::BlockCache;
use crate::model::decode;
use crate::{
    BlockingStore, CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, HealthSample, IndicatorValue, JobId,
    JobQuery, JobRecord, JobRow, ListingChanges, PageWrite, QualityDay, RejectRow, Replace, SeriesStatus, StoreError,
    TableDef, Value, WriteStats,
};

/// The file a `sqlite:PATH` / `sqlite://PATH` URL names; any other form is refused (see
/// [`crate::url::DatabaseUrl`]), so a mistyped URL never becomes the name of a new file.
pub fn path_of(url: &str) -> Result<std::path::PathBuf, StoreError> {
    match crate::url::DatabaseUrl::parse(url) {
        Ok(crate::url::DatabaseUrl::Sqlite(path)) => Ok(path),
        Ok(crate::url::DatabaseUrl::Postgres(_)) => Err(StoreError::Config(format!(
            "{} is a PostgreSQL URL, not an SQLite file",
            crate::url::redact(url)
        ))),
        Err(e) => Err(StoreError::Config(e.to_string())),
    }
}

const DEFAULT_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct SqliteStore {
    conn: Connection,
    /// Opened read-only (see [`Self::open_reader`]): it never packs read-cache blocks itself.
    read_only: bool,
    /// Decoded read-cache blocks, shared with the read-only connections of the same store.
    block_cache: Arc<BlockCache>,
    source_ids: HashMap<SourceId, i64>,
    flag_rules: FlagRules,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conn.path()).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_waiting(path, DEFAULT_BUSY_WAIT)
    }

    /// Opens the file; a write waits up to `busy_wait` for another process's write to finish
    /// before failing with [`StoreError::Busy`]. Writes take the file's write lock when they
    /// start, so two processes writing one file take turns and never corrupt it.
    pub fn open_waiting(path: &Path, busy_wait: std::time::Duration) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + busy_wait;
        loop {
            let conn = Connection::open(path).map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
            conn.busy_timeout(busy_wait)?;
            match Self::setup(conn) {
                // Switching a file that another process is creating to WAL answers "busy" at once,
                // without waiting: wait here instead.
                Err(StoreError::Busy) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// A read-only connection to a store file another connection of this process writes: WAL
    /// lets it read while a write is under way, so reads never wait behind a write. The file must
    /// exist with its schema up to date and every source registered (as [`Self::open`] leaves it).
    pub(crate) fn open_reader(path: &Path, block_cache: Arc<BlockCache>) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.busy_timeout(DEFAULT_BUSY_WAIT)?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn,
            read_only: true,
            block_cache,
            source_ids: HashMap::new(),
            flag_rules: FlagRules::default(),
        })
    }

    /// The decoded read-cache blocks this connection keeps, to share with readers of the same file.
    pub(crate) fn block_cache(&self) -> Arc<BlockCache> {
        self.block_cache.clone()
    }

    /// The file this store lives in; `None` for an in-memory database.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.conn.path().filter(|p| !p.is_empty()).map(std::path::PathBuf::from)
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.busy_timeout(DEFAULT_BUSY_WAIT)?;
        Self::setup(conn)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        // WAL + synchronous=NORMAL: a killed process never loses a committed transaction and never
        // corrupts the file; only a power cut may lose the last commits.
        conn.pragma_update(None, "page_size", 65_536)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The bundled SQLite enforces foreign keys by default, which costs two parent lookups per
        // candle (instrument and source) and a statement journal: 40% of bulk-write throughput.
        // The store is the only writer of these ids, always taking them from `instruments` and
        // `sources`, and never deletes a parent (history is kept forever), so the references are
        // declared for readers and checked on demand by `foreign_key_violations`, not per row.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn,
            read_only: false,
            block_cache: Arc::default(),
            source_ids: HashMap::new(),
            flag_rules: FlagRules::default(),
        })
    }

    /// The candles of one series opening in `[from, to)`; a long read goes through the packed
    /// blocks and also names the closed blocks it found missing (instrument id and block starts),
    /// for the writing connection to pack with [`Self::pack_blocks`].
    #[allow(clippy::type_complexity)]
    pub fn read_candles(
        &mut self,
        instrument: &Instrument,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<(Vec<Candle>, Option<(i64, Vec<i64>)>), StoreError> {
        let Some(id) = self.find_instrument(instrument)? else {
            return Ok((Vec::new(), None));
        };
        if !crate::model::blocks::through_blocks(tf, from, to) {
            return Ok((candles::select(&self.conn, id, tf, from, to)?, None));
        }
        let now = candlekeep_core::time::now_ms();
        let read = crate::model::blocks::BlockRead { id, tf, from, to };
        let (bars, missing) = blocks::read(&self.conn, &self.block_cache, read, now)?;
        Ok((bars, (!missing.is_empty()).then_some((id, missing))))
    }

    /// Packs the read-cache blocks of one series starting at `starts` (closed spans only).
    pub fn pack_blocks(&mut self, instrument_id: i64, tf: Timeframe, starts: &[i64]) -> Result<(), StoreError> {
        blocks::pack(&mut self.conn, instrument_id, tf, starts)
    }

    /// Empties the gap ledger (benchmarks; the next refresh finds every gap anew).
    pub fn clear_gap_ledger(&mut self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM gaps", [])?;
        Ok(())
    }

    /// Rows whose declared references point nowhere (`PRAGMA foreign_key_check`); zero in a
    /// healthy store.
    pub fn foreign_key_violations(&self) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while rows.next()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    fn source_id(&mut self, source: SourceId) -> Result<i64, StoreError> {
        if let Some(id) = self.source_ids.get(&source) {
            return Ok(*id);
        }
        // Looked up before it is registered: registering writes, and most calls find it.
        let find = |conn: &Connection| {
            conn.query_row(crate::model::statements::SOURCE_ID_SQL, [source.as_str()], |r| r.get(0))
                .optional()
        };
        let id = match find(&self.conn)? {
            Some(id) => id,
            None => {
                self.conn
                    .execute("INSERT OR IGNORE INTO sources (name) VALUES (?1)", [source.as_str()])?;
                find(&self.conn)?
                    .ok_or_else(|| StoreError::Corrupt(format!("source {source} vanished while being registered")))?
            }
        };
        self.source_ids.insert(source, id);
        Ok(id)
    }

    /// The sources stored rows name, by id, read afresh (a copy or another process may have
    /// registered sources since). Only reads, so a read-only connection can decode rows; a name
    /// this build does not know is left out (and reported where a row names it).
    fn source_names(&mut self) -> Result<HashMap<i64, SourceId>, StoreError> {
        let mut stmt = self.conn.prepare_cached(crate::model::statements::SOURCE_NAMES_SQL)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut names = HashMap::new();
        for row in rows {
            let (id, name) = row?;
            if let Some(source) = decode::known_source(&name) {
                names.insert(id, source);
            }
        }
        Ok(names)
    }

    fn find_instrument(&self, i: &Instrument) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                crate::model::statements::INSTRUMENT_ID_SQL,
                (i.market.as_str(), &i.base, &i.quote),
                |r| r.get(0),
            )
            .optional()?)
    }
}

impl BlockingStore for SqliteStore {
    fn describe(&mut self) -> Result<String, StoreError> {
        Ok(match self.path() {
            Some(path) => format!("sqlite {}", path.display()),
            None => "sqlite :memory:".to_owned(),
        })
    }

    fn schema_version(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?)
    }

    fn set_flag_rules(&mut self, rules: FlagRules) {
        self.flag_rules = rules;
    }

    fn jobs(&mut self, query: &JobQuery) -> Result<Vec<JobRow>, StoreError> {
        jobs::list(&self.conn, query)
    }

    fn abandon_running(&mut self, host: &str) -> Result<u64, StoreError> {
        jobs::abandon_running(&self.conn, host)
    }

    fn record_health(&mut self, sample: &HealthSample) -> Result<(), StoreError> {
        retention::record_health(&self.conn, sample)
    }

    fn health_history(&mut self, from: i64, to: i64, limit: usize) -> Result<Vec<HealthSample>, StoreError> {
        retention::health_history(&self.conn, from, to, limit)
    }

    fn prune_job_runs(&mut self, before: i64) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .execute(crate::model::statements::PRUNE_JOB_RUNS_SQL, [before])? as u64)
    }

    fn prune_http_cache(&mut self, before: i64) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .execute(crate::model::statements::PRUNE_HTTP_CACHE_SQL, [before])? as u64)
    }

    fn set_retention_horizon(&mut self, tf: Timeframe, cutoff: i64) -> Result<(), StoreError> {
        retention::set_horizon(&self.conn, tf, cutoff)
    }

    fn retention_horizons(&mut self) -> Result<Vec<(Timeframe, i64)>, StoreError> {
        retention::horizons(&self.conn)
    }

    fn series_before(&mut self, tf: Timeframe, cutoff: i64) -> Result<Vec<i64>, StoreError> {
        retention::series_before(&self.conn, tf, cutoff)
    }

    fn prune_series(&mut self, instrument_id: i64, tf: Timeframe, cutoff: i64) -> Result<u64, StoreError> {
        retention::prune_series(&mut self.conn, instrument_id, tf, cutoff)
    }

    fn database_size(&mut self) -> Result<Option<u64>, StoreError> {
        retention::database_size(&self.conn, self.path().as_deref())
    }

    fn flags(&mut self) -> Result<Vec<FlagRow>, StoreError> {
        quality::flags_list(&self.conn)
    }

    fn save_indicators(&mut self, values: &[IndicatorValue]) -> Result<(), StoreError> {
        indicators::save(&mut self.conn, values)
    }

    fn indicator_values(&mut self) -> Result<Vec<IndicatorValue>, StoreError> {
        indicators::list(&self.conn)
    }

    fn read_table(
        &mut self,
        table: &TableDef,
        sink: &mut (dyn FnMut(Vec<Value>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        tables::read(&self.conn, table, sink)
    }

    fn append_rows(&mut self, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tables::append(&tx, table, rows)?;
        tx.commit()?;
        self.source_ids.clear();
        Ok(())
    }

    fn after_copy(&mut self) -> Result<(), StoreError> {
        // Blocks packed while the copy was under way (a reader of the destination) may hold a
        // series half copied: the cache starts again from the copied rows.
        self.conn.execute("DELETE FROM candle_blocks", [])?;
        Ok(())
    }

    fn copy_marker(&mut self) -> Result<Option<crate::migrate::CopyMarker>, StoreError> {
        Ok(self
            .conn
            .query_row(crate::migrate::READ_MARKER_SQL, [], |r| {
                Ok(crate::migrate::CopyMarker {
                    source: r.get(0)?,
                    started_at_ms: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn set_copy_marker(&mut self, marker: Option<&crate::migrate::CopyMarker>) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(crate::migrate::CLEAR_MARKER_SQL, [])?;
        if let Some(m) = marker {
            tx.execute(crate::migrate::SET_MARKER_SQL, (&m.source, m.started_at_ms))?;
        }
        tx.commit()?;
        Ok(())
    }

    fn empty_for_copy(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for sql in crate::migrate::empty_statements() {
            tx.execute(&sql, [])?;
        }
        tx.commit()?;
        self.source_ids.clear();
        Ok(())
    }

    fn instrument_of(&mut self, instrument_id: i64) -> Result<Option<Instrument>, StoreError> {
        let names = self
            .conn
            .query_row(crate::model::statements::INSTRUMENT_OF_SQL, [instrument_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .optional()?;
        names
            .map(|(market, base, quote)| decode::instrument(&market, &base, &quote))
            .transpose()
    }

    fn instrument_id(&mut self, i: &Instrument) -> Result<i64, StoreError> {
        if let Some(id) = self.find_instrument(i)? {
            return Ok(id);
        }
        // Another process may register it between the lookup and the insert.
        self.conn.execute(
            "INSERT INTO instruments (market, base, quote, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (market, base, quote) DO NOTHING",
            (i.market.as_str(), &i.base, &i.quote, candlekeep_core::time::now_ms()),
        )?;
        self.find_instrument(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("instrument {i} vanished while being registered")))
    }

    fn write_pages(&mut self, pages: &[PageWrite<'_>]) -> Result<Vec<WriteStats>, StoreError> {
        let mut ids = Vec::with_capacity(pages.len());
        for p in pages {
            let mask = match p.replace {
                Replace::Any => -1,
                Replace::Outranked(sources) => {
                    let mut mask = 1i64 << self.source_id(p.provenance.source)?;
                    for s in sources {
                        mask |= 1i64 << self.source_id(*s)?;
                    }
                    mask
                }
            };
            ids.push((self.source_id(p.provenance.source)?, mask));
        }
        let now = candlekeep_core::time::now_ms();
        let flag_rules = self.flag_rules;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stats = Vec::with_capacity(pages.len());
        for (p, (source_id, replace_mask)) in pages.iter().zip(ids) {
            let (id, tf) = (p.instrument_id, p.timeframe);
            let shared = candles::Shared {
                instrument_id: id,
                timeframe: tf.as_str(),
                source_id,
                fetched_at_ms: p.provenance.fetched_at_ms,
                replace_mask,
            };
            let (valid, mut rejected) = crate::model::pages::split(p.candles, tf, now);
            let neighbours = match crate::model::pages::span(&valid) {
                Some((lo, hi)) => candles::neighbours(&tx, id, tf, lo, hi)?,
                None => Vec::new(),
            };
            let valid = crate::model::pages::screen_moves(valid, &neighbours, flag_rules.max_move_ratio, &mut rejected);
            quality::quarantine(&tx, shared, &rejected)?;
            let (mut st, fresh) = candles::upsert(&tx, shared, &valid)?;
            st.rejected = rejected.len() as u64;
            st.flagged = quality::flag(&tx, shared, tf, &valid, fresh, flag_rules)?;
            coverage::add_stored(&tx, id, tf, valid.iter().map(|c| c.open_time_ms))?;
            if let Some((lo, hi)) = crate::model::pages::span(&valid) {
                blocks::invalidate(&tx, id, tf, lo, hi)?;
            }
            stats.push(st);
            if let Some((start, end)) = p.covered {
                coverage::add(&tx, id, tf, p.provenance.source.as_str(), start, end)?;
            }
        }
        tx.commit()?;
        Ok(stats)
    }

    fn uncovered(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        coverage::uncovered(&self.conn, instrument_id, tf, source.as_str(), from, to)
    }

    fn stored_sources(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SourceId)>, StoreError> {
        let names = self.source_names()?;
        let mut stmt = self.conn.prepare_cached(crate::model::statements::STORED_SOURCES_SQL)?;
        let rows = stmt.query_map((instrument_id, tf.as_str(), from, to), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, id) = row?;
            out.push((t, decode::source(&names, id, t)?));
        }
        Ok(out)
    }

    fn cross_check_summary(&mut self) -> Result<Vec<CrossCheckSummary>, StoreError> {
        status::cross_checks(&self.conn)
    }

    fn candles(
        &mut self,
        instrument: &Instrument,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<Candle>, StoreError> {
        let (bars, unpacked) = self.read_candles(instrument, tf, from, to)?;
        if let Some((id, starts)) = unpacked.filter(|_| !self.read_only) {
            blocks::pack(&mut self.conn, id, tf, &starts)?;
        }
        Ok(bars)
    }

    fn latest_covered(&mut self, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
        coverage::latest(&self.conn, instrument_id, tf)
    }

    fn series_status(&mut self) -> Result<Vec<SeriesStatus>, StoreError> {
        status::series(&self.conn)
    }

    fn content_hash(&mut self) -> Result<String, StoreError> {
        status::content_hash(&self.conn)
    }

    fn write_points(
        &mut self,
        instrument_id: i64,
        provenance: Provenance,
        points: &[MarketPoint],
    ) -> Result<(), StoreError> {
        let source_id = self.source_id(provenance.source)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO market_points (instrument_id, source_id, at_ms, price, market_cap, volume_24h, \
                 fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in points {
                stmt.execute((
                    instrument_id,
                    source_id,
                    p.at_ms,
                    p.price,
                    p.market_cap,
                    p.volume_24h,
                    provenance.fetched_at_ms,
                ))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn write_notes(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: &[(i64, i64, &str)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO coverage_notes (instrument_id, timeframe, source, start_ms, end_ms, note) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (a, b, note) in notes {
                stmt.execute((instrument_id, tf.as_str(), source.as_str(), a, b, note))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn points(&mut self, instrument_id: i64, from: i64, to: i64) -> Result<Vec<MarketPoint>, StoreError> {
        let mut stmt = self.conn.prepare_cached(crate::model::statements::POINTS_SQL)?;
        let rows = stmt.query_map((instrument_id, from, to), |r| {
            Ok(MarketPoint {
                at_ms: r.get(0)?,
                price: r.get(1)?,
                market_cap: r.get(2)?,
                volume_24h: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn refresh_gaps(&mut self, now_ms: i64) -> Result<GapRefresh, StoreError> {
        gaps::refresh(&mut self.conn, now_ms)
    }

    fn verify_stored_ranges(&mut self, repair: bool) -> Result<Vec<crate::RangeDrift>, StoreError> {
        gaps::verify(&mut self.conn, repair)
    }

    fn gaps(&mut self, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
        gaps::list(&self.conn, status, since_ms)
    }

    fn quality_days(&mut self, since_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        quality_daily::stored(&self.conn, since_ms)
    }

    fn gap_attempted(&mut self, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
        let Some(id) = self.find_instrument(&gap.instrument)? else {
            return Ok(());
        };
        gaps::attempted(&self.conn, id, gap, unrepairable, candlekeep_core::time::now_ms())
    }

    fn refresh_quality(&mut self, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        quality_daily::refresh(&mut self.conn, since_ms, now_ms)
    }

    fn rejects(&mut self) -> Result<Vec<RejectRow>, StoreError> {
        quality::rejects(&self.conn)
    }

    fn freshness(&mut self) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
        status::freshness(&self.conn)
    }

    fn save_assets(&mut self, assets: &[Asset], at_ms: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        universe::save_assets(&tx, assets, at_ms)?;
        tx.commit()?;
        Ok(())
    }

    fn refresh_listings(
        &mut self,
        venue: Venue,
        market: Market,
        seen: &[Listing],
        at_ms: i64,
    ) -> Result<ListingChanges, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seen = crate::model::listings::Seen {
            venue,
            market,
            listings: seen,
            at_ms,
        };
        let changes = universe::refresh(&tx, seen)?;
        tx.commit()?;
        Ok(changes)
    }

    fn ranked_assets(&mut self, limit: usize) -> Result<Vec<Asset>, StoreError> {
        universe::ranked_assets(&self.conn, limit)
    }

    fn listings(&mut self) -> Result<Vec<KnownListing>, StoreError> {
        universe::listings(&self.conn)
    }

    fn cache_get(&mut self, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
        universe::cache_get(&self.conn, key, newer_than_ms)
    }

    fn cache_put(&mut self, key: &str, body: &[u8], at_ms: i64) -> Result<(), StoreError> {
        universe::cache_put(&self.conn, key, body, at_ms)
    }

    fn job_started(&mut self, job: &str, args: &str) -> Result<JobId, StoreError> {
        jobs::started(&self.conn, job, args)
    }

    fn job_finished(&mut self, id: JobId, outcome: &JobRecord) -> Result<(), StoreError> {
        jobs::finished(&self.conn, id, outcome)
    }
}
