//! PostgreSQL schema and forward migrations: the same tables and meaning as the SQLite file,
//! plus the work queue several workers share. With the `timescaledb` extension available the
//! candles table becomes a hypertable whose older chunks are compressed (see [`super::timescale`]).
//!
//! Opening a store only reads when the schema and the TimescaleDB setup are as wanted, so a role
//! that may only read (or a standby) can open it; anything to change is done under one advisory
//! lock, by one process at a time, after reading the state again under that lock.
//!
//! Text columns use the "C" collation, so key order (and with it every hash and listing) is
//! bytewise, as in SQLite, whatever the database's locale.

use deadpool_postgres::GenericClient;

use super::Conn;
use super::timescale::{self, Timescale};
use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: every table of SQLite schema version 4.
    r#"
    CREATE TABLE sources (
        id   BIGINT PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE
    );
    CREATE TABLE instruments (
        id          BIGSERIAL PRIMARY KEY,
        market      TEXT COLLATE "C" NOT NULL,
        base        TEXT COLLATE "C" NOT NULL,
        quote       TEXT COLLATE "C" NOT NULL,
        created_at  BIGINT NOT NULL,
        UNIQUE (market, base, quote)
    );
    -- No foreign keys on the bulk tables: as in SQLite, the store is the only writer of these ids,
    -- always taking them from `instruments` and `sources`, and never deletes a parent; a per-row
    -- reference check would cost a third of the ingest rate.
    CREATE TABLE candles (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        open_time     BIGINT NOT NULL,
        open          DOUBLE PRECISION NOT NULL,
        high          DOUBLE PRECISION NOT NULL,
        low           DOUBLE PRECISION NOT NULL,
        close         DOUBLE PRECISION NOT NULL,
        volume        DOUBLE PRECISION,
        quote_volume  DOUBLE PRECISION,
        trades        BIGINT,
        source_id     BIGINT NOT NULL,
        fetched_at    BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time)
    );
    CREATE VIEW candles_named AS
        SELECT i.market, i.base || i.quote AS symbol, c.timeframe, c.open_time, c.open, c.high, c.low,
               c.close, c.volume, c.quote_volume, c.trades, s.name AS source, c.fetched_at
          FROM candles c JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id;
    CREATE TABLE covered_ranges (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        source        TEXT COLLATE "C" NOT NULL,
        start_ms      BIGINT NOT NULL,
        end_ms        BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, source, start_ms)
    );
    CREATE TABLE stored_ranges (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        start_ms      BIGINT NOT NULL,
        end_ms        BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, start_ms)
    );
    CREATE TABLE job_runs (
        id           BIGSERIAL PRIMARY KEY,
        job          TEXT COLLATE "C" NOT NULL,
        args         TEXT NOT NULL,
        started_at   BIGINT NOT NULL,
        ended_at     BIGINT,
        status       TEXT COLLATE "C" NOT NULL,
        rows_written BIGINT NOT NULL DEFAULT 0,
        sources_used TEXT NOT NULL DEFAULT '',
        error        TEXT,
        pid          BIGINT NOT NULL,
        -- Several machines share one database: a pid means something only on its host.
        host         TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE cross_checks (
        instrument_id   BIGINT NOT NULL,
        timeframe       TEXT COLLATE "C" NOT NULL,
        open_time       BIGINT NOT NULL,
        kept_source_id  BIGINT NOT NULL,
        other_source_id BIGINT NOT NULL,
        close_diff_bps  DOUBLE PRECISION NOT NULL,
        volume_ratio    DOUBLE PRECISION,
        checked_at      BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time, kept_source_id, other_source_id)
    );
    CREATE TABLE assets (
        symbol          TEXT COLLATE "C" PRIMARY KEY,
        coingecko_id    TEXT NOT NULL,
        name            TEXT NOT NULL,
        market_cap_rank BIGINT,
        updated_at      BIGINT NOT NULL
    );
    CREATE TABLE listings (
        venue       TEXT COLLATE "C" NOT NULL,
        market      TEXT COLLATE "C" NOT NULL,
        ticker      TEXT COLLATE "C" NOT NULL,
        base        TEXT COLLATE "C" NOT NULL,
        quote       TEXT COLLATE "C" NOT NULL,
        listed_at   BIGINT,
        first_seen  BIGINT NOT NULL,
        last_seen   BIGINT NOT NULL,
        delisted_at BIGINT,
        PRIMARY KEY (venue, market, ticker)
    );
    CREATE INDEX listings_by_base ON listings (base, market);
    CREATE TABLE market_points (
        instrument_id BIGINT NOT NULL,
        source_id     BIGINT NOT NULL,
        at_ms         BIGINT NOT NULL,
        price         DOUBLE PRECISION NOT NULL,
        market_cap    DOUBLE PRECISION,
        volume_24h    DOUBLE PRECISION,
        fetched_at    BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, source_id, at_ms)
    );
    CREATE TABLE http_cache (
        key        TEXT COLLATE "C" PRIMARY KEY,
        fetched_at BIGINT NOT NULL,
        body       BYTEA NOT NULL
    );
    CREATE TABLE rejects (
        id            BIGSERIAL PRIMARY KEY,
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        open_time     BIGINT NOT NULL,
        open          DOUBLE PRECISION,
        high          DOUBLE PRECISION,
        low           DOUBLE PRECISION,
        close         DOUBLE PRECISION,
        volume        DOUBLE PRECISION,
        quote_volume  DOUBLE PRECISION,
        trades        BIGINT,
        source_id     BIGINT NOT NULL,
        reason        TEXT COLLATE "C" NOT NULL,
        fetched_at    BIGINT NOT NULL,
        UNIQUE (instrument_id, timeframe, open_time, source_id, reason)
    );
    CREATE TABLE gaps (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        start_ms      BIGINT NOT NULL,
        end_ms        BIGINT NOT NULL,
        cause         TEXT COLLATE "C" NOT NULL,
        status        TEXT COLLATE "C" NOT NULL,
        attempts      BIGINT NOT NULL DEFAULT 0,
        repaired_by   TEXT COLLATE "C",
        first_seen    BIGINT NOT NULL,
        updated_at    BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, start_ms, end_ms)
    );
    CREATE TABLE quality (
        instrument_id  BIGINT NOT NULL,
        timeframe      TEXT COLLATE "C" NOT NULL,
        day            BIGINT NOT NULL,
        expected       BIGINT NOT NULL,
        stored         BIGINT NOT NULL,
        missing        BIGINT NOT NULL,
        rejected       BIGINT NOT NULL,
        flagged        BIGINT NOT NULL,
        divergence_bps DOUBLE PRECISION,
        fallback_share DOUBLE PRECISION NOT NULL,
        score          DOUBLE PRECISION NOT NULL,
        computed_at    BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, day)
    );
    CREATE TABLE coverage_notes (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        source        TEXT COLLATE "C" NOT NULL,
        start_ms      BIGINT NOT NULL,
        end_ms        BIGINT NOT NULL,
        note          TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, source, start_ms, note)
    );
    CREATE TABLE flags (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        open_time     BIGINT NOT NULL,
        kind          TEXT COLLATE "C" NOT NULL,
        detail        TEXT NOT NULL,
        flagged_at    BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time, kind)
    );
    -- Units of backfill work (one series over one time range) that `candlekeep worker` processes
    -- claim with a lease: a worker that dies stops renewing it and another takes the unit over.
    CREATE TABLE work_units (
        id            BIGSERIAL PRIMARY KEY,
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        start_ms      BIGINT NOT NULL,
        end_ms        BIGINT NOT NULL,
        -- The fallback chain, best first, comma-separated source names.
        chain         TEXT NOT NULL,
        status        TEXT COLLATE "C" NOT NULL DEFAULT 'pending',
        owner         TEXT,
        lease_until   BIGINT,
        attempts      BIGINT NOT NULL DEFAULT 0,
        written       BIGINT NOT NULL DEFAULT 0,
        error         TEXT,
        created_at    BIGINT NOT NULL,
        finished_at   BIGINT,
        UNIQUE (instrument_id, timeframe, start_ms, end_ms)
    );
    CREATE INDEX work_units_pending ON work_units (id) WHERE status = 'pending';
    -- What the scheduler has planned: a worker started with --until-idle ends once a plan is
    -- complete and no unit is left.
    CREATE TABLE work_plans (
        name       TEXT COLLATE "C" PRIMARY KEY,
        planned_at BIGINT NOT NULL,
        units      BIGINT NOT NULL
    );
    "#,
    // 2: the read cache of packed candle blocks (see `blocks.rs`). Stored out of line and not
    // compressed: the bars are doubles that do not compress, and a read fetches them whole.
    r#"
    CREATE UNLOGGED TABLE candle_blocks (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        block_start   BIGINT NOT NULL,
        bars          BYTEA NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, block_start)
    );
    ALTER TABLE candle_blocks ALTER COLUMN bars SET STORAGE EXTERNAL;
    "#,
    // 3: the latest indicator values per series, for the dashboard.
    r#"
    CREATE TABLE indicator_values (
        instrument_id BIGINT NOT NULL,
        timeframe     TEXT COLLATE "C" NOT NULL,
        name          TEXT COLLATE "C" NOT NULL,
        bar_time      BIGINT NOT NULL,
        value         DOUBLE PRECISION NOT NULL,
        computed_at   BIGINT NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, name)
    );
    "#,
    // 4: a whole-store copy into this database that has not been verified yet (`migrate`).
    r#"
    CREATE TABLE copy_in_progress (
        source     TEXT NOT NULL,
        started_at BIGINT NOT NULL
    );
    "#,
    // 5: what the service needs: health samples, and the retention horizon of each timeframe
    // whose old bars were pruned (the gap ledger and quality start there, see `model::retention`).
    r#"
    CREATE TABLE system_health (
        at_ms            BIGINT PRIMARY KEY,
        cpu_pct          DOUBLE PRECISION NOT NULL,
        mem_used_bytes   BIGINT NOT NULL,
        mem_total_bytes  BIGINT NOT NULL,
        disk_used_bytes  BIGINT NOT NULL,
        disk_total_bytes BIGINT NOT NULL,
        rss_bytes        BIGINT NOT NULL,
        freshness_lag_ms BIGINT,
        api_p99_ms       DOUBLE PRECISION,
        api_requests     BIGINT NOT NULL
    );
    CREATE TABLE retention_horizon (
        timeframe TEXT COLLATE "C" PRIMARY KEY,
        before_ms BIGINT NOT NULL
    );
    "#,
    // 6: what kind of failure ended a run, beside its message.
    r#"
    ALTER TABLE job_runs ADD COLUMN error_kind TEXT;
    "#,
];

pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Migrations and the TimescaleDB setup run under a transaction-scoped advisory lock, so
/// processes starting together never apply the same change twice.
const MIGRATION_LOCK: i64 = 0x4341_4e44_4c45_0001;

const VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_version";

/// The schema version: 0 before the first migration.
pub(crate) async fn version(client: &impl GenericClient) -> Result<i64, StoreError> {
    // Asked of the catalog, so a database never opened before answers too; in the schema the
    // tables are created in (the first of the search path), not any later one that has a store.
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() \
             AND tablename = 'schema_version')",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(client.query_one(VERSION, &[]).await?.get(0))
}

/// Brings the schema and the TimescaleDB setup up to date, writing only when something differs;
/// says why TimescaleDB is not used (or not as configured) when setting it up failed: the store
/// then runs on what is there.
pub(crate) async fn open(conn: &mut Conn, settings: Timescale) -> Result<Option<String>, StoreError> {
    let current = version(&*conn).await?;
    check_not_newer(current)?;
    if current == LATEST && timescale::plan(&timescale::read_state(&*conn).await?, settings).is_empty() {
        return Ok(None);
    }
    let mut tx = conn.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Another process may have done it all while this one waited for the lock.
    let current = version(&tx).await?;
    check_not_newer(current)?;
    if current < LATEST {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            crate::model::statements::RECORD_MIGRATION_SQL,
            &[&(i as i64 + 1), &candlekeep_core::time::now_ms()],
        )
        .await?;
    }
    let plan = timescale::plan(&timescale::read_state(&tx).await?, settings);
    let mut note = None;
    if !plan.is_empty() {
        let savepoint = tx.transaction().await?;
        match timescale::apply(&savepoint, plan, settings).await {
            Ok(()) => savepoint.commit().await?,
            // Rolling the savepoint back undoes the attempt; the tables stay as they were (plain
            // PostgreSQL, or the policy another process set), and this one works on them.
            Err(e) => {
                savepoint.rollback().await?;
                note = Some(if plan.convert {
                    format!("timescaledb is available but could not be enabled: {e}")
                } else {
                    format!("the compression policy was left as it is: {e}")
                });
            }
        }
    }
    tx.commit().await?;
    Ok(note)
}

fn check_not_newer(found: i64) -> Result<(), StoreError> {
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    Ok(())
}
