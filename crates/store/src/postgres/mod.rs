//! The PostgreSQL backend (TimescaleDB when the extension is there): the same tables and meaning
//! as the SQLite file. Bulk writes go through binary `COPY` into a session staging table and one
//! `INSERT … ON CONFLICT`; reads use prepared statements; connections come from a pool.
//!
//! The `postgres` client drives its own small async runtime, which cannot run on a thread that
//! is already driving tokio tasks; calls made from such a thread hop onto a scoped thread (see
//! [`off_runtime`]), so the store works the same from the CLI's async code and from plain threads.

mod blocks;
mod indicators;
mod ledger;
pub mod queue;
mod read;
mod schema;
mod tables;
mod timescale;
mod universe;
mod write;

use std::collections::HashMap;

use candlekeep_core::validate::FlagRules;
use candlekeep_core::{
    Asset, Candle, Instrument, KnownListing, Listing, Market, MarketPoint, Provenance, SourceId, Timeframe, Venue,
};
use postgres::{GenericClient, NoTls, Statement};
use r2d2_postgres::PostgresConnectionManager;

pub use timescale::Timescale;

use crate::model::blocks::BLOCK_READ_BARS;
use crate::{
    BlockingStore, CrossCheckSummary, FlagRow, Gap, GapRefresh, GapStatus, IndicatorValue, JobId, JobRecord, JobRow,
    ListingChanges, PageWrite, QualityDay, RejectRow, SeriesStatus, StoreError, TableDef, Value, WriteStats,
};

pub(crate) type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
pub(crate) type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Runs `f` where the blocking client may block: on this thread, or on a scoped thread when this
/// one is driving a tokio runtime.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Holds a value whose drop talks to the server (a client says goodbye, a pool closes its
/// clients) and drops it where the blocking client may block.
pub(crate) struct DropOffRuntime<T: Send>(Option<T>);

impl<T: Send> DropOffRuntime<T> {
    fn new(value: T) -> Self {
        Self(Some(value))
    }
}

impl<T: Send> std::ops::Deref for DropOffRuntime<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Some(v) => v,
            None => unreachable!("only empty while being dropped"),
        }
    }
}

impl<T: Send> std::ops::DerefMut for DropOffRuntime<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some(v) => v,
            None => unreachable!("only empty while being dropped"),
        }
    }
}

impl<T: Send> Drop for DropOffRuntime<T> {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            off_runtime(move || drop(v));
        }
    }
}

