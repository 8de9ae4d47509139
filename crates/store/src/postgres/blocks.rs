//! A read cache for long candle reads: the bars of one series in spans of [`BLOCK_BARS`] bars,
//! packed into one `bytea` value per span (`candle_blocks`).
//!
//! Why: PostgreSQL formats every value of every row it sends (a function call and an allocation
//! each), and on a year of hourly bars that costs several times the scan. One packed block of a
//! thousand bars is one value, so a long read of cached blocks moves the same bytes for a small
//! part of the server's work.
//!
//! A block always holds exactly the bars stored in its span when it was packed:
//! - every write to `candles` deletes the blocks its bars fall in, in its own transaction, while
//!   it holds its instruments' rows `FOR UPDATE` ([`invalidate`]);
//! - a block is packed from rows read under a `FOR KEY SHARE` lock on the same row, so no write
//!   can commit between the rows read and the block stored;
//! - only spans that have closed (their last bar is over) and that the read covers whole are
//!   packed, so the hourly sync of the newest bar does not keep rewriting blocks.
//!
//! A block that does not decode (another format, a damaged value) counts as missing and is
//! packed again from the rows.

use std::collections::BTreeMap;

use candlekeep_core::{Candle, Timeframe};
use postgres::error::SqlState;
use postgres::{GenericClient, IsolationLevel, Transaction};

use super::{Conn, Statements, read};
use crate::StoreError;

/// Bars per block: a block of hourly bars spans about six weeks and packs into 66 kB.
pub(crate) const BLOCK_BARS: i64 = 1_024;

/// The first byte of every block: the layout below.
const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4;
/// Presence bits, open time, open, high, low, close, volume, quote volume, trades.
const RECORD: usize = 1 + 8 * 8;
const HAS_VOLUME: u8 = 1;
const HAS_QUOTE_VOLUME: u8 = 2;
const HAS_TRADES: u8 = 4;

fn span_ms(tf: Timeframe) -> i64 {
    BLOCK_BARS * tf.millis()
}

fn block_of(tf: Timeframe, t: i64) -> i64 {
    t.div_euclid(span_ms(tf)) * span_ms(tf)
}

/// Packs bars (in time order) into a block's bytes.
fn pack(bars: &[Candle]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + RECORD * bars.len());
    out.push(FORMAT);
    out.extend_from_slice(&u32::try_from(bars.len()).unwrap_or(u32::MAX).to_le_bytes());
    for c in bars {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        let present = flag(c.volume.is_some(), HAS_VOLUME)
            | flag(c.quote_volume.is_some(), HAS_QUOTE_VOLUME)
            | flag(c.trades.is_some(), HAS_TRADES);
        out.push(present);
        out.extend_from_slice(&c.open_time_ms.to_le_bytes());
        for v in [c.open, c.high, c.low, c.close] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        for v in [c.volume, c.quote_volume] {
            out.extend_from_slice(&v.unwrap_or(0.0).to_bits().to_le_bytes());
        }
        out.extend_from_slice(&c.trades.unwrap_or(0).to_le_bytes());
    }
    out
}

/// The bars of a block that starts at `start`, or `None` when the bytes are not a well-formed
/// block of that span.
fn unpack(bytes: &[u8], tf: Timeframe, start: i64) -> Option<Vec<Candle>> {
    let (&format, rest) = bytes.split_first()?;
    let (count, records) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    if format != FORMAT || records.len() != count.checked_mul(RECORD)? {
        return None;
    }
    let end = start + span_ms(tf);
    let mut out: Vec<Candle> = Vec::with_capacity(count);
    for r in records.chunks_exact(RECORD) {
        let present = r[0];
        let word = |i: usize| {
            let at = 1 + 8 * i;
            r.get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
        };
        let float = |i: usize| word(i).map(f64::from_bits);
        let open_time_ms = word(0)? as i64;
        let in_order = out.last().is_none_or(|p| p.open_time_ms < open_time_ms);
        if !in_order || open_time_ms < start || open_time_ms >= end {
            return None;
        }
        out.push(Candle {
            open_time_ms,
            open: float(1)?,
            high: float(2)?,
            low: float(3)?,
            close: float(4)?,
            volume: (present & HAS_VOLUME != 0).then_some(float(5)?),
            quote_volume: (present & HAS_QUOTE_VOLUME != 0).then_some(float(6)?),
            trades: (present & HAS_TRADES != 0).then_some(word(7)?),
        });
    }
    Some(out)
}

const SELECT_BLOCKS: &str = "SELECT block_start, bars FROM candle_blocks WHERE instrument_id = $1 AND timeframe = $2 \
     AND block_start >= $3 AND block_start < $4 ORDER BY block_start";

/// The decodable blocks of `[from, to)`, by start.
fn cached(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, Vec<Candle>>, StoreError> {
    let stmt = statements.get(client, SELECT_BLOCKS)?;
    let rows = client.query(&stmt, &[&id, &tf.as_str(), &block_of(tf, from), &to])?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let start: i64 = r.get(0);
            unpack(r.get(1), tf, start).map(|bars| (start, bars))
        })
        .collect())
}

