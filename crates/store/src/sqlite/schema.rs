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
];

pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn
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
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (i as i64 + 1, candlekeep_core::time::now_ms()),
        )?;
        tx.commit()?;
    }
    Ok(())
}
