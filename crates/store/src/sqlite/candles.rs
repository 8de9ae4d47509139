//! Batched, idempotent candle upserts.
//!
//! Rows go in as multi-row `INSERT … ON CONFLICT DO UPDATE … WHERE <may replace> AND <values
//! differ>` statements: a bar identical to the stored one is not rewritten (its first provenance
//! stays); a revised bar replaces the old values and records the new source and fetch time, but
//! only when the stored bar's source is one the writer may replace (itself, or a lower-priority
//! source of the fallback chain). Where the stored bar came from another source, the two are
//! compared and the difference goes to `cross_checks`.

use candlekeep_core::{Candle, Timeframe};
use rusqlite::{Connection, Statement, Transaction};

use crate::model::summary::{compare, may_replace};
use crate::{StoreError, WriteStats};

/// Rows per statement. Shared values are bound once as ?1..?5; each row binds 8 more.
const BATCH: usize = 256;
const PER_ROW: usize = 8;
const SHARED: usize = 5;

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
        let b = SHARED + 1 + r * PER_ROW;
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
         WHERE ((?5 >> source_id) & 1) = 1 AND (open IS NOT excluded.open OR high IS NOT excluded.high \
         OR low IS NOT excluded.low OR close IS NOT excluded.close OR volume IS NOT excluded.volume \
         OR quote_volume IS NOT excluded.quote_volume OR trades IS NOT excluded.trades \
         OR (?5 <> -1 AND source_id <> excluded.source_id))",
    );
    sql
}

/// The values every row of one write shares.
#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub instrument_id: i64,
    pub timeframe: &'a str,
    pub source_id: i64,
    pub fetched_at_ms: i64,
    /// Bit `n` set: a stored bar from source id `n` may be replaced. With every bit set (-1,
    /// "any"), an identical bar keeps its first provenance; otherwise an outranked source's
    /// identical bar is taken over, so each bar names the best source that delivered it.
    pub replace_mask: i64,
}

fn run_batch(stmt: &mut Statement<'_>, shared: Shared<'_>, rows: &[Candle]) -> Result<u64, StoreError> {
    stmt.raw_bind_parameter(1, shared.instrument_id)?;
    stmt.raw_bind_parameter(2, shared.timeframe)?;
    stmt.raw_bind_parameter(3, shared.source_id)?;
    stmt.raw_bind_parameter(4, shared.fetched_at_ms)?;
    // Unused (but allocated) by the insert-only statement.
    stmt.raw_bind_parameter(5, shared.replace_mask)?;
    for (r, c) in rows.iter().enumerate() {
        let b = SHARED + 1 + r * PER_ROW;
        stmt.raw_bind_parameter(b, c.open_time_ms)?;
        stmt.raw_bind_parameter(b + 1, c.open)?;
        stmt.raw_bind_parameter(b + 2, c.high)?;
        stmt.raw_bind_parameter(b + 3, c.low)?;
        stmt.raw_bind_parameter(b + 4, c.close)?;
        stmt.raw_bind_parameter(b + 5, c.volume)?;
        stmt.raw_bind_parameter(b + 6, c.quote_volume)?;
        stmt.raw_bind_parameter(b + 7, c.trades.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))?;
    }
    Ok(stmt.raw_execute()? as u64)
}

/// Upserts within the caller's transaction; also says whether the range held nothing before.
pub(crate) fn upsert(
    tx: &Transaction<'_>,
    shared: Shared<'_>,
    candles: &[Candle],
) -> Result<(WriteStats, bool), StoreError> {
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Ok((WriteStats::default(), true));
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
        .query_row((shared.instrument_id, shared.timeframe, lo, hi), |r| r.get(0))?;
    let sorted = candles.windows(2).all(|w| w[0].open_time_ms < w[1].open_time_ms);
    let mode = if stored_in_range || !sorted {
        Mode::Upsert
    } else {
        Mode::Fresh
    };
    let cross_checked = if stored_in_range {
        cross_check(tx, shared, candles, (lo, hi))?
    } else {
        0
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
    let stats = WriteStats {
        written,
        unchanged: candles.len() as u64 - written,
        cross_checked,
        ..WriteStats::default()
    };
    Ok((stats, !stored_in_range))
}

/// Compares incoming bars with stored bars of other sources in `[lo, hi]` and records each pair
/// in `cross_checks`, the bar that stays stored as the kept one.
fn cross_check(
    tx: &Transaction<'_>,
    shared: Shared<'_>,
    candles: &[Candle],
    (lo, hi): (i64, i64),
) -> Result<u64, StoreError> {
    let stored: std::collections::HashMap<i64, (i64, f64, Option<f64>)> = tx
        .prepare_cached(crate::model::statements::STORED_FOR_CROSS_CHECK_SQL)?
        .query_map(
            (shared.instrument_id, shared.timeframe, lo, hi, shared.source_id),
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))),
        )?
        .collect::<Result<_, _>>()?;
    if stored.is_empty() {
        return Ok(0);
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO cross_checks (instrument_id, timeframe, open_time, kept_source_id, \
         other_source_id, close_diff_bps, volume_ratio, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut n = 0;
    for c in candles {
        let Some(&(source_id, close, volume)) = stored.get(&c.open_time_ms) else {
            continue;
        };
        let replaces = may_replace(shared.replace_mask, source_id);
        let (kept, other, diff_bps, volume_ratio) = compare(shared.source_id, c, (source_id, close, volume), replaces);
        insert.execute((
            shared.instrument_id,
            shared.timeframe,
            c.open_time_ms,
            kept,
            other,
            diff_bps,
            volume_ratio,
            shared.fetched_at_ms,
        ))?;
        n += 1;
    }
    Ok(n)
}

/// The stored bars just before `lo` and just after `hi`, as `(open_time, close)`.
pub(crate) fn neighbours(
    conn: &Connection,
    instrument_id: i64,
    tf: Timeframe,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::model::pages::NEIGHBOURS_SQL)?;
    let rows = stmt.query_map((instrument_id, tf.as_str(), lo, hi), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn select(
    conn: &Connection,
    instrument_id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, StoreError> {
    let mut stmt = conn.prepare_cached(crate::model::statements::CANDLES_SQL)?;
    let rows = stmt.query_map((instrument_id, tf.as_str(), from, to), |r| {
        Ok(Candle {
            open_time_ms: r.get(0)?,
            open: r.get(1)?,
            high: r.get(2)?,
            low: r.get(3)?,
            close: r.get(4)?,
            volume: r.get(5)?,
            quote_volume: r.get(6)?,
            trades: r.get::<_, Option<i64>>(7)?.map(|t| t.max(0) as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