/// Block starts of `[from, to)` that no decodable block covers.
fn missing(tf: Timeframe, from: i64, to: i64, blocks: &BTreeMap<i64, Vec<Candle>>) -> Vec<i64> {
    let span = span_ms(tf);
    (0..)
        .map(|k| block_of(tf, from) + k * span)
        .take_while(|s| *s < to)
        .filter(|s| !blocks.contains_key(s))
        .collect()
}

/// The bars of `[from, to)` from the blocks and, where a block is missing, the rows.
fn assemble(tf: Timeframe, from: i64, to: i64, blocks: BTreeMap<i64, Vec<Candle>>, rows: Vec<Candle>) -> Vec<Candle> {
    let mut out = Vec::with_capacity(usize::try_from(tf.bars_between(from, to)).unwrap_or(0).min(1 << 20));
    let mut rows = rows.into_iter().peekable();
    for (start, bars) in blocks {
        while let Some(r) = rows.next_if(|r| r.open_time_ms < start) {
            out.push(r);
        }
        out.extend(
            bars.into_iter()
                .filter(|c| c.open_time_ms >= from && c.open_time_ms < to),
        );
    }
    out.extend(rows);
    out
}

/// The candles of `[from, to)`, in one consistent view: cached blocks, and rows where a block is
/// missing. When a closed block is missing, the read is done again under the series' share lock
/// and packs the closed blocks it reads. A session that may not write (a standby, a read-only
/// role) reads the rows as they are.
pub(crate) fn candles(
    conn: &mut Conn,
    statements: &mut Statements,
    id: i64,
    tf: Timeframe,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<Candle>, StoreError> {
    let mut tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    if let Some(bars) = load(&mut tx, statements, id, tf, (from, to), now, false)? {
        tx.commit()?;
        return Ok(bars);
    }
    drop(tx);
    match pack_and_load(conn, statements, id, tf, (from, to), now) {
        Err(StoreError::Postgres(e)) if may_not_write(&e) => read::candles(conn, statements, id, tf, from, to),
        other => other,
    }
}

fn may_not_write(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::READ_ONLY_SQL_TRANSACTION || *c == SqlState::INSUFFICIENT_PRIVILEGE)
}

fn pack_and_load(
    conn: &mut Conn,
    statements: &mut Statements,
    id: i64,
    tf: Timeframe,
    read: (i64, i64),
    now: i64,
) -> Result<Vec<Candle>, StoreError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT 1 FROM instruments WHERE id = $1 FOR KEY SHARE", &[&id])?;
    let bars = load(&mut tx, statements, id, tf, read, now, true)?;
    tx.commit()?;
    // `load` with packing on always answers; an empty answer here would be a silent loss.
    bars.ok_or_else(|| StoreError::Corrupt("the packing read of candle blocks returned nothing".into()))
}

/// The bars of `read` from the blocks and the rows; `None` when a closed block is missing and
/// `pack` is off. With `pack` on, missing closed blocks are read whole and stored, and the
/// answer is always `Some`.
fn load(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    id: i64,
    tf: Timeframe,
    read: (i64, i64),
    now: i64,
    pack: bool,
) -> Result<Option<Vec<Candle>>, StoreError> {
    let (from, to) = read;
    let blocks = cached(tx, statements, id, tf, from, to)?;
    let gaps = missing(tf, from, to, &blocks);
    let span = span_ms(tf);
    let closed = |start: i64| start + span <= now;
    if !pack && gaps.iter().any(|s| closed(*s)) {
        return Ok(None);
    }
    let (Some(&first), Some(&last)) = (gaps.first(), gaps.last()) else {
        return Ok(Some(assemble(tf, from, to, blocks, Vec::new())));
    };
    let rows_from = if closed(first) { first } else { from.max(first) };
    let rows_to = if closed(last) { last + span } else { to.min(last + span) };
    let stmt = statements.get(tx, read::SELECT_CANDLES)?;
    let rows: Vec<Candle> = tx
        .query(&stmt, &[&id, &tf.as_str(), &rows_from, &rows_to])?
        .iter()
        .map(read::candle)
        .filter(|c| !blocks.contains_key(&block_of(tf, c.open_time_ms)))
        .collect();
    if pack {
        let closed_gaps: Vec<i64> = gaps.into_iter().filter(|s| closed(*s)).collect();
        store(tx, id, tf, &closed_gaps, &rows)?;
    }
    let rows = rows
        .into_iter()
        .filter(|c| c.open_time_ms >= from && c.open_time_ms < to)
        .collect();
    Ok(Some(assemble(tf, from, to, blocks, rows)))
}