/// A connection of `pool`, blocking until one is free.
pub(crate) fn pooled(pool: &Pool, url: &str) -> Result<Conn, StoreError> {
    pool.get().map_err(|e| StoreError::Connect {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// Prepared statements of one connection, by SQL text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    pub fn get(&mut self, client: &mut impl GenericClient, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

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

pub struct PgStore {
    pool: DropOffRuntime<Pool>,
    conn: DropOffRuntime<Conn>,
    statements: Statements,
    source_ids: HashMap<SourceId, i64>,
    /// Instruments never change id once registered: looked up once per store.
    instrument_ids: HashMap<Instrument, i64>,
    flag_rules: FlagRules,
    /// The URL without its password, for messages.
    url: String,
    timescale_note: Option<String>,
    /// This session's staging table for the write path exists (see `write::prepare_staging`).
    staging: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.url).finish()
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

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and every other place a
/// password can hide in a URL or libpq string masked too (see [`crate::url::redact`]).
pub fn redact(url: &str) -> String {
    crate::url::redact(url)
}

impl PgStore {
    /// Connects with default options and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default())
    }

    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        off_runtime(|| Self::connect_blocking(url, options))
    }

    fn connect_blocking(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let redacted = redact(url);
        let fail = |reason: String| StoreError::Connect {
            url: redacted.clone(),
            reason,
        };
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| fail(e.to_string()))?;
        // One direct attempt first: it fails fast with the server's own reason (refused, bad
        // password, no such database), where the pool would retry until its timeout.
        config.connect(NoTls).map_err(|e| fail(error_chain(&e)))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            // Connections open as they are needed, not all up front.
            .min_idle(Some(1))
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager)
            .map_err(|e| fail(e.to_string()))?;
        let mut conn = pool.get().map_err(|e| fail(e.to_string()))?;
        let timescale_note = schema::open(&mut conn, options.timescale)?;
        write::prepare_session(&mut conn)?;
        Ok(Self {
            pool: DropOffRuntime::new(pool),
            conn: DropOffRuntime::new(conn),
            statements: Statements::default(),
            source_ids: HashMap::new(),
            instrument_ids: HashMap::new(),
            flag_rules: FlagRules::default(),
            url: redacted,
            timescale_note,
            staging: false,
        })
    }

    /// Another store on the same pool (one more connection), e.g. for a second task.
    pub fn another(&self) -> Result<Self, StoreError> {
        let (pool, url) = ((*self.pool).clone(), self.url.clone());
        let conn = off_runtime(move || {
            let mut conn = pool.get().map_err(|e| StoreError::Connect {
                url,
                reason: e.to_string(),
            })?;
            write::prepare_session(&mut conn)?;
            Ok::<_, StoreError>(conn)
        })?;
        Ok(Self {
            pool: DropOffRuntime::new((*self.pool).clone()),
            conn: DropOffRuntime::new(conn),
            statements: Statements::default(),
            source_ids: self.source_ids.clone(),
            instrument_ids: self.instrument_ids.clone(),
            flag_rules: self.flag_rules,
            url: self.url.clone(),
            timescale_note: self.timescale_note.clone(),
            staging: false,
        })
    }

    /// The pool and the (redacted) URL, for work beside this store's own (the work queue).
    pub(crate) fn pool(&self) -> (Pool, String) {
        ((*self.pool).clone(), self.url.clone())
    }

    fn source_id(&mut self, source: SourceId) -> Result<i64, StoreError> {
        if let Some(id) = self.source_ids.get(&source) {
            return Ok(*id);
        }
        // Ids are bit positions of the write path's priority mask: small and dense, so they are
        // assigned here (under a lock) rather than by a sequence that skips values.
        let mut tx = self.conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SOURCES_LOCK])?;
        tx.execute(
            "INSERT INTO sources (id, name) SELECT m + 1, $1 FROM (SELECT COALESCE(MAX(id), 0) AS m FROM sources) x \
             WHERE NOT EXISTS (SELECT 1 FROM sources WHERE name = $1)",
            &[&source.as_str()],
        )?;
        let id: i64 = tx
            .query_one(crate::model::statements::SOURCE_ID_SQL, &[&source.as_str()])?
            .get(0);
        tx.commit()?;
        self.source_ids.insert(source, id);
        Ok(id)
    }

    /// The sources stored rows name, by id. Only reads, so a role that may only read can
    /// decode rows; a name this build does not know is left out (and reported where a row
    /// names it).
    fn source_names(&mut self) -> Result<HashMap<i64, SourceId>, StoreError> {
        let rows = self.conn.query("SELECT id, name FROM sources", &[])?;
        let mut names = HashMap::with_capacity(rows.len());
        for row in rows {
            let (id, name): (i64, String) = (row.get(0), row.get(1));
            if let Some(source) = SourceId::ALL.into_iter().find(|s| s.as_str() == name) {
                self.source_ids.insert(source, id);
                names.insert(id, source);
            }
        }
        Ok(names)
    }

    fn find_instrument(&mut self, i: &Instrument) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.instrument_ids.get(i) {
            return Ok(Some(*id));
        }
        let stmt = self
            .statements
            .get(&mut **self.conn, crate::model::statements::INSTRUMENT_ID_SQL)?;
        let row = self.conn.query_opt(&stmt, &[&i.market.as_str(), &i.base, &i.quote])?;
        let id: Option<i64> = row.map(|r| r.get(0));
        if let Some(id) = id {
            self.instrument_ids.insert(i.clone(), id);
        }
        Ok(id)
    }

    fn register_instrument(&mut self, i: &Instrument) -> Result<i64, StoreError> {
        if let Some(id) = self.find_instrument(i)? {
            return Ok(id);
        }
        let inserted = self.conn.query_opt(
            "INSERT INTO instruments (market, base, quote, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (market, base, quote) DO NOTHING RETURNING id",
            &[&i.market.as_str(), &i.base, &i.quote, &candlekeep_core::time::now_ms()],
        )?;
        match inserted {
            Some(row) => Ok(row.get(0)),
            // Another process registered it between the two statements.
            None => self
                .find_instrument(i)?
                .ok_or_else(|| StoreError::Corrupt(format!("instrument {i} vanished while being registered"))),
        }
    }
}

const SOURCES_LOCK: i64 = 0x4341_4e44_4c45_0002;

impl BlockingStore for PgStore {
    fn as_postgres(&mut self) -> Option<&mut PgStore> {
        Some(self)
    }

