//! Batched, idempotent candle upserts.
//!
//! Rows go in as multi-row `INSERT … ON CONFLICT DO UPDATE … WHERE <values differ>` statements:
//! a bar identical to the stored one is not rewritten (its first provenance stays), a revised
//! bar replaces the old values and records the new source and fetch time.

use candlekeep_core::{Candle, Timeframe};
use rusqlite::{Connection, Statement, Transaction};

use crate::{StoreError, WriteStats};

/// Rows per statement. Shared values are bound once as ?1..?4; each row binds 8 more.
const BATCH: usize = 256;
const PER_ROW: usize = 8;

/// How rows meet stored ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing is stored in the page's range: plain inserts. `OR IGNORE` cannot abort, so SQLite
    /// needs no statement journal (which copies every touched page) for them.
    Fresh,
    /// Some bars may exist: replace those whose values differ.
    Upsert,
}

fn upsert_sql(rows: usize, mode: Mode) -> String {
    let verb = match mode {
        Mode::Fresh => "INSERT OR IGNORE",
        Mode::Upsert => "INSERT",
    };
    let mut sql = format!(
        "{verb} INTO candles (instrument_id, timeframe, source_id, fetched_at, open_time, open, high, low, close, volume, quote_volume, trades) VALUES "
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        let b = 5 + r * PER_ROW;
        sql.push_str(&format!(
            "(?1,?2,?3,?4,?{},?{},?{},?{},?{},?{},?{},?{})",
            b,
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7
        ));
    }
    if mode == Mode::Fresh {
        return sql;
    }
    sql.push_str(
        " ON CONFLICT (instrument_id, timeframe, open_time) DO UPDATE SET \
         open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, \
         volume = excluded.volume, quote_volume = excluded.quote_volume, trades = excluded.trades, \
         source_id = excluded.source_id, fetched_at = excluded.fetched_at \
         WHERE open IS NOT excluded.open OR high IS NOT excluded.high OR low IS NOT excluded.low \
         OR close IS NOT excluded.close OR volume IS NOT excluded.volume \
         OR quote_volume IS NOT excluded.quote_volume OR trades IS NOT excluded.trades",
    );
    sql
}

fn run_batch(stmt: &mut Statement<'_>, shared: (i64, &str, i64, i64), rows: &[Candle]) -> Result<u64, StoreError> {
    stmt.raw_bind_parameter(1, shared.0)?;
    stmt.raw_bind_parameter(2, shared.1)?;
    stmt.raw_bind_parameter(3, shared.2)?;
    stmt.raw_bind_parameter(4, shared.3)?;
    for (r, c) in rows.iter().enumerate() {
        let b = 5 + r * PER_ROW;
        stmt.raw_bind_parameter(b, c.open_time_ms)?;
        stmt.raw_bind_parameter(b + 1, c.open)?;
        stmt.raw_bind_parameter(b + 2, c.high)?;
        stmt.raw_bind_parameter(b + 3, c.low)?;
        stmt.raw_bind_parameter(b + 4, c.close)?;
        stmt.raw_bind_parameter(b + 5, c.volume)?;
        stmt.raw_bind_parameter(b + 6, c.quote_volume)?;
        stmt.raw_bind_parameter(b + 7, i64::try_from(c.trades).unwrap_or(i64::MAX))?;
    }
    Ok(stmt.raw_execute()? as u64)
}

/// Upserts within the caller's transaction.
pub(crate) fn upsert(
    tx: &Transaction<'_>,
    instrument_id: i64,
    tf: Timeframe,
    source_id: i64,
    fetched_at_ms: i64,
    candles: &[Candle],
) -> Result<WriteStats, StoreError> {
    let shared = (instrument_id, tf.as_str(), source_id, fetched_at_ms);
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Ok(WriteStats::default());
    };
    let (lo, hi) = (
        first.open_time_ms.min(last.open_time_ms),
        first.open_time_ms.max(last.open_time_ms),
    );
    let stored_in_range: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM candles WHERE instrument_id = ?1 AND timeframe = ?2 \
             AND open_time BETWEEN ?3 AND ?4)",
        )?
        .query_row((instrument_id, tf.as_str(), lo, hi), |r| r.get(0))?;
    let sorted = candles.windows(2).all(|w| w[0].open_time_ms < w[1].open_time_ms);
    let mode = if stored_in_range || !sorted {
        Mode::Upsert
    } else {
        Mode::Fresh
    };
    let mut written = 0;
    let mut rest = candles;
    // Full batches, then the remainder in power-of-two chunks (128, 64 … 1): at most nine
    // statement shapes, all cached, and never hundreds of one-row statements.
    let mut size = BATCH;
    while !rest.is_empty() {
        while size > rest.len() {
            size /= 2;
        }
        let mut stmt = tx.prepare_cached(&upsert_sql(size, mode))?;
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            written += run_batch(&mut stmt, shared, chunk)?;
            rest = tail;
        }
    }
    Ok(WriteStats {
        written,
        unchanged: candles.len() as u64 - written,
    })
}

pub(crate) fn select(
    conn: &Connection,
    instrument_id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT open_time, open, high, low, close, volume, quote_volume, trades FROM candles \
         WHERE instrument_id = ?1 AND timeframe = ?2 AND open_time >= ?3 AND open_time < ?4 ORDER BY open_time",
    )?;
    let rows = stmt.query_map((instrument_id, tf.as_str(), from, to), |r| {
        Ok(Candle {
            open_time_ms: r.get(0)?,
            open: r.get(1)?,
            high: r.get(2)?,
            low: r.get(3)?,
            close: r.get(4)?,
            volume: r.get(5)?,
            quote_volume: r.get(6)?,
            trades: r.get::<_, i64>(7)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