/// Packs and stores the blocks starting at `starts`, whose bars are all in `rows`.
fn store(tx: &mut Transaction<'_>, id: i64, tf: Timeframe, starts: &[i64], rows: &[Candle]) -> Result<(), StoreError> {
    if starts.is_empty() {
        return Ok(());
    }
    let span = span_ms(tf);
    let packed: Vec<Vec<u8>> = starts
        .iter()
        .map(|&start| {
            let lo = rows.partition_point(|c| c.open_time_ms < start);
            let hi = rows.partition_point(|c| c.open_time_ms < start + span);
            pack(&rows[lo..hi])
        })
        .collect();
    tx.execute(
        "INSERT INTO candle_blocks (instrument_id, timeframe, block_start, bars) \
         SELECT $1, $2, s, b FROM unnest($3::bigint[], $4::bytea[]) AS p(s, b) \
         ON CONFLICT (instrument_id, timeframe, block_start) DO UPDATE SET bars = excluded.bars",
        &[&id, &tf.as_str(), &starts, &packed],
    )?;
    Ok(())
}

/// Deletes the blocks that bars of each written page fall in: `(instrument, timeframe, first
/// open time, last open time)`. Called inside the write's transaction, under its instrument locks.
pub(crate) fn invalidate(tx: &mut Transaction<'_>, pages: &[(i64, Timeframe, i64, i64)]) -> Result<(), StoreError> {
    if pages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = pages.iter().map(|p| p.0).collect();
    let tfs: Vec<&str> = pages.iter().map(|p| p.1.as_str()).collect();
    let lo: Vec<i64> = pages.iter().map(|p| block_of(p.1, p.2)).collect();
    let hi: Vec<i64> = pages.iter().map(|p| p.3).collect();
    tx.execute(
        "DELETE FROM candle_blocks b USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) \
         AS p(iid, tf, lo, hi) \
         WHERE b.instrument_id = p.iid AND b.timeframe = p.tf AND b.block_start BETWEEN p.lo AND p.hi",
        &[&ids, &tfs, &lo, &hi],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn bar(t: i64) -> Candle {
        Candle {
            open_time_ms: t,
            open: 1.5,
            high: 2.0,
            low: -0.0,
            close: 1.25,
            volume: Some(10.0),
            quote_volume: None,
            trades: Some(u64::MAX),
        }
    }

    #[test]
    fn a_block_unpacks_to_the_bars_it_packed_bit_for_bit() {
        let start = block_of(Timeframe::H1, 1_700_000_000_000);
        let mut bars: Vec<Candle> = (0..BLOCK_BARS).step_by(3).map(|k| bar(start + k * H)).collect();
        bars[1].volume = None;
        bars[2].trades = None;
        bars[3].quote_volume = Some(f64::MIN_POSITIVE);
        let got = unpack(&pack(&bars), Timeframe::H1, start).unwrap();
        assert_eq!(got, bars);
        assert_eq!(got[0].low.to_bits(), (-0.0f64).to_bits());
        assert_eq!(unpack(&pack(&[]), Timeframe::H1, start), Some(Vec::new()));
    }

    #[test]
    fn damaged_or_foreign_bytes_do_not_decode() {
        let start = block_of(Timeframe::H1, 1_700_000_000_000);
        let bytes = pack(&[bar(start), bar(start + H)]);
        assert!(unpack(&bytes[..bytes.len() - 1], Timeframe::H1, start).is_none());
        assert!(unpack(&[], Timeframe::H1, start).is_none());
        let mut other_format = bytes.clone();
        other_format[0] = FORMAT + 1;
        assert!(unpack(&other_format, Timeframe::H1, start).is_none());
        // The same bytes read as another block's: the bars are outside its span.
        assert!(unpack(&bytes, Timeframe::H1, start + span_ms(Timeframe::H1)).is_none());
        let out_of_order = pack(&[bar(start + H), bar(start)]);
        assert!(unpack(&out_of_order, Timeframe::H1, start).is_none());
    }

    #[test]
    fn assembling_keeps_time_order_and_the_asked_range() {
        let tf = Timeframe::H1;
        let span = span_ms(tf);
        let b0 = block_of(tf, 1_700_000_000_000);
        let blocks: BTreeMap<i64, Vec<Candle>> = [(b0 + span, vec![bar(b0 + span), bar(b0 + span + H)])]
            .into_iter()
            .collect();
        let rows = vec![bar(b0 + span - H), bar(b0 + 2 * span)];
        let got = assemble(tf, b0 + span - H, b0 + 2 * span + H, blocks.clone(), rows);
        let times: Vec<i64> = got.iter().map(|c| c.open_time_ms).collect();
        assert_eq!(times, [b0 + span - H, b0 + span, b0 + span + H, b0 + 2 * span]);
        let clipped = assemble(tf, b0 + span + H, b0 + 2 * span, blocks, Vec::new());
        assert_eq!(clipped.len(), 1);
        assert_eq!(missing(tf, b0, b0 + 2 * span, &BTreeMap::new()), [b0, b0 + span]);
    }
}
