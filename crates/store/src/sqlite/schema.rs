//! Schema and forward migrations. Each migration runs once, in order, inside a transaction, and
//! bumps `schema_version`; a database from a newer candlekeep is refused rather than damaged.

use rusqlite::{Connection, OptionalExtension};

use crate::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: instruments, sources, candles with provenance, covered ranges, job runs.
    r#"
    CREATE TABLE instruments (
        id          INTEGER PRIMARY KEY,
        venue       TEXT NOT NULL,
        market      TEXT NOT NULL,
        symbol      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (venue, market, symbol)
    );
    CREATE TABLE candles (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        open_time     INTEGER NOT NULL,
        open          REAL    NOT NULL,
        high          REAL    NOT NULL,
        low           REAL    NOT NULL,
        close         REAL    NOT NULL,
        volume        REAL    NOT NULL,
        quote_volume  REAL    NOT NULL,
        trades        INTEGER NOT NULL,
        source_id     INTEGER NOT NULL REFERENCES sources(id),
        fetched_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time)
    ) WITHOUT ROWID;
    CREATE TABLE sources (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    -- Candles with names instead of ids, for people reading the database with SQL.
    CREATE VIEW candles_named AS
        SELECT i.venue, i.market, i.symbol, c.timeframe, c.open_time, c.open, c.high, c.low, c.close,
               c.volume, c.quote_volume, c.trades, s.name AS source, c.fetched_at
          FROM candles c JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id;
    CREATE TABLE covered_ranges (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        source        TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, source, start_ms)
    ) WITHOUT ROWID;
    CREATE TABLE job_runs (
        id           INTEGER PRIMARY KEY,
        job          TEXT    NOT NULL,
        args         TEXT    NOT NULL,
        started_at   INTEGER NOT NULL,
        ended_at     INTEGER,
        status       TEXT    NOT NULL,
        rows_written INTEGER NOT NULL DEFAULT 0,
        sources      TEXT    NOT NULL DEFAULT '',
        error        TEXT,
        pid          INTEGER NOT NULL
    );
    "#,
    // 2: venue-neutral instruments (market, base, quote): a series' hours may come from several
    //    venues, each candle naming its source. Cross-checks between sources.
    r#"
    DROP VIEW candles_named;
    CREATE TABLE instruments_v2 (
        id          INTEGER PRIMARY KEY,
        market      TEXT NOT NULL,
        base        TEXT NOT NULL,
        quote       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (market, base, quote)
    );
    INSERT INTO instruments_v2 (id, market, base, quote, created_at)
        SELECT id, market, substr(symbol, 1, length(symbol) - length(coalesce(q, ''))), coalesce(q, ''), created_at FROM (
            SELECT i.*, (SELECT q FROM (SELECT 'FDUSD' AS q, 1 AS o UNION ALL SELECT 'USDT', 2
                    UNION ALL SELECT 'USDC', 3 UNION ALL SELECT 'BUSD', 4 UNION ALL SELECT 'TUSD', 5
                    UNION ALL SELECT 'USD', 6 UNION ALL SELECT 'EUR', 7 UNION ALL SELECT 'TRY', 8
                    UNION ALL SELECT 'BTC', 9 UNION ALL SELECT 'ETH', 10 UNION ALL SELECT 'BNB', 11)
                 WHERE length(i.symbol) > length(q) AND substr(i.symbol, -length(q)) = q ORDER BY o LIMIT 1) AS q
              FROM instruments i);
    DROP TABLE instruments;
    ALTER TABLE instruments_v2 RENAME TO instruments;
    -- trades and volumes become nullable: a venue that does not report one (most give no trade
    -- count, CoinGecko no volume per bar) leaves it NULL rather than a made-up 0.
    CREATE TABLE candles_v2 (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        open_time     INTEGER NOT NULL,
        open          REAL    NOT NULL,
        high          REAL    NOT NULL,
        low           REAL    NOT NULL,
        close         REAL    NOT NULL,
        volume        REAL,
        quote_volume  REAL,
        trades        INTEGER,
        source_id     INTEGER NOT NULL REFERENCES sources(id),
        fetched_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time)
    ) WITHOUT ROWID;
    INSERT INTO candles_v2 SELECT * FROM candles;
    DROP TABLE candles;
    ALTER TABLE candles_v2 RENAME TO candles;
    CREATE VIEW candles_named AS
        SELECT i.market, i.base || i.quote AS symbol, c.timeframe, c.open_time, c.open, c.high, c.low,
               c.close, c.volume, c.quote_volume, c.trades, s.name AS source, c.fetched_at
          FROM candles c JOIN instruments i ON i.id = c.instrument_id JOIN sources s ON s.id = c.source_id;
    -- Where two sources delivered the same bar: the one that stays stored (the higher-priority
    -- source) and the other, compared.
    CREATE TABLE cross_checks (
        instrument_id   INTEGER NOT NULL REFERENCES instruments(id),
        timeframe       TEXT    NOT NULL,
        open_time       INTEGER NOT NULL,
        kept_source_id  INTEGER NOT NULL REFERENCES sources(id),
        other_source_id INTEGER NOT NULL REFERENCES sources(id),
        -- (other close − kept close) / kept close, in basis points.
        close_diff_bps  REAL    NOT NULL,
        -- other volume / kept volume; NULL when the kept volume is 0.
        volume_ratio    REAL,
        checked_at      INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time, kept_source_id, other_source_id)
    ) WITHOUT ROWID;
    "#,
    // 3: the universe (assets by market-cap rank, venue listings with listing and delisting
    //    dates) and a cache of slow-changing provider answers.
    r#"
    CREATE TABLE assets (
        symbol          TEXT PRIMARY KEY,
        coingecko_id    TEXT NOT NULL,
        name            TEXT NOT NULL,
        market_cap_rank INTEGER,
        updated_at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE listings (
        venue       TEXT NOT NULL,
        market      TEXT NOT NULL,
        ticker      TEXT NOT NULL,
        base        TEXT NOT NULL,
        quote       TEXT NOT NULL,
        listed_at   INTEGER,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        delisted_at INTEGER,
        PRIMARY KEY (venue, market, ticker)
    ) WITHOUT ROWID;
    CREATE INDEX listings_by_base ON listings (base, market);
    -- Chart points of an aggregator (CoinGecko /market_chart), kept as what they are: a price at
    -- an instant and the trailing 24-hour volume, neither a candle nor a bar's volume.
    CREATE TABLE market_points (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        source_id     INTEGER NOT NULL REFERENCES sources(id),
        at_ms         INTEGER NOT NULL,
        price         REAL    NOT NULL,
        market_cap    REAL,
        volume_24h    REAL,
        fetched_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, source_id, at_ms)
    ) WITHOUT ROWID;
    -- The sync log's name for what it records: candles written per source.
    ALTER TABLE job_runs RENAME COLUMN sources TO sources_used;
    CREATE TABLE http_cache (
        key        TEXT PRIMARY KEY,
        fetched_at INTEGER NOT NULL,
        body       BLOB NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 4: validation: impossible bars quarantined with their values, odd ones flagged.
    r#"
    CREATE TABLE rejects (
        id            INTEGER PRIMARY KEY,
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        open_time     INTEGER NOT NULL,
        open          REAL,
        high          REAL,
        low           REAL,
        close         REAL,
        volume        REAL,
        quote_volume  REAL,
        trades        INTEGER,
        source_id     INTEGER NOT NULL REFERENCES sources(id),
        reason        TEXT    NOT NULL,
        fetched_at    INTEGER NOT NULL,
        UNIQUE (instrument_id, timeframe, open_time, source_id, reason)
    );
    -- Where bars are stored, as merged ranges: gaps are a query over these, not over hours.
    CREATE TABLE stored_ranges (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, start_ms)
    ) WITHOUT ROWID;
    INSERT INTO stored_ranges (instrument_id, timeframe, start_ms, end_ms)
        SELECT instrument_id, timeframe, MIN(open_time), MAX(open_time) + step FROM (
            SELECT instrument_id, timeframe, open_time, step,
                   open_time - step * ROW_NUMBER() OVER (PARTITION BY instrument_id, timeframe ORDER BY open_time) AS island
              FROM (SELECT instrument_id, timeframe, open_time,
                           CASE timeframe WHEN '1m' THEN 60000 WHEN '5m' THEN 300000 WHEN '15m' THEN 900000
                                          WHEN '1h' THEN 3600000 WHEN '4h' THEN 14400000 ELSE 86400000 END AS step
                      FROM candles))
         GROUP BY instrument_id, timeframe, island;
    -- The gap ledger: missing ranges within each series' listed lifetime.
    CREATE TABLE gaps (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        cause         TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        repaired_by   TEXT,
        first_seen    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, start_ms, end_ms)
    ) WITHOUT ROWID;
    -- One row per series and UTC day: see candlekeep_store::quality_score for the score.
    CREATE TABLE quality (
        instrument_id  INTEGER NOT NULL REFERENCES instruments(id),
        timeframe      TEXT    NOT NULL,
        day            INTEGER NOT NULL,
        expected       INTEGER NOT NULL,
        stored         INTEGER NOT NULL,
        missing        INTEGER NOT NULL,
        rejected       INTEGER NOT NULL,
        flagged        INTEGER NOT NULL,
        divergence_bps REAL,
        fallback_share REAL    NOT NULL,
        score          REAL    NOT NULL,
        computed_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, day)
    ) WITHOUT ROWID;
    -- What a source said about bars it does not have: no-trades, not-listed, history-cap.
    CREATE TABLE coverage_notes (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        source        TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        note          TEXT    NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, source, start_ms, note)
    ) WITHOUT ROWID;
    CREATE TABLE flags (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        open_time     INTEGER NOT NULL,
        kind          TEXT    NOT NULL,
        detail        TEXT    NOT NULL,
        flagged_at    INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, open_time, kind)
    ) WITHOUT ROWID;
    "#,
    // 5: the latest indicator values per series, for the dashboard.
    r#"
    CREATE TABLE indicator_values (
        instrument_id INTEGER NOT NULL REFERENCES instruments(id),
        timeframe     TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        bar_time      INTEGER NOT NULL,
        value         REAL    NOT NULL,
        computed_at   INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, timeframe, name)
    ) WITHOUT ROWID;
    "#,
    // 6: a whole-store copy into this database that has not been verified yet (`migrate`).
    r#"
    CREATE TABLE copy_in_progress (
        source     TEXT    NOT NULL,
        started_at INTEGER NOT NULL
    );
    "#,
    // 7: the host of each job run, as on PostgreSQL: a pid means something only on its host.
    r#"
    ALTER TABLE job_runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
    "#,
    // 8: the read cache of packed candle blocks (see `model::blocks`), as on PostgreSQL. A cache:
    // never copied by `migrate`, rebuilt from the rows on demand.
    r#"
    -- `version` is never reused (AUTOINCREMENT): a block packed again gets a new one, so a copy
    -- decoded in memory is used only while the block it came from is still there.
    CREATE TABLE candle_blocks (
        version       INTEGER PRIMARY KEY AUTOINCREMENT,
        instrument_id INTEGER NOT NULL,
        timeframe     TEXT    NOT NULL,
        block_start   INTEGER NOT NULL,
        bars          BLOB    NOT NULL,
        UNIQUE (instrument_id, timeframe, block_start)
    );
    "#,
    // 9: what the service needs: health samples, and the retention horizon of each timeframe
    // whose old bars were pruned (the gap ledger and quality start there, see `model::retention`).
    r#"
    CREATE TABLE system_health (
        at_ms            INTEGER PRIMARY KEY,
        cpu_pct          REAL    NOT NULL,
        mem_used_bytes   INTEGER NOT NULL,
        mem_total_bytes  INTEGER NOT NULL,
        disk_used_bytes  INTEGER NOT NULL,
        disk_total_bytes INTEGER NOT NULL,
        rss_bytes        INTEGER NOT NULL,
        freshness_lag_ms INTEGER,
        api_p99_ms       REAL,
        api_requests     INTEGER NOT NULL
    );
    CREATE TABLE retention_horizon (
        timeframe TEXT    PRIMARY KEY,
        before_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 10: what kind of failure ended a run (`source:ban`, `store`, `invalid-arguments`…), beside
    // its message, for alerts and the API.
    r#"
    ALTER TABLE job_runs ADD COLUMN error_kind TEXT;
    "#,
];

pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Immediate: the write lock is taken (waiting on another process's writes) before the version
    // is read, so two processes opening a new file at once migrate it once, one after the other.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    if current > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            crate::model::statements::RECORD_MIGRATION_SQL,
            (i as i64 + 1, candlekeep_core::time::now_ms()),
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_instruments_are_split_into_base_and_quote() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1, 0);
             INSERT INTO instruments (id, venue, market, symbol, created_at) VALUES
                 (1, 'binance', 'spot', 'BTCUSDT', 0), (2, 'binance', 'usdm', '1000PEPEUSDT', 0),
                 (3, 'binance', 'spot', 'ETHFDUSD', 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(i64, String, String, String)> = conn
            .prepare("SELECT id, market, base, quote FROM instruments ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expect = [
            (1, "spot", "BTC", "USDT"),
            (2, "usdm", "1000PEPE", "USDT"),
            (3, "spot", "ETH", "FDUSD"),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(i, m, b, q)| (*i, m.to_string(), b.to_string(), q.to_string()))
            .collect();
        assert_eq!(rows, expect);
        conn.execute_batch("SELECT * FROM candles_named").unwrap();
    }
}
