//! SQLite's side of the candle read cache (format and rules in [`crate::model::blocks`]).
//!
//! A long read takes the blocks and, where a closed block is missing, the rows, in one read
//! transaction (one consistent snapshot). Packing the missing blocks writes, so it is done by the
//! connection that writes ([`pack`]): inline when the reading connection is that one, otherwise
//! by the caller handing the request to the writer (see `StoreHandle`), so a read-only reader
//! never waits for the write lock.

use std::collections::BTreeMap;

use candlekeep_core::{Candle, Timeframe};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::StoreError;
use crate::model::blocks::{SELECT_BLOCKS, assemble, block_of, missing, pack as pack_bars, span_ms, unpack};

const PUT_BLOCK: &str = "INSERT INTO candle_blocks (instrument_id, timeframe, block_start, bars) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (instrument_id, timeframe, block_start) DO UPDATE SET bars = excluded.bars";
const DROP_BLOCKS: &str =
    "DELETE FROM candle_blocks WHERE instrument_id = $1 AND timeframe = $2 AND block_start BETWEEN $3 AND $4";

/// The decodable blocks of `[from, to)`, by start.
fn cached(
    conn: &Connection,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, Vec<Candle>>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_BLOCKS)?;
    let rows = stmt.query_map((id, tf.as_str(), block_of(tf, from), to), |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (start, bytes) = row?;
        if let Some(bars) = unpack(&bytes, tf, start) {
            out.insert(start, bars);
        }
    }
    Ok(out)
}

/// The candles of `[from, to)` from the blocks and the rows, in one snapshot, and the starts of
/// the closed blocks that were missing (to be packed by the writer).
pub(crate) fn read(
    conn: &Connection,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
    now: i64,
) -> Result<(Vec<Candle>, Vec<i64>), StoreError> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
    let blocks = cached(&tx, id, tf, from, to)?;
    let gaps = missing(tf, from, to, &blocks);
    let rows = match (gaps.first(), gaps.last()) {
        (Some(&first), Some(&last)) => {
            super::candles::select(&tx, id, tf, from.max(first), to.min(last + span_ms(tf)))?
                .into_iter()
                .filter(|c| !blocks.contains_key(&block_of(tf, c.open_time_ms)))
                .collect()
        }
        _ => Vec::new(),
    };
    tx.commit()?;
    let span = span_ms(tf);
    let closed = gaps.into_iter().filter(|s| s + span <= now).collect();
    Ok((assemble(tf, from, to, blocks, rows), closed))
}

/// Packs and stores the closed blocks starting at `starts` from the rows, in one write
/// transaction (no write can commit between the rows read and the blocks stored).
pub(crate) fn pack(conn: &mut Connection, id: i64, tf: Timeframe, starts: &[i64]) -> Result<(), StoreError> {
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(());
    };
    let span = span_ms(tf);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows = super::candles::select(&tx, id, tf, first, last + span)?;
    {
        let mut put = tx.prepare_cached(PUT_BLOCK)?;
        for &start in starts {
            let lo = rows.partition_point(|c| c.open_time_ms < start);
            let hi = rows.partition_point(|c| c.open_time_ms < start + span);
            put.execute((id, tf.as_str(), start, pack_bars(&rows[lo..hi])))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Deletes the blocks that bars opening in `[lo, hi]` fall in; called inside the write's
/// transaction.
pub(crate) fn invalidate(tx: &Transaction<'_>, id: i64, tf: Timeframe, lo: i64, hi: i64) -> Result<(), StoreError> {
    tx.prepare_cached(DROP_BLOCKS)?
        .execute((id, tf.as_str(), block_of(tf, lo), hi))?;
    Ok(())
}
