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
use crate::model::blocks::{Bars, BlockCache, BlockRead, assemble, block_of, missing, pack as pack_bars, span_ms};

const VERSIONS: &str = "SELECT block_start, version FROM candle_blocks WHERE instrument_id = $1 AND timeframe = $2 \
     AND block_start >= $3 AND block_start < $4 ORDER BY block_start";
const BLOCKS: &str = "SELECT block_start, version, bars FROM candle_blocks WHERE instrument_id = $1 AND timeframe = $2 \
     AND block_start >= $3 AND block_start < $4 ORDER BY block_start";
/// `OR REPLACE` deletes the old block and inserts a new row: a new `version`.
const PUT_BLOCK: &str =
    "INSERT OR REPLACE INTO candle_blocks (instrument_id, timeframe, block_start, bars) VALUES ($1, $2, $3, $4)";
const DROP_BLOCKS: &str =
    "DELETE FROM candle_blocks WHERE instrument_id = $1 AND timeframe = $2 AND block_start BETWEEN $3 AND $4";

/// The decodable blocks of `[from, to)`, by start: from the cache where it holds the stored
/// version, else fetched and decoded (and kept).
fn cached(conn: &Connection, cache: &BlockCache, r: BlockRead) -> Result<BTreeMap<i64, Bars>, StoreError> {
    let (id, tf) = (r.id, r.tf);
    let params = (id, tf.as_str(), block_of(tf, r.from), r.to);
    let listed = conn
        .prepare_cached(VERSIONS)?
        .query_map(params, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let (mut blocks, absent) = cache.lookup(id, tf, &listed);
    if !absent.is_empty() {
        let mut stmt = conn.prepare_cached(BLOCKS)?;
        let fetched = stmt
            .query_map(params, |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        cache.decode_into(
            id,
            tf,
            &absent,
            fetched.iter().map(|(s, v, b)| (*s, *v, b.as_slice())),
            &mut blocks,
        );
    }
    Ok(blocks)
}

/// The candles of `[from, to)` from the blocks and the rows, in one snapshot, and the starts of
/// the closed blocks that were missing (to be packed by the writer).
pub(crate) fn read(
    conn: &Connection,
    cache: &BlockCache,
    read: BlockRead,
    now: i64,
) -> Result<(Vec<Candle>, Vec<i64>), StoreError> {
    let BlockRead { id, tf, from, to } = read;
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
    let blocks = cached(&tx, cache, read)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use candlekeep_core::{Instrument, Market, Provenance, SourceId};

    use crate::model::blocks::BLOCK_BARS;
    use crate::{BlockingStore, SqliteStore};

    const H: i64 = 3_600_000;
    const T0: i64 = 1_600_000_000_000 / (BLOCK_BARS * H) * (BLOCK_BARS * H);

    fn bars(n: i64, close: f64) -> Vec<Candle> {
        (0..n)
            .map(|k| Candle {
                open_time_ms: T0 + k * H,
                open: close,
                high: close + 1.0,
                low: close - 1.0,
                close,
                volume: Some(1.0),
                quote_volume: None,
                trades: None,
            })
            .collect()
    }

    fn blocks(store: &SqliteStore) -> i64 {
        store
            .conn
            .query_row("SELECT COUNT(*) FROM candle_blocks", [], |r| r.get(0))
            .unwrap()
    }

    use super::*;

    #[test]
    fn a_long_read_packs_closed_blocks_and_a_write_drops_the_ones_it_touches() {
        let mut store = SqliteStore::in_memory().unwrap();
        let btc = Instrument::from_symbol(Market::Spot, "BTCUSDT").unwrap();
        let id = store.instrument_id(&btc).unwrap();
        let prov = Provenance {
            source: SourceId::BinanceSpotRest,
            fetched_at_ms: 1,
        };
        let n = 3 * BLOCK_BARS;
        store
            .write_page(id, Timeframe::H1, prov, &bars(n, 100.0), None)
            .unwrap();
        let read = |s: &mut SqliteStore| s.candles(&btc, Timeframe::H1, T0, T0 + n * H).unwrap();
        assert_eq!(read(&mut store), bars(n, 100.0));
        assert_eq!(
            blocks(&store),
            3,
            "the writing connection packs what the read found missing"
        );
        // Read from the blocks: the same bars.
        assert_eq!(read(&mut store), bars(n, 100.0));

        // A revised bar in the second block: that block goes, the others stay, and the next read
        // has the revision.
        let mut revised = bars(n, 100.0)[BLOCK_BARS as usize + 5];
        revised.close = 101.0;
        store.write_page(id, Timeframe::H1, prov, &[revised], None).unwrap();
        assert_eq!(blocks(&store), 2);
        let mut want = bars(n, 100.0);
        want[BLOCK_BARS as usize + 5] = revised;
        assert_eq!(read(&mut store), want);
        assert_eq!(blocks(&store), 3);
        assert_eq!(read(&mut store), want);

        // A read-only view of the same rows names the blocks it lacks instead of packing them.
        store.conn.execute("DELETE FROM candle_blocks", []).unwrap();
        let cache = BlockCache::default();
        let (got, missing) = super::read(
            &store.conn,
            &cache,
            BlockRead {
                id,
                tf: Timeframe::H1,
                from: T0,
                to: T0 + n * H,
            },
            i64::MAX,
        )
        .unwrap();
        assert_eq!(got, want);
        assert_eq!(missing, [T0, T0 + BLOCK_BARS * H, T0 + 2 * BLOCK_BARS * H]);
        assert_eq!(blocks(&store), 0);
    }
}