    fn describe(&mut self) -> Result<String, StoreError> {
        off_runtime(|| {
            let version: String = self.conn.query_one("SHOW server_version", &[])?.get(0);
            let version = version.split_whitespace().next().unwrap_or("").to_owned();
            let mode = match timescale::read_state(&mut **self.conn)?.hypertable_version() {
                Some(ts) => format!("timescaledb {ts} on postgresql {version} (candles hypertable, compressed chunks)"),
                None => format!("postgresql {version} (plain tables; timescaledb not installed)"),
            };
            Ok(match &self.timescale_note {
                Some(note) => format!("{mode} at {}; {note}", self.url),
                None => format!("{mode} at {}", self.url),
            })
        })
    }

    fn schema_version(&mut self) -> Result<i64, StoreError> {
        off_runtime(|| schema::version(&mut **self.conn))
    }

    fn set_flag_rules(&mut self, rules: FlagRules) {
        self.flag_rules = rules;
    }

    fn instrument_id(&mut self, instrument: &Instrument) -> Result<i64, StoreError> {
        off_runtime(|| self.register_instrument(instrument))
    }

    fn write_pages(&mut self, pages: &[PageWrite<'_>]) -> Result<Vec<WriteStats>, StoreError> {
        off_runtime(|| write::write_pages(self, pages))
    }

    fn uncovered(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        off_runtime(|| read::uncovered(self, instrument_id, tf, source, from, to))
    }

    fn stored_sources(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SourceId)>, StoreError> {
        off_runtime(|| read::stored_sources(self, instrument_id, tf, from, to))
    }

    fn candles(
        &mut self,
        instrument: &Instrument,
        tf: Timeframe,
        from: i64,
        to: i64,
    ) -> Result<Vec<Candle>, StoreError> {
        off_runtime(|| {
            let Some(id) = self.find_instrument(instrument)? else {
                return Ok(Vec::new());
            };
            let span = (to - from) / tf.millis().max(1);
            if span < BLOCK_READ_BARS {
                return read::candles(&mut self.conn, &mut self.statements, id, tf, from, to);
            }
            let now = candlekeep_core::time::now_ms();
            blocks::candles(&mut self.conn, &mut self.statements, id, tf, from, to, now)
        })
    }

    fn latest_covered(&mut self, instrument_id: i64, tf: Timeframe) -> Result<Option<i64>, StoreError> {
        off_runtime(|| read::latest_covered(self, instrument_id, tf))
    }

    fn series_status(&mut self) -> Result<Vec<SeriesStatus>, StoreError> {
        off_runtime(|| read::series_status(&mut self.conn))
    }

    fn cross_check_summary(&mut self) -> Result<Vec<CrossCheckSummary>, StoreError> {
        off_runtime(|| read::cross_checks(&mut self.conn))
    }

    fn content_hash(&mut self) -> Result<String, StoreError> {
        off_runtime(|| read::content_hash(&mut self.conn))
    }

    fn write_points(
        &mut self,
        instrument_id: i64,
        provenance: Provenance,
        points: &[MarketPoint],
    ) -> Result<(), StoreError> {
        off_runtime(|| write::points(self, instrument_id, provenance, points))
    }

    fn write_notes(
        &mut self,
        instrument_id: i64,
        tf: Timeframe,
        source: SourceId,
        notes: &[(i64, i64, &str)],
    ) -> Result<(), StoreError> {
        off_runtime(|| write::notes(&mut self.conn, instrument_id, tf, source, notes))
    }

    fn points(&mut self, instrument_id: i64, from: i64, to: i64) -> Result<Vec<MarketPoint>, StoreError> {
        off_runtime(|| read::points(&mut self.conn, &mut self.statements, instrument_id, from, to))
    }

    fn refresh_gaps(&mut self, now_ms: i64) -> Result<GapRefresh, StoreError> {
        off_runtime(|| ledger::refresh_gaps(&mut self.conn, now_ms))
    }

    fn verify_stored_ranges(&mut self, repair: bool) -> Result<Vec<crate::RangeDrift>, StoreError> {
        off_runtime(|| ledger::verify(&mut self.conn, repair))
    }

    fn gaps(&mut self, status: Option<GapStatus>, since_ms: i64) -> Result<Vec<Gap>, StoreError> {
        off_runtime(|| ledger::list(&mut self.conn, status, since_ms))
    }

    fn gap_attempted(&mut self, gap: &Gap, unrepairable: bool) -> Result<(), StoreError> {
        off_runtime(|| {
            let Some(id) = self.find_instrument(&gap.instrument)? else {
                return Ok(());
            };
            ledger::attempted(&mut self.conn, id, gap, unrepairable)
        })
    }

    fn refresh_quality(&mut self, since_ms: i64, now_ms: i64) -> Result<Vec<QualityDay>, StoreError> {
        off_runtime(|| ledger::refresh_quality(&mut self.conn, since_ms, now_ms))
    }

    fn rejects(&mut self) -> Result<Vec<RejectRow>, StoreError> {
        off_runtime(|| universe::rejects(&mut self.conn))
    }

    fn freshness(&mut self) -> Result<Vec<(Instrument, Timeframe, i64)>, StoreError> {
        off_runtime(|| read::freshness(&mut self.conn))
    }

    fn save_assets(&mut self, assets: &[Asset], at_ms: i64) -> Result<(), StoreError> {
        off_runtime(|| universe::save_assets(&mut self.conn, assets, at_ms))
    }

    fn refresh_listings(
        &mut self,
        venue: Venue,
        market: Market,
        seen: &[Listing],
        at_ms: i64,
    ) -> Result<ListingChanges, StoreError> {
        off_runtime(|| universe::refresh_listings(&mut self.conn, venue, market, seen, at_ms))
    }

    fn ranked_assets(&mut self, limit: usize) -> Result<Vec<Asset>, StoreError> {
        off_runtime(|| universe::ranked_assets(&mut self.conn, limit))
    }

    fn listings(&mut self) -> Result<Vec<KnownListing>, StoreError> {
        off_runtime(|| universe::listings(&mut self.conn))
    }

    fn cache_get(&mut self, key: &str, newer_than_ms: i64) -> Result<Option<Vec<u8>>, StoreError> {
        off_runtime(|| {
            let row = self
                .conn
                .query_opt(crate::model::statements::CACHE_GET_SQL, &[&key, &newer_than_ms])?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn cache_put(&mut self, key: &str, body: &[u8], at_ms: i64) -> Result<(), StoreError> {
        off_runtime(|| {
            self.conn
                .execute(crate::model::statements::CACHE_PUT_SQL, &[&key, &at_ms, &body])?;
            Ok(())
        })
    }

    fn job_started(&mut self, job: &str, args: &str) -> Result<JobId, StoreError> {
        off_runtime(|| universe::job_started(&mut self.conn, job, args))
    }

    fn job_finished(&mut self, id: JobId, outcome: &JobRecord) -> Result<(), StoreError> {
        off_runtime(|| universe::job_finished(&mut self.conn, id, outcome))
    }

    fn recent_jobs(&mut self, limit: usize) -> Result<Vec<JobRow>, StoreError> {
        off_runtime(|| universe::recent_jobs(&mut self.conn, limit))
    }

    fn flags(&mut self) -> Result<Vec<FlagRow>, StoreError> {
        off_runtime(|| universe::flags(&mut self.conn))
    }

    fn save_indicators(&mut self, values: &[IndicatorValue]) -> Result<(), StoreError> {
        off_runtime(|| indicators::save(&mut self.conn, values))
    }

    fn indicator_values(&mut self) -> Result<Vec<IndicatorValue>, StoreError> {
        off_runtime(|| indicators::list(&mut self.conn))
    }

    fn read_table(
        &mut self,
        table: &TableDef,
        sink: &mut (dyn FnMut(Vec<Value>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        off_runtime(|| tables::read(&mut self.conn, table, sink))
    }

    fn append_rows(&mut self, table: &TableDef, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        self.source_ids.clear();
        self.instrument_ids.clear();
        off_runtime(|| tables::append(&mut self.conn, table, rows))
    }

    fn after_copy(&mut self) -> Result<(), StoreError> {
        off_runtime(|| tables::after_copy(&mut self.conn))
    }

    fn copy_marker(&mut self) -> Result<Option<crate::migrate::CopyMarker>, StoreError> {
        off_runtime(|| {
            Ok(self
                .conn
                .query_opt(crate::migrate::READ_MARKER_SQL, &[])?
                .map(|r| crate::migrate::CopyMarker {
                    source: r.get(0),
                    started_at_ms: r.get(1),
                }))
        })
    }

    fn set_copy_marker(&mut self, marker: Option<&crate::migrate::CopyMarker>) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut tx = self.conn.transaction()?;
            tx.execute(crate::migrate::CLEAR_MARKER_SQL, &[])?;
            if let Some(m) = marker {
                tx.execute(crate::migrate::SET_MARKER_SQL, &[&m.source, &m.started_at_ms])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn empty_for_copy(&mut self) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut tx = self.conn.transaction()?;
            for sql in crate::migrate::empty_statements() {
                tx.batch_execute(&sql)?;
            }
            tx.commit()?;
            Ok::<(), StoreError>(())
        })?;
        self.source_ids.clear();
        Ok(())
    }
}
